"""Countdown: reach a target with + - * / and parentheses, using each given number once.

* :func:`generate` draws problems from a seed; every problem has a solution (the target is
  picked among the values the numbers can reach).
* :func:`solve` is the reference solver: exhaustive over expression trees, exact arithmetic.
* :func:`write_trace` writes a cold-start completion: a search that tries candidate
  expressions, computes each step, checks the result against the target, and on a miss
  writes "wait" and tries again.

The trace grammar (what the model learns to write inside ``<think>``)::

    think   := attempt (" wait " attempt)*
    attempt := step ("," step)* " " verdict
    step    := a op b "=" result            e.g. 3*4=12
    verdict := "ok" | "no"                  ok exactly when the last result is the target

    <think>3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok</think><answer>3*4+5</answer>

Attempts and retries are therefore countable by a parser (:func:`parse_think`).

The search world (:func:`write_search_trace`) writes each result beside the target
(``35-2=33 vs 17 no``) and marks a step whose result its rules forbid (not a whole number
from 0 to 99) with ``x``, a dead end that ends the attempt: ``9-6=3,3/2=x``.
"""

from __future__ import annotations

import functools
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from r1lab.tasks.expressions import (
    OPS,
    Expr,
    all_expressions,
    apply,
    format_value,
    random_expression,
)
from r1lab.tasks.splits import draw_distinct

NAME = "countdown"
MAX_NUMBERS = 5
DEAD_END = "x"  # the search grammar's mark for a forbidden step: 3/2=x
MAX_STEP_VALUE = 99  # the largest value a step of the search grammar may reach


@dataclass(frozen=True)
class CountdownSpec:
    """Difficulty knobs. The defaults are the course's task: 3 numbers from 1–9, listed in
    an order that works left to right (``ordered=False`` is classic Countdown)."""

    n_numbers: int = 3
    min_number: int = 1
    max_number: int = 9
    min_target: int = 1
    max_target: int = 99
    integer_only: bool = True  # every intermediate value a whole number (classic rules)
    # The numbers are listed in an order that reaches the target left to right,
    # ((a op b) op c) with whole, non-negative steps. Any correct expression still scores:
    # the order is a hint that makes the task learnable for a ~1 M-parameter model.
    ordered: bool = True
    # Search-world knobs (left-to-right chains only). ``max_value`` caps every value a
    # candidate chain computes on its way, so each step stays arithmetic the model does
    # reliably; ``unique_target`` picks targets that exactly one candidate chain reaches,
    # so a blind guess is right about once in len(candidates).
    max_value: int | None = None
    unique_target: bool = False

    def __post_init__(self) -> None:
        if not 2 <= self.n_numbers <= MAX_NUMBERS:
            raise ValueError(
                f"n_numbers must be between 2 and {MAX_NUMBERS} (got {self.n_numbers}): "
                "the solver enumerates every expression tree"
            )
        if not 0 <= self.min_number <= self.max_number <= 999:
            raise ValueError(
                "numbers must satisfy 0 ≤ min_number ≤ max_number ≤ 999 "
                f"(got {self.min_number}..{self.max_number})"
            )
        if not 0 <= self.min_target <= self.max_target <= 99_999:
            raise ValueError(
                "targets must satisfy 0 ≤ min_target ≤ max_target ≤ 99999 "
                f"(got {self.min_target}..{self.max_target})"
            )
        if self.max_value is not None and not 1 <= self.max_value <= 99_999:
            raise ValueError(
                f"max_value must be between 1 and 99999 or None (got {self.max_value})"
            )
        if (self.max_value is not None or self.unique_target) and not self.ordered:
            raise ValueError(
                "max_value and unique_target apply to left-to-right chains: set ordered=True"
            )


