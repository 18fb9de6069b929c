"""Where the course's files live: the one place that names a folder of the repository."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DATA_DIR = REPO_ROOT / "data"  # what the repository ships, each file from a command
SHIPPED_MODELS_DIR = DATA_DIR / "checkpoints"  # base, sft, search-base, search-sft
SHIPPED_RUNS_DIR = DATA_DIR / "runs"  # grpo, sweep, emergence, emergence-search
EVAL_DIR = DATA_DIR / "eval"  # the held-out problems
RUNS_DIR = REPO_ROOT / "runs"  # learners' own runs (not committed)
