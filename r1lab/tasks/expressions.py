"""Expression trees over exact rationals, shared by the tasks: build, print, evaluate,
enumerate, and parse an answer safely (the verifier's parser, never ``eval``).

An expression is either a number (a leaf) or a binary operation on two sub-expressions.
Printing puts in exactly the parentheses needed for Python's parser to rebuild the same
tree, so an answer's text, the trace's steps and the verifier all agree.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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


# ---------------------------------------------------------------------------- parsing an answer
# The verifier's parser: an answer is text a model wrote, so it is never given to eval().
# It is checked character by character, parsed by Python's ast with limits on length,
# digits, nesting and nodes, and turned into an Expr over exact rationals.

MAX_EXPRESSION_CHARS = 100
MAX_DIGITS = 6  # per number literal: 999,999 is plenty for the course's tasks
MAX_DEPTH = 12  # nested parentheses
MAX_NODES = 64  # AST nodes (a 5-number answer needs 9 values + 4 operators + wrappers)
_ALLOWED_CHARS = frozenset("0123456789+-*/() ")
_WS = " \t\n\r"  # ASCII white space only
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_FORBIDDEN_OPS = {
    ast.Pow: "** (power)",
    ast.FloorDiv: "// (floor division)",
    ast.Mod: "% (remainder)",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}


@dataclass(frozen=True)
class Evaluation:
    """The result of checking an answer expression: ``value`` is set when ``ok``."""

    ok: bool
    reason: str
    value: Fraction | None = None
    numbers: tuple[int, ...] = ()
    expr: Expr | None = field(default=None, repr=False)


def evaluate_expression(text: object, integer_only: bool = False) -> Evaluation:
    """Parse and evaluate an answer over the allow-list, exactly; never raises.

    ``integer_only`` rejects any intermediate value that is not a whole number (the
    classic Countdown rule). Division by zero is rejected.
    """
    if not isinstance(text, str):
        return Evaluation(False, f"not text: {type(text).__name__}")
    text = text.strip(_WS)
    if not text:
        return Evaluation(False, "empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        return Evaluation(False, f"too long: {len(text)} characters (limit {MAX_EXPRESSION_CHARS})")
    bad = next((c for c in text if c not in _ALLOWED_CHARS), None)
    if bad is not None:
        return Evaluation(
            False, f"character {bad!r} is not allowed: only digits, spaces and + - * / ( )"
        )
    if re.search(rf"[0-9]{{{MAX_DIGITS + 1}}}", text):
        return Evaluation(False, f"a number has more than {MAX_DIGITS} digits")
    if re.search(r"(?<![0-9])0[0-9]", text):
        return Evaluation(False, "a number starts with 0: write numbers without leading zeros")
    depth = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        if depth < 0:
            return Evaluation(False, "unbalanced parentheses: ')' before its '('")
        if depth > MAX_DEPTH:
            return Evaluation(False, f"parentheses nested deeper than {MAX_DEPTH}")
    if depth:
        return Evaluation(False, "unbalanced parentheses: a '(' is never closed")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Evaluation(False, "not a valid expression")
    for count, _ in enumerate(ast.walk(tree), start=1):
        if count > MAX_NODES:
            return Evaluation(False, f"more than {MAX_NODES} syntax nodes")
    try:
        expr = _to_expr(tree.body)
    except _Rejected as err:
        return Evaluation(False, str(err))
    for step in expr.steps():
        if step.op == "/" and step.right == 0:
            return Evaluation(False, "division by zero")
        if integer_only and step.result.denominator != 1:
            return Evaluation(False, f"{step} is not a whole number (the rules forbid fractions)")
    return Evaluation(True, "valid", expr.value, tuple(expr.leaves()), expr)


class _Rejected(Exception):
    pass


def _to_expr(node: ast.AST) -> Expr:
    if isinstance(node, ast.BinOp):
        op = _OPS.get(type(node.op))
        if op is None:
            name = _FORBIDDEN_OPS.get(type(node.op), type(node.op).__name__)
            raise _Rejected(f"operator {name} is not allowed: only + - * /")
        return Expr.node(op, _to_expr(node.left), _to_expr(node.right))
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Expr.leaf(node.value)
    if isinstance(node, ast.UnaryOp):
        raise _Rejected("unary signs (like -3) are not allowed: operators take two numbers")
    raise _Rejected(f"{type(node).__name__} is not allowed: only numbers, + - * / and ( )")


def parse_expression(text: str) -> Expr | None:
    """The expression tree of a valid answer, or None."""
    result = evaluate_expression(text)
    return result.expr if result.ok else None
