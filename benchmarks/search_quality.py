"""How well a run's searches go, early and late: the saved completions of run folders
re-scored with :func:`r1lab.behaviors.search_rates` (how often they search, and
:func:`r1lab.behaviors.search_quality`: verdicts by kind, false ``ok``, repeats, valid items,
pass@1 per mode), so runs logged before those measures existed can be read with them.

A run logs a few completions every ``samples_every`` steps (``samples.jsonl``: 8 every 25 steps
in the shipped studies), so a window of steps holds few completions: each table gives the steps
and the count it rests on, and pools the completions of a window (and, with several runs, of all
runs) rather than averaging per-step shares. ``early`` is the first ``--window`` steps of the
run from its first logged step, ``late`` the last ``--window`` steps to its last logged step;
``--all`` tiles the whole run with such windows. ``--log watch.jsonl`` reads the greedy
completions of the watched held-out prompts instead (logged from step 0, before training).

    .venv/bin/python benchmarks/search_quality.py data/runs/emergence-search/sft-seed{0,1,2}
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from r1lab.behaviors import search_rates
from r1lab.display import format_score
from r1lab.storage import read_jsonl

SHOWN = (
    "search_rate", "honest_check_rate", "ok_precision", "no_precision", "false_ok_rate",
    "repeat_rate", "valid_item_rate", "search_pass1", "direct_pass1",
)  # fmt: skip


def windows(
    rows: Sequence[dict[str, Any]], window: int, tiled: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """The logged rows of the first and the last ``window`` steps of a run, or (``tiled``)
    of every ``window`` steps from its first logged step that logged any."""
    if window < 1:
        raise ValueError(f"window must be at least 1 step (got {window})")
    if not rows:
        raise ValueError("no completions logged: nothing to re-score")
    steps = sorted({int(r["step"]) for r in rows})
    if tiled:
        found: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            start = steps[0] + (int(r["step"]) - steps[0]) // window * window
            found.setdefault(f"steps {start}-{start + window - 1}", []).append(r)
        return found
    return {
        "early": [r for r in rows if int(r["step"]) < steps[0] + window],
        "late": [r for r in rows if int(r["step"]) > steps[-1] - window],
    }


def rescore(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The steps, completion counts and search measures of some logged rows."""
    rates = search_rates([r["completion"] for r in rows], rows)
    return {
        "steps": sorted({int(r["step"]) for r in rows}),
        "completions": len(rows),
        "searches": round(rates["search_rate"] * len(rows)),
        **{key: rates[key] for key in SHOWN},
    }


def table(scored: dict[str, dict[str, Any]]) -> str:
    """One line per (run, window): its steps, counts and measures."""
    header = ["run / window", "steps", "n", "searching", *SHOWN]
    lines = [header]
    for name, s in scored.items():
        steps = ",".join(map(str, s["steps"]))
        values = [format_score(key, s[key]) for key in SHOWN]
        lines.append([name, steps, str(s["completions"]), str(s["searches"]), *values])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--window", type=int, default=10, help="steps per window (default 10)")
    parser.add_argument("--log", default="samples.jsonl", help="samples.jsonl or watch.jsonl")
    parser.add_argument("--all", action="store_true", help="every window, not early and late")
    args = parser.parse_args(argv)
    scored: dict[str, dict[str, Any]] = {}
    pooled: dict[str, list[dict[str, Any]]] = {}
    for run in args.runs:
        path = run / args.log
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: is {run} a run folder?")
        for name, rows in windows(read_jsonl(path), args.window, args.all).items():
            scored[f"{run.name} {name}"] = rescore(rows)
            pooled.setdefault(name, []).extend(rows)
    if len(args.runs) > 1:
        for name, rows in pooled.items():
            scored[f"all runs {name}"] = rescore(rows)
    print(f"{args.log}, windows of {args.window} steps")
    print(table(scored))


if __name__ == "__main__":
    main()
