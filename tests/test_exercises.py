"""The exercise checker: fair to right answers, specific about wrong ones, never raises."""

from __future__ import annotations

import re

import pytest
import torch

from r1lab.exercises import (
    ADVANTAGE_CASES,
    CLIP_CASES,
    FORMAT_CASES,
    KL_CASES,
    check_advantages,
    check_clipped_loss,
    check_format_reward,
    check_k3_kl,
)
from r1lab.grpo import group_advantages, grpo_loss, k3_kl
from r1lab.rewards import format_reward


def test_cases_agree_with_the_reference():
    for case in FORMAT_CASES:
        assert format_reward([case.completion]) == [case.expected], case.why


def test_reference_passes():
    report = check_format_reward(format_reward)
    assert report.ok and all(report.passed)
    assert "all 19 cases pass" in report.summary()


def test_a_lenient_regex_fails_specific_cases():
    def lenient(completions, **kwargs):
        completions = [c if c is not None else "" for c in completions]
        texts = [c if isinstance(c, str) else c[-1]["content"] if c else "" for c in completions]
        return [
            1.0 if re.search(r"<think>.*</think>.*<answer>.*</answer>", t) else 0.0 for t in texts
        ]

    report = check_format_reward(lenient)
    assert not report.ok
    failed = {c.why for c, p in zip(report.cases, report.passed, strict=True) if not p}
    assert "a second answer block" in failed and "text after </answer>" in failed
    html = report._repr_html_()
    assert "✗" in html and "#f8d7da" in html


def test_a_crashing_or_malformed_function_is_reported():
    report = check_format_reward(
        lambda completions: [1.0 if c.startswith("<think>") else 0.0 for c in completions]
    )
    assert not report.ok and "AttributeError" in report.error
    assert "failed" in report._repr_html_()
    short = check_format_reward(lambda completions: [1.0])
    assert "one reward per completion" in short.error


# ---------------------------------------------------------------------------- GRPO


def test_grpo_cases_agree_with_the_package():
    for case in ADVANTAGE_CASES:
        assert torch.allclose(group_advantages(*case.args), case.expected, atol=1e-6), case.why
    for case in KL_CASES:
        assert torch.allclose(k3_kl(*case.args), case.expected, atol=1e-6), case.why
    for case in CLIP_CASES:
        ratio, advantage, epsilon = case.args
        # grpo_loss on one token per row equals the per-token loss: check it case by case.
        for r, a, want in zip(ratio, advantage, case.expected, strict=True):
            loss, _ = grpo_loss(
                r.log().view(1, 1), torch.zeros(1, 1), a.view(1), torch.ones(1, 1),
                epsilon_low=epsilon, epsilon_high=epsilon,
            )  # fmt: skip
            assert loss.item() == pytest.approx(want.item(), abs=1e-6), case.why


def test_grpo_references_pass_and_common_mistakes_fail():
    assert check_advantages(group_advantages).ok
    assert check_k3_kl(k3_kl).ok
    assert check_clipped_loss(lambda r, a, e: -torch.min(r * a, r.clamp(1 - e, 1 + e) * a)).ok

    # The batch mean instead of each group's mean.
    batch_mean = check_advantages(lambda r, g, scale: r - r.mean())
    assert not batch_mean.ok
    assert "two prompts" in " ".join(
        c.why for c, p in zip(batch_mean.cases, batch_mean.passed, strict=True) if not p
    )
    # Dividing by the std without the epsilon gives NaN on an all-equal group.
    no_eps = check_advantages(
        lambda r, g, scale: (
            (r.view(-1, g) - r.view(-1, g).mean(1, keepdim=True))
            / (r.view(-1, g).std(1, keepdim=True) if scale else 1)
        ).view(-1)
    )
    failed = [c.why for c, p in zip(no_eps.cases, no_eps.passed, strict=True) if not p]
    assert "std 0: the +1e-4 keeps it at 0 instead of 0/0 = NaN" in failed
    assert no_eps.passed[:3] == [True, True, True]  # unscaled cases are fine
    # Clipping without the min (always the clipped term) fails where clipping must not apply.
    only_clip = check_clipped_loss(lambda r, a, e: -(r.clamp(1 - e, 1 + e) * a))
    assert not only_clip.ok and not only_clip.passed[2]
    # The KL with the difference the wrong way round.
    assert not check_k3_kl(lambda lp, ref: torch.exp(lp - ref) - (lp - ref) - 1).ok


def test_a_crashing_grpo_exercise_names_the_case():
    report = check_k3_kl(lambda lp, ref: lp.nonexistent)
    assert not report.ok and "on logp = ref = ln 0.5" in report.error
    assert "AttributeError" in report.error
    assert "✗" not in report._repr_html_() and "failed" in report.summary()
    html = check_clipped_loss(lambda r, a, e: r * 0)._repr_html_()
    assert "✗" in html and "[0.0]" in html
