"""What the model does inside ``<think>``: attempts, checks, retries, and whether they help.

The word "wait" proves nothing by itself: a base model says it too. This module reads the
trace grammar of :mod:`r1lab.tasks.countdown` and classifies every retry by what it did:

* **effective**: a wrong attempt is abandoned, and the search finds the answer: the last
  attempt is right and the answer is what it computed;
* **lucky**: a wrong attempt is abandoned and the answer is right, but not because of the
  search (the last attempt is wrong, or the answer is not what it computed);
* **superficial**: the retry changes nothing (it repeats the attempt it abandons), or it
  abandons an attempt that was already right and the answer stays right;
* **harmful**: a right attempt is abandoned and the final answer is wrong;
* **unsuccessful**: a wrong attempt is abandoned, but the final answer is still wrong.

An attempt is *right* when its arithmetic is correct, it uses each given number once, and
it reaches the target.

In the search world a completion either *searches* (checks at least one attempt: steps,
then a verdict) or answers *directly*. How well the search itself goes is read from the
completions that search:

* **verdicts**: a verdict is *right* when it says ``ok`` exactly when the chain it judges
  (the item's own steps and those it continues, :func:`read_items`) is right;
  ``ok_precision`` and ``no_precision`` are the shares of right verdicts among the ``ok``
  and among the ``no`` verdicts. (``honest_check_rate`` pools both verdicts and judges each
  only against the result as written, so a search that says "no" a dozen times and then
  a false "ok" still scores above 90 % on it.)
* **false ok**: the search's last verdict is an ``ok`` on a chain that is not right.
* **repeats**: an item does exactly the work of an earlier one (:func:`repeats_work`).
* **valid items**: an item's operands follow the chain it continues (:func:`read_items`).
* **pass@1 per mode**: the share correct among the completions that search, and among
  those that answer directly.

:func:`analyze` reads one completion, :func:`step_metrics` summarises a batch (the
numbers a GRPO run logs at every step), and :func:`aha_step` finds the step at which
effective retries become a lasting habit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from r1lab.rewards import answer_steps, check_countdown, shown_work_ok
from r1lab.tasks.countdown import Attempt, dead_end_right, parse_think, think_text
from r1lab.tasks.expressions import apply

RETRY_KINDS = ("effective", "lucky", "superficial", "harmful", "unsuccessful")
LENGTH_BIN = 8  # tokens per bar of the logged length histogram
_WAIT = re.compile(r"\bwait\b")


@dataclass(frozen=True)
class Retry:
    """One "wait" followed by a new attempt: the attempt it leaves and what came of it."""

    after: int  # index of the abandoned attempt
    kind: str  # one of RETRY_KINDS


@dataclass(frozen=True)
class Trajectory:
    """One completion, read as a search."""

    attempts: tuple[Attempt, ...]
    retries: tuple[Retry, ...]
    correct: bool  # the answer scores 1 with countdown_reward
    found: bool  # right, and found by the last attempt: it is right and the answer is its work
    supported: bool  # the shown work leads to the answer (see shown_work_ok)
    checks: int  # attempts with steps that end with a verdict ("ok" or "no")
    honest_checks: int  # of those, verdicts that say "ok" exactly when the result is the target
    waits: int  # how often the word "wait" occurs, whatever follows it
    compares: int = 0  # checks that write a number after "vs" (the search world's grammar)
    copied_targets: int = 0  # of those, the number is the target
    # Verdicts judged on each item's whole chain (read_items, Item.right):
    ok_checks: int = 0  # "ok" verdicts
    right_oks: int = 0  # of those, on a right chain
    no_checks: int = 0  # "no" verdicts
    right_nos: int = 0  # of those, on a chain that is not right
    false_ok: bool = False  # the last verdict is "ok" on a chain that is not right
    repeated: bool = False  # an item does exactly the work of an earlier one
    items: int = 0  # attempts that write a step or a dead end (read_items)
    valid_items: int = 0  # of those, the operands follow the chain the item continues

    @property
    def searches(self) -> bool:
        """It checks at least one attempt (the search mode, not a direct answer)."""
        return self.checks > 0

    @property
    def kinds(self) -> list[str]:
        return [r.kind for r in self.retries]

    def has(self, kind: str) -> bool:
        return kind in self.kinds


def attempt_leaves(attempt: Attempt) -> list[int]:
    """The numbers an attempt takes from the problem: each operand that is not the result
    of one of its earlier steps."""
    results: list[int] = []
    leaves = []
    for a, _, b, result in attempt.steps:
        for operand in (a, b):
            if operand in results:
                results.remove(operand)
            else:
                leaves.append(operand)
        results.append(result)
    return leaves


def attempt_right(attempt: Attempt, target: int, numbers: Sequence[int] | None = None) -> bool:
    """The attempt's arithmetic is correct, its last result is the target and (given
    ``numbers``) it uses each of them exactly once."""
    if not attempt.arithmetic_ok() or attempt.value != target:
        return False
    return numbers is None or sorted(attempt_leaves(attempt)) == sorted(numbers)


def _same_work(a: Attempt, b: Attempt) -> bool:
    return bool(a.steps or a.dead) and (a.steps, a.dead) == (b.steps, b.dead)


Step = tuple[int, str, int, int]  # a op b = result, as parse_think reads it
Op = tuple[int, str, int]  # a op b, as written (a step without its result, or a dead end)


@dataclass(frozen=True)
class Item:
    """One item of a search: an attempt that writes at least one step or dead end, read
    with the steps it continues (:func:`read_items`)."""

    steps: tuple[Step, ...]  # the chain: the steps it continues, then its own
    dead: Op | None  # its dead end, if it ends in one
    verdict: str | None  # "ok", "no" or None
    valid: bool  # its operands follow the chain it continues

    def right(self, target: int, numbers: Sequence[int]) -> bool:
        """Its chain is a solution: computed right, the prompt's numbers once each, the
        target reached (:func:`attempt_right`)."""
        return attempt_right(Attempt("", list(self.steps), dead=self.dead), target, numbers)


def _well_formed(steps: Sequence[Step], dead: Op | None, numbers: Sequence[int]) -> bool:
    """The chain's operands: the first operation takes two of ``numbers``, every later one
    the result before it and one more of ``numbers``; no number used more often than
    given; and a chain that is not a dead end uses every number."""
    ops: list[Op] = [(a, op, b) for a, op, b, _ in steps] + ([dead] if dead is not None else [])
    pool = Counter(numbers)

    def take(n: int) -> bool:
        pool[n] -= 1
        return pool[n] >= 0

    if not ops or not (take(ops[0][0]) and take(ops[0][2])):
        return False
    for i, (a, _, b) in enumerate(ops[1:]):
        if a != steps[i][3] or not take(b):
            return False
    return dead is not None or sum(pool.values()) == 0


def read_items(attempts: Sequence[Attempt], numbers: Sequence[int]) -> list[Item]:
    """The items of a search (attempts that write at least one step or dead end), each
    with the chain it continues and whether its operands follow that chain.

    The search grammar writes an item in full, or as one operation that continues the
    chain the previous item kept (all its steps if it was a dead end, all but its last
    otherwise): ``… 16+9=25,25+3=28 vs 22 no wait 25-3=22 vs 22 ok``. An item is *valid*
    when it reads as a well-formed chain over ``numbers``, as written or (an item of one
    operation) with the kept steps in front. Well formed: the first operation takes two
    prompt numbers, each later one takes the result before it as its left operand and a
    prompt number not yet used as its right one, and a checked item (not a dead end)
    uses every prompt number. So ``9-3=6 vs 22 no`` in place of ``25-3=22`` (the prompt's
    first number instead of the kept 25) is invalid: it does not start from 25, and as a
    chain of its own it leaves 7 and 9 unused. An item of one operation continues the
    kept steps (valid or not), unless only its written reading is well formed (a fresh
    first step, as a dead end after a backtrack writes it). Arithmetic is not judged here
    (``step_accuracy`` does), nor the order of the numbers."""
    items: list[Item] = []
    kept: list[Step] = []
    for attempt in attempts:
        written = attempt.steps[attempt.carried :]
        ops = len(written) + (attempt.dead is not None)
        if not ops:
            kept = []  # as parse_think: nothing to continue from
            continue
        alone = _well_formed(written, attempt.dead, numbers)
        continued = ops == 1 and bool(kept) and _well_formed(kept + written, attempt.dead, numbers)
        fresh = alone and not continued  # a first step written anew, not a continuation
        chain = kept + written if ops == 1 and kept and not fresh else list(written)
        items.append(Item(tuple(chain), attempt.dead, attempt.verdict, alone or continued))
        kept = chain if attempt.dead is not None else chain[:-1]
    return items


def repeats_work(items: Sequence[Item]) -> bool:
    """Some item does exactly the work of an earlier one: the same chain (the steps it
    continues included) and the same dead end."""
    seen = set()
    for item in items:
        if (item.steps, item.dead) in seen:
            return True
        seen.add((item.steps, item.dead))
    return False


def classify_retries(
    attempts: Sequence[Attempt],
    target: int,
    correct: bool,
    found: bool,
    numbers: Sequence[int] | None = None,
) -> list[Retry]:
    """Each transition from attempt ``i`` to attempt ``i + 1`` is a retry; its kind.
    ``correct``: the answer is right; ``found``: it is right because the last attempt is
    right and the answer is that attempt's work."""
    retries = []
    for i in range(len(attempts) - 1):
        left, new = attempts[i], attempts[i + 1]
        if attempt_right(left, target, numbers):
            kind = "superficial" if correct else "harmful"
        elif _same_work(left, new):
            kind = "superficial"
        elif correct:
            kind = "effective" if found else "lucky"
        else:
            kind = "unsuccessful"
        retries.append(Retry(i, kind))
    return retries


