"""Experiments built from the pieces: GRPO from the cold-start checkpoint, measured on the
held-out problems before and after.

``r1lab grpo`` runs :func:`grpo_from_sft` from the command line; the runs shipped in
``data/runs/grpo/`` are its output (metrics, samples and ``eval.json``, without the
checkpoint; :func:`load_shipped_run` reads one back). The held-out scores before and
after come from :func:`r1lab.heldout.measure`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from r1lab.config import RunConfig
from r1lab.data import countdown_dataset, load_eval
from r1lab.display import format_score
from r1lab.grpo import GRPOResult
from r1lab.grpo_settings import GRPOSettings
from r1lab.heldout import EVAL_SAMPLES, evaluate, measure
from r1lab.models import CARD_FILE, load_shipped, pick_device, set_seed
from r1lab.paths import SHIPPED_RUNS_DIR
from r1lab.resume import CHECKPOINT_FILE, load_checkpoint
from r1lab.rewards import countdown_reward
from r1lab.rollouts import user_text
from r1lab.runlog import (
    CONFIG_FILE,
    EVAL_FILE,
    METRICS_FILE,
    SAMPLES_FILE,
    Run,
    load_run,
    mean_of,
)
from r1lab.storage import (
    LOCK_FILE,
    CorruptFileError,
    FinishedRunError,
    NotARunFolderError,
    exclusive,
    read_json,
    read_jsonl,
    settings_differ,
    write_json,
    write_jsonl,
)
from r1lab.worlds import World, get_world

TRAIN_PROMPTS = 1800  # the RL prompts: (nearly) the whole training split
TRAINERS = ("r1lab", "trl")
SEARCH_EVAL_SAMPLES = 16  # ... in the search world: does RL narrow what the model can find?
# What a run folder holds; replacing a finished run (overwrite=True) removes these first.
WATCH_FILE = "watch.jsonl"  # emergence runs: greedy completions of a few held-out problems
HELDOUT_FILE = "heldout.jsonl"  # emergence runs: held-out scores during training
RUN_FILES = (EVAL_FILE, CONFIG_FILE, METRICS_FILE, SAMPLES_FILE, CHECKPOINT_FILE,
             WATCH_FILE, HELDOUT_FILE)  # fmt: skip
# ... and these folders: TRL's checkpoints and reference copy (r1lab.trl_grpo.TRL_DIR,
# REFERENCE_DIR), which a new TRL run would otherwise resume from, and the per-process
# traces of r1lab scale (r1lab.scale.TRACE_DIR).
RUN_DIRS = ("trl", "reference", "processes")


RUN_MARKER = ".r1lab-run"  # written first into every folder r1lab trains into
# Files that make a folder a saved model, never a place to train into.
MODEL_FILES = (
    CARD_FILE,
    "model.safetensors",
    "pytorch_model.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "adapter_config.json",
)


def model_in(folder: Path) -> str:
    """What makes ``folder`` a saved model (a file name, or ``config.json`` of a model),
    or "" when it is none."""
    for name in MODEL_FILES:
        if (folder / name).exists():
            return name
    weights = next(
        (p.name for pattern in ("*.safetensors", "*.gguf") for p in folder.glob(pattern)), ""
    )
    if weights:
        return weights
    config = folder / CONFIG_FILE
    if config.is_file():
        try:
            saved = read_json(config)
        except (CorruptFileError, OSError, UnicodeDecodeError):
            return f"{CONFIG_FILE} that is not a run's"
        if not isinstance(saved, dict) or "model_type" in saved or "num_generations" not in saved:
            return f"{CONFIG_FILE} of a model"
    return ""


def claim_run_folder(run_dir: str | Path, mark: bool = True) -> Path:
    """Make ``run_dir`` a run folder of r1lab's, or refuse it before anything is written.

    A new or empty folder, one that r1lab marked as its run (:data:`RUN_MARKER`), or one
    that holds only a run's files (:data:`RUN_FILES`, :data:`RUN_DIRS`; runs written
    before the marker existed) is taken, and marked unless ``mark`` is False (a check
    only). Anything else, a saved model above all, is a
    :class:`r1lab.storage.NotARunFolderError` naming what the folder holds: no command
    writes into a model or deletes files it did not write."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"{run_dir} is a file, not a run folder: choose a folder")
    if (run_dir / RUN_MARKER).is_file():
        return run_dir
    model = model_in(run_dir) if run_dir.is_dir() else ""
    if model:
        raise NotARunFolderError(
            f"{run_dir} holds a saved model ({model}), not a run: nothing was written to it. "
            "Train into a new or empty folder (--out)"
        )
    entries = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    ours = {*RUN_FILES, *RUN_DIRS, LOCK_FILE}
    foreign = [n for n in entries if n not in ours and not _temporary(n)]
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise NotARunFolderError(
            f"{run_dir} is not an r1lab run folder: it holds {shown}, which r1lab did not "
            "write. Nothing was written to it or deleted from it; train into a new or empty "
            "folder (--out)"
        )
    folders = [n for n in entries if n in RUN_DIRS]
    if folders and not any((run_dir / n).is_file() for n in (CONFIG_FILE, EVAL_FILE)):
        held = " and ".join(n + "/" for n in folders)
        raise NotARunFolderError(
            f"{run_dir} holds {held} but no run (no {CONFIG_FILE} or {EVAL_FILE}): it is "
            "not an r1lab run folder, so nothing in it is replaced. "
            "Train into a new or empty folder (--out)"
        )
    if mark:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / RUN_MARKER, {"written_by": "r1lab", "what": "a run folder"})
    return run_dir


