"""Every knob of a GRPO run (:class:`GRPOSettings`) and the learning-rate schedule it sets.

The settings are the same for r1lab's own loop (:mod:`r1lab.grpo`) and for TRL's
``GRPOTrainer`` (:mod:`r1lab.trl_grpo` maps each field to a ``GRPOConfig`` field, and its
docstring lists the names that differ). The field names are written to every run's
``config.json`` and compared when a run resumes, so they stay as they are.

Left out, on purpose: everything about hardware and scale (devices, precision, vLLM,
several processes: the TRL path has them), weight decay (0, as in TRL), and the GRPO
variants this course does not teach (sequence-level importance ratios, masking tokens by
entropy, batch-level reward scaling).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from r1lab.config import RunConfig

LOSS_TYPES = ("grpo", "dr_grpo", "dapo")
# What a completion's advantage is: reward - group mean (GRPO); that, but never below 0
# (positives only, the same estimator); or 1 for a correct completion and nothing for
# the rest, which drop out of the loss (rejection sampling: SFT on the successes).
ADVANTAGES = ("centered", "positive", "filter")
LR_SCHEDULES = ("constant", "linear")


@dataclass(frozen=True)
class GRPOSettings:
    """Every knob of a GRPO run. :meth:`from_run_config` fills the budget from a profile;
    the defaults are the lesson profile's (:class:`~r1lab.config.RunConfig`'s own)."""

    steps: int = RunConfig.rl_steps
    prompts_per_step: int = RunConfig.prompts_per_step
    num_generations: int = RunConfig.num_generations  # G: completions per prompt
    max_new_tokens: int = RunConfig.max_new_tokens
    temperature: float = RunConfig.temperature
    top_p: float = RunConfig.top_p
    learning_rate: float = RunConfig.learning_rate
    warmup_steps: int = 10
    lr_schedule: str = "linear"  # after the warm-up: linear (decay to 0) | constant
    max_grad_norm: float = 1.0
    beta: float = RunConfig.beta  # weight of the KL penalty to the reference model
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

    @property
    def needs_reference(self) -> bool:
        """Whether the loss has a KL term, and so a frozen reference model to measure the
        KL against (a copy of the policy as it was when training started)."""
        return self.beta > 0

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


def learning_rate_factor(step: int, settings: GRPOSettings) -> float:
    """The learning rate of optimizer step ``step`` (from 0), as a fraction of the peak:
    a linear warm-up, then constant or a linear decay to 0 at the last step."""
    warmup, total = settings.warmup_steps, settings.steps * settings.mu
    if step < warmup:
        return (step + 1) / warmup
    if settings.lr_schedule == "constant":
        return 1.0
    return max(0.0, (total - step) / max(1, total - warmup))
