"""Checkers for the learners' exercises: each runs a learner's function on tricky cases and
returns a report that renders as a table in a notebook (and never raises)."""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

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
            (_shorten(c.completion), c.why, _value(c.expected), _value(g), "✓" if p else "✗")
            for c, g, p in zip(self.cases, self.got, self.passed, strict=True)
        ]
        table = html_table(
            rows,
            header=["completion", "what it tests", "expected", "yours", ""],
            highlight=[not p for p in self.passed],
        )
        return head + table


def _same(got: object, expected: object) -> bool:
    if isinstance(expected, torch.Tensor):
        try:
            got = torch.as_tensor(got, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            return False
        return got.shape == expected.shape and torch.allclose(got, expected, atol=1e-5)
    try:
        return float(got) == expected
    except (TypeError, ValueError):
        return False


def _value(value: object) -> object:
    """How a returned value shows in the table: tensors as short lists of numbers."""
    return _shorten(value) if isinstance(value, torch.Tensor) else value


def _shorten(value: object, limit: int = 70) -> str:
    if isinstance(value, torch.Tensor):
        text = str([round(v, 4) for v in value.detach().float().flatten().tolist()])
    else:
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


# ---------------------------------------------------------------------------- GRPO


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


@dataclass(frozen=True)
class CallCase:
    """Arguments for a learner's function, what it should return, and why."""

    completion: str  # the arguments, as the report shows them
    args: tuple[Any, ...]
    expected: torch.Tensor
    why: str


def _run_calls(name: str, fn: Callable[..., Any], cases: tuple[CallCase, ...]) -> ExerciseReport:
    report = ExerciseReport(name, cases)  # type: ignore[arg-type]
    for case in cases:
        args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in case.args)
        try:
            report.got.append(fn(*args))
        except Exception as err:  # a learner's bug is reported, not raised
            message = "".join(traceback.format_exception_only(err)).strip()
            report.error = f"on {case.completion}: {message}"
            return report
    return report


# Reference: r1lab.grpo.group_advantages (a test checks every expected value).
ADVANTAGE_CASES: tuple[CallCase, ...] = (
    CallCase(
        "rewards [1, 0, 0, 0], G=4", (_t(1, 0, 0, 0), 4, False), _t(0.75, -0.25, -0.25, -0.25),
        "one right answer in four: it is pushed up, the others down",
    ),
    CallCase(
        "rewards [1, 0, 1, 1, 0, 0], G=3", (_t(1, 0, 1, 1, 0, 0), 3, False),
        _t(1 / 3, -2 / 3, 1 / 3, 2 / 3, -1 / 3, -1 / 3),
        "two prompts: each group is centred on its own mean, not the batch's",
    ),
    CallCase(
        "rewards [1, 1, 1, 1], G=4", (_t(1, 1, 1, 1), 4, False), _t(0, 0, 0, 0),
        "all equal: nothing to prefer, advantage 0",
    ),
    CallCase(
        "rewards [1, 0, 0, 0], G=4, scale", (_t(1, 0, 0, 0), 4, True),
        _t(0.75, -0.25, -0.25, -0.25) / (0.5 + 1e-4),
        "divided by the group's sample std (0.5) + 1e-4",
    ),
    CallCase(
        "rewards [0, 0, 0, 0], G=4, scale", (_t(0, 0, 0, 0), 4, True), _t(0, 0, 0, 0),
        "std 0: the +1e-4 keeps it at 0 instead of 0/0 = NaN",
    ),
    CallCase(
        "rewards [2, 0], G=2, scale", (_t(2, 0), 2, True),
        _t(1, -1) / (2**0.5 + 1e-4), "G=2: the sample std of [2, 0] is √2",
    ),
)  # fmt: skip

# Reference: the per-token part of r1lab.grpo.grpo_loss, -min(r·A, clip(r)·A).
CLIP_CASES: tuple[CallCase, ...] = (
    CallCase("r=1, A=+2, ε=0.2", (_t(1.0), _t(2.0), 0.2), _t(-2.0), "on-policy: loss = -A"),
    CallCase(
        "r=1.5, A=+1, ε=0.2", (_t(1.5), _t(1.0), 0.2), _t(-1.2),
        "a good token already made 1.5× likelier: capped at 1+ε, no more push",
    ),
    CallCase(
        "r=1.5, A=-1, ε=0.2", (_t(1.5), _t(-1.0), 0.2), _t(1.5),
        "a bad token that became likelier: not clipped, the full correction applies",
    ),
    CallCase(
        "r=0.5, A=-1, ε=0.2", (_t(0.5), _t(-1.0), 0.2), _t(0.8),
        "a bad token already halved: capped at 1-ε",
    ),
    CallCase(
        "r=0.5, A=+1, ε=0.2", (_t(0.5), _t(1.0), 0.2), _t(-0.5),
        "a good token that became rarer: not clipped",
    ),
    CallCase(
        "r=[0.9, 1.3], A=[+1, +1], ε=0.1", (_t(0.9, 1.3), _t(1.0, 1.0), 0.1), _t(-0.9, -1.1),
        "element-wise over tokens, with another ε",
    ),
)  # fmt: skip

# Reference: r1lab.grpo.k3_kl.
KL_CASES: tuple[CallCase, ...] = (
    CallCase("logp = ref = ln 0.5", (_t(-0.6931472), _t(-0.6931472)), _t(0.0),
             "policy equals reference: 0"),
    CallCase("p=0.5, ref=0.25", (_t(-0.6931472), _t(-1.3862944)), _t(0.5 + 0.6931472 - 1),
             "d = ref - logp = ln ½: exp(d) - d - 1"),
    CallCase("p=0.25, ref=0.5", (_t(-1.3862944), _t(-0.6931472)), _t(2 - 0.6931472 - 1),
             "the other way round: still positive, and larger"),
    CallCase("d = 0.01", (_t(-0.01), _t(0.0)), _t(0.0000501671),
             "a small difference: about d²/2"),
    CallCase("three tokens", (_t(0.0, -1.0, -2.0), _t(0.0, -1.0, -1.0)),
             _t(0.0, 0.0, 2.718281828 - 1 - 1), "element-wise, one value per token"),
)  # fmt: skip


def check_advantages(fn: Callable[..., Any]) -> ExerciseReport:
    """Check a learner's ``advantages(rewards, group_size, scale)`` (rewards: float [N])."""
    return _run_calls("advantages", fn, ADVANTAGE_CASES)


def check_clipped_loss(fn: Callable[..., Any]) -> ExerciseReport:
    """Check a learner's ``clipped_loss(ratio, advantage, epsilon)``: the per-token loss
    ``-min(ratio·A, clip(ratio, 1-ε, 1+ε)·A)``."""
    return _run_calls("clipped_loss", fn, CLIP_CASES)


def check_k3_kl(fn: Callable[..., Any]) -> ExerciseReport:
    """Check a learner's ``k3_kl(logprobs, ref_logprobs)``."""
    return _run_calls("k3_kl", fn, KL_CASES)
