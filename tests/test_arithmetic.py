"""The arithmetic warm-up task has the same interface as Countdown."""

from __future__ import annotations

import random

import pytest

from r1lab.rewards import arithmetic_reward
from r1lab.tasks import TASKS, arithmetic
from r1lab.tasks.arithmetic import ArithmeticProblem, ArithmeticSpec
from r1lab.tasks.splits import split_of


def test_same_interface_as_countdown():
    for module in TASKS.values():
        for name in ("NAME", "generate", "solve", "write_trace"):
            assert hasattr(module, name), (module.__name__, name)


def test_generation_is_seeded_and_solved_exactly():
    problems = arithmetic.generate(200, seed=5)
    assert problems == arithmetic.generate(200, seed=5)
    assert len({p.key() for p in problems}) == 200
    for p in problems:
        assert arithmetic.solve(p) == p.answer
        assert split_of(p.key()) == "train"
        assert set(p.expression) <= set("0123456789+-*()")


def test_traces_verify():
    problems = arithmetic.generate(100, seed=0, spec=ArithmeticSpec(n_operands=4, ops="+-*/"))
    traces = [arithmetic.write_trace(p, random.Random(0)) for p in problems]
    assert arithmetic_reward(traces, answer=[p.answer for p in problems]) == [1.0] * 100
    assert arithmetic.write_trace(ArithmeticProblem("45*2+23", 113)) == (
        "<think>45*2=90,90+23=113</think><answer>113</answer>"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_operands=1), "n_operands must be between 2 and 6"),
        (dict(max_operand=0), "max_operand must be between 1 and 9999"),
        (dict(ops="+^"), "ops must be a non-empty subset"),
    ],
)
def test_bad_specs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ArithmeticSpec(**kwargs)


def test_bad_problem_text_is_rejected():
    with pytest.raises(ValueError, match="not an arithmetic expression"):
        arithmetic.solve(ArithmeticProblem("__import__('os')", 0))
