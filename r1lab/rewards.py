"""Rule-based rewards: exact, fast, and impossible to fool with the usual tricks.

Model text never reaches ``eval``. An answer is parsed by Python's ``ast`` module after
cheap checks (length, characters, digits per number, nesting depth), walked over an
allow-list (binary ``+ - * /``, parentheses, non-negative integer literals), and evaluated
with exact ``Fraction`` arithmetic. Every check is linear in the input, so no completion,
however long or nasty, takes more than a few milliseconds; none raises.

The reward functions have TRL's signature, ``fn(completions, **columns) -> list[float]``,
and accept completions as plain strings or chat-message lists, so the same functions serve
the from-scratch GRPO loop and ``trl.GRPOTrainer``. ``completions`` and every column are
lists, one entry per completion: a bare string is refused, not scored letter by letter.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from r1lab.tasks.countdown import Attempt, parse_think
from r1lab.tasks.expressions import MAX_DIGITS, Evaluation, evaluate_expression, parse_expression

TAGS = ("<think>", "</think>", "<answer>", "</answer>")
# End-of-sequence markers a completion may end with when decoded with special tokens.
EOS_MARKERS = ("</s>", "<|endoftext|>", "<|im_end|>", "<eos>", "<|eot_id|>")

# Only ASCII white space surrounds blocks: str.strip() would also drop Unicode separators
# and control characters, which a model should not be paid for writing.
_WS = " \t\n\r"
# ---------------------------------------------------------------------------- completions


def completion_text(completion: object) -> str | None:
    """The text of a completion: a string, or the content of the last message of a chat
    completion if it is the assistant's (TRL passes ``[{"role": "assistant", "content":
    ...}]``). None otherwise."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)) and completion:
        last = completion[-1]
        if (
            isinstance(last, dict)
            and last.get("role", "assistant") == "assistant"
            and isinstance(last.get("content"), str)
        ):
            return last["content"]
    return None


@dataclass(frozen=True)
class ParsedCompletion:
    """The result of the format check. ``think`` and ``answer`` are set when ``ok``."""

    ok: bool
    reason: str
    think: str | None = None
    answer: str | None = None


def parse_completion(completion: object) -> ParsedCompletion:
    """Check the whole completion is ``<think>…</think><answer>…</answer>``.

    Allowed around it: white space, and one end-of-sequence marker at the very end. Each
    tag must appear exactly once, in that order, with only white space between
    ``</think>`` and ``<answer>``; think and answer must not be empty. Tags are
    case-sensitive.
    """
    text = completion_text(completion)
    if text is None:
        kind = type(completion).__name__
        return ParsedCompletion(False, f"not a completion: expected text or messages, got {kind}")
    text = text.strip(_WS)
    for marker in EOS_MARKERS:
        if text.endswith(marker):
            text = text[: -len(marker)].rstrip(_WS)
            break
    if not text:
        return ParsedCompletion(False, "empty completion")
    for tag in TAGS:
        count = text.count(tag)
        if count != 1:
            what = "missing" if count == 0 else f"appears {count} times"
            return ParsedCompletion(False, f"{tag} {what}: each tag must appear exactly once")
    if not text.startswith("<think>"):
        return ParsedCompletion(False, "text before <think>: the completion must start with it")
    if not text.endswith("</answer>"):
        return ParsedCompletion(False, "text after </answer>: the completion must end with it")
    think_end = text.index("</think>")
    answer_start = text.index("<answer>")
    if not think_end < answer_start:
        return ParsedCompletion(False, "<answer> comes before </think>: answer inside think")
    if text[think_end + len("</think>") : answer_start].strip(_WS):
        return ParsedCompletion(False, "text between </think> and <answer>")
    think = text[len("<think>") : think_end].strip(_WS)
    answer = text[answer_start + len("<answer>") : -len("</answer>")].strip(_WS)
    if not think:
        return ParsedCompletion(False, "empty <think>: the reasoning is missing")
    if not answer:
        return ParsedCompletion(False, "empty <answer>")
    return ParsedCompletion(True, "well formed", think, answer)


# ---------------------------------------------------------------------------- expressions


# ---------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """Everything the verifier decided about one completion, in order, for display."""

    reward: float
    reason: str
    parsed: ParsedCompletion
    evaluation: Evaluation | None = None
    checks: tuple[tuple[str, bool, str], ...] = ()  # (check, passed, detail)


