"""Where the time of a search-world GRPO step goes: sampling tokens per second, and seconds
per step split into sampling, scoring and the update, from the shipped search-world cold
start (``data/checkpoints/search-sft``) at the world's completion budget.

Completions in the search world are several times longer than in world 1, and a batch
decodes until its longest completion stops, so the figures are printed with the mean and
the longest completion length that drove them. The update is timed twice: micro-batches
in the batch's order (each padded to the batch's longest completion) and grouped by length
(``GRPOSettings.length_buckets``, what the search world's runs use).

    .venv/bin/python benchmarks/search_world.py [--steps 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from r1lab import grpo
from r1lab.data import countdown_dataset, load_eval
from r1lab.grpo_settings import GRPOSettings
from r1lab.models import load, pick_device
from r1lab.paths import REPO_ROOT, SHIPPED_MODELS_DIR
from r1lab.rollouts import sample
from r1lab.worlds import SEARCH


def sampling_speed(model, tokenizer, n_prompts: int, g: int, budget: int) -> dict[str, float]:
    rows = list(load_eval(SEARCH.eval_name, n_prompts))
    t0 = time.perf_counter()
    out = sample(
        model, tokenizer, [r["prompt"] for r in rows], num_generations=g,
        max_new_tokens=budget, seed=0, batch_size=128,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    tokens = int(out.lengths.sum())
    return {
        "completions": len(out),
        "tokens": tokens,
        "tokens_per_s": tokens / wall,
        "mean_length": float(out.lengths.float().mean()),
        "max_length": int(out.lengths.max()),
        "seconds": wall,
    }


def step_times(model, tokenizer, steps: int, settings: GRPOSettings) -> dict[str, float]:
    data = countdown_dataset(steps * settings.prompts_per_step, seed=0, spec=SEARCH.spec)
    stamps, rows = [time.perf_counter()], []

    def on_step(metrics: dict[str, Any]) -> None:
        stamps.append(time.perf_counter())
        rows.append(metrics)

    grpo.train(model, tokenizer, data, settings, on_step=on_step, progress=False)
    gaps = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    sample_s = sum(m["sample_time_s"] for m in rows) / len(rows)
    step_s = sum(gaps) / len(gaps)
    return {
        "step_s": step_s,
        "sample_s": sample_s,
        "update_and_scoring_s": step_s - sample_s,
        "length": sum(m["length"] for m in rows) / len(rows),
        "length_max": max(m["length_max"] for m in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHIPPED_MODELS_DIR / SEARCH.sft_dir))
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps to time")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model, tokenizer = load(args.model, device=str(device))
    shown = Path(args.model).resolve()
    shown = shown.relative_to(REPO_ROOT) if shown.is_relative_to(REPO_ROOT) else shown.name
    print(f"search world, {shown}, {device}, {torch.get_num_threads()} threads")
    for budget in (96, SEARCH.max_new_tokens):
        s = sampling_speed(model, tokenizer, 16, 8, budget)
        print(
            f"sampling 16 x 8 at a budget of {budget} tokens: {s['tokens_per_s']:,.0f} tokens/s "
            f"({s['tokens']:,} tokens in {s['seconds']:.1f} s; mean length {s['mean_length']:.0f}, "
            f"longest {s['max_length']})"
        )
    for buckets in (False, True):
        model, tokenizer = load(args.model, device=str(device))  # the same start each time
        settings = GRPOSettings(
            steps=args.steps, max_new_tokens=SEARCH.max_new_tokens, warmup_steps=1, seed=0,
            length_buckets=buckets,
        )  # fmt: skip
        t = step_times(model, tokenizer, args.steps, settings)
        print(
            f"GRPO step (16 x 8, budget {SEARCH.max_new_tokens}, micro-batches "
            f"{'by length' if buckets else 'in batch order'}): {t['step_s']:.1f} s, of which "
            f"sampling {t['sample_s']:.1f} s and scoring + update "
            f"{t['update_and_scoring_s']:.1f} s; mean length {t['length']:.0f}, "
            f"longest {t['length_max']}"
        )


if __name__ == "__main__":
    main()
