"""The shipped checkpoints: load time, the held-out numbers re-measured next to their cards,
and (with ``--rebuild``) the time to rebuild both from nothing.

    python benchmarks/checkpoints.py [--rebuild] [--device auto]

Targets: loading ≤ 2 s; base format rate ≤ 5 %; SFT format rate ≥ 95 %, pass@1 between
15 % and 50 %, pass@8 clearly above pass@1; rebuilding both ≤ 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from r1lab.build_models import (
    NAMES,
    SHIPPED_MODELS_DIR,
    build,
    check_targets,
    evaluate_checkpoint,
    format_card,
    weights_digest,
)
from r1lab.models import load, read_card

KEYS = (
    "format_rate",
    "pass@1",
    "pass@8",
    "greedy_accuracy",
    "probe_arithmetic",
    "probe_check",
    "probe_solve",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rebuild", action="store_true", help="also time a full rebuild")
    args = parser.parse_args()

    for name in NAMES:
        path = SHIPPED_MODELS_DIR / name
        load(path, device=args.device)  # warm the file cache and the imports
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            model, tokenizer = load(path, device=args.device)
            times.append(time.perf_counter() - t0)
        card = read_card(path)
        t0 = time.perf_counter()
        measured = evaluate_checkpoint(model, tokenizer)
        took = time.perf_counter() - t0
        print(f"{name}: load {min(times):.2f} s (best of 5; target ≤ 2 s)")
        print(f"  {'':18} {'card':>8} {'measured now':>13}")
        for key in KEYS:
            print(f"  {key:18} {card['evaluation'][key]:8.1%} {measured[key]:13.1%}")
        for target in check_targets(name, measured):
            print(f"  {'✓' if target['met'] else '✗'} {target['target']}")
        print(f"  (evaluation took {took:.0f} s)")

    if args.rebuild:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            cards = build(Path(tmp), device=args.device, progress=False)
            wall = time.perf_counter() - t0
            for name, card in cards.items():
                print(format_card(card))
                same = weights_digest(Path(tmp) / name) == weights_digest(SHIPPED_MODELS_DIR / name)
                print(f"  weights identical to the shipped {name}: {same}")
        print(f"rebuilt both checkpoints in {wall / 60:.1f} min (target ≤ 15 min on 2 cores)")


if __name__ == "__main__":
    main()
