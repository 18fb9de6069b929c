"""A run's resume state: what :func:`r1lab.grpo.train` saves to continue a run exactly as
if it had never stopped.

The resume state (``checkpoint.pt`` in the run folder) holds the model, the optimizer,
the scheduler, the RNG states, the step and the settings; the prompts and sampling seed
of a step are functions of ``(seed, step)`` alone, so nothing about the data needs
saving. A run resumes only with the settings it was written with, except those in
:data:`RESUMABLE_CHANGES`.

Left out, on purpose: older resume states (only the latest is kept: each is the whole
model, and a run only ever continues from its last one) and converting a state written
with other settings (a resumed run would then be neither run).
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from r1lab.grpo_settings import GRPOSettings, learning_rate_factor
from r1lab.storage import load_state, save_state

CHECKPOINT_FILE = "checkpoint.pt"
STATE_KEYS = ("step", "skipped_steps", "settings", "model", "optimizer", "scheduler", "rng")

# Settings a resumed run may change: the budget, how often it logs, and the micro-batch
# size and grouping (gradient accumulation gives the same update, to rounding).
RESUMABLE_CHANGES = frozenset(
    {
        "steps",
        "checkpoint_every",
        "samples_every",
        "samples_per_log",
        "micro_batch_size",
        "length_buckets",
    }
)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run_dir: Path,
    model: PreTrainedModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    skipped_steps: int,
    settings: GRPOSettings,
    ref_model: PreTrainedModel | None = None,
) -> Path:
    """Write the run's whole resume state atomically (a crash mid-write keeps the old
    one), with a checksum that :func:`load_checkpoint` verifies."""
    path = Path(run_dir) / CHECKPOINT_FILE
    state = {
        "step": step,
        "skipped_steps": skipped_steps,
        "settings": settings.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "ref_model": ref_model.state_dict() if ref_model is not None else None,
    }
    return save_state(state, path)


def load_checkpoint(run_dir: str | Path, settings: GRPOSettings) -> dict[str, Any] | None:
    """The resume state in ``run_dir``, or None. Refuses one written with other settings
    (except ``steps`` and logging cadence, so a finished run can be extended)."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    state = load_state(
        path,
        f"delete {path.name} to restart this run from its beginning (or use a new folder)",
        keys=STATE_KEYS,
    )
    check_resumable(state["settings"], settings, path)
    return state


def check_resumable(
    saved: dict[str, Any],
    settings: GRPOSettings,
    where: str | Path,
    free: frozenset[str] = RESUMABLE_CHANGES,
) -> None:
    """Refuse to resume, from ``where``, a run whose ``saved`` settings differ from
    ``settings`` in anything but the ``free`` ones; the error lists the differences."""
    now = settings.to_dict()
    saved = {**GRPOSettings().to_dict(), **saved}  # fields added since count as defaults
    differ = sorted(k for k in now if k not in free and saved.get(k) != now[k])
    if differ:
        shown = ", ".join(f"{k}: {saved.get(k)!r} → {now[k]!r}" for k in differ)
        raise ValueError(
            f"{where} was written with other settings ({shown}): "
            "use a new run directory, or delete this one to start over"
        )


def warn_if_schedule_changes(
    saved: dict[str, Any], settings: GRPOSettings, step: int, stacklevel: int = 3
) -> None:
    """A run resumed with another ``steps`` keeps the updates it made, then follows the
    linear decay of the *new* length from the resume point: the learning rate jumps there
    and the whole run matches neither schedule. Say so, with numbers."""
    old_steps = saved.get("steps", settings.steps)
    if old_steps == settings.steps or settings.lr_schedule != "linear":
        return
    before = dataclasses.replace(settings, steps=old_steps)
    at = step * settings.mu
    was = settings.learning_rate * learning_rate_factor(max(at - 1, 0), before)
    now = settings.learning_rate * learning_rate_factor(at, settings)
    warnings.warn(
        f"resuming at step {step} a run started with steps={old_steps} as a run of "
        f"steps={settings.steps}: its learning rate decays linearly to 0 at the new end, so "
        f"it goes from {was:.2g} (last update) to {now:.2g} (next update) and the run's "
        "schedule matches neither length (each step's rate is in metrics.jsonl). For a clean "
        f"{settings.steps}-step schedule, start in a new run folder; or use "
        "lr_schedule='constant' for runs you mean to extend.",
        stacklevel=stacklevel,
    )
