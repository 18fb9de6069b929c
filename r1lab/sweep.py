"""Why RL and not more SFT: the controlled experiments behind notebook 08.

Every **arm** trains for the same number of model updates (the profile's ``sweep_steps``)
with the same
optimizer, learning-rate schedule and training prompts, through the same loop
(:func:`r1lab.grpo.train`); the arms differ only in *which completions* each update
learns from and *with what weight*:

============  ===========================  ==========================================
arm           completions                  weight (advantage)
============  ===========================  ==========================================
sft_more      new expert traces            1 (supervised fine-tuning)
rft           the model's own, correct     1, failures dropped (rejection sampling,
              ones only                    re-sampled every step: iterated)
grpo_pos      the model's own              reward - group mean, but never below 0
grpo          the model's own              reward - group mean (positives and negatives)
============  ===========================  ==========================================

and the GRPO variants: from the bare base model (``r1zero``), with a KL anchor
(``kl_0.04``, ``kl_0.4``), other group sizes at the same number of completions per
update, spread over more or fewer prompts (``g2``, ``g4``, ``g16``), and other loss
aggregations (``loss_grpo``, ``loss_dr_grpo``; the default is ``dapo``'s token mean).

Each run is measured once at the end on the held-out problems (:func:`sweep_scores`):
pass@k for k = 1 … 16 from 16 samples per problem, the greedy accuracy, how many
*different* correct answers a problem gets, the retry rates of :mod:`r1lab.behaviors`,
the completion length and the KL to the model the run started from. The start models
are measured the same way once per sweep (``start-sft.json``, ``start-base.json``).

``r1lab sweep`` runs it all (:func:`run_sweep`): two runs at a time with one thread
each, with a progress bar; finished runs are skipped and an interrupted one resumes
from its last checkpoint. The shipped results in ``data/runs/sweep/`` are its output.
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.config import RunConfig
from r1lab.data import countdown_dataset, load_eval
from r1lab.display import is_share
from r1lab.experiments import TRAIN_PROMPTS, finished_run, run_once
from r1lab.grpo import CORRECT
from r1lab.grpo_settings import GRPOSettings
from r1lab.heldout import EVAL_SEED, correct_counts, evaluate, measure_with_samples
from r1lab.lifeline import die_with_parent
from r1lab.resume import CHECKPOINT_FILE
from r1lab.rollouts import Rollouts, user_text
from r1lab.runlog import EVAL_FILE, load_run
from r1lab.sft import SFTSettings
from r1lab.storage import (
    CorruptFileError,
    FinishedRunError,
    load_state,
    read_json,
    write_json,
)
from r1lab.tasks import countdown

SWEEP_DIR = "sweep"
# Model updates per run, by profile: 36 runs of 150 fit in 2 hours on 2 cores.
STARTS = {"sft": "sft", "base": "base"}  # start name -> shipped checkpoint
SHOWN_PROBLEMS = 6  # held-out problems whose first two samples eval.json keeps
RESAMPLES = 3  # the start models are sampled this many more times: the noise floor


@dataclass(frozen=True)
class Arm:
    """One way to spend the update budget."""

    name: str
    label: str  # what a plot's legend says
    start: str = "sft"  # sft | base: the checkpoint it starts from
    expert: bool = False  # train on new expert traces instead of the model's samples
    settings: dict[str, Any] = field(default_factory=dict)  # GRPOSettings changes
    group_size: int | None = None  # G, at the same number of completions per step


ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm("grpo", "GRPO", settings={}),
        Arm("sft_more", "SFT on more expert traces", expert=True,
            settings={"advantages": "filter"}),
        Arm("rft", "rejection sampling (own successes)", settings={"advantages": "filter"}),
        Arm("grpo_pos", "GRPO, positives only", settings={"advantages": "positive"}),
        Arm("r1zero", "GRPO from the base model (R1-Zero)", start="base"),
        Arm("kl_0.04", "GRPO, KL β=0.04", settings={"beta": 0.04}),
        Arm("kl_0.4", "GRPO, KL β=0.4", settings={"beta": 0.4}),
        Arm("g2", "GRPO, G=2", group_size=2),
        Arm("g4", "GRPO, G=4", group_size=4),
        Arm("g16", "GRPO, G=16", group_size=16),
        Arm("loss_grpo", "GRPO, loss 'grpo'", settings={"loss_type": "grpo"}),
        Arm("loss_dr_grpo", "GRPO, loss 'dr_grpo'", settings={"loss_type": "dr_grpo"}),
    )
}  # fmt: skip

# The questions, each answered by a set of arms ("start" marks the model before RL).
COMPARISONS: dict[str, tuple[str, ...]] = {
    "negatives or diversity?": ("sft_more", "rft", "grpo_pos", "grpo"),
    "why a cold start?": ("grpo", "r1zero"),
    "what does the KL anchor do?": ("grpo", "kl_0.04", "kl_0.4"),
    "how big a group?": ("g2", "g4", "grpo", "g16"),
    "which loss?": ("loss_grpo", "loss_dr_grpo", "grpo"),
}


def arm_settings(cfg: RunConfig, arm: str | Arm, steps: int | None = None) -> GRPOSettings:
    """The GRPO settings of ``arm`` in ``cfg``'s profile (and seed). A group-size arm keeps
    ``prompts_per_step × num_generations`` completions per update (at least one prompt:
    in the smoke profile G = 16 samples more). An expert arm is supervised fine-tuning
    only with the token-mean loss, β = 0, one update per batch and temperature 1, so any
    other setting is refused."""
    arm = _arm(arm)
    values: dict[str, Any] = dict(
        steps=steps if steps is not None else cfg.sweep_steps,
        checkpoint_every=25,
        samples_every=25,
        samples_per_log=4,
    )
    if arm.group_size is not None:  # same completions per step, spread over fewer prompts
        per_step = cfg.prompts_per_step * cfg.num_generations
        values.update(
            num_generations=arm.group_size, prompts_per_step=max(1, per_step // arm.group_size)
        )
    settings = GRPOSettings.from_run_config(cfg, **{**values, **arm.settings})
    sft_like = (settings.loss_type, settings.beta, settings.mu, settings.temperature)
    if arm.expert and sft_like != ("dapo", 0.0, 1, 1.0):
        raise ValueError(
            f"arm {arm.name!r} trains on expert traces, which is supervised fine-tuning "
            "only with loss_type 'dapo', beta 0, mu 1 and temperature 1 (got "
            f"{', '.join(map(repr, sft_like))})"
        )
    return settings


def _arm(arm: str | Arm) -> Arm:
    if isinstance(arm, Arm):
        return arm
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}: choose from {', '.join(ARMS)}")
    return ARMS[arm]


# ---------------------------------------------------------------------------- experts


def expert_source(
    tokenizer: PreTrainedTokenizerBase, seed: int, retry_rate: float | None = None
) -> Callable[[list[dict], int], Rollouts]:
    """``source(batch, step)`` for :func:`r1lab.grpo.train`: one new expert trace per
    prompt, written like the cold start's (same retry rate), a pure function of
    ``(seed, step)`` so a resumed run sees the same traces."""
    cold = SFTSettings()
    retry_rate = cold.retry_rate if retry_rate is None else retry_rate
    spec = countdown.CountdownSpec()

    def source(batch: list[dict], step: int) -> Rollouts:
        rng = random.Random(f"sweep-traces:{seed}:{step}")
        traces = [
            countdown.write_trace(
                countdown.CountdownProblem(tuple(row["numbers"]), row["target"]),
                rng,
                retry_rate=retry_rate,
                max_attempts=cold.max_attempts,
                ordered=spec.ordered,
            )  # fmt: skip
            for row in batch
        ]
        return expert_rollouts(tokenizer, [row["prompt"] for row in batch], traces)

    return source


def expert_rollouts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[Any], completions: Sequence[str]
) -> Rollouts:
    """Given completions as a batch of rollouts (one per prompt), ready for the update."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    messages = [[{"role": "user", "content": p}] if isinstance(p, str) else p for p in prompts]
    templated = [
        tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
        for m in messages
    ]
    head = tokenizer(
        templated, add_special_tokens=False, padding=True, padding_side="left",
        return_tensors="pt",
    )  # fmt: skip
    tail = tokenizer(
        list(completions), add_special_tokens=False, padding=True, padding_side="right",
        return_tensors="pt",
    )  # fmt: skip
    n = len(completions)
    return Rollouts(
        prompt_ids=head["input_ids"],
        prompt_mask=head["attention_mask"],
        completion_ids=tail["input_ids"],
        completion_mask=tail["attention_mask"],
        logprobs=torch.zeros(tail["input_ids"].shape),
        texts=list(completions),
        truncated=torch.zeros(n, dtype=torch.bool),
        group_size=1,
        prompts=[user_text(m) for m in messages],
    )


