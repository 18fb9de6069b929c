"""The GRPO experiment of :mod:`r1lab.grpo`, run through ``trl.GRPOTrainer``.

:func:`grpo_config` maps every field of :class:`~r1lab.grpo_settings.GRPOSettings` to a
``trl.GRPOConfig`` (:func:`config_table` lists the mapping for reading). :func:`train` runs
the trainer quietly (one progress bar) and records each step with
:func:`r1lab.grpo.record_step`, as :func:`r1lab.grpo.train` does, so it writes the same
``metrics.jsonl`` and ``samples.jsonl`` and the same plots read both runs.

A setting has TRL's name where it means the same thing, except these (the names are
written to every run folder and compared on resume, so they stay; :func:`_mapping` is the
mapping itself):

================  ===========================  ====================================
GRPOSettings      GRPOConfig                   difference
================  ===========================  ====================================
steps             max_steps                    × mu: TRL counts optimizer steps
checkpoint_every  save_steps                   × mu, likewise
prompts_per_step  gradient_accumulation_steps  prompts × G / micro-batch size
prompts_per_step  steps_per_generation         the same: one batch of rollouts a step
micro_batch_size  per_device_train_batch_size
max_new_tokens    max_completion_length
lr_schedule       lr_scheduler_type            constant → constant_with_warmup
epsilon_low       epsilon
mu                num_iterations
scale_rewards     scale_rewards                True / False → "group" / "none"
================  ===========================  ====================================

and the fields of :data:`NO_COUNTERPART`, which only r1lab's own loop uses.

The loss, the advantages and the clipping are the same maths (``tests/test_trl_grpo.py``
checks the loss to 1e-5). What differs, by TRL's design:

* prompt order: TRL's sampler shuffles the dataset with its own seed;
* warm-up: transformers' ``constant_with_warmup`` scales update ``i`` (from 0) by
  ``i / warmup_steps``, so the first update has learning rate 0; ours uses ``(i + 1) / w``;
* one ``step`` here is ``mu`` TRL optimizer steps on one batch of rollouts, as in ours;
* TRL applies every update, so ``skipped_steps`` stays 0 (ours skips non-finite ones).

Three TRL defaults would make it another experiment, so they are changed here:

* TRL multiplies the KL term by the importance ratio (``use_bias_correction_kl``); ours
  is the plain k3 estimate, so :func:`grpo_config` turns that off;
* TRL stops a completion only at the eos ids in ``model.generation_config`` (a
  ``generation_kwargs`` eos list would stop sampling but leave the padding after
  ``</answer>`` inside the completion), so :func:`make_trainer` adds ``</answer>`` there;
* with ``beta > 0``, TRL loads the reference model from ``model.config._name_or_path``,
  which is not the policy once it has been trained in memory; :func:`make_trainer` saves the
  model as it is to ``reference/`` and points TRL there.

Left out: TRL's vLLM sampling, reward models (reward functions only) and its loggers
(``report_to="none"``): the course runs on a CPU and writes its own run logs.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_callback import PrinterCallback
from trl import GRPOConfig, GRPOTrainer

from r1lab.grpo import (
    GRPOResult,
    RewardFn,
    StepOutputs,
    group_advantages,
    grpo_loss,
    record_step,
    reward_setup,
    score_metrics,
)
from r1lab.grpo_settings import GRPOSettings
from r1lab.models import pick_device, quiet_progress
from r1lab.resume import CHECKPOINT_FILE, RESUMABLE_CHANGES, check_resumable
from r1lab.rewards import completion_text, countdown_reward
from r1lab.rollouts import ANSWER_CLOSE, completion_logprobs, user_text
from r1lab.runlog import CONFIG_FILE, RunLog
from r1lab.sft import _CHECKPOINTING
from r1lab.storage import exclusive, read_json

TRL_DIR = "trl"  # TRL's output_dir (checkpoints) inside a run folder
REFERENCE_DIR = "reference"  # the reference model TRL loads when beta > 0
# Settings a resumed run may change: as in r1lab.grpo, except the micro-batch size, which
# changes TRL's per-device batch and so its data loader's state.
FREE_SETTINGS = RESUMABLE_CHANGES - {"micro_batch_size"}

# GRPOConfig fields that are the same for every run, and why.
FIXED: dict[str, Any] = {
    "weight_decay": 0.0,
    "multi_objective_aggregation": "sum_then_normalize",  # weighted sum, then advantages
    # TRL multiplies the KL term by the importance ratio by default (DeepSeek-V3.2), which
    # changes its gradient even on-policy; ours is the plain k3 term of DeepSeekMath's GRPO.
    "use_bias_correction_kl": False,
    "top_k": 0,  # plain sampling: no top-k, no min-p, no repetition penalty
    "repetition_penalty": 1.0,
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_total_limit": 1,  # only the latest checkpoint, like checkpoint.pt
    "report_to": "none",
    "bf16": False,  # our loop runs in float32: no autocast
    "fp16": False,
    "disable_dropout": True,
    _CHECKPOINTING: False,  # TRL turns it on by default; a small model only gets slower
    "disable_tqdm": True,  # our own bar, not transformers' table of every log
    "dataloader_num_workers": 0,
}
_SCHEDULES = {"constant": "constant_with_warmup", "linear": "linear"}
# Our fields with no GRPOConfig counterpart, and what takes their place.
NO_COUNTERPART = {
    "samples_every": "(none: r1lab writes samples.jsonl)",
    "samples_per_log": "(none: r1lab writes samples.jsonl)",
    "sampling_batch_size": "(none: TRL samples the whole batch in one generate call)",
    "advantages": "(none: TRL always uses reward - group mean, r1lab's 'centered')",
    "length_buckets": "(none: TRL forms its own micro-batches; the loss is the same)",
}


# ---------------------------------------------------------------------------- the config


def _mapping(settings: GRPOSettings) -> list[tuple[str, str | None, Any]]:
    """(our field, GRPOConfig field or None, value) for every field of ``settings``."""
    s = settings
    if s.advantages != "centered":
        raise ValueError(
            f"advantages={s.advantages!r} exists only in r1lab's own loop (r1lab.grpo.train): "
            "TRL's GRPOTrainer always uses reward - group mean ('centered')"
        )
    batch = s.prompts_per_step * s.num_generations
    micro = min(s.micro_batch_size, batch)
    if batch % micro:
        raise ValueError(
            f"micro_batch_size={s.micro_batch_size} must divide prompts_per_step × "
            f"num_generations = {batch} for TRL, which splits a batch into equal micro-batches"
        )
    rows: list[tuple[str, str | None, Any]] = [
        # A step of ours is mu optimizer steps on one batch of rollouts; max_steps counts
        # optimizer steps (so do warmup_steps, in both).
        ("steps", "max_steps", s.steps * s.mu),
        # One batch of rollouts = batch // micro micro-batches whose gradients are
        # accumulated into one optimizer step, as in our loop.
        ("micro_batch_size", "per_device_train_batch_size", micro),
        ("prompts_per_step", "gradient_accumulation_steps", batch // micro),
        ("prompts_per_step", "steps_per_generation", batch // micro),
        ("num_generations", "num_generations", s.num_generations),
        ("max_new_tokens", "max_completion_length", s.max_new_tokens),
        ("temperature", "temperature", s.temperature),
        ("top_p", "top_p", s.top_p),
        ("learning_rate", "learning_rate", s.learning_rate),
        ("warmup_steps", "warmup_steps", s.warmup_steps),
        ("lr_schedule", "lr_scheduler_type", _SCHEDULES[s.lr_schedule]),
        ("max_grad_norm", "max_grad_norm", s.max_grad_norm),
        ("beta", "beta", s.beta),
        ("epsilon_low", "epsilon", s.epsilon_low),
        ("epsilon_high", "epsilon_high", s.epsilon_high),
        ("loss_type", "loss_type", s.loss_type),
        ("scale_rewards", "scale_rewards", "group" if s.scale_rewards else "none"),
        ("mu", "num_iterations", s.mu),
        ("mask_truncated_completions", "mask_truncated_completions", s.mask_truncated_completions),
        ("seed", "seed", s.seed),
        ("checkpoint_every", "save_steps", s.checkpoint_every * s.mu),
    ]
    rows += [(name, None, getattr(s, name)) for name in NO_COUNTERPART]
    return rows


def grpo_config(
    settings: GRPOSettings, output_dir: str | Path, *, device: str = "auto", **overrides: Any
) -> GRPOConfig:
    """The ``trl.GRPOConfig`` that runs ``settings``: every field mapped one to one, plus
    :data:`FIXED`. ``overrides`` replace any GRPOConfig field (e.g. ``save_strategy="no"``)."""
    fields = GRPOConfig.__dataclass_fields__
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"not GRPOConfig fields: {', '.join(unknown)}")
    values = {trl: value for _, trl, value in _mapping(settings) if trl is not None}
    values |= FIXED
    values["use_cpu"] = pick_device(device).type == "cpu"
    return GRPOConfig(output_dir=str(output_dir), **(values | overrides))


def config_table(settings: GRPOSettings) -> list[tuple[str, str, str]]:
    """(our field, GRPOConfig field, value) rows: every field of ``settings``, then the
    GRPOConfig fields fixed for every run (our field shown as ``—``)."""
    rows = [
        (ours, trl if trl is not None else NO_COUNTERPART[ours], str(value))
        for ours, trl, value in _mapping(settings)
    ]
    return rows + [("—", trl, str(value)) for trl, value in FIXED.items()]


# ---------------------------------------------------------------------------- the trainer


class _Trainer(GRPOTrainer):
    """``GRPOTrainer`` that also times its sampling, for ``sample_time_s``."""

    sample_time_s: float = 0.0

    def _generate(self, prompts: list) -> Any:
        t0 = time.perf_counter()
        try:
            return super()._generate(prompts)
        finally:
            self.sample_time_s = time.perf_counter() - t0


def stop_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The tokens a completion stops at: eos and, if the tokenizer has it, ``</answer>``."""
    ids = [tokenizer.eos_token_id]
    answer_id = tokenizer.convert_tokens_to_ids(ANSWER_CLOSE)
    if answer_id is not None and answer_id != tokenizer.unk_token_id:
        ids.append(answer_id)
    return ids