@dataclass(frozen=True)
class CountdownProblem:
    numbers: tuple[int, ...]
    target: int

    def prompt(self) -> str:
        """The user's message, in the model's (lower-case, character) vocabulary."""
        return f"use {' '.join(map(str, self.numbers))} to make {self.target}"

    def key(self) -> str:
        """Identity for de-duplication and the train/eval split: order of numbers ignored."""
        return f"{NAME}:{','.join(map(str, sorted(self.numbers)))}:{self.target}"

    def to_row(self) -> dict:
        return {"numbers": list(self.numbers), "target": self.target}


@dataclass(frozen=True)
class Attempt:
    """One attempt parsed from the think text."""

    text: str
    steps: list[tuple[int, str, int, int]] = field(default_factory=list)
    verdict: str | None = None  # "ok", "no" or None when missing
    compared: int | None = None  # the number after "vs" (the search grammar's copied target)
    # The search grammar's dead end: a last step written ``a op b=x``, an operation whose
    # result the world forbids (not a whole number from 0 to MAX_STEP_VALUE).
    dead: tuple[int, str, int] | None = None
    # Leading steps taken from the attempt before, not written in this one: the search
    # grammar writes only the new last step when only the last operator changes.
    carried: int = 0

    @property
    def value(self) -> int | None:
        if self.dead is not None:
            return None
        return self.steps[-1][3] if self.steps else None

    def arithmetic_ok(self) -> bool:
        """Every step's result is what its operation gives (and a dead end's operation is
        indeed forbidden)."""
        for a, op, b, result in self.steps:
            if apply(op, Fraction(a), Fraction(b)) != result:
                return False
        if self.dead is not None and not dead_end_right(*self.dead):
            return False
        return bool(self.steps) or self.dead is not None

    def check_ok(self, target: int) -> bool:
        """The verdict says "ok" exactly when the attempt reached the target."""
        return self.verdict == ("ok" if self.value == target else "no")


def reachable(numbers: Sequence[int], integer_only: bool = True) -> dict[Fraction, Expr]:
    """Every value an expression using all the numbers can take, with one expression each.

    Dynamic programming over subsets of positions, so it stays fast for 5 numbers where
    enumerating trees would not.
    """
    n = len(numbers)
    if n == 0:
        return {}
    table: dict[int, dict[Fraction, Expr]] = {
        1 << i: {Fraction(x): Expr.leaf(x)} for i, x in enumerate(numbers)
    }
    for mask in range(1, 1 << n):
        if mask in table:
            continue
        values: dict[Fraction, Expr] = {}
        sub = (mask - 1) & mask
        while sub:
            rest = mask ^ sub
            for a, ea in table[sub].items():
                for b, eb in table[rest].items():
                    for op in OPS:
                        v = apply(op, a, b)
                        if v is None or v in values or (integer_only and v.denominator != 1):
                            continue
                        values[v] = Expr.node(op, ea, eb)
            sub = (sub - 1) & mask
        table[mask] = values
    return table[(1 << n) - 1]


def solve(
    problem: CountdownProblem, integer_only: bool = True, limit: int | None = None
) -> list[Expr]:
    """All distinct solutions (by text), shortest first; at most ``limit`` of them."""
    solutions = _solutions(tuple(problem.numbers), problem.target, integer_only)
    return list(solutions if limit is None else solutions[:limit])


@functools.lru_cache(maxsize=4096)
def _solutions(numbers: tuple[int, ...], target: int, integer_only: bool) -> tuple[Expr, ...]:
    seen: dict[str, Expr] = {}
    for expr in all_expressions(numbers):
        if expr.value != target or (integer_only and not expr.has_integer_steps()):
            continue
        seen.setdefault(str(expr), expr)
    return tuple(sorted(seen.values(), key=lambda e: (len(str(e)), str(e))))


def chains(numbers: Sequence[int]) -> list[Expr]:
    """Every left-to-right chain ``((a op b) op c) …`` over ``numbers`` in the given order
    whose steps are all whole numbers ≥ 0, distinct by text."""
    return list(_chains(tuple(numbers)))