def _multiset_problem(used: Sequence[int], given: Sequence[int]) -> str | None:
    used_c, given_c = Counter(used), Counter(given)
    for n in sorted(used_c):
        if n not in given_c:
            return f"uses {n}, which is not one of the given numbers"
        if used_c[n] > given_c[n]:
            return f"uses {n} {used_c[n]} times but it is given {given_c[n]} time(s)"
    missing = sorted((given_c - used_c).elements())
    if missing:
        return f"does not use {', '.join(map(str, missing))}: each number exactly once"
    return None


def _check_problem(numbers: object, target: object) -> tuple[tuple[int, ...], int]:
    """Problem columns come from our datasets; malformed ones are a bug, so they raise."""
    if not isinstance(numbers, (list, tuple)) or not all(
        type(n) is int and n >= 0 for n in numbers
    ):
        raise TypeError(f"numbers must be a list of non-negative ints (got {numbers!r})")
    if type(target) is not int:
        raise TypeError(f"target must be an int (got {target!r})")
    return tuple(numbers), target


def check_countdown(
    completion: object, numbers: Sequence[int], target: int, integer_only: bool = False
) -> Verdict:
    """The Countdown verdict for one completion, with each check and why."""
    numbers, target = _check_problem(numbers, target)
    parsed = parse_completion(completion)
    checks = [("format", parsed.ok, parsed.reason)]
    if not parsed.ok:
        return Verdict(0.0, parsed.reason, parsed, None, tuple(checks))
    ev = evaluate_expression(parsed.answer, integer_only=integer_only)
    checks.append(("expression", ev.ok, ev.reason if not ev.ok else f"parsed as {ev.expr}"))
    if not ev.ok:
        return Verdict(0.0, ev.reason, parsed, ev, tuple(checks))
    problem = _multiset_problem(ev.numbers, numbers)
    detail = problem or f"uses {' '.join(map(str, sorted(ev.numbers)))}, each once"
    checks.append(("numbers", problem is None, detail))
    if problem:
        return Verdict(0.0, problem, parsed, ev, tuple(checks))
    shown = ev.value if ev.value.denominator != 1 else ev.value.numerator
    hit = ev.value == target
    checks.append(("value", hit, f"{shown} {'=' if hit else '≠'} {target}"))
    if not hit:
        return Verdict(0.0, f"value {shown} is not the target {target}", parsed, ev, tuple(checks))
    return Verdict(1.0, "correct", parsed, ev, tuple(checks))


def check_arithmetic(completion: object, answer: int) -> Verdict:
    """The arithmetic verdict: a well-formed completion whose answer is the integer."""
    if type(answer) is not int:
        raise TypeError(f"answer must be an int (got {answer!r})")
    parsed = parse_completion(completion)
    checks = [("format", parsed.ok, parsed.reason)]
    if not parsed.ok:
        return Verdict(0.0, parsed.reason, parsed, None, tuple(checks))
    # [0-9], not \d: int() would read other scripts' digits ("١٢") as the number too.
    if not re.fullmatch(rf"-?[0-9]{{1,{MAX_DIGITS * 2}}}", parsed.answer):
        reason = "the answer must be a whole number written with digits"
        checks.append(("number", False, reason))
        return Verdict(0.0, reason, parsed, None, tuple(checks))
    hit = int(parsed.answer) == answer
    checks.append(("value", hit, f"{parsed.answer} {'=' if hit else '≠'} {answer}"))
    return Verdict(float(hit), "correct" if hit else "wrong value", parsed, None, tuple(checks))


# ---------------------------------------------------------------------------- TRL rewards


def _as_list(reward: str, name: str, values: object) -> list:
    """One batch argument of a reward function as a list: the completions, or a dataset
    column (lists, tuples and ``datasets`` columns are fine). A bare string, bytes or a
    single dict is refused: iterating it would score one character (or key) at a time."""
    if isinstance(values, (str, bytes, bytearray, dict)) or not (
        hasattr(values, "__len__") and hasattr(values, "__iter__")
    ):
        if name == "completions":
            what = "a list of completions, one per sample"
            hint = f"; to score one completion, pass it in a list: {reward}([completion])"
        else:
            what = "a list with one entry per completion"
            hint = f"; for one completion, pass {name}=[value]"
        raise TypeError(f"{reward}: {name} must be {what}, got a {type(values).__name__}{hint}")
    return list(values)


