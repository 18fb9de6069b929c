"""Experiments built from the pieces: GRPO from the cold-start checkpoint, measured on the
held-out problems before and after.

``r1lab grpo`` runs :func:`grpo_from_sft` from the command line; the runs shipped in
``data/runs/grpo/`` are its output (metrics, samples and ``eval.json``, without the
checkpoint), and notebook 05 measures its model with :func:`heldout_scores`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.checkpoints import CHECKPOINTS_DIR, EvalSettings
from r1lab.config import RunConfig
from r1lab.data import countdown_dataset, load_eval
from r1lab.grpo import CHECKPOINT_FILE, GRPOSettings
from r1lab.models import load, pick_device, set_seed
from r1lab.paths import DATA_DIR
from r1lab.rollouts import evaluate, greedy_accuracy

SHIPPED_RUNS_DIR = DATA_DIR / "runs"
EVAL_FILE = "eval.json"
TRAIN_PROMPTS = 1800  # the RL prompts: (nearly) the whole training split
EVAL_SEED = EvalSettings().seed  # the cards' seed: "before" matches the SFT card
TRAINERS = ("r1lab", "trl")


def heldout_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict],
    *,
    temperature: float = 1.0,
    max_new_tokens: int = 96,
    num_samples: int = 8,
    progress: bool = False,
) -> dict[str, float]:
    """pass@1 and pass@k from ``num_samples`` samples per problem at ``temperature``, the
    greedy accuracy, the format rate and the mean sampled length."""
    sampled = evaluate(
        model, tokenizer, rows, num_samples=num_samples, temperature=temperature,
        max_new_tokens=max_new_tokens, seed=EVAL_SEED, progress=progress,
    )  # fmt: skip
    greedy = greedy_accuracy(model, tokenizer, rows, max_new_tokens=max_new_tokens)
    return {
        "pass@1": sampled.pass1,
        "greedy": greedy,
        f"pass@{num_samples}": sampled.pass_at[num_samples],
        "format": sampled.format_rate,
        "mean_length": sampled.mean_length,
    }


def grpo_from_sft(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    trainer: str = "r1lab",
    keep_checkpoint: bool = False,
    progress: bool = True,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train the shipped cold-start model with GRPO (``trainer`` ``r1lab`` or ``trl``) in
    the budget of ``cfg``'s profile, and measure it on ``cfg.n_eval`` held-out problems
    before and after. Writes the run log and ``eval.json`` to ``run_dir``; an interrupted
    run resumes there. Returns what ``eval.json`` holds."""
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {', '.join(TRAINERS)} (got {trainer!r})")
    run_dir = Path(run_dir)
    set_seed(cfg.seed)
    device = pick_device(cfg.device)
    model, tokenizer = load(CHECKPOINTS_DIR / "sft", device=str(device))
    settings = GRPOSettings.from_run_config(cfg, **overrides)
    rows = list(load_eval("countdown", cfg.n_eval, chat=True))
    measure = dict(temperature=settings.temperature, max_new_tokens=settings.max_new_tokens)

    before = heldout_scores(model, tokenizer, rows, **measure, progress=progress)
    prompts = countdown_dataset(TRAIN_PROMPTS, seed=0)
    if trainer == "trl":
        from r1lab.trl_grpo import train
    else:
        from r1lab.grpo import train
    start = time.perf_counter()
    result = train(
        model, tokenizer, prompts, settings, run_dir=run_dir, on_step=on_step, progress=progress
    )
    wall = time.perf_counter() - start
    after = heldout_scores(model, tokenizer, rows, **measure, progress=progress)

    summary = {
        "trainer": trainer,
        "profile": cfg.profile,
        "seed": cfg.seed,
        "device": str(device),
        "settings": settings.to_dict(),
        "eval_problems": len(rows),
        "before": before,
        "after": after,
        "train_seconds": sum(m["step_time_s"] for m in result.history),
        "wall_seconds_this_call": wall,
        "resumed_from": result.resumed_from,
    }
    (run_dir / EVAL_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if not keep_checkpoint:
        (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """Before → after lines for the command line."""
    lines = [
        f"{summary['trainer']} GRPO, profile {summary['profile']}, seed {summary['seed']}: "
        f"{summary['settings']['steps']} steps, {summary['train_seconds'] / 60:.1f} min of "
        f"training on {summary['device']}; {summary['eval_problems']} held-out problems"
    ]
    for key, old in summary["before"].items():
        new = summary["after"][key]
        if key == "mean_length":
            lines.append(f"  {key:12s} {old:6.1f} → {new:6.1f} tokens")
        else:
            lines.append(f"  {key:12s} {old:6.1%} → {new:6.1%}  ({(new - old) * 100:+.1f} points)")
    return "\n".join(lines)
