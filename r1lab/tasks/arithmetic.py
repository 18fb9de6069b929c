"""Arithmetic, the warm-up task: compute the value of an expression such as ``23+45*2``.

Same interface as :mod:`r1lab.tasks.countdown`: a spec, a seeded :func:`generate`, a
:func:`solve` and a :func:`write_trace` that evaluates step by step::

    <think>45*2=90,23+90=113</think><answer>113</answer>
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from r1lab.tasks.expressions import Expr, parse_expression, random_expression
from r1lab.tasks.splits import draw_distinct

NAME = "arithmetic"


@dataclass(frozen=True)
class ArithmeticSpec:
    """Difficulty knobs: how many operands, how large, which operators."""

    n_operands: int = 3
    max_operand: int = 20
    ops: str = "+-*"

    def __post_init__(self) -> None:
        if not 2 <= self.n_operands <= 6:
            raise ValueError(f"n_operands must be between 2 and 6 (got {self.n_operands})")
        if not 1 <= self.max_operand <= 9999:
            raise ValueError(f"max_operand must be between 1 and 9999 (got {self.max_operand})")
        if not self.ops or set(self.ops) - set("+-*/"):
            raise ValueError(f"ops must be a non-empty subset of '+-*/' (got {self.ops!r})")


@dataclass(frozen=True)
class ArithmeticProblem:
    expression: str
    answer: int

    def prompt(self) -> str:
        return f"compute {self.expression}"

    def key(self) -> str:
        return f"{NAME}:{self.expression}"

    def to_row(self) -> dict:
        return {"expression": self.expression, "answer": self.answer}


def _parse(expression: str) -> Expr:
    expr = parse_expression(expression)
    if expr is None:
        raise ValueError(f"not an arithmetic expression the course understands: {expression!r}")
    return expr


def solve(problem: ArithmeticProblem) -> int:
    """The exact value (problems are generated with whole-number steps only)."""
    value = _parse(problem.expression).value
    if value is None or value.denominator != 1:
        raise ValueError(f"{problem.expression!r} has no whole-number value")
    return int(value)


def generate(
    n: int, seed: int, spec: ArithmeticSpec | None = None, split: str = "train"
) -> list[ArithmeticProblem]:
    """``n`` distinct problems from ``seed`` with whole-number steps, all from ``split``."""
    spec = spec or ArithmeticSpec()
    rng = random.Random(f"{NAME}:{seed}")

    def draw() -> ArithmeticProblem | None:
        operands = [rng.randint(1, spec.max_operand) for _ in range(spec.n_operands)]
        return random_problem(operands, rng, spec.ops)

    return draw_distinct(n, split, draw, str(spec))


def random_problem(
    operands: list[int], rng: random.Random, ops: str = "+-*"
) -> ArithmeticProblem | None:
    """A random expression over ``operands`` (in a random order and shape); None when a
    step is not a whole number."""
    expr = _random_tree(operands, ops, rng)
    if not expr.has_integer_steps():
        return None
    return ArithmeticProblem(str(expr), int(expr.value))


def _random_tree(operands: list[int], ops: str, rng: random.Random) -> Expr:
    expr = random_expression(operands, rng)

    def recolour(e: Expr) -> Expr:
        if e.is_leaf:
            return e
        return Expr.node(rng.choice(ops), recolour(e.left), recolour(e.right))

    return recolour(expr)


def write_trace(problem: ArithmeticProblem, rng: random.Random | None = None) -> str:
    """The step-by-step evaluation and the value. ``rng`` is unused (same interface)."""
    expr = _parse(problem.expression)
    steps = ",".join(str(s) for s in expr.steps())
    return f"<think>{steps}</think><answer>{problem.answer}</answer>"
