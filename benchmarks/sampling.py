"""Sampling speed against this machine's limit: the lean sampler, the reference and ``generate``.

Everything below is measured in one process, on one thread (``--threads``):

1. the peak: the best GFLOP/s of a float32 matmul at the model's own shapes;
2. per world, a GRPO-sized batch of its shipped cold start (16 held-out prompts x 8
   completions, the world's completion budget, T = 1, one chunk of 128 rows), sampled by
   ``rollouts.sample`` (the lean decoder), by ``rollouts.sample(lean=False)`` (the model's own
   forward, the reference) and by ``model.generate`` (first round only, by default: it takes
   minutes on the search batch), in interleaved rounds; the median round counts. Printed:
   tokens per second of each, the ratios, and the useful GFLOP/s and share of the peak of
   both samplers; the lean and reference tokens must be identical;
3. a profile of one lean run: the share of its time in steps with fewer than 16 running rows,
   and the operations its time goes to.

Times are CPU seconds of this process (``time.process_time``), which on one thread is the
time the work took; wall-clock time on a machine shared with other jobs also counts the time
spent waiting for a core. Only ratios measured in the same process mean much on such a
machine. Useful FLOPs are those of a forward pass over the real tokens (each prompt once, as
the rows of a group share it, then each row's completion; attention over the real tokens
before each; the output layer only where a token is sampled): the work an implementation
that wasted nothing would do.

    .venv/bin/python benchmarks/sampling.py [--rounds 5] [--generate-rounds 1] [--threads 1]
        [--worlds search countdown]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.profiler import profile

from r1lab import decoders, rollouts
from r1lab.data import load_eval
from r1lab.models import load_shipped
from r1lab.worlds import WORLDS, World

PROMPTS, GENERATIONS = 16, 8
TAIL_ROWS = 16  # a step "in the tail" runs fewer rows than this


# ---------------------------------------------------------------------------- the peak


def matmul_shapes(config: Any) -> list[tuple[int, int]]:
    """(inputs, outputs) of every weight matrix the model multiplies by."""
    d, heads = config.hidden_size, config.num_attention_heads
    head = getattr(config, "head_dim", None) or d // heads
    q, kv = heads * head, config.num_key_value_heads * head
    return [
        (d, q + 2 * kv),  # q, k, v
        (q, d),  # o
        (d, 2 * config.intermediate_size),  # gate, up
        (config.intermediate_size, d),  # down
        (d, config.vocab_size),  # output layer
    ]


def matmul_peak(config: Any, seconds: float = 0.2) -> tuple[float, str]:
    """The best float32 matmul GFLOP/s over the model's shapes and a few row counts."""
    best, where = 0.0, ""
    for k, n in matmul_shapes(config):
        for m in (16, 128, 512):
            a, b, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
            reps = max(10, int(seconds * 50e9 / (2 * m * k * n) / 5))
            timings = []
            for _ in range(5):
                start = time.process_time()
                for _ in range(reps):
                    torch.mm(a, b, out=out)
                timings.append((time.process_time() - start) / reps)
            gflops = 2 * m * k * n / min(timings) / 1e9
            if gflops > best:
                best, where = gflops, f"[{m} x {k}] @ [{k} x {n}]"
    return best, where


# ---------------------------------------------------------------------------- useful work


def useful_flops(config: Any, out: rollouts.Rollouts) -> float:
    """Forward FLOPs over the real tokens (see the module docstring): each prompt once (a
    group's rows share it), then each row's completion."""
    layers = config.num_hidden_layers
    weights = 2 * layers * sum(k * n for k, n in matmul_shapes(config)[:-1])  # per token
    output_layer = 2 * config.hidden_size * config.vocab_size  # per sampled token
    per_key = 4 * layers * matmul_shapes(config)[1][0]  # q.k and p.v, all heads and layers

    def tokens_at(first: int, last: int) -> float:
        """FLOPs of feeding the tokens at contexts first..last (1-based, inclusive)."""
        count = max(last - first + 1, 0)
        return weights * count + per_key * (first + last) * count / 2

    prompts = out.prompt_mask.sum(1).tolist()
    total = sum(tokens_at(1, p) for p in prompts[:: out.group_size])
    for p, c in zip(prompts, out.lengths.tolist(), strict=True):
        # c sampled tokens, each through the output layer; all but the last fed back.
        total += output_layer * c + tokens_at(p + 1, p + c - 1)
    return total


# ---------------------------------------------------------------------------- one batch


def sampler(model, tokenizer, prompts, budget: int, lean: bool) -> Callable[[], Any]:
    def run() -> rollouts.Rollouts:
        return rollouts.sample(
            model, tokenizer, prompts, num_generations=GENERATIONS, max_new_tokens=budget,
            temperature=1.0, seed=0, batch_size=PROMPTS * GENERATIONS, lean=lean,
        )  # fmt: skip

    return run


