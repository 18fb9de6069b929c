"""GRPO from scratch: Group Relative Policy Optimization, readable top to bottom.

First the maths (advantages, the k3 KL, the clipped loss and its aggregations), then one
step of GRPO in four parts, then the loop (:func:`train`). One step:

1. :func:`sample_groups`: sample a group of ``G = num_generations`` completions of each
   of the step's ``prompts_per_step`` prompts (:func:`r1lab.rollouts.sample`);
2. :func:`score`: score every completion with the reward functions (TRL's signature) and
   sum them with their weights;
3. :func:`advantages_of`: turn rewards into **advantages** within each group
   (:func:`group_advantages`): the reward minus the group mean, optionally divided by the
   group's std. A group whose completions all scored the same has advantage 0
   everywhere: it teaches nothing (``advantages="positive"`` zeroes the negative ones;
   ``"filter"`` keeps only the correct completions, with advantage 1: rejection-sampling
   fine-tuning, the same update as SFT on the model's own successes);
4. :func:`update`: ``mu`` times, recompute the completions' log-probs with gradients, form
   the clipped importance ratio against the log-probs at sampling time, add ``beta`` times
   the k3 KL estimate to a frozen reference model, aggregate the per-token loss
   (:func:`grpo_loss`), back-propagate, clip the gradient and step the optimizer.

:func:`record_step` writes what a step measured (for this loop and for
:mod:`r1lab.trl_grpo` alike) to ``on_step(metrics)`` and, with a ``run_dir``, to
``metrics.jsonl`` (:mod:`r1lab.runlog`). The run's resume state (:mod:`r1lab.resume`)
holds the model, optimizer, scheduler, RNG states and the step; :func:`train` on the same
``run_dir`` resumes from it and continues exactly as if it had never stopped, because each
step's prompts and sampling seed are functions of ``(seed, step)`` alone. The settings are
:class:`~r1lab.grpo_settings.GRPOSettings`.

Left out, on purpose, since the point is the algorithm on a CPU: several processes,
mixed precision and LoRA (the TRL path, :mod:`r1lab.trl_grpo`, has them), fast sampling
engines such as vLLM, and the GRPO variants the course does not teach (sequence-level
importance ratios, masking tokens by entropy, batch-level reward scaling).
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.grpo_settings import LOSS_TYPES, GRPOSettings, learning_rate_factor
from r1lab.resume import (
    CHECKPOINT_FILE,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
    warn_if_schedule_changes,
)
from r1lab.rewards import countdown_reward, format_reward
from r1lab.rollouts import Rollouts, completion_logprobs, sample
from r1lab.runlog import RunLog
from r1lab.storage import exclusive

CORRECT = 1.0  # a reward at least this high is a correct completion
RewardFn = Callable[..., list[float]]
ExtraMetrics = Callable[[list[str], list[dict[str, Any]], list[int]], dict[str, Any]]
# What the log says, once, the first time a whole batch has no reward spread.
ZERO_STD_NOTE = (
    "step {step}: every group's completions got the same reward, so every advantage is 0 "
    "and so is the loss: nothing to learn from this batch. It is normal now and then; if "
    "it lasts, the task is too hard (all 0) or too easy (all 1) for the model "
    "(see frac_reward_zero_std)."
)


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
    adv = grouped - grouped.mean(dim=1, keepdim=True)
    if scale_rewards:
        adv = adv / (grouped.std(dim=1, keepdim=True) + 1e-4)
    return adv.view(-1)


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
    adv = group_advantages(rewards, group_size, settings.scale_rewards)
    if settings.advantages == "positive":
        adv = adv.clamp(min=0.0)
    return adv, None


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


# ---------------------------------------------------------------------------- one step


def grpo_step(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: list[dict],
    step: int,
    settings: GRPOSettings,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ref_model: PreTrainedModel | None,
    reward_funcs: list[RewardFn],
    weights: list[float],
    names: list[str],
    source: Callable[[list[dict], int], Rollouts] | None = None,
) -> tuple[dict[str, Any], Rollouts, torch.Tensor, bool]:
    """One GRPO step on ``batch`` (the step's dataset rows): sample, score, advantages,
    update. Returns what it measured, the rollouts and their rewards, and whether every
    update was applied."""
    started = time.perf_counter()
    rollouts = sample_groups(model, tokenizer, batch, step, settings, source)
    sample_time = time.perf_counter() - started
    per_func, rewards = score(rollouts, batch, reward_funcs, weights)
    adv, mask = advantages_of(rollouts, per_func, rewards, settings)
    updates = update(model, optimizer, scheduler, ref_model, rollouts, adv, mask, settings)
    metrics = _metrics(rollouts, per_func, rewards, adv, mask, updates, sample_time, names)
    return metrics, rollouts, rewards, all(u.applied for u in updates)


def sample_groups(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: list[dict],
    step: int,
    settings: GRPOSettings,
    source: Callable[[list[dict], int], Rollouts] | None = None,
) -> Rollouts:
    """1. A group of ``num_generations`` completions of each prompt, sampled from the
    current policy with a seed that depends only on ``(seed, step)``; or given by
    ``source``."""
    s = settings
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
    return rollouts


def sampling_seed(settings: GRPOSettings, step: int) -> int:
    return (settings.seed * 1_000_003 + step) % (2**63)


def score(
    rollouts: Rollouts, batch: list[dict], reward_funcs: list[RewardFn], weights: list[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """2. Every reward function scores every completion, reading the dataset's other
    columns (one value per completion, as TRL passes them); the reward is their weighted
    sum. Returns (each function's scores [num_funcs, N], rewards [N])."""
    g = rollouts.group_size
    columns = {k: [row[k] for row in batch for _ in range(g)] for k in batch[0] if k != "prompt"}
    per_func = torch.tensor(
        [[float(r) for r in fn(rollouts.texts, **columns)] for fn in reward_funcs]
    )
    rewards = (torch.tensor(weights)[:, None] * per_func).sum(dim=0)
    return per_func, rewards


def advantages_of(
    rollouts: Rollouts, per_func: torch.Tensor, rewards: torch.Tensor, settings: GRPOSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """3. Each completion's advantage [N] (:func:`step_advantages`) and the mask [N, C] of
    the tokens the loss counts: every completion token, except those of truncated
    completions with ``mask_truncated_completions`` and of failures with ``filter``."""
    adv, keep = step_advantages(rewards, rollouts.group_size, settings, correctness=per_func[0])
    mask = rollouts.completion_mask
    if settings.mask_truncated_completions:
        mask = mask * (~rollouts.truncated).long()[:, None]
    if keep is not None:  # the failures drop out of the loss altogether
        mask = mask * keep.long()[:, None]
    return adv, mask


@dataclass
class Update:
    """What one optimizer step on the whole batch measured."""

    loss: float
    learning_rate: float  # the rate it stepped with
    grad_norm: float  # before clipping
    clip_ratio: float  # share of the counted tokens whose ratio was clipped
    kl: float  # k3 KL to the reference model per counted token (0 without one)
    entropy: float  # of the policy, summed over every completion token
    applied: bool  # False: the loss or a gradient was not finite, so it was skipped


def update(
    model: PreTrainedModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ref_model: PreTrainedModel | None,
    rollouts: Rollouts,
    adv: torch.Tensor,
    mask: torch.Tensor,
    settings: GRPOSettings,
) -> list[Update]:
    """4. ``mu`` optimizer steps on the batch. The old log-probs are the policy's before
    the first of them: with ``mu = 1`` they are the current ones, so the ratio is exactly
    1 (on-policy) and they cost no extra forward pass."""
    s = settings
    device = next(model.parameters()).device
    adv, mask = adv.to(device), mask.to(device)
    chunks = micro_batches(rollouts.lengths, s.micro_batch_size, s.length_buckets)
    old = ref = None
    with torch.no_grad():
        if s.mu > 1:
            old = [_logprobs(model, rollouts, part, s.temperature) for part in chunks]
        if s.needs_reference:
            ref = [_logprobs(ref_model, rollouts, part, s.temperature) for part in chunks]

    model.train()
    updates = []
    for _ in range(s.mu):
        learning_rate = optimizer.param_groups[0]["lr"]
        optimizer.zero_grad(set_to_none=True)
        loss, clip_ratio, kl, entropy = _accumulate_gradients(
            model, rollouts, chunks, adv, mask, old, ref, s
        )
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.max_grad_norm)
        applied = math.isfinite(loss) and bool(torch.isfinite(grad_norm))
        if applied:
            optimizer.step()
            scheduler.step()
        else:  # a non-finite loss or gradient would poison the weights: skip the update
            optimizer.zero_grad(set_to_none=True)
        updates.append(
            Update(loss, learning_rate, float(grad_norm), clip_ratio, kl, entropy, applied)
        )
    model.eval()
    return updates


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


def _logprobs(
    policy: PreTrainedModel,
    rollouts: Rollouts,
    part: Chunk,
    temperature: float,
    with_entropy: bool = False,
) -> Any:
    """``policy``'s log-probs [n, width] of one chunk's completions (and their entropy)."""
    rows, width = part
    return completion_logprobs(
        policy, rollouts.prompt_ids[rows], rollouts.prompt_mask[rows],
        rollouts.completion_ids[rows, :width], rollouts.completion_mask[rows, :width],
        temperature, with_entropy=with_entropy,
    )  # fmt: skip


def _accumulate_gradients(
    model: PreTrainedModel,
    rollouts: Rollouts,
    chunks: list[Chunk],
    adv: torch.Tensor,
    mask: torch.Tensor,
    old: list[torch.Tensor] | None,
    ref: list[torch.Tensor] | None,
    settings: GRPOSettings,
) -> tuple[float, float, float, float]:
    """Accumulate the gradient of the whole batch's loss, one chunk of
    ``micro_batch_size`` completions at a time: this bounds memory, and the weighted chunk
    losses add up to exactly the loss of the whole batch. ``old`` and ``ref`` hold each
    chunk's old and reference log-probs (None: the current ones; no KL term). Returns the
    loss, the clip ratio and KL per counted token, and the summed entropy."""
    s = settings
    loss_value, tokens, entropy_sum = 0.0, 0.0, 0.0
    sums = {"clip_ratio": 0.0, "kl": 0.0}
    for i, part in enumerate(chunks):
        rows, width = part
        part_mask = mask[rows, :width]
        logprobs, entropy = _logprobs(model, rollouts, part, s.temperature, with_entropy=True)
        entropy_sum += float(entropy.sum())
        loss, stats = grpo_loss(
            logprobs,
            logprobs.detach() if old is None else old[i],
            adv[rows],
            part_mask,
            ref_logprobs=None if ref is None else ref[i],
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
            sums[key] += stats[key] * n_tokens
    per_token = {key: value / max(tokens, 1.0) for key, value in sums.items()}
    return loss_value, per_token["clip_ratio"], per_token["kl"], entropy_sum


# ---------------------------------------------------------------------------- the record


def _metrics(
    rollouts: Rollouts,
    per_func: torch.Tensor,
    rewards: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    updates: list[Update],
    sample_time: float,
    names: list[str],
) -> dict[str, Any]:
    """What one step measured. :mod:`r1lab.trl_grpo` writes the same keys, in this order,
    from TRL's logs: :func:`record_step` adds the step's number and time to both."""
    g, lengths = rollouts.group_size, rollouts.lengths.float()
    metrics: dict[str, Any] = {
        "loss": _mean([u.loss for u in updates]),
        "reward": float(rewards.mean()),
        **score_metrics(per_func, rewards, rollouts.texts, g),
        "frac_reward_zero_std": float(zero_std_groups(rewards, g).float().mean()),
        # the share of completions that move the model: in the loss, advantage not 0
        "active_rate": float(((adv.abs() > 1e-6) & mask.bool().any(dim=1)).float().mean()),
        "length": float(lengths.mean()),
        "length_max": int(lengths.max()),
        "truncated_rate": float(rollouts.truncated.float().mean()),
        "clip_ratio": _mean([u.clip_ratio for u in updates]),
        "kl": _mean([u.kl for u in updates]),
        # from the first update's forward pass: the policy before any update on this batch
        "entropy": updates[0].entropy / max(float(rollouts.completion_mask.sum()), 1.0),
        "grad_norm": _mean([u.grad_norm for u in updates]),
        "learning_rate": updates[0].learning_rate,
        "sample_time_s": sample_time,
    }
    for name, values in zip(names, per_func, strict=True):
        metrics[f"rewards/{name}/mean"] = float(values.mean())
        metrics[f"rewards/{name}/std"] = float(values.std()) if len(values) > 1 else 0.0
    return metrics


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


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
        "accuracy": float((per_func[0] >= CORRECT).float().mean()),
        "format_rate": sum(formats) / len(formats),
    }


@dataclass
class StepOutputs:
    """Where a run's step records go, for both trainers: its history, its run folder
    (``metrics.jsonl`` and ``samples.jsonl``; None: no files), its progress bar and the
    ``on_step`` callback."""

    settings: GRPOSettings
    history: list[dict[str, Any]]
    log: RunLog | None
    bar: tqdm
    on_step: Callable[[dict[str, Any]], None] | None = None
    told_zero_std: bool = False  # the note on a batch with nothing to learn is said once


def record_step(
    out: StepOutputs,
    metrics: dict[str, Any],
    step: int,
    skipped: int,
    started: float,
    samples: Callable[[], list[dict[str, Any]]],
) -> None:
    """Complete ``metrics`` into the record of step ``step`` (from 1) and send it where it
    goes: the history, ``metrics.jsonl``, the progress bar and ``on_step``; ``samples()``
    (a few completions, built only when written) goes to ``samples.jsonl`` at the first
    step and every ``samples_every``. Both trainers record their steps here, so their
    records match. ``skipped``: updates skipped so far; ``started``:
    ``time.perf_counter()`` at the step's start."""
    metrics.update(step=step, skipped_steps=skipped)
    metrics["step_time_s"] = time.perf_counter() - started
    out.history.append(metrics)
    if out.log is not None:
        out.log.append_metrics(metrics)
        if step % out.settings.samples_every == 0 or step == 1:
            out.log.append_samples(step, samples())
    # No reward spread, and no completion that moves the model ("filter" still learns
    # from a group that is all correct)
    nothing = metrics["frac_reward_zero_std"] == 1.0 and metrics["active_rate"] == 0
    if nothing and not out.told_zero_std:
        out.told_zero_std = True
        out.bar.write(ZERO_STD_NOTE.format(step=step))
    out.bar.update(1)
    out.bar.set_postfix(reward=f"{metrics['reward']:.2f}", length=f"{metrics['length']:.0f}")
    if out.on_step is not None:
        out.on_step(metrics)


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


# ---------------------------------------------------------------------------- the loop


@dataclass
class GRPOResult:
    """What :func:`train` returns: the per-step metrics and the last batch it trained on."""

    history: list[dict[str, Any]]
    last_rollouts: Rollouts | None
    skipped_steps: int
    resumed_from: int  # 0 for a fresh run
    run_dir: Path | None


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
    is now, made only when the settings need one (``beta > 0``). With ``run_dir`` the run
    writes ``config.json``, ``metrics.jsonl``, ``samples.jsonl`` and its resume state every
    ``checkpoint_every`` steps, and resumes from that state if one is there.
    ``extra_metrics(completions, rows, lengths)`` adds its own numbers to each step's
    metrics (:func:`r1lab.behaviors.step_metrics` counts retries); ``rows`` hold each
    completion's dataset row. ``source(batch, step)``, when given, supplies the
    completions to train on instead of sampling them (expert traces: with
    ``advantages="filter"`` the update is then plain supervised fine-tuning).
    """
    rows = _rows(dataset)
    reward_funcs, weights, names = reward_setup(reward_funcs, reward_weights)
    if settings.needs_reference and ref_model is None:
        ref_model = copy.deepcopy(model)
    if ref_model is not None:
        ref_model.eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: learning_rate_factor(i, settings)
    )

    log = RunLog(run_dir) if run_dir is not None else None

    def save_then_on_step(metrics: dict[str, Any]) -> None:
        # The resume state is saved before on_step sees the step: a callback that stops
        # the run leaves it resumable from this step.
        step = metrics["step"]
        if log is not None and (step % settings.checkpoint_every == 0 or step == settings.steps):
            save_checkpoint(
                log.path, model, optimizer, scheduler, step, metrics["skipped_steps"], settings,
                ref_model if settings.needs_reference else None,
            )  # fmt: skip
        if on_step is not None:
            on_step(metrics)

    # One writer per run folder: a second process is refused, and the OS frees the lock
    # if this one dies.
    with exclusive(log.path) if log is not None else contextlib.nullcontext():
        start, skipped, history = 0, 0, []
        if log is not None:
            start, skipped = _resume(log.path, settings, model, optimizer, scheduler, ref_model)
            history = log.start(settings.to_dict() | {"reward_funcs": names}, keep_until=start)
        bar = tqdm(
            total=settings.steps, initial=start, desc="GRPO", unit="step", disable=not progress
        )
        out = StepOutputs(settings, history, log, bar, save_then_on_step)
        rollouts: Rollouts | None = None
        try:
            for step in range(start, settings.steps):
                started = time.perf_counter()
                batch = [rows[i] for i in prompt_batch(len(rows), settings, step)]
                metrics, rollouts, rewards, ok = grpo_step(
                    model, tokenizer, batch, step, settings, optimizer, scheduler, ref_model,
                    reward_funcs, weights, names, source,
                )  # fmt: skip
                skipped += 0 if ok else 1
                if extra_metrics is not None:  # given one dataset row per completion
                    per_row = [row for row in batch for _ in range(rollouts.group_size)]
                    lengths = rollouts.lengths.tolist()
                    metrics.update(extra_metrics(rollouts.texts, per_row, lengths))
                if not ok:
                    bar.write(
                        f"step {step + 1}: the loss or a gradient was not finite, so the update "
                        f"was skipped ({skipped} so far); the weights are unchanged"
                    )
                samples = partial(_samples, rollouts, rewards, batch, settings)
                record_step(out, metrics, step + 1, skipped, started, samples)
        finally:
            bar.close()
            model.eval()
        return GRPOResult(history, rollouts, skipped, start, log.path if log else None)


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


def _resume(
    run_dir: Path,
    settings: GRPOSettings,
    model: PreTrainedModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ref_model: PreTrainedModel | None,
) -> tuple[int, int]:
    """Load the resume state in ``run_dir``, if there is one, into the model, optimizer,
    scheduler, RNGs and reference model. Returns (steps done, updates skipped)."""
    state = load_checkpoint(run_dir, settings)
    if state is None:
        return 0, 0
    start = state["step"]
    if start > settings.steps:
        raise ValueError(
            f"{run_dir / CHECKPOINT_FILE} is a checkpoint at step {start}, past steps="
            f"{settings.steps}: ask for at least {start} steps, or use a new run folder"
        )
    # stacklevel 4: the warning points at the code that called train
    warn_if_schedule_changes(state["settings"], settings, start, stacklevel=4)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    # The rate of the next update, from this run's schedule: the saved one is the old
    # schedule's when the run was extended to another length.
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
        group["lr"] = base * learning_rate_factor(scheduler.last_epoch, settings)
    set_rng_state(state["rng"])
    if ref_model is not None and state.get("ref_model") is not None:
        ref_model.load_state_dict(state["ref_model"])
    return start, state["skipped_steps"]


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
