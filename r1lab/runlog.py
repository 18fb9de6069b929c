"""Run logs: what a training run measured, as plain files a learner can open.

Every run writes a folder ``runs/<name>/`` with

* ``config.json``: the settings it ran with;
* ``metrics.jsonl``: one JSON object per step (``step``, reward, accuracy, length, KL, …);
* ``samples.jsonl``: now and then a few completions with their rewards.

:func:`load_run` reads one back as lists and dicts (no pandas); :func:`metrics_dataset`
gives the metrics as a ``datasets.Dataset``. Both the from-scratch loop and the TRL path
write the same files, so the same plots read either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset

from r1lab.paths import RUNS_DIR
from r1lab.storage import append_jsonl, read_json, read_jsonl, write_json, write_jsonl

CONFIG_FILE, METRICS_FILE, SAMPLES_FILE = "config.json", "metrics.jsonl", "samples.jsonl"


class RunLog:
    """Appends a run's metrics and samples to ``run_dir`` (created if needed)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir)
        self.path.mkdir(parents=True, exist_ok=True)

    def start(self, config: dict[str, Any], keep_until: int = 0) -> list[dict[str, Any]]:
        """Write ``config.json`` and keep only the steps ``≤ keep_until`` already logged
        (what a resumed run continues from). Returns those metrics."""
        write_json(self.path / CONFIG_FILE, config)
        kept = []
        for name in (METRICS_FILE, SAMPLES_FILE):
            rows = [r for r in read_jsonl(self.path / name) if r.get("step", 0) <= keep_until]
            write_jsonl(self.path / name, rows)
            if name == METRICS_FILE:
                kept = rows
        return kept

    def append_metrics(self, metrics: dict[str, Any]) -> None:
        append_jsonl(self.path / METRICS_FILE, [metrics])

    def append_samples(self, step: int, samples: list[dict[str, Any]]) -> None:
        append_jsonl(self.path / SAMPLES_FILE, [{"step": step, **s} for s in samples])


@dataclass
class Run:
    """A run read back from disk."""

    name: str
    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one metric, skipping steps that did not log it."""
        pairs = [(m["step"], m[key]) for m in self.metrics if m.get(key) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def load_run(run_dir: str | Path) -> Run:
    """Read ``config.json``, ``metrics.jsonl`` and ``samples.jsonl`` of one run."""
    path = Path(run_dir)
    if not (path / METRICS_FILE).exists():
        raise FileNotFoundError(
            f"{path} holds no {METRICS_FILE}: is it a run folder? "
            f"(runs are written by r1lab.grpo.train and r1lab.trl_grpo.train with run_dir=...)"
        )
    config_path = path / CONFIG_FILE
    config = read_json(config_path) if config_path.exists() else {}
    return Run(
        path.name,
        path,
        config,
        read_jsonl(path / METRICS_FILE),
        read_jsonl(path / SAMPLES_FILE),
    )


def list_runs(root: str | Path = RUNS_DIR) -> list[Path]:
    """Run folders under ``root`` (any depth), sorted by path."""
    root = Path(root)
    return sorted(p.parent for p in root.rglob(METRICS_FILE)) if root.exists() else []


def metrics_dataset(run_dir: str | Path) -> Dataset:
    """A run's metrics as a ``datasets.Dataset`` (one row per step)."""
    metrics = load_run(run_dir).metrics
    keys = sorted({k for row in metrics for k in row})
    return Dataset.from_list([{k: row.get(k) for k in keys} for row in metrics])
