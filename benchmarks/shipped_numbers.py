"""Re-measure the shipped numbers with the code as it is now, and print what differs.

A refactor must not change a shipped number. This measures again, from the shipped models
and with the settings the shipped files record:

* ``cards``: each shipped model's card (``data/checkpoints/*/card.json``, ``evaluation``);
* ``grpo``: the held-out scores before training of the shipped ``r1lab grpo`` runs;
* ``sweep``: the start models' scores of the shipped sweep (``start-*.json``);
* ``emergence``: the scores before training of both emergence studies (seed 0 of each arm);
* ``train``: one shipped run trained again from scratch (``r1lab grpo``, lesson, seed 0,
  about 10 minutes on one thread), its per-step log and its scores after training.

    python benchmarks/shipped_numbers.py                 # all but train
    python benchmarks/shipped_numbers.py cards grpo train

Numbers are compared exactly; timings and fields a file did not record are left out. One
thread (``R1LAB_THREADS``, the default) is how the shipped files were made; other thread
counts or processors may round differently.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from r1lab.build_models import EvalSettings, evaluate_checkpoint
from r1lab.config import RunConfig, set_threads
from r1lab.data import load_eval
from r1lab.experiments import (
    emergence_dir,
    grpo_from_sft,
    heldout_settings,
    start_model,
)
from r1lab.grpo_settings import GRPOSettings
from r1lab.heldout import measure
from r1lab.models import SHIPPED_MODELS, load_shipped, shipped_card
from r1lab.paths import SHIPPED_RUNS_DIR
from r1lab.runlog import load_run
from r1lab.storage import read_json
from r1lab.sweep import STARTS, SWEEP_DIR, start_scores
from r1lab.worlds import get_world

TIMING = ("seconds", "_time", "time_s", "wall")


def differences(shipped: Any, now: Any, where: str = "") -> list[str]:
    """Where two JSON values differ, ignoring timings and keys only one side has."""
    if isinstance(shipped, dict) and isinstance(now, dict):
        out = []
        for key in sorted(set(shipped) & set(now)):
            if not any(t in key for t in TIMING):
                out += differences(shipped[key], now[key], f"{where}/{key}")
        return out
    if isinstance(shipped, list) and isinstance(now, list):
        if len(shipped) != len(now):
            return [f"{where}: {len(shipped)} items shipped, {len(now)} now"]
        return [
            d
            for i, (a, b) in enumerate(zip(shipped, now, strict=True))
            for d in differences(a, b, f"{where}[{i}]")
        ]
    same = shipped == now or (
        isinstance(shipped, float)
        and isinstance(now, float)
        and math.isnan(shipped)
        and math.isnan(now)
    )
    return [] if same else [f"{where}: shipped {shipped!r}, now {now!r}"]


def report(name: str, shipped: Any, now: Any, seconds: float) -> bool:
    found = differences(shipped, now)
    status = "same" if not found else f"{len(found)} differ"
    print(f"{name:45s} {status:10s} ({seconds:.0f} s)", flush=True)
    for line in found[:10]:
        print("    " + line)
    return not found


def check_cards() -> bool:
    ok = True
    for name in SHIPPED_MODELS:
        start = time.perf_counter()
        card = shipped_card(name)["evaluation"]
        model, tokenizer = load_shipped(name, device="cpu")
        settings = EvalSettings(**card["settings"])
        ok &= report(f"card {name}", card, evaluate_checkpoint(model, tokenizer, settings),
                     time.perf_counter() - start)  # fmt: skip
    return ok


def check_grpo() -> bool:
    ok = True
    model, tokenizer = load_shipped("sft", device="cpu")
    for path in sorted((SHIPPED_RUNS_DIR / "grpo").glob("*-seed*")):
        start = time.perf_counter()
        summary = read_json(path / "eval.json")
        settings = GRPOSettings(**summary["settings"])
        rows = list(load_eval("countdown", summary["eval_problems"], chat=True))
        now = measure(model, tokenizer, rows, **heldout_settings(settings))
        ok &= report(
            f"grpo {path.name}: before", summary["before"], now, time.perf_counter() - start
        )
    return ok


def check_sweep() -> bool:
    ok = True
    for start_name in STARTS:
        file = SHIPPED_RUNS_DIR / SWEEP_DIR / f"start-{start_name}.json"
        shipped = read_json(file)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = RunConfig.from_profile(shipped["profile"], n_eval=shipped["eval_problems"])
            now = start_scores(cfg, start_name, tmp)
        ok &= report(f"sweep start-{start_name}", shipped, now, time.perf_counter() - start)
    return ok


def check_emergence() -> bool:
    ok = True
    for world in ("countdown", "search"):
        for path in sorted((SHIPPED_RUNS_DIR / emergence_dir(world)).glob("*-seed0")):
            start = time.perf_counter()
            summary = read_json(path / "eval.json")
            arm, w = summary["arm"], get_world(world)
            model, tokenizer = load_shipped(start_model(w, arm), device="cpu")
            settings = GRPOSettings(**{**GRPOSettings().to_dict(), **summary["settings"]})
            rows = list(load_eval(w.eval_name, summary["eval_problems"], chat=True))
            now = measure(model, tokenizer, rows, **heldout_settings(settings, w), behaviors=True)
            ok &= report(f"{emergence_dir(world)} {path.name}: before", summary["before"], now,
                         time.perf_counter() - start)  # fmt: skip
    return ok


def check_train() -> bool:
    shipped = SHIPPED_RUNS_DIR / "grpo" / "r1lab-lesson-seed0"
    summary = read_json(shipped / "eval.json")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RunConfig.from_profile("lesson", seed=0, device="cpu")
        now = grpo_from_sft(cfg, Path(tmp) / "run", progress=False)
        metrics_now = load_run(Path(tmp) / "run").metrics
    seconds = time.perf_counter() - start
    ok = report("train r1lab-lesson-seed0: after", summary["after"], now["after"], seconds)
    ok &= report(
        "train r1lab-lesson-seed0: per-step log", load_run(shipped).metrics, metrics_now, 0
    )
    return ok


CHECKS = {"cards": check_cards, "grpo": check_grpo, "sweep": check_sweep,
          "emergence": check_emergence, "train": check_train}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "checks", nargs="*", help=f"any of {', '.join(CHECKS)} (default: all but train)"
    )
    args = parser.parse_args(argv)
    unknown = [c for c in args.checks if c not in CHECKS]
    if unknown:
        parser.error(f"unknown check {unknown[0]!r}: choose from {', '.join(CHECKS)}")
    set_threads()
    chosen = args.checks or [c for c in CHECKS if c != "train"]
    results = {name: CHECKS[name]() for name in chosen}
    print(json.dumps({name: "same" if ok else "differs" for name, ok in results.items()}))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