# ---------------------------------------------------------------------------- measuring


def sweep_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict],
    *,
    num_samples: int = RunConfig.sweep_samples,
    max_new_tokens: int = RunConfig.max_new_tokens,
    temperature: float = RunConfig.temperature,
    start_model: PreTrainedModel | None = None,
) -> dict[str, Any]:
    """Everything the sweep measures on the held-out ``rows`` (:func:`r1lab.heldout.measure`):
    pass@k for k = 1, 2, 4, … ``num_samples``, the greedy accuracy, the distinct correct
    answers, the retry rates, the format rate and length, and the KL to ``start_model``
    when given; then ``correct_counts`` (correct samples per problem: which problems an arm
    solves) and ``shown`` (two samples of the first few problems)."""
    scores, sampled = measure_with_samples(
        model, tokenizer, rows, num_samples=num_samples, max_new_tokens=max_new_tokens,
        temperature=temperature, batch_size=128, distinct=True, behaviors=True,
        start_model=start_model,
    )  # fmt: skip
    scores["correct_counts"] = correct_counts(sampled.rewards)
    scores["shown"] = [
        {"prompt": user_text(row["prompt"]), "numbers": row["numbers"], "target": row["target"],
         "completions": texts[:2], "correct": [r >= CORRECT for r in rewards[:2]]}
        for row, texts, rewards in zip(
            rows[:SHOWN_PROBLEMS], sampled.texts, sampled.rewards, strict=False
        )
    ]  # fmt: skip
    return scores