@functools.lru_cache(maxsize=8192)
def _chains(numbers: tuple[int, ...]) -> tuple[Expr, ...]:
    exprs = [Expr.leaf(numbers[0])] if numbers else []
    for x in numbers[1:]:
        exprs = [Expr.node(op, e, Expr.leaf(x)) for e in exprs for op in OPS]
        exprs = [e for e in exprs if e.has_natural_steps()]
    return tuple({str(e): e for e in exprs}.values())


def chain_solutions(problem: CountdownProblem, spec: CountdownSpec | None = None) -> list[Expr]:
    """The chains over the problem's numbers, in order, that reach its target (among the
    spec's candidates: :func:`candidates`)."""
    return [e for e in candidates(problem.numbers, spec) if e.value == problem.target]


def candidates(numbers: Sequence[int], spec: CountdownSpec | None = None) -> list[Expr]:
    """The chains a search may try: :func:`chains`, without those that pass a value above
    ``spec.max_value`` on the way."""
    found = chains(numbers)
    if spec is None or spec.max_value is None:
        return found
    return [e for e in found if all(s.result <= spec.max_value for s in e.steps())]


def blind_guess_rate(problem: CountdownProblem, spec: CountdownSpec | None = None) -> float:
    """The chance that one candidate chain drawn at random reaches the target: what a
    first guess is worth without any skill."""
    found = candidates(problem.numbers, spec)
    return sum(e.value == problem.target for e in found) / len(found) if found else 0.0


def generate(
    n: int,
    seed: int,
    spec: CountdownSpec | None = None,
    split: str = "train",
) -> list[CountdownProblem]:
    """``n`` distinct solvable problems from ``seed``, all from the given split.

    The split is a fixed function of the problem (:func:`r1lab.tasks.splits.split_of`), so
    training problems never coincide with held-out ones, whatever the seeds.
    """
    spec = spec or CountdownSpec()
    rng = random.Random(f"{NAME}:{seed}")

    def draw() -> CountdownProblem | None:
        numbers = tuple(
            rng.randint(spec.min_number, spec.max_number) for _ in range(spec.n_numbers)
        )
        if spec.ordered:
            reach = Counter(int(e.value) for e in candidates(numbers, spec))
            targets = sorted(
                v
                for v, count in reach.items()
                if spec.min_target <= v <= spec.max_target
                and (count == 1 or not spec.unique_target)
            )
            return CountdownProblem(numbers, rng.choice(targets)) if targets else None
        targets = sorted(
            int(v)
            for v in reachable(numbers, spec.integer_only)
            if v.denominator == 1 and spec.min_target <= v <= spec.max_target
        )
        return CountdownProblem(numbers, rng.choice(targets)) if targets else None

    return draw_distinct(n, split, draw, str(spec))


def _attempt_text(expr: Expr, target: int) -> str:
    steps = ",".join(str(s) for s in expr.steps())
    return f"{steps} {'ok' if expr.value == target else 'no'}"


# The share of cold-start traces that show a wrong attempt, "wait" and a retry: the shipped
# cold start's (r1lab.sft.SFTSettings), and the default wherever traces are written.
RETRY_RATE = 0.5


