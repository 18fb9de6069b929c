"""GRPO from scratch: Group Relative Policy Optimization, readable top to bottom.

One step of :func:`train`:

1. take ``prompts_per_step`` prompts and sample ``G = num_generations`` completions of each
   (:func:`r1lab.rollouts.sample`);
2. score every completion with the reward functions (TRL's signature), sum them with
   their weights;
3. turn rewards into **advantages** within each group (:func:`group_advantages`): the
   reward minus the group mean, optionally divided by the group's std. A group whose
   completions all scored the same has advantage 0 everywhere: it teaches nothing
   (``advantages="positive"`` zeroes the negative ones; ``"filter"`` keeps only the
   correct completions, with advantage 1: rejection-sampling fine-tuning, the same update
   as SFT on the model's own successes);
4. ``mu`` times: recompute the completions' log-probs with gradients, form the clipped
   importance ratio against the log-probs at sampling time, add ``beta`` times the k3 KL
   estimate to a frozen reference model, aggregate the per-token loss
   (:func:`grpo_loss`), back-propagate, clip the gradient and step the optimizer.

Everything a step measures goes to ``on_step(metrics)`` and, with a ``run_dir``, to
``metrics.jsonl`` (:mod:`r1lab.runlog`). Checkpoints hold the model, optimizer, scheduler,
RNG states and the step; :func:`train` on the same ``run_dir`` resumes from the last one
and continues exactly as if it had never stopped, because each step's prompts and
sampling seed are functions of ``(seed, step)`` alone.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.config import RunConfig
from r1lab.rewards import countdown_reward, format_reward
from r1lab.rollouts import Rollouts, completion_logprobs, sample
from r1lab.runlog import RunLog
from r1lab.storage import exclusive, load_state, save_state

LOSS_TYPES = ("grpo", "dr_grpo", "dapo")
# What a completion's advantage is: reward - group mean (GRPO); that, but never below 0
# (positives only, the same estimator); or 1 for a correct completion and nothing for
# the rest, which drop out of the loss (rejection sampling: SFT on the successes).
ADVANTAGES = ("centered", "positive", "filter")
CORRECT = 1.0  # a reward at least this high is a correct completion
LR_SCHEDULES = ("constant", "linear")
CHECKPOINT_FILE = "checkpoint.pt"
RewardFn = Callable[..., list[float]]
ExtraMetrics = Callable[[list[str], list[dict[str, Any]], list[int]], dict[str, Any]]
# What the log says, once, the first time a whole batch has no reward spread.
ZERO_STD_NOTE = (
    "step {step}: every group's completions got the same reward, so every advantage is 0 "
    "and so is the loss: nothing to learn from this batch. It is normal now and then; if "
    "it lasts, the task is too hard (all 0) or too easy (all 1) for the model "
    "(see frac_reward_zero_std)."
)


# ---------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class GRPOSettings:
    """Every knob of a GRPO run. :meth:`from_run_config` fills the budget from a profile."""

    steps: int = 400
    prompts_per_step: int = 16
    num_generations: int = 8  # G: completions per prompt
    max_new_tokens: int = 96
    temperature: float = 1.0
    top_p: float = 1.0
    learning_rate: float = 2e-4
    warmup_steps: int = 10
    lr_schedule: str = "linear"  # after the warm-up: linear (decay to 0) | constant
    max_grad_norm: float = 1.0
    beta: float = 0.0  # weight of the KL penalty to the reference model
    epsilon_low: float = 0.2  # ratio clipped below at 1 - epsilon_low
    epsilon_high: float = 0.2  # ... and above at 1 + epsilon_high
    loss_type: str = "dapo"  # grpo | dr_grpo | dapo
    scale_rewards: bool = False  # divide advantages by the group's reward std
    advantages: str = "centered"  # centered (GRPO) | positive | filter (see ADVANTAGES)
    mu: int = 1  # optimisation steps on each batch of rollouts
    mask_truncated_completions: bool = False
    seed: int = 0
    checkpoint_every: int = 50
    samples_every: int = 25  # write a few completions to samples.jsonl this often
    samples_per_log: int = 4
    sampling_batch_size: int = 128
    micro_batch_size: int = 32  # completions per forward/backward pass (bounds memory)
    # Micro-batches of completions of similar length, each cut to its longest completion,
    # instead of the batch's order padded to the batch's longest (same loss, summed in
    # another order; much faster when a few completions are far longer than the rest).
    length_buckets: bool = False

    def __post_init__(self) -> None:
        positive = (
            "steps",
            "prompts_per_step",
            "max_new_tokens",
            "mu",
            "checkpoint_every",
            "samples_every",
            "sampling_batch_size",
            "micro_batch_size",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer (got {value!r})")
        if not isinstance(self.num_generations, int) or self.num_generations < 2:
            raise ValueError(
                f"num_generations must be ≥ 2 (got {self.num_generations!r}): "
                "GRPO compares completions within a group"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)} (got {self.lr_schedule!r})"
            )
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(
                f"loss_type must be one of {', '.join(LOSS_TYPES)} (got {self.loss_type!r})"
            )
        if self.advantages not in ADVANTAGES:
            raise ValueError(
                f"advantages must be one of {', '.join(ADVANTAGES)} (got {self.advantages!r})"
            )
        checks = {
            "temperature": (0.0 < self.temperature <= 5.0, "in (0, 5]: GRPO needs sampling"),
            "top_p": (0.0 < self.top_p <= 1.0, "in (0, 1]"),
            "learning_rate": (0.0 < self.learning_rate <= 1.0, "in (0, 1]"),
            "beta": (0.0 <= self.beta <= 10.0, "in [0, 10]"),
            "epsilon_low": (0.0 < self.epsilon_low < 1.0, "in (0, 1)"),
            "epsilon_high": (0.0 < self.epsilon_high <= 10.0, "in (0, 10]"),
            "max_grad_norm": (self.max_grad_norm > 0, "> 0"),
        }
        for name, (ok, allowed) in checks.items():
            if not ok:
                raise ValueError(f"{name} must be {allowed} (got {getattr(self, name)!r})")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer ≥ 0 (got {self.warmup_steps!r})")

    @classmethod
    def from_run_config(cls, cfg: RunConfig, **overrides: Any) -> GRPOSettings:
        """The budget and sampling of a :class:`RunConfig` (profile), plus overrides."""
        values = dict(
            steps=cfg.rl_steps,
            prompts_per_step=cfg.prompts_per_step,
            num_generations=cfg.num_generations,
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            learning_rate=cfg.learning_rate,
            beta=cfg.beta,
            seed=cfg.seed,
        )
        return cls(**{**values, **overrides})

    def replace(self, **changes: Any) -> GRPOSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def same_as(self, saved: dict[str, Any]) -> bool:
        """Whether ``saved`` (a logged ``to_dict()``) describes these settings; a field
        added since it was written counts as its default."""
        return {**GRPOSettings().to_dict(), **saved} == self.to_dict()


# ---------------------------------------------------------------------------- the maths


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale_rewards: bool = False
) -> torch.Tensor:
    """Reward minus its group's mean, divided by the group's std (+1e-4) when
    ``scale_rewards``: float [N] for rewards [N] laid out ``group_size`` rows per prompt.

    The std is the sample std (Bessel-corrected), as in TRL. Dividing by it gives a group
    with rewards [1, 0, 0, 0] the same total push as [1, 1, 1, 0]; without it, the push
    grows with the group's spread (Dr. GRPO argues this removes a difficulty bias).
    """
    rewards = torch.as_tensor(rewards, dtype=torch.float32)
    if rewards.dim() != 1 or rewards.numel() % group_size != 0:
        raise ValueError(
            f"rewards must be a flat tensor whose length is a multiple of group_size="
            f"{group_size} (got shape {tuple(rewards.shape)})"
        )
    grouped = rewards.view(-1, group_size)  # [num_prompts, G]
    advantages = grouped - grouped.mean(dim=1, keepdim=True)
    if scale_rewards:
        advantages = advantages / (grouped.std(dim=1, keepdim=True) + 1e-4)
    return advantages.view(-1)


def step_advantages(
    rewards: torch.Tensor,
    group_size: int,
    settings: GRPOSettings,
    correctness: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The advantages a step trains with, as ``settings.advantages`` says, and which
    completions stay in the loss (``None``: all of them). ``centered`` is GRPO's
    :func:`group_advantages`; ``positive`` is the same, never below 0; ``filter`` gives a
    correct completion advantage 1 and drops the others from the loss. Correct means
    ``correctness`` (the first reward function's scores; default ``rewards``) ≥ 1."""
    if settings.advantages == "filter":
        scores = torch.as_tensor(rewards if correctness is None else correctness)
        keep = scores >= CORRECT
        return keep.float(), keep
    advantages = group_advantages(rewards, group_size, settings.scale_rewards)
    if settings.advantages == "positive":
        advantages = advantages.clamp(min=0.0)
    return advantages, None


