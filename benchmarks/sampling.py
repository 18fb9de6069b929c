"""Sampling throughput: r1lab's own loop (``rollouts.sample``) against ``model.generate``.

One batch of 64 completions (8 Countdown eval prompts × 8 samples each), temperature 1,
up to 96 new tokens, both stopping at ``</s>`` or ``</answer>``. Each is run once to warm
up, then timed three times; the best time counts. New tokens are counted up to and
including each row's stop token, for both.

    .venv/bin/python benchmarks/sampling.py [--model data/checkpoints/sft] [--device auto]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch

from r1lab import rollouts
from r1lab.data import load_eval
from r1lab.models import create_model, load, pick_device
from r1lab.paths import DATA_DIR
from r1lab.tokenizer import build_tokenizer

DEFAULT_MODEL = DATA_DIR / "checkpoints" / "sft"


def best_of(fn: Callable[[], int], repeats: int = 3) -> tuple[float, int]:
    """(best seconds, new tokens) over ``repeats`` timed runs after one warm-up run."""
    fn()
    best, tokens = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        tokens = fn()
        best = min(best, time.perf_counter() - start)
    return best, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help=f"model directory (default {DEFAULT_MODEL})")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    device = pick_device(args.device)

    path = Path(args.model) if args.model else DEFAULT_MODEL
    if args.model or path.is_dir():
        model, tokenizer = load(path, device=str(device))
        print(f"model: {path}")
    else:
        tokenizer = build_tokenizer()
        model = create_model("tiny", tokenizer, seed=0).to(device).eval()
        print(f"model: a freshly created, untrained tiny model ({path} does not exist)")
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")

    rows = load_eval("countdown", args.prompts, chat=True)
    prompts = [row["prompt"] for row in rows]
    g, max_new = args.num_generations, args.max_new_tokens
    stop_ids = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(rollouts.ANSWER_CLOSE)]

    def ours() -> int:
        out = rollouts.sample(
            model, tokenizer, prompts, num_generations=g, max_new_tokens=max_new, batch_size=n
        )
        return int(out.lengths.sum())

    texts = [
        tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
        for p in prompts
        for _ in range(g)
    ]
    n = len(texts)
    batch = tokenizer(
        texts, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt"
    ).to(device)

    def generate() -> int:
        with torch.no_grad():
            out = model.generate(
                **batch,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new,
                eos_token_id=stop_ids,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[:, batch["input_ids"].shape[1] :]
        is_stop = torch.isin(new, torch.tensor(stop_ids, device=new.device))
        # Tokens up to and including the first stop token (all of them if none).
        after_stop = (is_stop.long().cumsum(dim=1) - is_stop.long()) > 0
        return int((~after_stop).sum())

    print(f"batch: {len(prompts)} prompts x {g} = {n} completions, max_new_tokens {max_new}")
    results = {}
    for name, fn in (("rollouts.sample", ours), ("model.generate", generate)):
        seconds, tokens = best_of(fn)
        results[name] = tokens / seconds
        print(
            f"  {name:16} {seconds * 1e3:8.1f} ms  {tokens:5d} new tokens  "
            f"{tokens / seconds:9,.0f} tokens/s"
        )
    ratio = results["rollouts.sample"] / results["model.generate"]
    print(f"ours / generate: {ratio:.2f}x tokens per second")


if __name__ == "__main__":
    main()
