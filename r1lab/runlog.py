"""Run logs: what a training run measured, as plain files a learner can open.

Every run writes a folder ``runs/<name>/`` with

* ``config.json``: the settings it ran with;
* ``metrics.jsonl``: one JSON object per step (``step``, reward, accuracy, length, KL, …);
* ``samples.jsonl``: now and then a few completions with their rewards;
* ``eval.json``: once it has finished, its summary (settings, held-out scores before and
  after), written by the experiment that ran it (:mod:`r1lab.experiments`, :mod:`r1lab.sweep`).

:func:`load_run` reads one back as lists and dicts (no pandas); :func:`metrics_dataset`
gives the metrics as a ``datasets.Dataset``. Both the from-scratch loop and the TRL path
write the same files, so the same plots read either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1lab.paths import RUNS_DIR
from r1lab.storage import append_jsonl, read_json, read_jsonl, write_json, write_jsonl

if TYPE_CHECKING:  # imported when needed: loading a model need not import datasets
    from datasets import Dataset

CONFIG_FILE, METRICS_FILE, SAMPLES_FILE = "config.json", "metrics.jsonl", "samples.jsonl"
EVAL_FILE = "eval.json"


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
    summary: dict[str, Any] = field(default_factory=dict)  # eval.json; {} while unfinished

    def log(self, name: str) -> list[dict[str, Any]]:
        """The rows of another JSON-lines file of the run (``watch.jsonl``, ``heldout.jsonl``)."""
        path = self.path / name
        if not path.is_file():
            raise FileNotFoundError(f"{self.path} has no {name}")
        return read_jsonl(path)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one metric, skipping steps that did not log it."""
        pairs = [(m["step"], m[key]) for m in self.metrics if m.get(key) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def load_run(run_dir: str | Path, remedy: str = "") -> Run:
    """Read ``config.json``, ``metrics.jsonl``, ``samples.jsonl`` and ``eval.json`` of one
    run; ``remedy`` says what to do about a JSON file that does not parse."""
    path = Path(run_dir)
    if not (path / METRICS_FILE).exists():
        raise FileNotFoundError(
            f"{path} holds no {METRICS_FILE}: is it a run folder? "
            f"(runs are written by r1lab.grpo.train and r1lab.trl_grpo.train with run_dir=...)"
        )
    config_path, summary_path = path / CONFIG_FILE, path / EVAL_FILE
    config = read_json(config_path, remedy) if config_path.exists() else {}
    summary = read_json(summary_path, remedy) if summary_path.exists() else {}
    return Run(
        path.name,
        path,
        config,
        read_jsonl(path / METRICS_FILE),
        read_jsonl(path / SAMPLES_FILE),
        summary,
    )


def mean_of(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are there (None when there are none): a step that did
    not measure something logs None for it."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def window_mean(
    metrics: Sequence[dict[str, Any]], key: str, first: bool, n: int = 25
) -> float | None:
    """The mean of one per-step metric over the first (or last) ``n`` steps."""
    rows = metrics[:n] if first else metrics[-n:]
    return mean_of(m.get(key) for m in rows)


def list_runs(root: str | Path = RUNS_DIR) -> list[Path]:
    """Run folders under ``root`` (any depth), sorted by path."""
    root = Path(root)
    return sorted(p.parent for p in root.rglob(METRICS_FILE)) if root.exists() else []


def metrics_dataset(run_dir: str | Path) -> Dataset:
    """A run's metrics as a ``datasets.Dataset`` (one row per step)."""
    from datasets import Dataset

    metrics = load_run(run_dir).metrics
    keys = sorted({k for row in metrics for k in row})
    return Dataset.from_list([{k: row.get(k) for k in keys} for row in metrics])
