"""Every number the course measures, once: its key, the label a reader sees, its unit, and
whether it is a share (a fraction of something, shown as a percentage).

Tables (:func:`r1lab.display.format_score`), figures (:mod:`r1lab.plots`) and panels
(:mod:`r1lab.widgets`) read labels and units from here, so one quantity has one name
everywhere it is shown. The keys are the ones runs log and :mod:`r1lab.heldout` measures;
``pass@k`` stands for every k.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """How one measured quantity is shown."""

    label: str  # what a table header, a figure's title or a panel's axis says
    unit: str = ""  # of a number that is not a share: "tokens", "per token", "s"
    share: bool = False  # a fraction in [0, 1], shown as a percentage

    def format(self, value: float | None) -> str:
        """``value`` as a table shows it: a share as a percentage with one decimal, any other
        number with one decimal, or with three significant digits when it is below 0.1 (a
        learning rate of 2e-4 is not 0.0); – when absent."""
        if value is None:
            return "–"
        if self.share:
            return f"{value:.1%}"
        return f"{value:.3g}" if value and abs(value) < 0.1 else f"{value:.1f}"


def _share(label: str) -> Metric:
    return Metric(label, share=True)


METRICS: dict[str, Metric] = {
    # ---- held-out measurement (r1lab.heldout)
    "pass@k": _share("pass@k"),
    "greedy_accuracy": _share("greedy accuracy"),
    "format_rate": _share("share in the answer format"),
    "mean_length": Metric("mean length (tokens)", "tokens"),
    "truncated_rate": _share("share cut off by the budget"),
    "distinct_correct": Metric("different correct answers per problem"),
    "distinct_correct_solved": Metric("different correct answers per solved problem"),
    "kl_to_start": Metric("KL to the start model (per token)", "per token"),
    # free-text probes of a shipped model's skills (r1lab.probes, on its card)
    "probe_arithmetic": _share("free text: steps computed right"),
    "probe_check": _share("free text: checks judged right"),
    "probe_solve": _share("free text: problems solved"),
    # ---- what a training step logs (r1lab.grpo.record_step)
    "loss": Metric("loss"),
    "reward": Metric("reward"),
    "reward_std": Metric("reward spread within a group"),
    "accuracy": _share("accuracy (training batches)"),
    "frac_reward_zero_std": _share("zero-advantage groups"),
    "active_rate": _share("completions that moved the model"),
    "length": Metric("mean completion length (tokens)", "tokens"),
    "length_max": Metric("longest completion (tokens)", "tokens"),
    "clip_ratio": _share("clipped tokens"),
    "kl": Metric("KL to the reference (per token)", "per token"),
    "entropy": Metric("entropy (per token)", "per token"),
    "grad_norm": Metric("gradient norm"),
    "learning_rate": Metric("learning rate"),
    "sample_time_s": Metric("sampling time (s)", "s"),
    "step_time_s": Metric("step time (s)", "s"),
    "skipped_steps": Metric("skipped updates"),
    # ---- behaviours, in training batches and held out (r1lab.behaviors)
    "answer_accuracy": _share("right answers"),
    "attempts": Metric("attempts per completion"),
    "wait_rate": _share("share that says 'wait'"),
    "retry_rate": _share("share with any retry"),
    "effective_retry_rate": _share("share with an effective retry"),
    "lucky_retry_rate": _share("share with a lucky retry"),
    "unsuccessful_retry_rate": _share("share with an unsuccessful retry"),
    "superficial_retry_rate": _share("share with a superficial retry"),
    "harmful_retry_rate": _share("share with a harmful retry"),
    "accuracy_if_retried": _share("accuracy when it retried"),
    "accuracy_if_not_retried": _share("accuracy when it did not retry"),
    "supported_rate": _share("right, and the think text shows how"),
    # The key predates the split by verdict, and shipped runs store it: its label says
    # what it pools (ok_precision and no_precision give the verdicts one by one).
    "honest_check_rate": _share("verdicts matching the written result (ok and no pooled)"),
    "checked_rate": _share("share that computes and checks (searches)"),
    "search_rate": _share("share that computes and checks (searches)"),
    "step_accuracy": _share("steps computed right"),
    "copied_target_rate": _share("checks that copy the target"),
    "ok_precision": _share("'ok' verdicts that are right"),
    "no_precision": _share("'no' verdicts that are right"),
    "false_ok_rate": _share("searches that end on a false 'ok'"),
    "repeat_rate": _share("searches that repeat an attempt"),
    "valid_item_rate": _share("search items that follow their chain"),
    "search_pass1": _share("pass@1 when it searches"),
    "direct_pass1": _share("pass@1 when it answers directly"),
}

_PASS_AT = re.compile(r"pass@(\d+)")


def metric(key: str) -> Metric:
    """How ``key`` is shown; ``pass@16`` is a ``pass@k``. A key the course does not measure
    is shown by its own name, as a plain number."""
    found = METRICS.get(key)
    if found is not None:
        return found
    if _PASS_AT.fullmatch(key):
        return Metric(key, share=True)
    return Metric(key)


def label(key: str) -> str:
    """What a reader sees for ``key``."""
    return metric(key).label


def is_share(key: str) -> bool:
    """Whether ``key`` is a share, shown as a percentage."""
    return metric(key).share