def zero_std_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """bool [num_prompts]: groups whose completions all got the same reward."""
    grouped = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)
    return (grouped.max(dim=1).values - grouped.min(dim=1).values).abs() < 1e-8


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy ‖ reference): ``exp(d) - d - 1`` with
    ``d = ref - policy``. Never negative; exactly 0 where the two agree."""
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logprobs: torch.Tensor | None = None,
    beta: float = 0.0,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    loss_type: str = "dapo",
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped GRPO objective, to minimise, and what it measured.

    ``logprobs`` [N, C] carry gradients; ``old_logprobs`` [N, C] are the policy's at
    sampling time; ``advantages`` [N]; ``mask`` [N, C] is 1 on completion tokens that
    count. The per-token loss is ``-min(r·A, clip(r, 1-ε_low, 1+ε_high)·A) + β·KL`` with
    ``r = exp(logprobs - old_logprobs)``. It is aggregated by ``loss_type``:

    * ``grpo``: mean over each sequence's tokens, then mean over sequences (long
      completions weigh less per token: a length bias);
    * ``dr_grpo``: sum over all tokens / (N × ``max_completion_length``), a constant;
    * ``dapo``: sum over all tokens / number of tokens in the batch (token mean).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)} (got {loss_type!r})")
    if beta > 0 and ref_logprobs is None:
        raise ValueError("beta > 0 needs ref_logprobs (the reference model's log-probs)")
    mask = mask.to(logprobs.dtype)
    ratio = torch.exp(logprobs - old_logprobs)  # [N, C], 1 on the first pass
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    adv = advantages.to(logprobs.dtype)[:, None]  # [N, 1], one per completion
    per_token = -torch.min(ratio * adv, clipped * adv)
    kl = None
    if beta > 0:
        kl = k3_kl(logprobs, ref_logprobs)
        per_token = per_token + beta * kl

    if loss_type == "grpo":
        loss = ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()
    elif loss_type == "dr_grpo":
        if max_completion_length is None:
            max_completion_length = logprobs.shape[1]
        loss = (per_token * mask).sum() / (logprobs.shape[0] * max_completion_length)
    else:
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)

    with torch.no_grad():
        tokens = mask.sum().clamp(min=1.0)
        low = (ratio < 1 - epsilon_low) & (adv < 0)  # pushed down past the clip
        high = (ratio > 1 + epsilon_high) & (adv > 0)  # pushed up past the clip
        stats = {
            "clip_ratio": float(((low | high).to(mask.dtype) * mask).sum() / tokens),
            "ratio_mean": float((ratio * mask).sum() / tokens),
            "kl": float((kl * mask).sum() / tokens) if kl is not None else 0.0,
        }
    return loss, stats


def chunk_weight(loss_type: str, chunk_mask: torch.Tensor, batch_mask: torch.Tensor) -> float:
    """What one chunk's :func:`grpo_loss` counts for in the whole batch's loss, so that the
    weighted chunk losses add up to the batch's: its share of the tokens for ``dapo`` (a
    token mean), its share of the completions for ``grpo`` and ``dr_grpo``."""
    if loss_type == "dapo":
        return float(chunk_mask.sum().clamp(min=1.0)) / float(batch_mask.sum().clamp(min=1.0))
    return chunk_mask.shape[0] / batch_mask.shape[0]


# ---------------------------------------------------------------------------- the loop


@dataclass
class GRPOResult:
    """What :func:`train` returns: the per-step metrics and the last batch it trained on."""

    history: list[dict[str, Any]]
    last_rollouts: Rollouts | None
    skipped_steps: int
    resumed_from: int  # 0 for a fresh run
    run_dir: Path | None


# Rows of the batch (a slice or an index tensor) and completion width (None: all of it).
Chunk = tuple[Any, int | None]


def micro_batches(lengths: torch.Tensor, size: int, by_length: bool = False) -> list[Chunk]:
    """How the update walks through a batch of completions of ``lengths`` tokens: chunks
    of at most ``size`` rows and the completion width each needs.

    In the batch's order every chunk keeps the batch's full width (``None``: the default,
    and what earlier runs did). ``by_length`` sorts the rows by length first and cuts each
    chunk to its longest completion: padding is where most of an update's time goes when
    a few completions are much longer than the rest (a search that runs to the budget
    makes 31 short answers cost the budget's positions each), and the loss over the real
    tokens is the same."""
    n = len(lengths)
    if not by_length:
        return [(slice(i, i + size), None) for i in range(0, n, size)]
    order = torch.argsort(lengths, stable=True)
    chunks = []
    for i in range(0, n, size):
        rows = order[i : i + size]
        chunks.append((rows, max(int(lengths[rows].max()), 1)))
    return chunks


def prompt_batch(num_rows: int, settings: GRPOSettings, step: int) -> list[int]:
    """Row indices for ``step`` (counted from 0): a fresh shuffle of the dataset each epoch,
    a pure function of ``(seed, step)`` so that a resumed run sees the same prompts."""
    per_step = settings.prompts_per_step
    if per_step > num_rows:
        raise ValueError(
            f"prompts_per_step={per_step} is more than the dataset's {num_rows} prompts"
        )
    steps_per_epoch = num_rows // per_step
    epoch, index = divmod(step, steps_per_epoch)
    order = list(range(num_rows))
    random.Random(f"grpo-prompts:{settings.seed}:{epoch}").shuffle(order)
    return order[index * per_step : (index + 1) * per_step]


def sampling_seed(settings: GRPOSettings, step: int) -> int:
    return (settings.seed * 1_000_003 + step) % (2**63)


def learning_rate_factor(step: int, settings: GRPOSettings) -> float:
    """The learning rate of optimizer step ``step`` (from 0), as a fraction of the peak:
    a linear warm-up, then constant or a linear decay to 0 at the last step."""
    warmup, total = settings.warmup_steps, settings.steps * settings.mu
    if step < warmup:
        return (step + 1) / warmup
    if settings.lr_schedule == "constant":
        return 1.0
    return max(0.0, (total - step) / max(1, total - warmup))


def train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Sequence[dict] | Any,
    settings: GRPOSettings,
    *,
    reward_funcs: Sequence[RewardFn] = (countdown_reward,),
    reward_weights: Sequence[float] | None = None,
    ref_model: PreTrainedModel | None = None,
    run_dir: str | Path | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    extra_metrics: ExtraMetrics | None = None,
    source: Callable[[list[dict], int], Rollouts] | None = None,
    progress: bool = True,
) -> GRPOResult:
    """Train ``model`` in place with GRPO for ``settings.steps`` steps.

    ``dataset`` rows hold a ``prompt`` plus the columns the reward functions read
    (``numbers``, ``target``). ``ref_model`` defaults to a frozen copy of ``model`` as it
    is now, made only when ``beta > 0``. With ``run_dir`` the run writes
    ``config.json``, ``metrics.jsonl``, ``samples.jsonl`` and a checkpoint every
    ``checkpoint_every`` steps, and resumes from that checkpoint if one is there.
    ``extra_metrics(completions, rows, lengths)`` adds its own numbers to each step's
    metrics (:func:`r1lab.behaviors.step_metrics` counts retries); ``rows`` hold each
    completion's dataset row. ``source(batch, step)``, when given, supplies the
    completions to train on instead of sampling them (expert traces: with
    ``advantages="filter"`` the update is then plain supervised fine-tuning).
    """
    rows = _rows(dataset)
    reward_funcs, weights, names = reward_setup(reward_funcs, reward_weights)

    if settings.beta > 0 and ref_model is None:
        ref_model = copy.deepcopy(model)
    if ref_model is not None:
        ref_model.eval().requires_grad_(False)

    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: learning_rate_factor(i, settings)
    )

    log = RunLog(run_dir) if run_dir is not None else None
    # One writer per run folder: a second process is refused, and the OS frees the lock
    # if this one dies.
    with exclusive(log.path) if log is not None else contextlib.nullcontext():
        start, skipped, history = 0, 0, []
        if log is not None:
            state = load_checkpoint(log.path, settings)
            if state is not None:
                start, skipped = state["step"], state["skipped_steps"]
                if start > settings.steps:
                    raise ValueError(
                        f"{log.path} holds a checkpoint at step {start}, past steps="
                        f"{settings.steps}: ask for at least {start} steps, or use a new run folder"
                    )
                _warn_if_schedule_changes(state["settings"], settings, start)
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                # The rate of the next update, from this run's schedule: the saved one is
                # the old schedule's when the run was extended to another length.
                for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
                    group["lr"] = base * learning_rate_factor(scheduler.last_epoch, settings)
                _set_rng_state(state["rng"])
                if ref_model is not None and state.get("ref_model") is not None:
                    ref_model.load_state_dict(state["ref_model"])
            history = log.start(settings.to_dict() | {"reward_funcs": names}, keep_until=start)

        last: Rollouts | None = None
        told_zero_std = False
        bar = tqdm(
            total=settings.steps, initial=start, desc="GRPO", unit="step", disable=not progress
        )
        try:
            for step in range(start, settings.steps):
                t0 = time.perf_counter()
                batch = [rows[i] for i in prompt_batch(len(rows), settings, step)]
                metrics, last, rewards, ok = _step(
                    model, tokenizer, batch, settings, step, optimizer, scheduler, ref_model,
                    reward_funcs, weights, names, source,
                )  # fmt: skip
                skipped += 0 if ok else 1
                if extra_metrics is not None:
                    per_completion = [row for row in batch for _ in range(last.group_size)]
                    metrics.update(extra_metrics(last.texts, per_completion, last.lengths.tolist()))
                if not ok:
                    bar.write(
                        f"step {step + 1}: the loss or a gradient was not finite, so the update "
                        f"was skipped ({skipped} so far); the weights are unchanged"
                    )
                nothing = metrics["frac_reward_zero_std"] == 1.0 and metrics["active_rate"] == 0
                if nothing and not told_zero_std:
                    told_zero_std = True
                    bar.write(ZERO_STD_NOTE.format(step=step + 1))
                metrics.update(step=step + 1, skipped_steps=skipped)
                metrics["step_time_s"] = time.perf_counter() - t0
                history.append(metrics)
                if log is not None:
                    log.append_metrics(metrics)
                    if (step + 1) % settings.samples_every == 0 or step == 0:
                        log.append_samples(step + 1, _samples(last, rewards, batch, settings))
                    if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
                        save_checkpoint(
                            log.path, model, optimizer, scheduler, step + 1, skipped, settings,
                            ref_model if settings.beta > 0 else None,
                        )  # fmt: skip
                bar.update(1)
                bar.set_postfix(
                    reward=f"{metrics['reward']:.2f}", length=f"{metrics['length']:.0f}"
                )
                if on_step is not None:
                    on_step(metrics)
        finally:
            bar.close()
            model.eval()
        return GRPOResult(history, last, skipped, start, log.path if log else None)


def _step(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: list[dict],
    settings: GRPOSettings,
    step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ref_model: PreTrainedModel | None,
    reward_funcs: list[RewardFn],
    weights: list[float],
    names: list[str],
    source: Callable[[list[dict], int], Rollouts] | None = None,
) -> tuple[dict[str, Any], Rollouts, torch.Tensor, bool]:
    """One GRPO step: sample, score, advantages, ``mu`` updates. Returns (metrics,
    rollouts, their rewards, whether every update was applied)."""
    s = settings
    t0 = time.perf_counter()
    # 1. Rollouts: G completions per prompt, sampled from the current policy (or given).
    if source is not None:
        rollouts = source(batch, step)
    else:
        rollouts = sample(
            model, tokenizer, [row["prompt"] for row in batch],
            num_generations=s.num_generations, max_new_tokens=s.max_new_tokens,
            temperature=s.temperature, top_p=s.top_p, seed=sampling_seed(s, step),
            batch_size=s.sampling_batch_size,
        )  # fmt: skip
    g = rollouts.group_size
    if len(rollouts) != len(batch) * g:
        raise ValueError(
            f"got {len(rollouts)} completions for {len(batch)} prompts in groups of {g}: "
            "a source must return group_size completions per prompt, in the batch's order"
        )
    sample_time = time.perf_counter() - t0

    # 2. Rewards: each function scores every completion; the weighted sum is the reward.
    columns = {k: [row[k] for row in batch for _ in range(g)] for k in batch[0] if k != "prompt"}
    per_func = torch.tensor(
        [[float(r) for r in fn(rollouts.texts, **columns)] for fn in reward_funcs]
    )  # [num_funcs, N]
    rewards = (torch.tensor(weights)[:, None] * per_func).sum(dim=0)  # [N]

    # 3. Advantages within each group.
    advantages, keep = step_advantages(rewards, g, s, correctness=per_func[0])

    # 4. The update. Old log-probs are the policy's before this step's first update; with
    #    mu = 1 they equal the current ones, so the ratio is exactly 1 (on-policy).
    #    The batch goes through the model in chunks of micro_batch_size completions
    #    (gradient accumulation), which bounds memory; the weighted chunk losses add up to
    #    exactly the loss of the whole batch.
    device = next(model.parameters()).device
    mask = rollouts.completion_mask
    if s.mask_truncated_completions:
        mask = mask * (~rollouts.truncated).long()[:, None]
    if keep is not None:  # the failures drop out of the loss altogether
        mask = mask * keep.long()[:, None]
    advantages, mask = advantages.to(device), mask.to(device)
    chunks = micro_batches(rollouts.lengths, s.micro_batch_size, s.length_buckets)

    def logprobs_of(policy: PreTrainedModel, part: Chunk, with_entropy: bool = False) -> Any:
        rows, width = part
        return completion_logprobs(
            policy, rollouts.prompt_ids[rows], rollouts.prompt_mask[rows],
            rollouts.completion_ids[rows, :width], rollouts.completion_mask[rows, :width],
            s.temperature, with_entropy=with_entropy,
        )  # fmt: skip

    old_logprobs = ref_logprobs = None
    with torch.no_grad():
        if s.mu > 1:
            old_logprobs = [logprobs_of(model, part) for part in chunks]
        if s.beta > 0:
            ref_logprobs = [logprobs_of(ref_model, part) for part in chunks]

    model.train()
    learning_rate = optimizer.param_groups[0]["lr"]  # the rate this step's first update uses
    applied, losses, stats, grad_norms, entropy_sum = 0, [], [], [], 0.0
    for _ in range(s.mu):
        optimizer.zero_grad(set_to_none=True)
        loss_value, tokens, sums = 0.0, 0.0, {"clip_ratio": 0.0, "kl": 0.0}
        for i, part in enumerate(chunks):
            rows, width = part
            part_mask = mask[rows, :width]
            logprobs, entropy = logprobs_of(model, part, with_entropy=True)
            entropy_sum += float(entropy.sum()) if len(stats) == 0 else 0.0
            loss, loss_stats = grpo_loss(
                logprobs,
                logprobs.detach() if old_logprobs is None else old_logprobs[i],
                advantages[rows],
                part_mask,
                ref_logprobs=None if ref_logprobs is None else ref_logprobs[i],
                beta=s.beta,
                epsilon_low=s.epsilon_low,
                epsilon_high=s.epsilon_high,
                loss_type=s.loss_type,
                max_completion_length=s.max_new_tokens,
            )
            weight = chunk_weight(s.loss_type, part_mask, mask)
            (loss * weight).backward()
            loss_value += float(loss.detach()) * weight
            n_tokens = float(part_mask.sum())
            tokens += n_tokens
            for key in sums:
                sums[key] += loss_stats[key] * n_tokens
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.max_grad_norm)
        if math.isfinite(loss_value) and torch.isfinite(grad_norm):
            optimizer.step()
            scheduler.step()
            applied += 1
        else:  # a non-finite loss or gradient would poison the weights: skip the update
            optimizer.zero_grad(set_to_none=True)
        losses.append(loss_value)
        grad_norms.append(float(grad_norm))
        stats.append({key: value / max(tokens, 1.0) for key, value in sums.items()})
    model.eval()

    lengths = rollouts.lengths.float()
    metrics: dict[str, Any] = {
        "loss": sum(losses) / len(losses),
        "reward": float(rewards.mean()),
        **score_metrics(per_func, rewards, rollouts.texts, g),
        "frac_reward_zero_std": float(zero_std_groups(rewards, g).float().mean()),
        # the share of completions that move the model: in the loss, advantage not 0
        "active_rate": float(((advantages.abs() > 1e-6) & mask.bool().any(dim=1)).float().mean()),
        "length": float(lengths.mean()),
        "length_max": int(lengths.max()),
        "truncated_rate": float(rollouts.truncated.float().mean()),
        "clip_ratio": sum(x["clip_ratio"] for x in stats) / len(stats),
        "kl": sum(x["kl"] for x in stats) / len(stats),
        "entropy": entropy_sum / max(float(rollouts.completion_mask.sum()), 1.0),
        "grad_norm": sum(grad_norms) / len(grad_norms),
        "learning_rate": learning_rate,
        "sample_time_s": sample_time,
    }
    for name, values in zip(names, per_func, strict=True):
        metrics[f"rewards/{name}/mean"] = float(values.mean())
        metrics[f"rewards/{name}/std"] = float(values.std()) if len(values) > 1 else 0.0
    return metrics, rollouts, rewards, applied == s.mu


def score_metrics(
    per_func: torch.Tensor, rewards: torch.Tensor, completions: Sequence[Any], group_size: int
) -> dict[str, float]:
    """What the scores of one batch say, for both trainers' logs: the mean within-group
    std of the (weighted) rewards, the accuracy (first reward function ≥ 1) and the
    format rate. ``per_func`` is [num_funcs, N], ``rewards`` [N]."""
    formats = format_reward(completions)
    grouped = rewards.view(-1, group_size)
    return {
        "reward_std": float(grouped.std(dim=1).mean()) if group_size > 1 else 0.0,
        "accuracy": float((per_func[0] >= 1.0).float().mean()),
        "format_rate": sum(formats) / len(formats),
    }


def _samples(
    rollouts: Rollouts, rewards: torch.Tensor, batch: list[dict], settings: GRPOSettings
) -> list[dict[str, Any]]:
    """The first completion of the first few groups and its (weighted) reward, for
    samples.jsonl."""
    g, out = rollouts.group_size, []
    for i, row in enumerate(batch[: settings.samples_per_log]):
        extra = {k: v for k, v in row.items() if k != "prompt"}
        text, reward = rollouts.texts[i * g], float(rewards[i * g])
        out.append({"prompt": rollouts.prompts[i], "completion": text, "reward": reward, **extra})
    return out


def reward_setup(
    reward_funcs: Sequence[RewardFn], reward_weights: Sequence[float] | None
) -> tuple[list[RewardFn], list[float], list[str]]:
    """The reward functions, their weights (default 1 each) and their names, checked."""
    funcs = list(reward_funcs)
    if not funcs:
        raise ValueError("reward_funcs is empty: GRPO needs at least one reward function")
    weights = [1.0] * len(funcs) if reward_weights is None else [float(w) for w in reward_weights]
    if len(weights) != len(funcs):
        raise ValueError(
            f"reward_weights has {len(weights)} entries for {len(funcs)} reward functions"
        )
    return funcs, weights, [getattr(fn, "__name__", f"reward_{i}") for i, fn in enumerate(funcs)]


def _rows(dataset: Any) -> list[dict]:
    rows = [dict(row) for row in dataset]
    if not rows:
        raise ValueError("the dataset is empty: GRPO needs prompts")
    if "prompt" not in rows[0]:
        raise ValueError(f"each row needs a 'prompt' (got keys {sorted(rows[0])})")
    return rows


# ---------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
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
    """Write the whole training state atomically (a crash mid-write keeps the old one),
    with a checksum that :func:`load_checkpoint` verifies."""
    path = Path(run_dir) / CHECKPOINT_FILE
    state = {
        "step": step,
        "skipped_steps": skipped_steps,
        "settings": settings.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": _rng_state(),
        "ref_model": ref_model.state_dict() if ref_model is not None else None,
    }
    return save_state(state, path)


def load_checkpoint(run_dir: str | Path, settings: GRPOSettings) -> dict[str, Any] | None:
    """The checkpoint in ``run_dir``, or None. Refuses one written with other settings
    (except ``steps`` and logging cadence, so a finished run can be extended)."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    state = load_state(
        path, f"delete {path.name} to restart this run from its beginning (or use a new folder)"
    )
    check_resumable(state["settings"], settings, path)
    return state


def _warn_if_schedule_changes(saved: dict[str, Any], settings: GRPOSettings, step: int) -> None:
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
        stacklevel=3,
    )


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