def analyze(completion: object, numbers: Sequence[int], target: int) -> Trajectory:
    """Read one completion's think text as attempts, checks and retries."""
    verdict = check_countdown(completion, numbers, target)
    text = completion if isinstance(completion, str) else (verdict.parsed.think or "")
    think = think_text(text)
    attempts = tuple(parse_think(think))
    correct = verdict.reward == 1.0
    found = (
        correct
        and bool(attempts)
        and attempt_right(attempts[-1], target, numbers)
        and answer_steps(verdict.parsed.answer or "") == attempts[-1].steps
    )
    checked = [a for a in attempts if a.verdict is not None and a.steps]
    items = read_items(attempts, numbers)
    # Verdicts are judged on each item's whole chain, the steps it continues included.
    verdicts = [(i.verdict, i.right(target, numbers)) for i in items if i.verdict and i.steps]
    oks = [right for verdict, right in verdicts if verdict == "ok"]
    nos = [right for verdict, right in verdicts if verdict == "no"]
    return Trajectory(
        attempts=attempts,
        retries=tuple(classify_retries(attempts, target, correct, found, numbers)),
        correct=correct,
        found=found,
        supported=correct and shown_work_ok(completion, target),
        checks=len(checked),
        honest_checks=sum(a.check_ok(target) for a in checked),
        waits=len(_WAIT.findall(think[:10_000])),
        compares=sum(a.compared is not None for a in checked),
        copied_targets=sum(a.compared == target for a in checked),
        ok_checks=len(oks),
        right_oks=sum(oks),
        no_checks=len(nos),
        right_nos=len(nos) - sum(nos),
        false_ok=bool(verdicts) and verdicts[-1] == ("ok", False),
        repeated=repeats_work(items),
        items=len(items),
        valid_items=sum(item.valid for item in items),
    )