def _as_dataset(dataset: Any, settings: GRPOSettings) -> Dataset:
    if not isinstance(dataset, Dataset):
        dataset = Dataset.from_list([dict(row) for row in dataset])
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: GRPO needs prompts")
    if "prompt" not in dataset.column_names:
        raise ValueError(f"each row needs a 'prompt' (got columns {sorted(dataset.column_names)})")
    if settings.prompts_per_step > len(dataset):
        raise ValueError(
            f"prompts_per_step={settings.prompts_per_step} is more than the dataset's "
            f"{len(dataset)} prompts"
        )
    return dataset


def make_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Any,
    settings: GRPOSettings,
    output_dir: str | Path,
    *,
    reward_funcs: Sequence[RewardFn] = (countdown_reward,),
    reward_weights: Sequence[float] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    device: str | None = None,
    peft_config: Any = None,
    **overrides: Any,
) -> GRPOTrainer:
    """The quiet ``trl.GRPOTrainer`` for ``settings`` (device: the model's, by default).

    Sets ``model.generation_config.eos_token_id`` to :func:`stop_ids`, so TRL stops
    completions where our sampler does; :func:`train` puts the old value back afterwards.
    """
    output_dir = Path(output_dir)
    device = device or next(model.parameters()).device.type
    if reward_weights is not None:
        overrides["reward_weights"] = [float(w) for w in reward_weights]
    args = grpo_config(settings, output_dir, device=device, **overrides)
    model.generation_config.eos_token_id = stop_ids(tokenizer)

    name_or_path = model.config._name_or_path
    try:
        with quiet_progress():  # no bars for writing the reference or preparing the data
            if settings.needs_reference:
                # TRL builds the reference model by loading config._name_or_path: point it at
                # a copy of the model as it is now (kept across resumes, like our ref_model).
                reference = output_dir / REFERENCE_DIR
                if not (reference / "config.json").exists():
                    model.save_pretrained(reference)
                model.config._name_or_path = str(reference)
            trainer = _Trainer(
                model=model,
                reward_funcs=list(reward_funcs),
                args=args,
                train_dataset=_as_dataset(dataset, settings),
                processing_class=tokenizer,
                callbacks=list(callbacks),
                peft_config=peft_config,
            )
    finally:
        model.config._name_or_path = name_or_path
    # Without its own bars, transformers prints every log line instead: keep it quiet.
    trainer.remove_callback(PrinterCallback)
    return trainer