def _temporary(name: str) -> bool:
    """A temporary file of :func:`r1lab.storage.write_bytes_atomic` left by a killed writer."""
    return name.startswith(".") and name.endswith(".tmp")


def finished_run(
    run_dir: Path,
    settings: GRPOSettings,
    same_kind: Callable[[dict[str, Any]], bool],
    overwrite: bool = False,
    measured: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """What to do with ``run_dir`` before training into it (``same_kind(summary)`` says
    whether a saved ``eval.json`` is of the same kind of run: arm, world, trainer;
    ``measured`` holds what its held-out measurement must have been, e.g. the number of
    problems, as the summary stores it).

    Returns the finished run's summary when it was trained with these settings: nothing to
    do. Returns None, to train, when the folder holds no finished run, or its checkpoint
    resumes with these settings (a run extended), or ``overwrite`` asks to replace what is
    there (its files are removed first). Any other finished run is refused with
    :class:`r1lab.storage.FinishedRunError`: no command silently replaces results."""
    done = run_dir / EVAL_FILE
    summary: dict[str, Any] = {}
    if done.exists():
        try:
            summary = read_json(done, remedy="delete it, or pass --overwrite, to run again")
        except CorruptFileError:
            if not overwrite:
                raise
    saved = summary.get("settings", {})
    measured = measured or {}
    other_measure = {k: v for k, v in measured.items() if summary.get(k) != v}
    if summary and same_kind(summary) and settings.same_as(saved) and not other_measure:
        return summary
    if overwrite:
        claim_run_folder(run_dir)  # only a folder that is r1lab's run loses files
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        for name in RUN_DIRS:
            shutil.rmtree(run_dir / name, ignore_errors=True)
        return None
    if not summary:
        return None  # nothing finished here: a fresh run, or an interrupted one resumes
    if not same_kind(summary):
        what = "another kind of run: " + ", ".join(
            f"{k} {summary.get(k)!r}" for k in ("arm", "world", "trainer") if k in summary
        )
    elif not settings.same_as(saved):
        full = {**GRPOSettings().to_dict(), **saved}  # fields added since: their defaults
        what = f"other settings: {settings_differ(full, settings.to_dict())}"
    else:
        what = f"another held-out measurement: {settings_differ(summary, other_measure)}"
    # A finished run kept its checkpoint (keep_checkpoint): it can be extended.
    if same_kind(summary) and load_checkpoint(run_dir, settings) is not None:
        return None
    raise FinishedRunError(
        f"{run_dir} holds a finished run ({what}) that this command would replace: "
        "choose another output folder, or pass --overwrite (overwrite=True) to replace it"
    )


def run_once(
    run_dir: Path,
    settings: GRPOSettings,
    same_kind: Callable[[dict[str, Any]], bool],
    overwrite: bool,
    train: Callable[[], dict[str, Any]],
    measured: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``train()`` into ``run_dir`` as its only writer, unless :func:`finished_run` says the
    finished run there is already this one (then its summary is returned as it is)."""
    claim_run_folder(run_dir, mark=False)  # refused before the lock file is written
    with exclusive(run_dir):
        summary = finished_run(run_dir, settings, same_kind, overwrite, measured)
        if summary is not None:
            return summary
        claim_run_folder(run_dir)
        return train()


def heldout_settings(settings: GRPOSettings, world: World | None = None) -> dict[str, Any]:
    """How a run is measured on the held-out problems before and after (the options of
    :func:`r1lab.heldout.measure`): at the run's temperature and completion budget, pass@1
    and pass@N from N samples per problem; in the search world N = 16 (does RL narrow
    what the model can find?) with the search rates and the share cut off."""
    search = world is not None and world.name != "countdown"
    n = SEARCH_EVAL_SAMPLES if search else EVAL_SAMPLES
    return dict(
        temperature=settings.temperature, max_new_tokens=settings.max_new_tokens,
        num_samples=n, ks=(1, n), search=search, truncated=search,
    )  # fmt: skip


def load_shipped_run(
    trainer: str = "r1lab", seed: int = 0, profile: str = "lesson", root: str | Path | None = None
) -> tuple[GRPOResult, dict[str, Any]]:
    """A run of ``r1lab grpo`` shipped in ``data/runs/grpo/<trainer>-<profile>-seed<N>``
    (or under ``root``), read back as :func:`r1lab.grpo.train` returns a run, and its
    ``eval.json`` summary (held-out scores ``before`` and ``after``). For a classroom on a
    shared server, what a notebook shows instead of training. The shipped runs keep no
    weights: ``last_rollouts`` is None, and the scores after training come from the summary."""
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {', '.join(TRAINERS)} (got {trainer!r})")
    root = Path(root) if root is not None else SHIPPED_RUNS_DIR / "grpo"
    run_dir = root / f"{trainer}-{profile}-seed{seed}"
    if not (run_dir / EVAL_FILE).exists():
        shipped = sorted(p.parent.name for p in root.glob(f"*/{EVAL_FILE}"))
        raise FileNotFoundError(
            f"no finished run {run_dir.name} in {root}: the shipped runs are "
            f"{', '.join(shipped) or 'none'} (make one with `r1lab grpo --trainer {trainer} "
            f"--profile {profile} --seed {seed}`)"
        )
    run = load_run(run_dir, remedy="restore it from the repository")
    skipped = int(run.metrics[-1].get("skipped_steps", 0)) if run.metrics else 0
    return GRPOResult(run.metrics, None, skipped, 0, run_dir), run.summary


def grpo_from_sft(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    trainer: str = "r1lab",
    keep_checkpoint: bool = False,
    progress: bool = True,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Train the shipped cold-start model with GRPO (``trainer`` ``r1lab`` or ``trl``) in
    the budget of ``cfg``'s profile, and measure it on ``cfg.n_eval`` held-out problems
    before and after. Writes the run log and ``eval.json`` to ``run_dir``; an interrupted
    run resumes there, a finished one with the same settings is returned as it is, and
    one with other settings is refused unless ``overwrite`` (:func:`finished_run`).
    Returns what ``eval.json`` holds."""
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {', '.join(TRAINERS)} (got {trainer!r})")
    run_dir = Path(run_dir)
    settings = GRPOSettings.from_run_config(cfg, **overrides)
    return run_once(
        run_dir, settings, lambda saved: saved.get("trainer") == trainer, overwrite,
        lambda: _grpo_from_sft(cfg, run_dir, settings, trainer, keep_checkpoint, progress, on_step),
        measured={"eval_problems": eval_problems("countdown", cfg.n_eval)},
    )  # fmt: skip


def eval_problems(name: str, n: int) -> int:
    """How many held-out problems a run measured on ``n`` of set ``name`` uses (all of
    them when the set is smaller): part of what makes a finished run the same run."""
    return len(load_eval(name, n, chat=False))


def _grpo_from_sft(
    cfg: RunConfig,
    run_dir: Path,
    settings: GRPOSettings,
    trainer: str,
    keep_checkpoint: bool,
    progress: bool,
    on_step: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    set_seed(cfg.seed)
    device = pick_device(cfg.device)
    model, tokenizer = load_shipped("sft", device=str(device))
    rows = list(load_eval("countdown", cfg.n_eval, chat=True))
    how = heldout_settings(settings)
    before = measure(model, tokenizer, rows, **how, progress=progress)
    prompts = countdown_dataset(TRAIN_PROMPTS, seed=0)
    if trainer == "trl":
        from r1lab.trl_grpo import train
    else:
        from r1lab.grpo import train
    start = time.perf_counter()
    result = train(
        model, tokenizer, prompts, settings, run_dir=run_dir, on_step=on_step, progress=progress
    )
    wall = time.perf_counter() - start
    after = measure(model, tokenizer, rows, **how, progress=progress)

    summary = {
        "trainer": trainer,
        "profile": cfg.profile,
        "seed": cfg.seed,
        "device": str(device),
        "settings": settings.to_dict(),
        "eval_problems": len(rows),
        "before": before,
        "after": after,
        "train_seconds": sum(m["step_time_s"] for m in result.history),
        "wall_seconds_this_call": wall,
        "resumed_from": result.resumed_from,
    }
    write_json(run_dir / EVAL_FILE, summary)
    if not keep_checkpoint:  # the training state (TRL's: its checkpoint folder) goes
        (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
        if trainer == "trl":
            from r1lab.trl_grpo import TRL_DIR

            shutil.rmtree(run_dir / TRL_DIR, ignore_errors=True)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """Before → after lines for the command line."""
    lines = [
        f"{summary['trainer']} GRPO, profile {summary['profile']}, seed {summary['seed']}: "
        f"{summary['settings']['steps']} steps, {summary['train_seconds'] / 60:.1f} min of "
        f"training on {summary['device']}; {summary['eval_problems']} held-out problems"
    ]
    for key, old in summary["before"].items():
        new = summary["after"][key]
        if key == "mean_length":
            lines.append(f"  {key:12s} {old:6.1f} → {new:6.1f} tokens")
        else:
            lines.append(f"  {key:12s} {old:6.1%} → {new:6.1%}  ({(new - old) * 100:+.1f} points)")
    return "\n".join(lines)


# ------------------------------------------------------------------------- emergence

EMERGENCE_DIR = "emergence"
# Where each arm starts: the cold start (the main run) or the bare base model (R1-Zero).
STARTS = {"sft": "sft", "r1zero": "base"}
# The search world's study: its own folder, more training prompts (its split is larger).
SEARCH_EMERGENCE_DIR = "emergence-search"
SEARCH_TRAIN_PROMPTS = 4000


def emergence_dir(world: str | World) -> str:
    """The folder under ``data/runs`` that holds a world's emergence study."""
    return EMERGENCE_DIR if get_world(world).name == "countdown" else SEARCH_EMERGENCE_DIR


def start_model(world: World, arm: str) -> str:
    """The name of the shipped model an arm starts from, in ``world``."""
    return world.sft_dir if STARTS[arm] == "sft" else world.base_dir


WATCH_PROMPTS = 6  # held-out problems whose greedy completion is logged as training goes
HELDOUT_EVERY = 100  # steps between held-out measurements during an emergence run
HELDOUT_SAMPLES = 4  # samples per held-out problem for those measurements


def emergence_run_dir(root: str | Path, arm: str, seed: int) -> Path:
    return Path(root) / f"{arm}-seed{seed}"


def load_emergence(world: str | World, root: str | Path | None = None) -> dict[str, list[Run]]:
    """A world's emergence study, ``{arm: [run of each seed]}`` (finished runs, with their
    ``eval.json`` as ``summary``): the shipped one in ``data/runs``, or the one in ``root``."""
    folder = Path(root) if root is not None else SHIPPED_RUNS_DIR / emergence_dir(world)
    return {
        arm: [load_run(p) for p in sorted(folder.glob(f"{arm}-seed*")) if (p / EVAL_FILE).exists()]
        for arm in STARTS
    }


def before_after_rows(runs: Sequence[Run], keys: Sequence[str]) -> list[list[str]]:
    """A table row per run: each held-out score before → after training (its ``eval.json``),
    then a row of their means over the runs."""

    def cell(key: str, before: float | None, after: float | None) -> str:
        return f"{format_score(key, before)} → {format_score(key, after)}"

    rows = [
        [r.name] + [cell(k, r.summary["before"].get(k), r.summary["after"].get(k)) for k in keys]
        for r in runs
    ]
    means = [
        cell(
            k,
            mean_of(r.summary["before"].get(k) for r in runs),
            mean_of(r.summary["after"].get(k) for r in runs),
        )
        for k in keys
    ]
    return rows + [["mean", *means]]


def _rewrite_from(path: Path, step: int, new: list[dict]) -> None:
    """Keep the rows of ``path`` before ``step`` (a resumed run logs again), add ``new``."""
    kept = [r for r in read_jsonl(path) if r["step"] < step]
    write_jsonl(path, kept + new)


class _Watcher:
    """Logs the greedy completion of a few fixed held-out problems every ``every`` steps
    (and before training), so the same prompt can be read before and after; and every
    ``HELDOUT_EVERY`` steps the held-out scores and retry rates."""

    def __init__(
        self, model, tokenizer, rows: list[dict], run_dir: Path, every: int, tokens: int,
        search: bool = False,
    ):  # fmt: skip
        self.model, self.tokenizer, self.rows_all, self.search = model, tokenizer, rows, search
        self.rows = rows[:WATCH_PROMPTS]
        self.path, self.every, self.tokens = run_dir / WATCH_FILE, every, tokens
        self.heldout_path = run_dir / HELDOUT_FILE

    def heldout(self, step: int) -> None:
        scores = measure(
            self.model, self.tokenizer, self.rows_all, num_samples=HELDOUT_SAMPLES,
            ks=(1, HELDOUT_SAMPLES), max_new_tokens=self.tokens, behaviors=True,
            search=self.search, truncated=self.search,
        )  # fmt: skip
        _rewrite_from(self.heldout_path, step, [{"step": step, **scores}])

    def record(self, step: int) -> None:
        watched = []
        result = evaluate(
            self.model, self.tokenizer, self.rows, num_samples=1, temperature=0.0,
            max_new_tokens=self.tokens,
        )  # fmt: skip
        for row, texts, rewards in zip(self.rows, result.texts, result.rewards, strict=True):
            watched.append({
                "step": step, "prompt": user_text(row["prompt"]), "numbers": row["numbers"],
                "target": row["target"], "completion": texts[0], "reward": rewards[0],
            })  # fmt: skip
        _rewrite_from(self.path, step, watched)

    def on_step(self, metrics: dict[str, Any]) -> None:
        if metrics["step"] % self.every == 0:
            self.record(metrics["step"])
        if metrics["step"] % HELDOUT_EVERY == 0:
            self.heldout(metrics["step"])


def emergence_settings(cfg: RunConfig, world: str | World, **overrides: Any) -> GRPOSettings:
    """The GRPO settings of an emergence run in ``cfg``'s budget and ``world``."""
    defaults: dict[str, Any] = {"samples_per_log": 8}
    if get_world(world).name != "countdown":
        defaults["steps"] = cfg.search_steps
        defaults["max_new_tokens"] = get_world(world).max_new_tokens
        defaults["length_buckets"] = True  # searches are many times longer than answers
    return GRPOSettings.from_run_config(cfg, **{**defaults, **overrides})


def emergence_run(
    cfg: RunConfig,
    arm: str,
    run_dir: str | Path,
    *,
    progress: bool = True,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    reward_funcs: Sequence[Callable[..., list[float]]] | None = None,
    keep_checkpoint: bool = False,
    world: str | World = "countdown",
    overwrite: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """One GRPO run of the emergence study, from the cold start (``arm="sft"``, the main
    run) or from the bare base model (``arm="r1zero"``), in ``cfg``'s budget, in
    ``world`` (its models, held-out file, training prompts and completion budget).

    Every step logs what the completions do (:func:`r1lab.behaviors.step_metrics`), the
    greedy completions of a few held-out problems are logged every ``samples_every``
    steps (``watch.jsonl``), and ``eval.json`` holds the held-out scores and retry rates
    before and after. A finished run with the same settings is returned as it is, an
    interrupted one resumes, and a finished one with other settings is refused unless
    ``overwrite`` (:func:`finished_run`).
    """
    if arm not in STARTS:
        raise ValueError(f"arm must be one of {', '.join(STARTS)} (got {arm!r})")
    run_dir = Path(run_dir)
    world = get_world(world)
    settings = emergence_settings(cfg, world, **overrides)

    def same_kind(saved: dict[str, Any]) -> bool:
        return saved.get("arm") == arm and saved.get("world", "countdown") == world.name

    return run_once(
        run_dir, settings, same_kind, overwrite,
        lambda: _emergence_run(
            cfg, arm, run_dir, settings, world, progress, on_step, reward_funcs, keep_checkpoint
        ),
        measured={"eval_problems": eval_problems(world.eval_name, cfg.n_eval)},
    )  # fmt: skip


def _emergence_run(
    cfg: RunConfig,
    arm: str,
    run_dir: Path,
    settings: GRPOSettings,
    world: World,
    progress: bool,
    on_step: Callable[[dict[str, Any]], None] | None,
    reward_funcs: Sequence[Callable[..., list[float]]] | None,
    keep_checkpoint: bool,
) -> dict[str, Any]:
    from r1lab.behaviors import step_metrics

    set_seed(cfg.seed)
    device = pick_device(cfg.device)
    model, tokenizer = load_shipped(start_model(world, arm), device=str(device))
    rows = list(load_eval(world.eval_name, cfg.n_eval, chat=True))
    how = heldout_settings(settings, world)
    before = measure(model, tokenizer, rows, **how, behaviors=True)

    watcher = _Watcher(
        model, tokenizer, rows, run_dir, settings.samples_every, settings.max_new_tokens,
        search=world.name != "countdown",
    )  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / CHECKPOINT_FILE).exists():
        watcher.record(0)
        watcher.heldout(0)

    def step_hook(metrics: dict[str, Any]) -> None:
        watcher.on_step(metrics)
        if on_step is not None:
            on_step(metrics)

    if world.name == "countdown":
        prompts = countdown_dataset(TRAIN_PROMPTS, seed=0)
    else:
        prompts = countdown_dataset(SEARCH_TRAIN_PROMPTS, seed=0, spec=world.spec)
    from r1lab.grpo import train

    funcs = tuple(reward_funcs) if reward_funcs is not None else (countdown_reward,)
    result = train(
        model, tokenizer, prompts, settings, reward_funcs=funcs, run_dir=run_dir,
        on_step=step_hook, extra_metrics=step_metrics, progress=progress,
    )  # fmt: skip
    after = measure(model, tokenizer, rows, **how, behaviors=True)
    summary = {
        "arm": arm,
        "world": world.name,
        "start": STARTS[arm],
        "profile": cfg.profile,
        "seed": cfg.seed,
        "device": str(device),
        "settings": settings.to_dict(),
        "reward_funcs": [getattr(f, "__name__", "reward") for f in funcs],
        "eval_problems": len(rows),
        "before": before,
        "after": after,
        "train_seconds": sum(m["step_time_s"] for m in result.history),
        "resumed_from": result.resumed_from,
    }
    write_json(run_dir / EVAL_FILE, summary)
    if not keep_checkpoint:
        (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    return summary


def emergence_study(
    cfg: RunConfig,
    out: str | Path,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    arms: Sequence[str] = tuple(STARTS),
    progress: bool = True,
    world: str | World = "countdown",
    jobs: int = 1,
    overwrite: bool = False,
    **overrides: Any,
) -> dict[str, dict[str, Any]]:
    """Every arm for every seed (finished runs are skipped, an interrupted one resumes),
    one after another or ``jobs`` at a time in separate processes with one thread each.
    A finished run with other settings is refused before anything trains, unless
    ``overwrite``. Returns each run's ``eval.json`` by folder name."""
    from tqdm.auto import tqdm

    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer (got {jobs!r})")
    world = get_world(world).name
    work = [(arm, seed) for arm in arms for seed in seeds]
    if not overwrite:  # refuse now, not an hour into the study
        for arm, seed in work:
            c = cfg.replace(seed=seed)
            finished_run(
                emergence_run_dir(out, arm, seed), emergence_settings(c, world, **overrides),
                lambda saved, arm=arm: saved.get("arm") == arm
                and saved.get("world", "countdown") == world,
                measured={"eval_problems": eval_problems(get_world(world).eval_name, c.n_eval)},
            )  # fmt: skip
    summaries = {}
    if jobs == 1:
        for arm, seed in tqdm(work, desc="emergence runs", unit="run", disable=not progress):
            run_dir = emergence_run_dir(out, arm, seed)
            summaries[run_dir.name] = emergence_run(
                cfg.replace(seed=seed), arm, run_dir, progress=progress, world=world,
                overwrite=overwrite, **overrides,
            )  # fmt: skip
        return summaries
    import concurrent.futures as cf
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    bar = tqdm(total=len(work), desc="emergence runs", unit="run", disable=not progress)
    with cf.ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_one_thread, initargs=(os.getpid(),)
    ) as pool:
        futures = {
            pool.submit(
                emergence_run, cfg.replace(seed=seed), arm, emergence_run_dir(out, arm, seed),
                progress=False, world=world, overwrite=overwrite, **overrides,
            ): emergence_run_dir(out, arm, seed).name
            for arm, seed in work
        }  # fmt: skip
        for future in cf.as_completed(futures):
            summaries[futures[future]] = future.result()
            bar.update(1)
            bar.write(f"{futures[future]} finished")
    bar.close()
    return {name: summaries[name] for name in futures.values()}


def _one_thread(parent: int) -> None:
    """A worker of a study: one thread, and it exits when the command that started it
    (process ``parent``) dies."""
    import torch

    from r1lab.lifeline import die_with_parent

    die_with_parent(parent=parent)
    torch.set_num_threads(1)


# ------------------------------------------------------------------ the search world's targets


def aha_threshold(metrics: Sequence[dict[str, Any]], window: int = 25) -> float:
    """The share of completions with an effective retry that counts as a habit for a run:
    25 %, or twice its own share over the first ``window`` steps, whichever is higher."""
    first = [m["effective_retry_rate"] for m in metrics[:window]]
    return max(0.25, 2 * sum(first) / len(first)) if first else 0.25


def search_targets(
    summaries: Sequence[dict[str, Any]],
    metrics: Sequence[Sequence[dict[str, Any]]],
    data_attempts: float,
) -> list[dict[str, Any]]:
    """The search world's targets, per seed, from each run's ``eval.json`` (``summaries``)
    and its per-step ``metrics``: held-out length ≥ 1.5× its start, held-out attempts
    above the cold-start data's ``data_attempts``, held-out effective retries ≥ 25 % and
    ≥ 3× the start, pass@1 up, pass@16 not down by more than 5 points, checks honest
    ≥ 95 % at every step, an aha step (:func:`aha_threshold`). Each row: ``target``,
    ``values`` (one per seed, formatted) and ``met`` (true for every seed)."""
    from r1lab.behaviors import aha_step

    if len(summaries) != len(metrics):
        raise ValueError(f"{len(summaries)} summaries but {len(metrics)} runs of metrics")
    before = [s["before"] for s in summaries]
    after = [s["after"] for s in summaries]
    pairs = list(zip(before, after, strict=True))
    honest = [
        min((m["honest_check_rate"] for m in run if m.get("honest_check_rate") is not None),
            default=0.0)
        for run in metrics
    ]  # fmt: skip
    ahas = []
    for run in metrics:
        steps = [m["step"] for m in run]
        shares = [m["effective_retry_rate"] for m in run]
        ahas.append(aha_step(steps, shares, aha_threshold(run), window=25))
    rows = [
        ("held-out length ≥ 1.5× its start",
         [a["mean_length"] / b["mean_length"] for b, a in pairs], lambda v: v >= 1.5, "{:.2f}×"),
        (f"held-out attempts above the cold-start data's {data_attempts:.2f}",
         [a["attempts"] for a in after], lambda v: v > data_attempts, "{:.2f}"),
        ("held-out effective retries ≥ 25 % at the end",
         [a["effective_retry_rate"] for a in after], lambda v: v >= 0.25, "{:.1%}"),
        ("held-out effective retries ≥ 3× the start",
         [a["effective_retry_rate"] / max(b["effective_retry_rate"], 1e-9) for b, a in pairs],
         lambda v: v >= 3, "{:.1f}×"),
        ("held-out pass@1 rises", [a["pass@1"] - b["pass@1"] for b, a in pairs],
         lambda v: v > 0, "{:+.1%}"),
        ("held-out pass@16 falls by at most 5 points",
         [a["pass@16"] - b["pass@16"] for b, a in pairs], lambda v: v >= -0.05, "{:+.1%}"),
        ("checks honest ≥ 95 % at every step (lowest)", honest, lambda v: v >= 0.95, "{:.1%}"),
    ]  # fmt: skip
    out = [
        {"target": what, "values": [fmt.format(v) for v in values], "met": all(map(ok, values))}
        for what, values, ok, fmt in rows
    ]
    out.append({
        "target": "an aha step in every seed",
        "values": ["none" if a is None else f"step {a}" for a in ahas],
        "met": all(a is not None for a in ahas),
    })  # fmt: skip
    return out