def _step_accuracy(paths: Sequence[Trajectory]) -> float | None:
    """The share of written steps whose result is right (None: no steps): ``a op b=r``
    computed right, and the search grammar's dead ends ``a op b=x`` whose operation is
    indeed forbidden."""
    steps = [step for p in paths for a in p.attempts for step in a.steps[a.carried :]]
    dead = [a.dead for p in paths for a in p.attempts if a.dead is not None]
    right = sum(apply(op, Fraction(a), Fraction(b)) == r for a, op, b, r in steps)
    right += sum(dead_end_right(*d) for d in dead)
    return _ratio(right, len(steps) + len(dead))


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _analyze_all(completions: Sequence[object], rows: Sequence[dict[str, Any]]) -> list[Trajectory]:
    return [analyze(c, r["numbers"], r["target"]) for c, r in zip(completions, rows, strict=True)]


def _retry_shares(paths: Sequence[Trajectory]) -> dict[str, float]:
    """The share of ``paths`` with any retry, and with at least one retry of each kind."""
    n = max(len(paths), 1)
    shares = {"retry_rate": sum(bool(p.retries) for p in paths) / n}
    for kind in RETRY_KINDS:
        shares[f"{kind}_retry_rate"] = sum(p.has(kind) for p in paths) / n
    return shares