# ---------------------------------------------------------------------------- runs


def run_dir_of(root: str | Path, arm: str, seed: int) -> Path:
    return Path(root) / f"{arm}-seed{seed}"


def start_file(root: str | Path, start: str) -> Path:
    return Path(root) / f"start-{start}.json"


def _eval_rows(cfg: RunConfig) -> list[dict]:
    return list(load_eval("countdown", cfg.n_eval, chat=True))


def saved_start_scores(
    cfg: RunConfig, start: str, root: str | Path, overwrite: bool = False
) -> dict[str, Any] | None:
    """The start model's scores already measured in ``root`` for ``cfg``'s profile, or
    None. Scores of another measurement are refused (:class:`FinishedRunError`) unless
    ``overwrite``: a sweep never silently replaces the shipped ones."""
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(STARTS)} (got {start!r})")
    path = start_file(root, start)
    if not path.exists():
        return None
    want = {"profile": cfg.profile, "eval_problems": cfg.n_eval, "resamples": RESAMPLES}
    try:
        saved = read_json(path, remedy="delete it, or pass --overwrite, to measure again")
    except CorruptFileError:
        if not overwrite:
            raise
        return None
    if all(saved.get(k) == v for k, v in want.items()):
        return saved
    if not overwrite:
        shown = ", ".join(f"{k} {saved.get(k)!r}" for k in want)
        raise FinishedRunError(
            f"{path} holds the scores of another measurement ({shown}) that this sweep "
            "would replace: choose another output folder, or pass --overwrite "
            "(overwrite=True) to replace them"
        )
    return None


def start_scores(
    cfg: RunConfig, start: str, root: str | Path, overwrite: bool = False
) -> dict[str, Any]:
    """The held-out scores of a start model (``sft`` or ``base``), measured once per
    sweep folder and profile and then read from ``start-<start>.json``. ``resampled``
    holds the correct samples per problem of ``RESAMPLES`` more rounds of sampling with
    other seeds: how much two measurements of the *same* model differ."""
    from r1lab.models import load_shipped, pick_device

    saved = saved_start_scores(cfg, start, root, overwrite)
    if saved is not None:
        return saved
    path = start_file(root, start)
    want = {"profile": cfg.profile, "eval_problems": cfg.n_eval, "resamples": RESAMPLES}
    model, tokenizer = load_shipped(STARTS[start], device=str(pick_device(cfg.device)))
    rows, n = _eval_rows(cfg), cfg.sweep_samples
    scores = sweep_scores(
        model, tokenizer, rows, num_samples=n, max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
    )  # fmt: skip
    resampled = []
    for i in range(1, RESAMPLES + 1):
        again = evaluate(
            model, tokenizer, rows, num_samples=n, temperature=cfg.temperature,
            max_new_tokens=cfg.max_new_tokens, seed=EVAL_SEED + i, batch_size=128,
        )  # fmt: skip
        resampled.append(correct_counts(again.rewards))
    summary = {"start": start, **want, "scores": scores, "resampled": resampled}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, summary, indent=None)
    return summary


