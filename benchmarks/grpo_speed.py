"""Seconds per GRPO step: r1lab's own loop (``grpo.train``) against ``trl.GRPOTrainer``
(``trl_grpo.train``), with the same settings from the same SFT checkpoint.

A step is 16 Countdown prompts x 8 completions (temperature 1, up to 96 new tokens, stopping
at ``</s>`` or ``</answer>``), their rewards, and one optimizer step. Each trainer runs
``--warmup`` steps, then ``--steps`` timed ones, ``--repeats`` times in alternation. A step's
time is the wall-clock time between two consecutive ``on_step`` calls, so it covers
everything the loop does. The two runs sample different completions (different random
streams and prompt orders), so their mean completion lengths, which drive the cost of a
step, differ a little: both are printed.

    .venv/bin/python benchmarks/grpo_speed.py [--model data/checkpoints/sft] [--steps 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from r1lab import grpo, trl_grpo
from r1lab.data import countdown_dataset
from r1lab.grpo_settings import GRPOSettings
from r1lab.models import create_model, load, pick_device
from r1lab.paths import DATA_DIR
from r1lab.tokenizer import build_tokenizer

DEFAULT_MODEL = DATA_DIR / "checkpoints" / "sft"


def timed_run(
    train: Callable[..., Any], model_path: Path | None, settings: GRPOSettings, warmup: int, device
) -> dict[str, float]:
    """Train a fresh copy of the model; mean figures over the steps after ``warmup``."""
    if model_path is not None:
        model, tokenizer = load(model_path, device=str(device))
    else:
        tokenizer = build_tokenizer()
        model = create_model("tiny", tokenizer, seed=0).to(device)
    data = countdown_dataset(settings.steps * settings.prompts_per_step, seed=settings.seed)
    stamps, rows = [], []

    def on_step(metrics: dict[str, Any]) -> None:
        stamps.append(time.perf_counter())
        rows.append(metrics)

    train(model, tokenizer, data, settings, on_step=on_step, progress=False)
    timed = rows[warmup:]
    gaps = [b - a for a, b in zip(stamps[warmup - 1 : -1], stamps[warmup:], strict=True)]
    return {
        "step_s": sum(gaps) / len(gaps),
        "sample_s": sum(m["sample_time_s"] for m in timed) / len(timed),
        "length": sum(m["length"] for m in timed) / len(timed),
        "truncated": sum(m["truncated_rate"] for m in timed) / len(timed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help=f"model directory (default {DEFAULT_MODEL})")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each trainer")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    if min(args.warmup, args.steps, args.repeats) < 1:
        parser.error(
            f"--warmup, --steps and --repeats must be ≥ 1 "
            f"(got {args.warmup}, {args.steps}, {args.repeats})"
        )
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    path = Path(args.model) if args.model else DEFAULT_MODEL
    if not (args.model or path.is_dir()):
        print(f"model: a freshly created, untrained tiny model ({path} does not exist)")
        path = None
    else:
        print(f"model: {path}")
    settings = GRPOSettings(
        steps=args.warmup + args.steps,
        prompts_per_step=args.prompts,
        num_generations=args.num_generations,
        max_new_tokens=args.max_new_tokens,
        temperature=1.0,
        checkpoint_every=10_000,
    )
    print(
        f"device: {device}, torch threads: {torch.get_num_threads()}; "
        f"{args.prompts} prompts x {args.num_generations} completions, up to "
        f"{args.max_new_tokens} new tokens; {args.warmup} warm-up + {args.steps} timed steps"
    )
    trainers = (("r1lab.grpo", grpo.train), ("trl.GRPOTrainer", trl_grpo.train))
    step_s: dict[str, list[float]] = {name: [] for name, _ in trainers}
    for _ in range(args.repeats):  # alternate, so a change in machine load hits both
        for name, train in trainers:
            r = timed_run(train, path, settings, args.warmup, device)
            step_s[name].append(r["step_s"])
            print(
                f"  {name:16} {r['step_s']:6.2f} s/step  (sampling {r['sample_s']:5.2f} s, "
                f"rest {r['step_s'] - r['sample_s']:5.2f} s)  mean length {r['length']:5.1f} "
                f"tokens, {r['truncated']:.0%} truncated"
            )
    ours, theirs = (sum(v) / len(v) for v in step_s.values())
    print(f"ours / TRL: {ours / theirs:.2f}x the seconds per step (below 1: ours is faster)")
    print("(the two runs sample different completions, so their lengths differ)")


if __name__ == "__main__":
    main()