def generator(model, tokenizer, prompts, budget: int) -> Callable[[], int]:
    texts = [
        tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
        for p in prompts
        for _ in range(GENERATIONS)
    ]
    batch = tokenizer(
        texts, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt"
    )
    stop_ids = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(rollouts.ANSWER_CLOSE)]

    def run() -> int:
        with torch.no_grad():
            out = model.generate(
                **batch, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                max_new_tokens=budget, eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
            )  # fmt: skip
        new = out[:, batch["input_ids"].shape[1] :]
        is_stop = torch.isin(new, torch.tensor(stop_ids))
        # Tokens up to and including the first stop token (all of them if none).
        after_stop = (is_stop.long().cumsum(dim=1) - is_stop.long()) > 0
        return int((~after_stop).sum())

    return run


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def measure_world(world: World, rounds: int, generate_rounds: int, peak: float) -> None:
    model, tokenizer = load_shipped(world.sft_dir)
    prompts = [row["prompt"] for row in load_eval(world.eval_name, PROMPTS)]
    budget = world.max_new_tokens
    runs = {
        "lean sampler": sampler(model, tokenizer, prompts, budget, lean=True),
        "reference": sampler(model, tokenizer, prompts, budget, lean=False),
        "model.generate": generator(model, tokenizer, prompts, budget),
    }
    print(
        f"\n{world.name} world: {world.sft_dir}, {PROMPTS} prompts x {GENERATIONS}, "
        f"budget {budget}, T = 1"
    )
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, Any] = {}
    runs["lean sampler"]()  # warm-up
    for round_ in range(rounds):
        for name, fn in runs.items():
            if name == "model.generate" and round_ >= generate_rounds:
                continue
            c, w, results[name] = timed(fn)
            cpu[name].append(c)
            wall[name].append(w)
    lean, ref = results["lean sampler"], results["reference"]
    same = torch.equal(lean.completion_ids, ref.completion_ids) and torch.equal(
        lean.completion_mask, ref.completion_mask
    )
    gap = float((lean.logprobs - ref.logprobs).abs().max())
    tokens = {"lean sampler": int(lean.lengths.sum()), "reference": int(ref.lengths.sum())}
    tokens["model.generate"] = results.get("model.generate", 0)
    lengths = lean.lengths.float()
    print(
        f"  completions: mean {lengths.mean():.0f} tokens, longest {int(lengths.max())}; "
        f"lean tokens identical to the reference: {'yes' if same else 'NO'} "
        f"(log-probs within {gap:.1e})"
    )
    speed = {}
    for name in [name for name in runs if cpu[name]]:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        speed[name] = tokens[name] / c
        print(
            f"  {name:15} {c:7.2f} CPU s ({w:6.2f} s wall)  {tokens[name]:6d} tokens  "
            f"{speed[name]:8,.0f} tokens per CPU s"
        )
    ratios = f"  lean / reference {speed['lean sampler'] / speed['reference']:.2f}x"
    if "model.generate" in speed:
        ratios += (
            f", lean / generate {speed['lean sampler'] / speed['model.generate']:.2f}x, "
            f"reference / generate {speed['reference'] / speed['model.generate']:.2f}x"
        )
    print(ratios)
    flops = useful_flops(model.config, lean)
    for name in ("lean sampler", "reference"):
        gflops = flops / statistics.median(cpu[name]) / 1e9
        print(f"  {name}: {gflops:5.1f} useful GFLOP/s, {gflops / peak:5.1%} of the peak")
    profile_lean(runs["lean sampler"])


# ---------------------------------------------------------------------------- where it goes


def profile_lean(run: Callable[[], Any], top: int = 12) -> None:
    """Time in tail steps (fewer than TAIL_ROWS rows), then the operations under a profiler."""
    step = decoders.LeanDecoder.step
    tail = [0.0, 0.0]  # CPU seconds in steps with fewer / at least TAIL_ROWS rows

    def timed_step(self: decoders.LeanDecoder, token: torch.Tensor) -> torch.Tensor:
        start = time.process_time()
        logits = step(self, token)
        tail[len(token) >= TAIL_ROWS] += time.process_time() - start
        return logits

    decoders.LeanDecoder.step = timed_step
    try:
        total, _, _ = timed(run)
    finally:
        decoders.LeanDecoder.step = step
    print(
        f"  profile of the lean sampler: decode steps with < {TAIL_ROWS} rows "
        f"{tail[0] / total:.0%} of its time, with more {tail[1] / total:.0%}, the rest "
        f"(prompt pass, sampling, bookkeeping) {1 - sum(tail) / total:.0%}"
    )
    with profile() as prof:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    in_ops = sum(e.self_cpu_time_total for e in events) / 1e6
    print(f"    {'operation':34} {'share':>6} {'calls':>7} {'us per call':>12}")
    for e in events[:top]:
        share = e.self_cpu_time_total / 1e6 / elapsed
        per_call = e.self_cpu_time_total / max(e.count, 1)
        print(f"    {e.key:34} {share:6.1%} {e.count:7d} {per_call:12.1f}")
    print(f"    {'outside operations (Python)':34} {1 - in_ops / elapsed:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds")
    parser.add_argument(
        "--generate-rounds", type=int, default=1,
        help="rounds that also time model.generate (minutes each on the search batch; 0: none)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--worlds", nargs="+", default=["search", "countdown"], choices=WORLDS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_shipped(WORLDS[args.worlds[0]].sft_dir)
    peak, where = matmul_peak(model.config)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"peak: {peak:.1f} GFLOP/s, float32 matmul at the model's shapes (best: {where})")
    for name in args.worlds:
        measure_world(WORLDS[name], args.rounds, args.generate_rounds, peak)


if __name__ == "__main__":
    main()