def write_trace(
    problem: CountdownProblem,
    rng: random.Random,
    *,
    retry_rate: float = RETRY_RATE,
    max_attempts: int = 3,
    solution: Expr | None = None,
    ordered: bool = False,
) -> str:
    """A cold-start completion ``<think>…</think><answer>…</answer>`` for ``problem``.

    With probability ``retry_rate`` the trace first shows 1 to ``max_attempts - 1`` wrong
    attempts, each computed step by step, checked ("no") and followed by "wait"; the last
    attempt is a solution, checked "ok", and is the answer. All arithmetic is exact, and
    wrong attempts never go below zero (nor does the solution, where one exists).

    With ``ordered`` every attempt is a left-to-right chain over the numbers in the given
    order (:func:`chains`), so a wrong attempt differs from the solution only in its
    operators: the search a learner would do by hand.
    """
    if not 0.0 <= retry_rate <= 1.0:
        raise ValueError(f"retry_rate must be between 0 and 1 (got {retry_rate})")
    if not 1 <= max_attempts <= 8:
        raise ValueError(f"max_attempts must be between 1 and 8 (got {max_attempts})")
    if solution is None and ordered:
        solutions = chain_solutions(problem)
        if not solutions:
            raise ValueError(f"{problem} has no left-to-right solution in the given order")
        solution = rng.choice(solutions)
    if solution is None:
        solutions = solve(problem)
        if not solutions:
            raise ValueError(f"{problem} has no solution with whole-number steps")
        # Prefer solutions that never go below zero: they read most naturally.
        solution = rng.choice([s for s in solutions if s.has_natural_steps()] or solutions)
    if solution.value != problem.target or not solution.has_integer_steps():
        raise ValueError(f"{solution} is not a whole-number solution of {problem}")
    misses = 0
    if max_attempts > 1 and rng.random() < retry_rate:
        misses = rng.randint(1, max_attempts - 1)
    attempts: list[str] = []
    candidates = chains(problem.numbers) if ordered else None
    for _ in range(50 * misses):
        if len(attempts) == misses:
            break
        guess = rng.choice(candidates) if candidates else random_expression(problem.numbers, rng)
        if not guess.has_natural_steps() or guess.value == problem.target:
            continue
        text = _attempt_text(guess, problem.target)
        if text not in attempts:
            attempts.append(text)
    attempts.append(_attempt_text(solution, problem.target))
    return f"<think>{' wait '.join(attempts)}</think><answer>{solution}</answer>"


def checked_attempt(expr: Expr, target: int) -> str:
    """One attempt of the search grammar: its steps, then the result compared with the
    target: ``3+4=7,7*5=35,35-2=33 vs 17 no``."""
    steps = ",".join(str(s) for s in expr.steps())
    value = int(expr.value)
    return f"{steps} vs {target} {'ok' if value == target else 'no'}"


def search_order(expr: Expr) -> tuple[int, ...]:
    """Where a chain stands in the search's fixed order: its operators read as digits in
    the order ``+ - * /``, the first operator most significant, so the *last* operator
    changes fastest (keep the first steps, try another last step)."""
    return tuple(OPS.index(s.op) for s in _chain_ops(expr))


def _chain_ops(expr: Expr) -> list[Expr]:
    nodes = []
    while not expr.is_leaf:
        nodes.append(expr)
        expr = expr.left
    return nodes[::-1]


def step_allowed(value: Fraction | None, max_value: int | None = MAX_STEP_VALUE) -> bool:
    """A step's result the search world allows: a whole number from 0 to ``max_value``."""
    return (
        value is not None
        and value.denominator == 1
        and value >= 0
        and (max_value is None or value <= max_value)
    )


def dead_end_right(a: int, op: str, b: int) -> bool:
    """``a op b=x`` is right: the operation's result is not one the search world allows."""
    try:
        value = apply(op, Fraction(a), Fraction(b))
    except ZeroDivisionError:
        return True
    return not step_allowed(value)


def search_items(numbers: Sequence[int], spec: CountdownSpec | None = None) -> list[Expr]:
    """Everything the search writes, in its fixed order (:func:`search_order`): every
    left-to-right chain over ``numbers``, cut at its first forbidden step. A full chain is
    a candidate (:func:`candidates`); a cut one is a *dead end*, written up to the
    forbidden step and marked ``x`` (:func:`search_item_text`), and the search goes on with
    the next operator at that step, skipping every chain that starts the same way."""
    cap = spec.max_value if spec is not None and spec.max_value is not None else MAX_STEP_VALUE
    items: list[Expr] = []

    def walk(expr: Expr, k: int) -> None:
        if k == len(numbers):
            items.append(expr)
            return
        for op in OPS:
            child = Expr.node(op, expr, Expr.leaf(numbers[k]))
            if step_allowed(child.value, cap):
                walk(child, k + 1)
            else:
                items.append(child)

    if numbers:
        walk(Expr.leaf(numbers[0]), 1)
    return items