def _batch(reward: str, completions: object, **columns: object) -> tuple[list, dict[str, list]]:
    """The completions and the dataset columns a reward function reads, as lists of the
    same length; the one place the reward functions check their arguments."""
    completions = _as_list(reward, "completions", completions)
    n = len(completions)
    lists = {}
    for name, values in columns.items():
        lists[name] = _as_list(reward, name, values)
        if len(lists[name]) != n:
            raise ValueError(
                f"{reward}: {name} must have one entry per completion ({n}), got {len(lists[name])}"
            )
    return completions, lists


def format_reward(completions: Sequence[object], **kwargs: object) -> list[float]:
    """1.0 for each completion that is exactly ``<think>…</think><answer>…</answer>``."""
    completions, _ = _batch("format_reward", completions)
    return [1.0 if parse_completion(c).ok else 0.0 for c in completions]


def countdown_reward(
    completions: Sequence[object],
    numbers: Sequence[Sequence[int]],
    target: Sequence[int],
    **kwargs: object,
) -> list[float]:
    """1.0 for each completion whose answer reaches the target using each number once.

    An optional ``integer_only`` column (one bool per completion) applies the classic rule
    that no intermediate value may be a fraction; by default exact rationals are fine.
    """
    columns = {"numbers": numbers, "target": target}
    if kwargs.get("integer_only") is not None:
        columns["integer_only"] = kwargs["integer_only"]
    completions, cols = _batch("countdown_reward", completions, **columns)
    flags = cols.get("integer_only") or [False] * len(completions)
    return [
        check_countdown(c, nums, t, bool(flag)).reward
        for c, nums, t, flag in zip(
            completions, cols["numbers"], cols["target"], flags, strict=True
        )
    ]


def arithmetic_reward(
    completions: Sequence[object], answer: Sequence[int], **kwargs: object
) -> list[float]:
    """1.0 for each well-formed completion whose answer is the right whole number."""
    completions, cols = _batch("arithmetic_reward", completions, answer=answer)
    return [check_arithmetic(c, a).reward for c, a in zip(completions, cols["answer"], strict=True)]


def answer_steps(answer: str) -> list[tuple[int, str, int, int]] | None:
    """The steps ``(a, op, b, result)`` one computes to evaluate ``answer`` by hand, as the
    think text writes them; None when it does not parse or a step is not a whole number."""
    expr = parse_expression(answer)
    if expr is None:
        return None
    steps = []
    for s in expr.steps():
        if any(v.denominator != 1 for v in (s.left, s.right, s.result)):
            return None
        steps.append((int(s.left), s.op, int(s.right), int(s.result)))
    return steps


def shown_work_ok(completion: object, target: int) -> bool:
    """The think text leads to the answer: every attempt ends with an honest check ("ok"
    exactly when the result it wrote is the target) or is a right dead end, the last
    attempt is computed right and says "ok", and the answer is the expression that attempt
    computed, step for step. Earlier attempts may hold a wrong sum (a retry may be the
    fix), never a false check."""
    parsed = parse_completion(completion)
    if not parsed.ok:
        return False
    attempts = parse_think(parsed.think)
    if not attempts or any(not _checked_or_dead_end(a, target) for a in attempts):
        return False
    last = attempts[-1]
    return (
        last.verdict == "ok" and last.arithmetic_ok() and answer_steps(parsed.answer) == last.steps
    )


def _checked_or_dead_end(attempt: Attempt, target: int) -> bool:
    """An attempt ends with an honest check, or (the search grammar) is a dead end whose
    operation really is forbidden: ``3/2=x`` has nothing to check."""
    if attempt.dead is not None:
        return attempt.verdict is None and attempt.arithmetic_ok()
    return bool(attempt.steps) and attempt.check_ok(target)


def shown_work_reward(
    completions: Sequence[object],
    numbers: Sequence[Sequence[int]],
    target: Sequence[int],
    **kwargs: object,
) -> list[float]:
    """1.0 for each right answer (as :func:`countdown_reward`) that the think text shows
    being found: :func:`shown_work_ok`. A right answer behind wrong sums or a dishonest
    "ok" scores 0. Retries and length are neither paid nor charged for."""
    completions, cols = _batch("shown_work_reward", completions, numbers=numbers, target=target)
    right = countdown_reward(completions, cols["numbers"], cols["target"])
    return [
        1.0 if r == 1.0 and shown_work_ok(c, t) else 0.0
        for c, t, r in zip(completions, cols["target"], right, strict=True)
    ]