def search_quality(paths: Sequence[Trajectory]) -> dict[str, float | None]:
    """How well the search goes, from completions read by :func:`analyze`.

    * ``ok_precision``, ``no_precision``: of all ``ok`` (``no``) verdicts, the share that
      are right: ``ok`` on a right attempt, ``no`` on one that is not;
    * ``false_ok_rate``: of the completions that search, the share whose last verdict is
      an ``ok`` on an attempt that is not right (the target missed, the arithmetic wrong,
      or not the prompt's numbers once each);
    * ``repeat_rate``: of the completions that search, the share that repeat an attempt;
    * ``valid_item_rate``: of the items written by completions that search, the share
      whose operands follow the chain they continue (:func:`read_items`);
    * ``search_pass1``, ``direct_pass1``: the share correct among the completions that
      search, and among the rest (direct answers, and whatever else checks nothing).

    Each is ``None`` when its denominator is empty.
    """
    searching = [p for p in paths if p.searches]
    direct = [p for p in paths if not p.searches]
    return {
        "ok_precision": _ratio(sum(p.right_oks for p in paths), sum(p.ok_checks for p in paths)),
        "no_precision": _ratio(sum(p.right_nos for p in paths), sum(p.no_checks for p in paths)),
        "false_ok_rate": _mean([p.false_ok for p in searching]),
        "repeat_rate": _mean([p.repeated for p in searching]),
        "valid_item_rate": _ratio(
            sum(p.valid_items for p in searching), sum(p.items for p in searching)
        ),
        "search_pass1": _mean([p.correct for p in searching]),
        "direct_pass1": _mean([p.correct for p in direct]),
    }