def is_dead_end(item: Expr, spec: CountdownSpec | None = None) -> bool:
    """The search item stops at a forbidden step (its last step's result is not allowed)."""
    cap = spec.max_value if spec is not None and spec.max_value is not None else MAX_STEP_VALUE
    return not item.is_leaf and not step_allowed(item.value, cap)


def search_item_text(
    item: Expr, target: int, spec: CountdownSpec | None = None, previous: Expr | None = None
) -> str:
    """One item of the search as the trace writes it: a checked attempt
    (``3+4=7,7*5=35,35-2=33 vs 17 no``) or a dead end (``9-6=3,3/2=x``).

    Given the ``previous`` item, an item that differs from it only in its last operator is
    written from that step on (``35+2=37 vs 17 no``): the steps before it are the previous
    item's, one attempt back. Any other item (after a backtrack) is written in full, so
    what a step builds on is never more than a few attempts away."""
    dead = is_dead_end(item, spec)
    if dead:
        left, right = format_value(item.left.value), format_value(item.right.value)
        steps = [*(str(s) for s in item.left.steps()), f"{left}{item.op}{right}={DEAD_END}"]
    else:
        steps = [str(s) for s in item.steps()]
    if previous is not None and _same_but_last(item, previous):
        steps = steps[-1:]
    text = ",".join(steps)
    return text if dead else f"{text} vs {target} {'ok' if item.value == target else 'no'}"


def _same_but_last(item: Expr, previous: Expr) -> bool:
    """``item`` and ``previous`` share every step but the last: the same chain before it,
    another last operator."""
    return not item.is_leaf and not previous.is_leaf and item.left == previous.left


def write_search_trace(
    problem: CountdownProblem,
    rng: random.Random,
    *,
    spec: CountdownSpec | None = None,
    search_rate: float = 0.15,
    patience: tuple[int, int] = (2, 10),
) -> str:
    """A cold-start completion for the search world, in one of two modes.

    * **direct** (probability ``1 - search_rate``): the answer at sight, with no
      calculation and no check: ``<think>(3+4)*5-2</think><answer>(3+4)*5-2</answer>``.
      The choice of mode comes before any calculation, so it cannot depend on whether
      the first guess is right.
    * **search**: the search's items in its fixed order (:func:`search_items`), from the
      first: each chain computed step by step and compared with the target (``… vs 17
      no``), each dead end cut at its forbidden step (``3/2=x``), "wait" between them,
      until the solution is compared and ``ok`` (it is the answer) or the search's
      patience, drawn from ``patience`` (items tried), runs out: then it stops after its
      next "no" (never at a dead end) and answers the last chain it tried, which is wrong.
      The order is the one a person works through by hand: keep the first steps, change
      the last operator, then the one before. An item that only changes the last operator
      is written from that step (``35+2=37 vs 17 no``), one after a backtrack in full
      (:func:`search_item_text`), so a search from the first item to the solution fits
      in the world's budget and what each step builds on is a few attempts back.

    The search is the rare long mode RL can up-weight: only computing, checking and
    retrying turn a wrong guess into a right answer, and a search that gives up later
    finds more answers.
    """
    if not 0.0 <= search_rate <= 1.0:
        raise ValueError(f"search_rate must be between 0 and 1 (got {search_rate})")
    low, high = patience
    if not 1 <= low <= high <= 64:
        raise ValueError(f"patience must be two numbers 1 ≤ low ≤ high ≤ 64 (got {patience})")
    items = search_items(problem.numbers, spec)
    solutions = [e for e in items if not is_dead_end(e, spec) and e.value == problem.target]
    if not solutions:
        raise ValueError(f"{problem} has no left-to-right solution among the candidates")
    if rng.random() >= search_rate:
        solution = rng.choice(solutions)
        return f"<think>{solution}</think><answer>{solution}</answer>"
    patience = rng.randint(low, high)
    tried: list[Expr] = []
    for item in items:  # from the first item of the order
        tried.append(item)
        if is_dead_end(item, spec):
            continue  # never give up at a dead end: go on to the next checked chain
        if item.value == problem.target or len(tried) >= patience:
            break
    answer = tried[-1]  # the solution, or the last chain tried when patience ran out
    think = " wait ".join(
        search_item_text(e, problem.target, spec, tried[i - 1] if i else None)
        for i, e in enumerate(tried)
    )
    return f"<think>{think}</think><answer>{answer}</answer>"


