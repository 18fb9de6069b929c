"""Expression trees over exact rationals, shared by the tasks: build, print, evaluate, enumerate.

An expression is either a number (a leaf) or a binary operation on two sub-expressions.
Printing puts in exactly the parentheses needed for Python's parser to rebuild the same
tree, so an answer's text, the trace's steps and the verifier all agree.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

OPS = ("+", "-", "*", "/")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def apply(op: str, a: Fraction, b: Fraction) -> Fraction | None:
    """``a op b`` exactly; None for division by zero."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else a / b
    raise ValueError(f"unknown operator {op!r}: use one of {' '.join(OPS)}")


def format_value(value: Fraction) -> str:
    """``12`` for integers, ``5/3`` otherwise."""
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


@dataclass(frozen=True)
class Step:
    """One evaluated operation, as a trace writes it: ``a op b = result``."""

    left: Fraction
    op: str
    right: Fraction
    result: Fraction

    def __str__(self) -> str:
        left, right = format_value(self.left), format_value(self.right)
        return f"{left}{self.op}{right}={format_value(self.result)}"


@dataclass(frozen=True)
class Expr:
    """A leaf (``op`` is None, ``number`` set) or ``left op right``."""

    number: int | None = None
    op: str | None = None
    left: Expr | None = None
    right: Expr | None = None

    @staticmethod
    def leaf(number: int) -> Expr:
        return Expr(number=number)

    @staticmethod
    def node(op: str, left: Expr, right: Expr) -> Expr:
        if op not in OPS:
            raise ValueError(f"unknown operator {op!r}: use one of {' '.join(OPS)}")
        return Expr(op=op, left=left, right=right)

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @cached_property
    def value(self) -> Fraction | None:
        """The exact value, or None when a division by zero occurs anywhere."""
        if self.is_leaf:
            return Fraction(self.number)
        a, b = self.left.value, self.right.value
        return None if a is None or b is None else apply(self.op, a, b)

    def leaves(self) -> list[int]:
        """The numbers used, left to right."""
        return [self.number] if self.is_leaf else self.left.leaves() + self.right.leaves()

    def steps(self) -> list[Step]:
        """The operations in the order one evaluates them by hand (left subtree first)."""
        if self.is_leaf:
            return []
        return (
            self.left.steps()
            + self.right.steps()
            + [Step(self.left.value, self.op, self.right.value, self.value)]
        )

    def has_integer_steps(self) -> bool:
        """True when every intermediate value is a whole number (classic Countdown rules)."""
        return self.value is not None and all(s.result.denominator == 1 for s in self.steps())

    def has_natural_steps(self) -> bool:
        """True when every intermediate value is a whole number ≥ 0 (easiest to read)."""
        return self.has_integer_steps() and all(s.result >= 0 for s in self.steps())

    def __str__(self) -> str:
        if self.is_leaf:
            return str(self.number)
        prec = _PRECEDENCE[self.op]
        left, right = str(self.left), str(self.right)
        if not self.left.is_leaf and _PRECEDENCE[self.left.op] < prec:
            left = f"({left})"
        # Operators are left-associative: an equal-precedence right child needs parentheses
        # to keep the same tree (a-(b-c) is not a-b-c).
        if not self.right.is_leaf and _PRECEDENCE[self.right.op] <= prec:
            right = f"({right})"
        return f"{left}{self.op}{right}"


def all_expressions(numbers: Sequence[int]) -> Iterator[Expr]:
    """Every expression tree that uses each number exactly once (in any order).

    The count grows fast: 3 numbers give 192 trees (before removing duplicates), 4 give
    7,680, 5 give 430,080. Duplicate numbers yield duplicate trees; callers dedupe by text.
    """
    items = tuple(numbers)
    if not items:
        return
    yield from _trees(items)


def _trees(items: tuple[int, ...]) -> Iterator[Expr]:
    if len(items) == 1:
        yield Expr.leaf(items[0])
        return
    n = len(items)
    # Split the multiset into an ordered pair of non-empty parts (by index, so each
    # assignment of positions appears once), then combine every tree of each side.
    for mask in range(1, (1 << n) - 1):
        left = tuple(items[i] for i in range(n) if mask >> i & 1)
        right = tuple(items[i] for i in range(n) if not mask >> i & 1)
        right_trees = list(_trees(right))
        for lt in _trees(left):
            for rt in right_trees:
                for op in OPS:
                    yield Expr.node(op, lt, rt)


def random_expression(numbers: Sequence[int], rng: random.Random) -> Expr:
    """A random tree over a random order of ``numbers`` with random operators."""
    items = [Expr.leaf(n) for n in numbers]
    rng.shuffle(items)
    while len(items) > 1:
        i = rng.randrange(len(items) - 1)
        node = Expr.node(rng.choice(OPS), items[i], items[i + 1])
        items[i : i + 2] = [node]
    return items[0]