def sweep_run(
    cfg: RunConfig,
    arm: str | Arm,
    run_dir: str | Path,
    *,
    steps: int | None = None,
    progress: bool = True,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    keep_checkpoint: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train one arm for one seed (``cfg.seed``) and measure it on the held-out problems.

    Writes the run log (``metrics.jsonl`` with the retry rates of every step,
    ``samples.jsonl``) and ``eval.json`` to ``run_dir``. A finished run with the same
    settings is returned as it is, an interrupted one resumes from its checkpoint, and a
    finished one with other settings is refused unless ``overwrite``
    (:func:`r1lab.experiments.finished_run`).
    """
    arm = _arm(arm)
    run_dir = Path(run_dir)
    settings = arm_settings(cfg, arm, steps)
    return run_once(
        run_dir, settings, lambda saved: saved.get("arm") == arm.name, overwrite,
        lambda: _sweep_run(cfg, arm, run_dir, settings, progress, on_step, keep_checkpoint),
        measured={"eval_problems": cfg.n_eval},
    )  # fmt: skip


def _sweep_run(
    cfg: RunConfig,
    arm: Arm,
    run_dir: Path,
    settings: GRPOSettings,
    progress: bool,
    on_step: Callable[[dict[str, Any]], None] | None,
    keep_checkpoint: bool,
) -> dict[str, Any]:
    from r1lab.behaviors import step_metrics
    from r1lab.grpo import train
    from r1lab.models import load_shipped, pick_device, set_seed

    set_seed(cfg.seed)
    device = pick_device(cfg.device)
    model, tokenizer = load_shipped(STARTS[arm.start], device=str(device))
    start_model = copy.deepcopy(model).eval().requires_grad_(False)

    def behaviour(completions: list[str], rows: list[dict], lengths: list[int]) -> dict:
        metrics = step_metrics(completions, rows, lengths)
        metrics.pop("length_hist", None)  # the sweep keeps its logs small
        return metrics

    result = train(
        model, tokenizer, countdown_dataset(TRAIN_PROMPTS, seed=0), settings,
        ref_model=start_model if settings.needs_reference else None, run_dir=run_dir,
        on_step=on_step, extra_metrics=behaviour, progress=progress,
        source=expert_source(tokenizer, cfg.seed) if arm.expert else None,
    )  # fmt: skip
    scores = sweep_scores(
        model, tokenizer, _eval_rows(cfg), num_samples=cfg.sweep_samples,
        max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
        start_model=start_model,
    )  # fmt: skip
    summary = {
        "arm": arm.name,
        "label": arm.label,
        "start": arm.start,
        "expert": arm.expert,
        "profile": cfg.profile,
        "seed": cfg.seed,
        "device": str(device),
        "settings": settings.to_dict(),
        "eval_problems": cfg.n_eval,
        "scores": scores,
        "train_seconds": sum(m["step_time_s"] for m in result.history),
        "resumed_from": result.resumed_from,
    }
    write_json(run_dir / EVAL_FILE, summary, indent=None)
    if not keep_checkpoint:
        (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    return summary


# ---------------------------------------------------------------------------- the sweep


def _job(
    cfg: RunConfig, kind: str, name: str, root: str, steps: int | None, queue: Any,
    overwrite: bool = False,
) -> dict:  # fmt: skip
    """One job of the sweep (a start model's scores, or a run), in a worker process."""
    if kind == "start":
        return start_scores(cfg, name, root, overwrite)

    def tell(metrics: dict[str, Any]) -> None:
        if queue is not None:
            queue.put(1)

    run_dir = run_dir_of(root, name, cfg.seed)
    return sweep_run(
        cfg, name, run_dir, steps=steps, progress=False, on_step=tell, overwrite=overwrite
    )


class _BarQueue:
    """What :func:`_job` reports a step to, when it runs in this process: the bar."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def put(self, n: int) -> None:
        self.bar.update(n)


def _one_thread(parent: int) -> None:
    """A worker of the sweep: one thread, and it exits when the command that started it
    (process ``parent``) dies."""
    die_with_parent(parent=parent)
    torch.set_num_threads(1)


def run_sweep(
    cfg: RunConfig,
    root: str | Path,
    *,
    arms: Sequence[str] = tuple(ARMS),
    seeds: Sequence[int] = (0, 1, 2),
    steps: int | None = None,
    jobs: int = 2,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, dict[str, Any]]:
    """Every arm for every seed, ``jobs`` runs at a time (one thread each), after the
    start models' scores. Finished runs are skipped, an interrupted one resumes; a
    finished run with other settings is refused before anything trains, unless
    ``overwrite``. A bar counts the training steps of the whole sweep. Returns each
    run's ``eval.json`` by folder name."""
    import concurrent.futures as cf
    import multiprocessing

    from tqdm.auto import tqdm

    for name in arms:
        _arm(name)
    arms, seeds = list(dict.fromkeys(arms)), list(dict.fromkeys(seeds))  # each run once
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer (got {jobs!r})")
    root = str(root)
    starts = sorted({ARMS[name].start for name in arms})
    work = [("start", s, cfg) for s in starts]
    work += [("run", name, cfg.replace(seed=seed)) for name in arms for seed in seeds]
    left = 0
    for kind, name, c in work:
        if kind == "start" and not overwrite:  # refuse now, not an hour into the sweep
            saved_start_scores(c, name, root)
        if kind == "run":
            settings = arm_settings(c, name, steps)
            run_dir = run_dir_of(root, name, c.seed)
            if not overwrite:  # refuse now, not an hour into the sweep
                finished_run(
                    run_dir, settings, lambda saved, n=name: saved.get("arm") == n,
                    measured={"eval_problems": c.n_eval},
                )  # fmt: skip
            left += settings.steps - _steps_done(run_dir, settings)
    bar = tqdm(total=left, desc="sweep", unit="step", disable=not progress)
    results: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()

    def finished(kind: str, name: str, c: RunConfig, summary: dict[str, Any]) -> None:
        if kind == "run":
            folder = run_dir_of(root, name, c.seed).name
            results[folder] = summary
            scores = summary["scores"]
            k = max(int(key[5:]) for key in scores if key.startswith("pass@"))
            bar.write(
                f"{folder:20s} pass@1 {scores['pass@1']:6.1%}  pass@{k} "
                f"{scores[f'pass@{k}']:6.1%}  length {scores['mean_length']:5.1f}  "
                f"({(time.perf_counter() - t0) / 60:.0f} min)"
            )

    try:
        if jobs == 1:  # here, in this process, with one thread as in the workers
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                for kind, name, c in work:
                    finished(
                        kind, name, c, _job(c, kind, name, root, steps, _BarQueue(bar), overwrite)
                    )
            finally:
                torch.set_num_threads(threads)
            return results
        context = multiprocessing.get_context("spawn")
        from multiprocessing.managers import SyncManager

        manager = SyncManager(ctx=context)  # carries the progress queue; dies with us too
        manager.start(die_with_parent, (0.5, os.getpid()))
        with manager:
            queue = manager.Queue()
            with cf.ProcessPoolExecutor(
                jobs, mp_context=context, initializer=_one_thread, initargs=(os.getpid(),)
            ) as pool:
                futures = {
                    pool.submit(_job, c, kind, name, root, steps, queue, overwrite): (kind, name, c)
                    for kind, name, c in work
                }
                pending = set(futures)
                try:
                    while pending:
                        done, pending = cf.wait(pending, timeout=1.0)
                        while not queue.empty():
                            bar.update(queue.get())
                        for future in done:
                            finished(*futures[future], future.result())
                except BaseException as err:  # a failed run or Ctrl-C: start nothing more
                    pool.shutdown(wait=False, cancel_futures=True)
                    bar.write(
                        f"the sweep stops ({type(err).__name__}: {err}); waiting for the run "
                        "in progress to end. Run the command again to resume."
                    )
                    raise
        return results
    finally:
        bar.close()


def _steps_done(run_dir: Path, settings: GRPOSettings) -> int:
    """Steps of a run already behind it: all of them when it is finished with these
    settings, else its checkpoint's step (what a resumed run starts from)."""
    done = run_dir / EVAL_FILE
    if done.exists():
        saved = read_json(done, remedy="delete it, or pass --overwrite, to run it again")
        if settings.same_as(saved.get("settings", {})):
            return settings.steps
    path = run_dir / CHECKPOINT_FILE
    if not path.exists():
        return 0
    step = int(load_state(path, f"delete {path.name} to restart this run", keys=("step",))["step"])
    return min(step, settings.steps)


# ---------------------------------------------------------------------------- reading


def load_sweep(root: str | Path) -> dict[str, Any]:
    """A sweep folder as ``{"starts": {start: scores}, "runs": {arm: {seed: summary}}}``
    (finished runs only, arms in the course's order), with each run's per-step metrics
    under ``"metrics"`` and its logged training samples under ``"samples"``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no sweep at {root}: run `r1lab sweep` to make one")
    starts = {}
    for path in sorted(root.glob("start-*.json")):
        saved = read_json(path, remedy="run the sweep again to measure it")
        starts[saved["start"]] = {**saved["scores"], "resampled": saved.get("resampled", [])}
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(root.glob(f"*/{EVAL_FILE}")):
        run = load_run(path.parent, remedy="run the sweep again to rebuild it")
        summary = {**run.summary, "metrics": run.metrics, "samples": run.samples}
        runs.setdefault(summary["arm"], {})[summary["seed"]] = summary
    order = list(ARMS)  # the course's order of the arms, not their folders' alphabetical one
    ranked = sorted(runs, key=lambda a: (order.index(a) if a in order else len(order), a))
    return {"starts": starts, "runs": {arm: runs[arm] for arm in ranked}}


def arm_values(sweep: dict[str, Any], arm: str, key: str) -> list[float]:
    """One held-out score of ``arm``, a value per seed (seed order)."""
    runs = sweep["runs"].get(arm, {})
    return [runs[seed]["scores"][key] for seed in sorted(runs)]


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, min, max) of per-seed values."""
    if not values:
        raise ValueError("no values: the arm has no finished run")
    return sum(values) / len(values), min(values), max(values)


def label(arm: str) -> str:
    return ARMS[arm].label if arm in ARMS else arm


def values_by_arm(sweep: dict[str, Any], arms: Sequence[str], key: str) -> dict[str, list[float]]:
    """``{arm label: a value per seed}`` of one held-out score, for the arms that ran."""
    return {label(a): arm_values(sweep, a, key) for a in arms if sweep["runs"].get(a)}


def pass_at_k_by_arm(sweep: dict[str, Any], arms: Sequence[str]) -> dict[str, dict[int, list]]:
    """``{arm label: {k: pass@k per seed}}``."""
    out = {}
    for arm in arms:
        runs = sweep["runs"].get(arm)
        if not runs:
            continue
        scores = next(iter(runs.values()))["scores"]
        ks = sorted(int(key[5:]) for key in scores if key.startswith("pass@"))
        out[label(arm)] = {k: arm_values(sweep, arm, f"pass@{k}") for k in ks}
    return out


def coverage(sweep: dict[str, Any], arm: str, start: str = "sft") -> dict[str, list[int]]:
    """Per seed, held-out problems the arm solves at least once that the start model
    never solved in as many samples (``gained``), and the reverse (``lost``). With
    ``arm="resampled"``: the same counts for the start model sampled again with other
    seeds, what chance alone gains and loses."""
    before = sweep["starts"][start]["correct_counts"]
    if arm == "resampled":
        afters = sweep["starts"][start].get("resampled", [])
    else:
        runs = sweep["runs"].get(arm, {})
        afters = [runs[seed]["scores"]["correct_counts"] for seed in sorted(runs)]
    gained = [sum(b == 0 < a for b, a in zip(before, after, strict=True)) for after in afters]
    lost = [sum(a == 0 < b for b, a in zip(before, after, strict=True)) for after in afters]
    return {"gained": gained, "lost": lost}


def summary_rows(
    sweep: dict[str, Any], arms: Sequence[str], keys: Sequence[str]
) -> list[list[str]]:
    """A table row per arm: its label, then each key's mean over seeds and its range."""
    rows = []
    for arm in arms:
        if not sweep["runs"].get(arm):
            continue
        row = [label(arm)]
        for key in keys:
            mean, low, high = spread(arm_values(sweep, arm, key))
            if is_share(key):
                row.append(f"{mean:.1%} ({low:.1%}–{high:.1%})")
            else:
                row.append(f"{mean:.3g} ({low:.3g}–{high:.3g})")
        rows.append(row)
    return rows


def training_values(
    sweep: dict[str, Any], arm: str, key: str, last: int | None = None
) -> list[float]:
    """One per-step training metric of ``arm``, averaged over its steps (or its ``last``
    steps): a value per seed."""
    out = []
    for seed in sorted(sweep["runs"].get(arm, {})):
        metrics = sweep["runs"][arm][seed]["metrics"]
        values = [m[key] for m in metrics[-last if last else 0 :] if m.get(key) is not None]
        if values:
            out.append(sum(values) / len(values))
    return out
