"""Reward throughput and worst-case latency.

Prints rewards per second over a batch of 10,000 mixed completions (correct traces, edited
traces, gallery hacks, nasty inputs), then the time of the slowest single input, timed one
by one. The contract: no input takes more than 1 s; the aim is under 10 ms.

    .venv/bin/python benchmarks/rewards.py [--n 10000]
"""

from __future__ import annotations

import argparse
import time

from r1lab.hacks import mixed_batch, nasty_inputs
from r1lab.rewards import countdown_reward, format_reward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    completions, numbers, targets, _ = mixed_batch(args.n, args.seed)
    start = time.perf_counter()
    rewards = countdown_reward(completions, numbers=numbers, target=targets)
    formats = format_reward(completions)
    batch_s = time.perf_counter() - start
    print(f"batch of {args.n:,} mixed completions: {batch_s:.3f} s for both rewards")
    print(f"  {2 * args.n / batch_s:,.0f} rewards per second")
    mean_c, mean_f = sum(rewards) / args.n, sum(formats) / args.n
    print(f"  mean countdown_reward {mean_c:.3f}, format_reward {mean_f:.3f}")

    worst = (0.0, "")
    for i, completion in enumerate(completions):
        t = time.perf_counter()
        countdown_reward([completion], numbers=[numbers[i]], target=[targets[i]])
        format_reward([completion])
        dt = time.perf_counter() - t
        if dt > worst[0]:
            worst = (dt, repr(completion)[:60])
    print(f"slowest input in the batch: {worst[0] * 1e3:.2f} ms  {worst[1]}")

    print("nasty inputs, worst of 5 runs each:")
    for name, completion in nasty_inputs():
        times = []
        for _ in range(5):
            t = time.perf_counter()
            countdown_reward([completion], numbers=[[3, 4, 5]], target=[17])
            format_reward([completion])
            times.append(time.perf_counter() - t)
        print(f"  {name:26} {max(times) * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