def trl_loss(
    trainer: GRPOTrainer,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    loss_mask: torch.Tensor,
    advantages: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss ``trainer`` computes on one batch (``GRPOTrainer._compute_loss``), fed the
    way its training loop feeds it: for comparing with :func:`r1lab.grpo.grpo_loss`.

    ``loss_mask`` is the completion mask with truncated rows zeroed when
    ``mask_truncated_completions`` is on (TRL applies that to the mask itself).
    """
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": loss_mask,
        "advantages": advantages,
        "old_per_token_logps": old_logprobs,
        "num_items_in_batch": loss_mask.sum(),
    }
    if ref_logprobs is not None:
        inputs["ref_per_token_logps"] = ref_logprobs
    trainer.current_gradient_accumulation_steps = 1  # what the training loop sets first
    return trainer._compute_loss(trainer.model, inputs)


def both_losses(
    model: PreTrainedModel,
    trainer: GRPOTrainer,
    ids: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    loss_mask: torch.Tensor,
    advantages: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    settings: GRPOSettings,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Our loss (:func:`r1lab.grpo.grpo_loss`) and TRL's (:func:`trl_loss`) on one batch
    (``ids``: prompt ids and mask, completion ids and mask) of ``model``, which ``trainer``
    wraps, both with gradients; and our loss's statistics (clipped share, KL). The same
    number from two implementations is the claim notebook 06 shows and the tests check."""
    logprobs = completion_logprobs(model, *ids, settings.temperature)
    ours, stats = grpo_loss(
        logprobs, old_logprobs, advantages, loss_mask, ref_logprobs=ref_logprobs,
        beta=settings.beta, epsilon_low=settings.epsilon_low,
        epsilon_high=settings.epsilon_high, loss_type=settings.loss_type,
        max_completion_length=settings.max_new_tokens,
    )  # fmt: skip
    reference = ref_logprobs if settings.needs_reference else None
    theirs = trl_loss(trainer, *ids[:3], loss_mask, advantages, old_logprobs, reference)
    return ours, theirs, stats


# ---------------------------------------------------------------------------- logging

# What TRL passes reward functions besides the completions and the dataset's columns.
_NOT_COLUMNS = frozenset(
    {"prompts", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}
)


class _Recorder:
    """What each reward function returned for the latest batch, with the completions."""

    def __init__(self) -> None:
        self.values: dict[int, list[float]] = {}
        self.completions: list[Any] = []
        self.prompts: list[Any] = []
        self.columns: dict[str, list[Any]] = {}

    def wrap(self, index: int, fn: RewardFn) -> RewardFn:
        """``fn`` unchanged for TRL (same name, same outputs), recording what it returns."""

        @wraps(fn)
        def recorded(completions: list, **kwargs: Any) -> list[float]:
            out = fn(completions, **kwargs)
            if index == 0:  # TRL calls the functions in order, once per batch
                self.values = {}
                self.completions = list(completions)
                self.prompts = list(kwargs.get("prompts") or [])
                self.columns = {k: list(v) for k, v in kwargs.items() if k not in _NOT_COLUMNS}
            self.values[index] = [math.nan if r is None else float(r) for r in out]
            return out

        return recorded

    def per_func(self) -> torch.Tensor:
        """float [num_funcs, N]."""
        return torch.tensor([self.values[i] for i in sorted(self.values)])

    def gather(self) -> None:
        """With several processes (``accelerate launch``), each scored its own share of the
        batch: collect every share, in process order, so the metrics describe the batch."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        if torch.distributed.get_world_size() == 1:
            return
        from accelerate.utils import gather_object

        mine = [(self.values, self.completions, self.prompts, self.columns)]
        shares = gather_object(mine)
        self.values = {i: [v for share in shares for v in share[0][i]] for i in self.values}
        self.completions = [c for share in shares for c in share[1]]
        self.prompts = [p for share in shares for p in share[2]]
        self.columns = {k: [v for share in shares for v in share[3][k]] for k in self.columns}


class _Relay(TrainerCallback):
    """Turns TRL's logs into our metrics, one record per step of ``mu`` optimizer steps,
    recorded as :func:`r1lab.grpo.train` records its own (:func:`r1lab.grpo.record_step`)."""

    def __init__(
        self, out: StepOutputs, recorder: _Recorder, names: list[str], weights: list[float]
    ) -> None:
        self.out, self.settings, self.recorder, self.names = out, out.settings, recorder, names
        self.weights = torch.tensor(weights)
        self.trainer: _Trainer | None = None
        self.pending: list[dict[str, Any]] = []
        self.t0 = time.perf_counter()

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step % self.settings.mu == 0:
            self.t0, self.pending = time.perf_counter(), []

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:  # always keep the final state, like ours
            control.should_save = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:  # e.g. the summary transformers logs at the end
            return
        self.pending.append(dict(logs))
        if state.global_step % self.settings.mu != 0:
            return
        self.recorder.gather()  # every process's completions (a no-op in one process)
        if not state.is_world_process_zero:
            return  # one process writes the log and shows the bar
        step = state.global_step // self.settings.mu
        # TRL applies every update: none is ever skipped
        record_step(self.out, self._metrics(), step, 0, self.t0, self._samples)

    def _metrics(self) -> dict[str, Any]:
        g, logs = self.settings.num_generations, self.pending
        first = logs[0]  # the optimizer step that sampled and scored the batch

        def mean(key: str) -> float:
            values = [row[key] for row in logs if row.get(key) is not None]
            return sum(values) / len(values) if values else 0.0

        per_func = self.recorder.per_func()  # [num_funcs, N]
        rewards = (self.weights[:, None] * per_func).sum(dim=0)
        metrics: dict[str, Any] = {
            "loss": mean("loss"),
            "reward": first["reward"],
            # TRL's reward_std is the std over the whole batch: ours is computed as r1lab.grpo's.
            **score_metrics(per_func, rewards, self.recorder.completions, g),
            "frac_reward_zero_std": first["frac_reward_zero_std"],
            "active_rate": float((group_advantages(rewards, g).abs() > 1e-6).float().mean()),
            "length": first["completions/mean_length"],
            "length_max": int(first["completions/max_length"]),
            "truncated_rate": first["completions/clipped_ratio"],
            "clip_ratio": mean("clip_ratio/region_mean"),
            "kl": mean("kl"),  # TRL logs no kl when beta = 0: ours is then 0
            "entropy": mean("entropy"),
            "grad_norm": mean("grad_norm"),
            "learning_rate": logs[-1]["learning_rate"],
            "sample_time_s": self.trainer.sample_time_s if self.trainer is not None else 0.0,
        }
        for name in self.names:
            metrics[f"rewards/{name}/mean"] = first[f"rewards/{name}/mean"]
            metrics[f"rewards/{name}/std"] = first[f"rewards/{name}/std"]
        return metrics

    def _samples(self) -> list[dict[str, Any]]:
        """The first completion of the first few groups, as r1lab.grpo writes them."""
        rec, g, out = self.recorder, self.settings.num_generations, []
        rewards = (self.weights[:, None] * rec.per_func()).sum(dim=0)
        for i in range(min(self.settings.samples_per_log, len(rec.completions) // g)):
            row = i * g
            extra = {k: v[row] for k, v in rec.columns.items()}
            out.append(
                {
                    "prompt": user_text(rec.prompts[row]) if rec.prompts else "",
                    "completion": completion_text(rec.completions[row]),
                    "reward": float(rewards[row]),
                    **extra,
                }
            )
        return out


# ---------------------------------------------------------------------------- training


def last_checkpoint(output_dir: Path) -> str | None:
    """TRL's latest *complete* checkpoint in ``output_dir``: transformers writes
    ``trainer_state.json`` last, so a folder without it is one a kill interrupted (its
    predecessor is still there: older ones are removed only after a save completes)."""
    if not output_dir.is_dir():
        return None
    found = []
    for folder in output_dir.glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if step.isdigit() and (folder / "trainer_state.json").is_file():
            found.append((int(step), folder))
    return str(max(found)[1]) if found else None


def _checkpoint_step(checkpoint: str) -> int:
    state = read_json(Path(checkpoint) / "trainer_state.json", remedy="delete that checkpoint")
    return int(state["global_step"])


def is_main_process() -> bool:
    """Whether this is the first process of a launch (``accelerate launch`` and
    ``torchrun`` set ``RANK``), or the only one."""
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def _restored(model: PreTrainedModel) -> Iterator[None]:
    """Put back what the trainer changes on the model: its eos ids and its ``forward``
    (TRL patches in a fused LM head; accelerate may wrap it in autocast)."""
    eos = model.generation_config.eos_token_id
    forward = model.__dict__.get("forward")
    try:
        yield
    finally:
        model.generation_config.eos_token_id = eos
        if forward is None:
            model.__dict__.pop("forward", None)
        else:
            model.forward = forward
        model.eval()


def train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Sequence[dict] | Any,
    settings: GRPOSettings,
    *,
    reward_funcs: Sequence[RewardFn] = (countdown_reward,),
    reward_weights: Sequence[float] | None = None,
    run_dir: str | Path | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
    peft_config: Any = None,
    trainer_args: dict[str, Any] | None = None,
) -> GRPOResult:
    """Train ``model`` in place with ``trl.GRPOTrainer`` for ``settings.steps`` steps.

    The arguments and the files written to ``run_dir`` are those of
    :func:`r1lab.grpo.train`; TRL's checkpoints go to ``run_dir/trl`` (a temporary folder
    without ``run_dir``), and a run resumes from the latest one. ``last_rollouts`` of the
    result is None: TRL keeps its batches to itself. ``callbacks``, ``peft_config`` (LoRA)
    and ``trainer_args`` (any ``GRPOConfig`` field, e.g. ``bf16=True``) go to the trainer.

    Launched in several processes (``accelerate launch``), every process trains its share
    of each batch; the first one writes the run log and shows the bar.
    """
    funcs, weights, names = reward_setup(reward_funcs, reward_weights)
    recorder = _Recorder()
    recorded = [recorder.wrap(i, fn) for i, fn in enumerate(funcs)]

    main = is_main_process()
    log = RunLog(run_dir) if run_dir is not None and main else None
    with contextlib.ExitStack() as stack:
        if run_dir is not None:
            root = Path(run_dir)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        output_dir = root / TRL_DIR
        checkpoint = last_checkpoint(output_dir)
        start, history = 0, []
        if checkpoint is not None:
            start = _checkpoint_step(checkpoint) // settings.mu
        if log is not None:
            stack.enter_context(exclusive(log.path))  # one writer per run folder
            if (log.path / CHECKPOINT_FILE).exists():
                raise ValueError(
                    f"{log.path} holds a run of r1lab.grpo.train ({CHECKPOINT_FILE}): "
                    "use a new run directory for the TRL run"
                )
            if checkpoint is not None:
                config_path = log.path / CONFIG_FILE
                if config_path.exists():
                    saved = read_json(config_path, remedy="delete the run folder to start over")
                    check_resumable(saved, settings, log.path, FREE_SETTINGS)
            config = settings.to_dict() | {"reward_funcs": names, "trainer": "trl.GRPOTrainer"}
            history = log.start(config, keep_until=start)

        bar = stack.enter_context(
            tqdm(
                total=settings.steps,
                initial=start,
                desc="GRPO (TRL)",
                unit="step",
                disable=not progress or not main,
            )
        )
        out = StepOutputs(settings, history, log, bar, on_step)
        relay = _Relay(out, recorder, names, weights)
        with _restored(model):
            trainer = make_trainer(
                model, tokenizer, dataset, settings, output_dir,
                reward_funcs=recorded, reward_weights=weights, callbacks=[relay, *callbacks],
                peft_config=peft_config, **(trainer_args or {}),
            )  # fmt: skip
            relay.trainer = trainer
            try:
                with quiet_progress(), warnings.catch_warnings():
                    # TRL 1.16 still calls the old name once per step.
                    warnings.filterwarnings(
                        "ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning
                    )
                    trainer.train(resume_from_checkpoint=checkpoint)
            finally:
                # Leave no autocast wrapper behind: the model in memory must compute what
                # the same weights compute once saved and loaded.
                trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    return GRPOResult(history, None, 0, start, log.path if log is not None else None)
