"""Checkers for the learners' exercises: each runs a learner's function on tricky cases and
returns a report that renders as a table in a notebook (and never raises)."""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from r1lab.display import html_table

_OK = "<think>3*4=12,12+5=17 ok</think><answer>3*4+5</answer>"


@dataclass(frozen=True)
class Case:
    completion: object
    expected: float
    why: str


# The reference answer for every case is r1lab.rewards.format_reward (a test checks it).
FORMAT_CASES: tuple[Case, ...] = (
    Case(_OK, 1.0, "a well-formed completion"),
    Case("  " + _OK + "</s>\n", 1.0, "white space around it and an end-of-sequence marker"),
    Case(
        "<think>3*4=12,\n12+5=17 ok</think>\n<answer>3*4+5</answer>",
        1.0,
        "new lines inside think and between the blocks (a regex without DOTALL misses it)",
    ),
    Case([{"role": "assistant", "content": _OK}], 1.0, "a chat completion, as TRL passes it"),
    Case("", 0.0, "empty"),
    Case("<answer>3*4+5</answer>", 0.0, "no think block"),
    Case("<think>3*4=12</think>", 0.0, "no answer block"),
    Case("<think>3*4=12,12+5=17 ok</think><answer>3*4+5", 0.0, "truncated: no </answer>"),
    Case(_OK + "<answer>7</answer>", 0.0, "a second answer block"),
    Case("<think>x <answer>3*4+5</answer></think>", 0.0, "the answer inside think"),
    Case(_OK + " and more", 0.0, "text after </answer>"),
    Case("sure! " + _OK, 0.0, "text before <think>"),
    Case("<Think>3*4=12</Think><Answer>3*4+5</Answer>", 0.0, "mis-cased tags"),
    Case("<think><think>3*4=12</think></think><answer>3*4+5</answer>", 0.0, "nested think"),
    Case("<think>3*4=12,12+5=17 ok</think><answer> </answer>", 0.0, "an empty answer"),
    Case("<think></think><answer>3*4+5</answer>", 0.0, "an empty think: the reasoning is missing"),
    Case(
        [
            {"role": "user", "content": "use 3 4 5 to make 17"},
            {"role": "assistant", "content": _OK},
        ],
        1.0,
        "a chat with several messages: the last one is the completion",
    ),
    Case(None, 0.0, "not text at all (a bug upstream must not crash training)"),
    Case("<think>3*4=12</think> so <answer>3*4+5</answer>", 0.0, "text between the blocks"),
)


@dataclass(repr=False)
class ExerciseReport:
    """What a learner's function returned on each case, and whether that was right."""

    name: str
    cases: tuple[Case, ...]
    got: list[object] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> list[bool]:
        if self.error:
            return [False] * len(self.cases)
        return [_same(g, c.expected) for g, c in zip(self.got, self.cases, strict=True)]

    @property
    def ok(self) -> bool:
        return self.error is None and all(self.passed)

    def summary(self) -> str:
        if self.error:
            return f"{self.name}: your function failed — {self.error}"
        n = sum(self.passed)
        if n == len(self.cases):
            return f"{self.name}: all {n} cases pass. Well done."
        return f"{self.name}: {n} of {len(self.cases)} cases pass; the red rows show what to fix."

    def __repr__(self) -> str:  # what a notebook shows where HTML is not rendered
        return self.summary()

    def _repr_html_(self) -> str:
        head = f"<p><b>{html.escape(self.summary())}</b></p>"
        if self.error:
            return head
        rows = [
            (_shorten(c.completion), c.why, c.expected, g, "✓" if p else "✗")
            for c, g, p in zip(self.cases, self.got, self.passed, strict=True)
        ]
        table = html_table(
            rows,
            header=["completion", "what it tests", "expected", "yours", ""],
            highlight=[not p for p in self.passed],
        )
        return head + table


def _same(got: object, expected: float) -> bool:
    try:
        return float(got) == expected
    except (TypeError, ValueError):
        return False


def _shorten(value: object, limit: int = 70) -> str:
    text = repr(value)  # repr shows white space and quotes: "  <think>…\n" is visible
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_format_reward(fn: Callable[..., list[float]]) -> ExerciseReport:
    """Run a learner's ``format_reward(completions, **kwargs)`` on every tricky case at once
    (as TRL calls it) and compare with the expected rewards."""
    report = ExerciseReport("format_reward", FORMAT_CASES)
    try:
        got = fn([c.completion for c in FORMAT_CASES])
    except Exception as err:  # a learner's bug is reported, not raised
        report.error = "".join(traceback.format_exception_only(err)).strip()
        return report
    if not isinstance(got, (list, tuple)) or len(got) != len(FORMAT_CASES):
        size = len(got) if isinstance(got, (list, tuple)) else type(got).__name__
        report.error = (
            f"it must return a list with one reward per completion "
            f"({len(FORMAT_CASES)}), got {size}"
        )
        return report
    report.got = list(got)
    return report
