"""The scale-up path on this machine: seconds per GRPO step and peak memory of `r1lab scale`
on the shipped cold-start model, through the same entry point a real model uses.

With a CUDA GPU (under 10 minutes): one process on ``cuda`` in bf16, with HF generation
and, if vLLM is installed, with vLLM; printing seconds per step and peak GPU memory.
Without one: one process and two processes (``configs/accelerate/cpu_ddp.yaml``) on the
CPU, printing seconds per step. The shipped model stands in for a hub model, so nothing is
downloaded.

    .venv/bin/python benchmarks/scale_check.py [--steps 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from r1lab import scale
from r1lab.paths import REPO_ROOT, SHIPPED_MODELS_DIR
from r1lab.storage import read_json


def _args(out: Path, steps: int, *extra: str) -> list[str]:
    return ["--model", str(SHIPPED_MODELS_DIR / "sft"), "--steps", str(steps),
            "--prompts-per-step", "16", "--num-generations", "8", "--max-new-tokens", "96",
            "--micro-batch-size", "32", "--checkpoint-every", str(steps), "--quiet",
            "--out", str(out), *extra]  # fmt: skip


def _report(name: str, out: Path, wall: float) -> None:
    summary = read_json(out / "eval.json")
    steps = summary["settings"]["steps"]
    line = (
        f"{name:34s} {summary['train_seconds'] / steps:7.2f} s/step  "
        f"({summary['processes']} process(es), {wall:5.1f} s wall with start-up)"
    )
    if "peak_gpu_memory_gib" in summary:
        line += f"  peak GPU memory {summary['peak_gpu_memory_gib']:.2f} GiB"
    print(line, flush=True)


def _single(out: Path, steps: int, *extra: str) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "r1lab", "scale", *_args(out, steps, *extra)],
                          cwd=REPO_ROOT, capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if torch.cuda.is_available():
            print(f"GPU: {torch.cuda.get_device_name(0)}", flush=True)
            out = root / "cuda-hf"
            wall = _single(out, args.steps, "--device", "cuda", "--bf16", "on", "--vllm", "off")
            _report("cuda, bf16, HF generate", out, wall)
            if importlib.util.find_spec("vllm") is not None:
                out = root / "cuda-vllm"
                wall = _single(out, args.steps, "--device", "cuda", "--bf16", "on", "--vllm", "on")
                _report("cuda, bf16, vLLM (colocate)", out, wall)
            else:
                print("vLLM is not installed: pip install -e '.[gpu]' to time it")
            return
        print("no CUDA device: timing the CPU paths instead", flush=True)
        out = root / "cpu-1"
        wall = _single(out, args.steps, "--device", "cpu")
        _report("cpu, 1 process", out, wall)
        out = root / "cpu-2"
        t0 = time.perf_counter()
        status = scale.launch("cpu_ddp", *_args(out, args.steps), echo=lambda line: None)
        if status:
            raise SystemExit(f"the 2-process launch failed ({status})")
        _report("cpu, 2 processes (DDP over gloo)", out, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
