"""The exercise checker: fair to right answers, specific about wrong ones, never raises."""

from __future__ import annotations

import re

from r1lab.exercises import FORMAT_CASES, check_format_reward
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