def think_text(completion: str) -> str:
    """A completion's reasoning, read leniently (the completion may be malformed): the text
    after the first ``<think>`` (or from the start) up to the first ``</think>`` (or the end)."""
    return completion.split("<think>", 1)[-1].split("</think>", 1)[0]


# A number in think text is a whole run of ASCII digits: ``\d`` would also read other
# scripts' digits (``٣*٤=١٢``) as shown work, and a number glued to any digit (``١1+2=3``,
# ``1+2=3٣``) is not read at all, so what is read is what a reader sees.
_NUMBER = r"-?[0-9]{1,9}"
_STEP = re.compile(rf"(?<!\d)({_NUMBER})([-+*/])({_NUMBER})=({_NUMBER})(?!\d)")
_DEAD = re.compile(rf"(?<!\d)({_NUMBER})([-+*/])({_NUMBER})=x\b")
_COMPARED = re.compile(rf"\bvs ({_NUMBER})\b")


def parse_think(think: str) -> list[Attempt]:
    """Split think text into attempts (at each "wait") and read their steps and verdicts.

    An attempt of one step (or one dead end) that starts from the result of the step
    before the previous attempt's last is read as that attempt with another last step, as
    the search grammar writes it (``…,7*5=35,35-2=33 vs 17 no wait 35+2=37 vs 17 no``):
    its ``steps`` are the whole chain and ``carried`` counts the steps taken over.

    Tolerant by design: it reads whatever a model wrote, so unreadable pieces simply yield
    no steps or no verdict.
    """
    attempts: list[Attempt] = []
    for chunk in re.split(r"\bwait\b", think[:10_000]):
        chunk = chunk.strip(" ,.")
        if not chunk:
            continue
        steps = [(int(a), op, int(b), int(r)) for a, op, b, r in _STEP.findall(chunk)]
        verdict = re.findall(r"\b(ok|no)\b", chunk)
        compared = _COMPARED.findall(chunk)
        found = _DEAD.findall(chunk)
        dead = (int(found[-1][0]), found[-1][1], int(found[-1][2])) if found else None
        prefix = _carried_prefix(attempts[-1], steps, dead) if attempts else []
        attempts.append(
            Attempt(
                chunk,
                prefix + steps,
                verdict[-1] if verdict else None,
                int(compared[-1]) if compared else None,
                dead,
                len(prefix),
            )
        )
    return attempts


def _carried_prefix(
    previous: Attempt, steps: list[tuple[int, str, int, int]], dead: tuple[int, str, int] | None
) -> list[tuple[int, str, int, int]]:
    """The steps an attempt of one item takes over from ``previous`` (none if it is not
    written as a continuation): every step of ``previous`` but its last, when the new
    item starts from the last of those results with an operator that comes later in the
    order ``+ - * /``. (After a ``/`` the search backtracks and writes the chain in full,
    so a first step that happens to start from that result is not misread.)"""
    if len(steps) + (dead is not None) != 1 or not previous.steps:
        return []
    kept = previous.steps if previous.dead is not None else previous.steps[:-1]
    last_op = previous.dead[1] if previous.dead is not None else previous.steps[-1][1]
    first, op = (steps[0][0], steps[0][1]) if steps else (dead[0], dead[1])  # type: ignore[index]
    if kept and kept[-1][3] == first and OPS.index(op) > OPS.index(last_op):
        return list(kept)
    return []