def step_metrics(
    completions: Sequence[object], rows: Sequence[dict[str, Any]], lengths: Sequence[int]
) -> dict[str, Any]:
    """What a batch of completions does, as the numbers a run logs per step.

    ``rows`` hold each completion's ``numbers`` and ``target``; ``lengths`` are the
    completions' lengths in tokens. Conditional accuracies (and the shares of
    :func:`search_quality`) are ``None`` when no completion falls in the condition.
    """
    if not (len(completions) == len(rows) == len(lengths)):
        raise ValueError(
            f"one row and one length per completion: got {len(completions)} completions, "
            f"{len(rows)} rows and {len(lengths)} lengths"
        )
    if not completions:
        raise ValueError("step_metrics needs at least one completion")
    paths = _analyze_all(completions, rows)
    n = len(paths)
    checks = sum(p.checks for p in paths)
    out: dict[str, Any] = {
        "answer_accuracy": sum(p.correct for p in paths) / n,
        "attempts": sum(len(p.attempts) for p in paths) / n,
        "wait_rate": sum(p.waits > 0 for p in paths) / n,
        "honest_check_rate": sum(p.honest_checks for p in paths) / checks if checks else None,
        "checked_rate": sum(p.checks > 0 for p in paths) / n,
        "step_accuracy": _step_accuracy(paths),
        "copied_target_rate": _ratio(
            sum(p.copied_targets for p in paths), sum(p.compares for p in paths)
        ),
        "supported_rate": sum(p.supported for p in paths) / n,
        "accuracy_if_retried": _mean([p.correct for p in paths if p.retries]),
        "accuracy_if_not_retried": _mean([p.correct for p in paths if not p.retries]),
        **_retry_shares(paths),
        **search_quality(paths),
    }
    top = max(lengths)
    hist = [0] * (top // LENGTH_BIN + 1)
    for length in lengths:
        hist[int(length) // LENGTH_BIN] += 1
    out["length_hist"] = hist
    return out


def data_rates(completions: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The share of completions with at least one retry of each kind, and with any retry:
    for the cold-start traces, the rates RL starts from."""
    return _retry_shares(_analyze_all(completions, rows))


def search_rates(completions: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What completions do in the search world: the share that search (check at least one
    attempt), the share of their checks that are honest, the share of the steps they
    write whose arithmetic is right, attempts per completion, the share with an
    effective retry, and how well the search goes (:func:`search_quality`). Honest checks
    and right steps are ``None`` when there are none."""
    paths = _analyze_all(completions, rows)
    checks = sum(p.checks for p in paths)
    n = max(len(paths), 1)
    return {
        "search_rate": sum(p.checks > 0 for p in paths) / n,
        "honest_check_rate": _ratio(sum(p.honest_checks for p in paths), checks),
        "step_accuracy": _step_accuracy(paths),
        "attempts": sum(len(p.attempts) for p in paths) / n,
        "effective_retry_rate": sum(p.has("effective") for p in paths) / n,
        **search_quality(paths),
    }


def aha_step(
    steps: Sequence[int], shares: Sequence[float], threshold: float, window: int = 10
) -> int | None:
    """The first step from which the moving average (over ``window`` steps) of ``shares``
    stays at or above ``threshold`` until the end of the run; ``None`` if it never does."""
    if len(steps) != len(shares):
        raise ValueError(f"{len(steps)} steps but {len(shares)} shares")
    if window < 1:
        raise ValueError(f"window must be at least 1 (got {window})")
    smooth = []
    for i in range(len(shares)):
        part = shares[max(0, i - window + 1) : i + 1]
        smooth.append(sum(part) / len(part))
    found = None
    for step, value in zip(steps, smooth, strict=True):
        if value < threshold:
            found = None  # it fell back: any earlier start does not count
        elif found is None:
            found = step
    return found


def aha_examples(
    watch: Sequence[dict[str, Any]], step: int | None = None, kind: str = "effective"
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The same prompts before and after: for each prompt in ``watch`` (rows of a run's
    ``watch.jsonl``: ``step``, ``prompt``, ``numbers``, ``target``, ``completion``), the row
    of the first logged step and the row of the first logged step at or after ``step``
    (default: the last). Prompts whose later completion has a retry of ``kind`` come
    first, so the first pair is an example of the behaviour when there is one."""
    if kind not in RETRY_KINDS:
        raise ValueError(f"kind must be one of {', '.join(RETRY_KINDS)} (got {kind!r})")
    steps = sorted({int(r["step"]) for r in watch})
    if not steps:
        return []
    later = [s for s in steps if step is None or s >= step]
    if not later:
        raise ValueError(f"nothing was logged at or after step {step} (last: {steps[-1]})")
    at = later[-1] if step is None else later[0]
    rows = {(str(r["prompt"]), int(r["step"])): r for r in watch}
    pairs = []
    for prompt in dict.fromkeys(str(r["prompt"]) for r in watch):
        before, after = rows.get((prompt, steps[0])), rows.get((prompt, at))
        if before is not None and after is not None:
            pairs.append((before, after))

    def shows(pair: tuple[dict[str, Any], dict[str, Any]]) -> bool:
        row = pair[1]
        return analyze(row["completion"], row["numbers"], row["target"]).has(kind)

    return sorted(pairs, key=lambda pair: not shows(pair))
