"""Scale up: the course's GRPO experiment on a real model, through ``trl.GRPOTrainer`` and
``accelerate``, from one laptop process to a node of GPUs with the same command.

What changes from the laptop run, and what does not:

* **the model**: any causal LM on the hub (default :data:`DEFAULT_MODEL`) or a local
  folder, in bf16 on a GPU; LoRA through ``peft`` for small GPUs (``lora_rank``);
* **the prompt**: the model's own chat template with the ``<think>``/``<answer>``
  instructions (:data:`INSTRUCTION`); r1lab's own checkpoints keep the course's prompt;
* **the task**: classic Countdown (numbers 1–99 in any order, 3 or 4 of them), since a real
  model can search; the course's models keep the course's task;
* **generation**: vLLM in colocate mode when it is installed and a GPU is there;
* **the engine**: ``accelerate launch`` starts one process per device (DDP, DeepSpeed
  ZeRO or FSDP from a config file in ``configs/accelerate/``); each trains its share of
  every batch and the gradients are averaged.

What stays: :class:`r1lab.grpo.GRPOSettings` (``prompts_per_step`` counts prompts over
*all* processes), the rewards, the run folder (``config.json``, ``metrics.jsonl``,
``samples.jsonl``, ``eval.json``) with the same metric names, resuming from the last
checkpoint, and refusing to replace a finished run with other settings.

    accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m r1lab scale \\
        --model Qwen/Qwen2.5-0.5B-Instruct --out runs/scale/qwen0.5b
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

from datasets import Dataset

from r1lab.grpo_settings import GRPOSettings
from r1lab.lifeline import watch_launcher
from r1lab.models import CARD_FILE, load, pick_device
from r1lab.rewards import countdown_reward
from r1lab.rollouts import user_text
from r1lab.storage import append_jsonl, exclusive, write_json
from r1lab.tasks import countdown
from r1lab.tasks.countdown import CountdownSpec

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
# Documented alternatives: (hub id, why one would pick it).
ALTERNATIVES = (
    ("Qwen/Qwen2.5-1.5B-Instruct", "the next size up; fits a 24 GB GPU with LoRA"),
    ("Qwen/Qwen2.5-3B-Instruct", "TinyZero's size, where its Countdown run learned to search"),
    ("Qwen/Qwen3-0.6B", "a newer family of the same size, trained with thinking traces"),
    ("HuggingFaceTB/SmolLM2-360M-Instruct", "a small open model for a free Colab T4"),
)
# The user's message for a real model (TinyZero's wording, with the course's tags).
INSTRUCTION = (
    "Using the numbers {numbers}, create an equation that equals {target}. You can use "
    "basic arithmetic operations (+, -, *, /) and each number exactly once. Show your work "
    "in <think> </think> tags, then give only the equation in <answer> </answer> tags, for "
    "example <answer>(1 + 2) / 3</answer>."
)
PROMPT_STYLES = ("auto", "instruct", "r1lab")
SWITCHES = ("auto", "on", "off")
TRACE_DIR = "processes"  # with trace_processes: one log per process
COURSE_PROMPTS = 1800  # r1lab.experiments.TRAIN_PROMPTS: the course task's training split


@dataclass(frozen=True)
class ScaleSettings:
    """What a scaled-up run adds to :class:`~r1lab.grpo.GRPOSettings`: the model, the task
    and the engine."""

    model: str = DEFAULT_MODEL
    numbers: tuple[int, ...] = (3, 4)  # problem sizes, mixed evenly
    train_prompts: int = 4000
    prompt_style: str = "auto"  # instruct (hub models) | r1lab (the course's checkpoints)
    lora_rank: int = 0  # 0: full fine-tuning
    bf16: str = "auto"  # auto: on a GPU
    gradient_checkpointing: str = "auto"  # auto: on a GPU (saves activations' memory)
    vllm: str = "auto"  # auto: when vllm is installed and a GPU is there
    device: str = "auto"
    trace_processes: bool = False  # log each process's prompts and weights digest

    def __post_init__(self) -> None:
        if not self.numbers or any(n not in (2, 3, 4, 5) for n in self.numbers):
            raise ValueError(f"numbers must be sizes between 2 and 5 (got {self.numbers!r})")
        if self.train_prompts < 1:
            raise ValueError(f"train_prompts must be ≥ 1 (got {self.train_prompts})")
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(
                f"prompt_style must be one of {', '.join(PROMPT_STYLES)} "
                f"(got {self.prompt_style!r})"
            )
        for name in ("bf16", "gradient_checkpointing", "vllm"):
            if getattr(self, name) not in SWITCHES:
                raise ValueError(
                    f"{name} must be one of {', '.join(SWITCHES)} (got {getattr(self, name)!r})"
                )
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be ≥ 0 (got {self.lora_rank}): 0 is full tuning")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"numbers": list(self.numbers)}


# The algorithm's settings for a real model: long completions, a small learning rate, and
# micro-batches that fit a GPU. Everything else is the course's GRPO (DAPO's token loss).
SCALE_GRPO = GRPOSettings(
    steps=200, prompts_per_step=16, num_generations=8, max_new_tokens=1024,
    learning_rate=1e-6, warmup_steps=10, micro_batch_size=8, checkpoint_every=25,
    samples_every=10,
)  # fmt: skip


# ---------------------------------------------------------------------------- the data


def is_r1lab_model(model: str) -> bool:
    """Whether ``model`` is a folder r1lab built (it has a card): such a model was trained
    on the course's prompt and task, not on a chat model's instructions."""
    return (Path(model).expanduser() / CARD_FILE).is_file()


def prompt_style(scale: ScaleSettings) -> str:
    if scale.prompt_style != "auto":
        return scale.prompt_style
    return "r1lab" if is_r1lab_model(scale.model) else "instruct"


def scale_dataset(scale: ScaleSettings, seed: int = 0) -> Dataset:
    """The training prompts: classic Countdown in the model's chat format (``prompt`` as
    chat messages, ``numbers``, ``target``), or the course's own for r1lab's models."""
    from r1lab.data import countdown_dataset

    if prompt_style(scale) == "r1lab":  # the course's prompts (its split has ~1,840)
        return countdown_dataset(min(scale.train_prompts, COURSE_PROMPTS), seed=seed)
    rows = []
    share = -(-scale.train_prompts // len(scale.numbers))
    for n in scale.numbers:
        spec = CountdownSpec(n_numbers=n, max_number=99, ordered=False)
        for p in countdown.generate(share, seed + n, spec):
            text = INSTRUCTION.format(numbers=list(p.numbers), target=p.target)
            rows.append({"prompt": [{"role": "user", "content": text}], **p.to_row()})
    random.Random(seed).shuffle(rows)
    return Dataset.from_list(rows[: scale.train_prompts])


# ---------------------------------------------------------------------------- the engine


def world_size() -> int:
    """Processes in this launch (``accelerate launch`` / ``torchrun`` set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _switch(value: str, auto: bool) -> bool:
    return auto if value == "auto" else value == "on"


def trainer_args(scale: ScaleSettings, settings: GRPOSettings) -> dict[str, Any]:
    """The ``GRPOConfig`` fields a scaled-up run changes from the laptop run's."""
    device = pick_device(scale.device)
    gpu = device.type == "cuda"
    n = world_size()
    batch = settings.prompts_per_step * settings.num_generations
    micro = min(settings.micro_batch_size, batch)
    if batch % (micro * n):
        raise ValueError(
            f"prompts_per_step × num_generations = {batch} completions must split into "
            f"{n} processes × micro-batches of {micro}: change prompts_per_step or "
            "micro_batch_size"
        )
    use_vllm = _switch(scale.vllm, gpu and has("vllm"))
    if use_vllm and not has("vllm"):
        raise ValueError("vllm=on needs vLLM: pip install -e '.[gpu]' (Linux with a GPU)")
    if use_vllm and not gpu:
        raise ValueError("vllm=on needs a CUDA GPU")
    bf16 = _switch(scale.bf16, gpu)
    args: dict[str, Any] = {
        # prompts_per_step counts every process's prompts: each takes 1/n of the batch.
        "gradient_accumulation_steps": batch // (micro * n),
        "steps_per_generation": batch // (micro * n),
        "bf16": bf16,
        "gradient_checkpointing": _switch(scale.gradient_checkpointing, gpu),
        "use_vllm": use_vllm,
    }
    if n > 1:  # every parameter gets a gradient: skip DDP's search for unused ones
        args["ddp_find_unused_parameters"] = False
    if use_vllm:  # vLLM shares the training GPUs (no separate server to start)
        args |= {"vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3}
    return args


def lora_config(scale: ScaleSettings) -> Any:
    """The ``peft.LoraConfig`` for ``lora_rank`` > 0 (every linear layer), else None."""
    if scale.lora_rank == 0:
        return None
    if not has("peft"):
        raise ValueError(
            f"lora_rank={scale.lora_rank} needs peft: pip install -e '.[gpu]' (or pip install peft)"
        )
    from peft import LoraConfig

    return LoraConfig(
        r=scale.lora_rank, lora_alpha=2 * scale.lora_rank, target_modules="all-linear",
        task_type="CAUSAL_LM",
    )  # fmt: skip


# ---------------------------------------------------------------------------- tracing


def _weights_digest(model: Any) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _traced(reward: Callable[..., list[float]], seen: list[str]) -> Callable[..., list[float]]:
    """``reward`` unchanged (same name, same scores), noting the prompts it scores."""

    @wraps(reward)
    def traced(completions: list, **kwargs: Any) -> list[float]:
        seen.extend(user_text(p) for p in kwargs.get("prompts") or [])
        return reward(completions, **kwargs)

    return traced


def _trace_callback(run_dir: Path, model: Any, seen: list[str], mu: int) -> Any:
    """After each step, this process's prompts and a digest of its weights, in
    ``processes/rank<r>.jsonl``: what a test reads to see data parallelism at work."""
    from transformers import TrainerCallback

    path = run_dir / TRACE_DIR / f"rank{rank()}.jsonl"

    class Trace(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % mu:
                return
            # Made at the first step, which every process reaches only once the first has
            # checked and claimed the run folder: a folder made earlier by another process
            # would look like someone else's there.
            path.parent.mkdir(parents=True, exist_ok=True)
            prompts = sorted(set(seen))
            seen.clear()
            row = {"step": state.global_step // mu, "rank": rank(), "prompts": prompts,
                   "weights_sha256": _weights_digest(model)}  # fmt: skip
            append_jsonl(path, [row])

    return Trace()


# ---------------------------------------------------------------------------- the run


def run(
    scale: ScaleSettings,
    settings: GRPOSettings,
    run_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``scale.model`` with GRPO through TRL in this process and the others of its
    launch, writing the run folder (from the first process). A finished run with the same
    settings is returned as it is, an interrupted one resumes, another is refused unless
    ``overwrite``. Returns what ``eval.json`` holds."""
    from r1lab.experiments import claim_run_folder, finished_run
    from r1lab.runlog import EVAL_FILE
    from r1lab.trl_grpo import train as trl_train

    run_dir = Path(run_dir)
    if world_size() > 1:
        # A launcher killed with kill -9 leaves its workers running (and writing): they
        # exit with it instead (`python -m r1lab` checked on it before its slow imports).
        watch_launcher(0.2)
    args = trainer_args(scale, settings)  # refuses impossible settings in every process
    peft = lora_config(scale)
    if rank() == 0:
        # Decide before the other processes touch the folder (they wait at the trainer).
        claim_run_folder(run_dir, mark=False)  # refused before the lock file is written
        with exclusive(run_dir):

            def same_kind(saved: dict[str, Any]) -> bool:
                return saved.get("scale") == scale.to_dict()

            done = finished_run(run_dir, settings, same_kind, overwrite)
            if done is not None:
                return done
            claim_run_folder(run_dir)
    elif (run_dir / EVAL_FILE).exists() and not overwrite:
        return {}  # the first process reports the finished run

    device = pick_device(scale.device)
    dtype = None
    if args["bf16"] and device.type == "cuda":
        import torch

        dtype = torch.bfloat16
    # Loaded on the CPU: the trainer moves it to this process's own device.
    model, tokenizer = load(scale.model, device="cpu", dtype=dtype)
    dataset = scale_dataset(scale, seed=settings.seed)
    seen: list[str] = []
    rewards = (_traced(countdown_reward, seen),) if scale.trace_processes else (countdown_reward,)
    callbacks = (
        [_trace_callback(run_dir, model, seen, settings.mu)] if scale.trace_processes else []
    )
    t0 = time.perf_counter()
    result = trl_train(
        model, tokenizer, dataset, settings, reward_funcs=rewards, run_dir=run_dir,
        progress=progress, callbacks=callbacks, peft_config=peft, trainer_args=args,
    )  # fmt: skip
    summary = {
        "trainer": "trl",
        "scale": scale.to_dict(),
        "settings": settings.to_dict(),
        "trainer_args": args,
        "processes": world_size(),
        "device": device.type,
        "prompt_style": prompt_style(scale),
        "train_seconds": sum(m["step_time_s"] for m in result.history),
        "wall_seconds_this_call": time.perf_counter() - t0,
        "resumed_from": result.resumed_from,
        "final": {k: result.history[-1].get(k) for k in ("reward", "accuracy", "length")}
        if result.history
        else {},
    }
    if device.type == "cuda":
        import torch

        summary["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if rank() == 0:
        write_json(run_dir / EVAL_FILE, summary)
    return summary


def close() -> None:
    """Leave the process group cleanly at the end of a launch (gloo aborts otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# ---------------------------------------------------------------------------- launching

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs" / "accelerate"


def launch_command(config: str, *scale_args: str, port: int | None = None) -> list[str]:
    """``accelerate launch --config_file configs/accelerate/<config>.yaml -m r1lab scale …``
    as an argument list, run with this Python."""
    import sys

    path = CONFIGS_DIR / f"{config}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
        raise ValueError(f"no accelerate config {config!r}: choose one of {known}")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(path)]
    if port is not None:
        command += ["--main_process_port", str(port)]
    return [*command, "-m", "r1lab", "scale", *scale_args]


def launch(config: str, *scale_args: str, echo: Callable[[str], None] = print) -> int:
    """Run :func:`launch_command` (on a free local port), passing each line of its output
    to ``echo``; returns its exit status."""
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = launch_command(config, *scale_args, port=port)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        cwd=CONFIGS_DIR.parents[1],
    ) as process:  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            echo(line.rstrip("\n"))
    return process.returncode
