"""A gallery of reward hacks: completions a lenient, ``eval``-based verifier pays for and
:func:`r1lab.rewards.countdown_reward` does not.

The lenient verifier is written in the style of popular open Countdown reproductions: take
the last ``<answer>…</answer>`` anywhere in the text, check the characters against a
whitelist and the digit runs against the given numbers, ``eval`` the rest, compare within
1e-5, and give 0.1 "format credit" to any answer that fails. Because it calls ``eval`` it
only ever runs here in a separate, isolated Python process with CPU and memory limits and
a timeout (:func:`run_lenient`), and only on the fixed texts of this gallery.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from r1lab.rewards import check_countdown

# The lenient verifier, as a script: reads {"completion", "numbers", "target"} as JSON on
# stdin, prints the score. Shown in the notebook; never imported.
LENIENT_VERIFIER = """\
import json, re, sys

def lenient_countdown_reward(completion, numbers, target):
    matches = re.findall(r"<answer>(.*?)</answer>", completion)   # the last one, anywhere
    if not matches:
        return 0.0
    equation = matches[-1].strip()
    used = [int(n) for n in re.findall(r"\\d+", equation)]       # digit runs, any grouping
    if sorted(used) != sorted(numbers):
        return 0.1                                                # "format credit"
    if not re.match(r"^[\\d+\\-*/().\\s]+$", equation):          # a character whitelist ...
        return 0.1
    try:
        value = eval(equation, {"__builtins__": None}, {})       # ... then eval
    except Exception:
        return 0.1
    return 1.0 if abs(value - target) < 1e-5 else 0.1

case = json.load(sys.stdin)
print(lenient_countdown_reward(case["completion"], case["numbers"], case["target"]))
"""

LENIENT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class LenientResult:
    score: float | None  # None when the verifier hung or crashed
    seconds: float
    outcome: str  # "scored", "timed out" or "crashed"


def _limits() -> None:  # pragma: no cover - runs in the child process
    import resource  # POSIX only; elsewhere the timeout alone applies

    resource.setrlimit(resource.RLIMIT_CPU, (int(LENIENT_TIMEOUT_S) + 1,) * 2)
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def run_lenient(completion: str, numbers: list[int], target: int) -> LenientResult:
    """Score with the lenient verifier in an isolated process (2 s and 1 GB at most)."""
    case = json.dumps({"completion": completion, "numbers": numbers, "target": target})
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", LENIENT_VERIFIER],
            input=case,
            capture_output=True,
            text=True,
            timeout=LENIENT_TIMEOUT_S,
            preexec_fn=_limits if os.name == "posix" else None,
        )
    except subprocess.TimeoutExpired:
        return LenientResult(None, time.perf_counter() - start, "timed out")
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return LenientResult(None, seconds, "crashed")
    return LenientResult(float(done.stdout.strip()), seconds, "scored")


@dataclass(frozen=True)
class Hack:
    name: str
    completion: str
    numbers: list[int]
    target: int
    why: str  # what the hack exploits and why our verifier says no

    def ours(self) -> float:
        return check_countdown(self.completion, self.numbers, self.target).reward


_TRACE = "<think>3*4=12,12+5=17 ok</think>"

GALLERY: tuple[Hack, ...] = (
    Hack(
        "no reasoning",
        "<answer>3*4+5</answer>",
        [3, 4, 5],
        17,
        "The answer is right but there is no <think>: a lenient verifier looks for the answer "
        "anywhere, so skipping the reasoning costs nothing. Ours checks the whole completion.",
    ),
    Hack(
        "two answers",
        "<think>guess</think><answer>3+4+5</answer><answer>3*4+5</answer>",
        [3, 4, 5],
        17,
        "Two answer blocks: the lenient verifier scores the last one, so a policy can hedge. "
        "Ours needs each tag exactly once.",
    ),
    Hack(
        "answer inside think",
        "<think>hmm <answer>3*4+5</answer></think>",
        [3, 4, 5],
        17,
        "The answer sits inside the reasoning and no answer block follows it. Ours requires "
        "the completion to end with its one answer block, after the reasoning.",
    ),
    Hack(
        "junk after the answer",
        _TRACE + "<answer>3*4+5</answer> and so on and so on and so on",
        [3, 4, 5],
        17,
        "Text after </answer> is free under a lenient check, so completions grow with junk: "
        "fake 'longer reasoning'. Ours anchors the end of the completion.",
    ),
    Hack(
        "glued numbers",
        "<think>2.5*4=10 ok</think><answer>2.5*4</answer>",
        [2, 5, 4],
        10,
        "'2.5' reads as the digits 2 and 5 to a digit-run check but evaluates as two and a "
        "half. Ours allows only digits and + - * / ( ).",
    ),
    Hack(
        "power",
        "<think>2**3=8 ok</think><answer>2**3*1</answer>",
        [2, 3, 1],
        8,
        "'**' passes a character whitelist made of '*'. Ours walks the syntax tree and "
        "allows only + - * /.",
    ),
    Hack(
        "floor division",
        "<think>7//2=3 ok</think><answer>7//2*1</answer>",
        [7, 2, 1],
        3,
        "'//' passes a whitelist made of '/' and rounds down. Ours rejects it.",
    ),
    Hack(
        "unary minus",
        "<think>2+3+4=9 ok</think><answer>-(2+3+4)</answer>",
        [2, 3, 4],
        -9,
        "A leading minus turns 9 into -9: a free extra operation the rules do not give. Ours "
        "accepts binary operators only.",
    ),
    Hack(
        "close enough",
        "<think>1/999999 ok</think><answer>1/999999</answer>",
        [1, 999999],
        0,
        "Floating point within 1e-5 counts 1/999999 as 0. Ours compares exact fractions.",
    ),
    Hack(
        "format credit",
        "<answer>no idea</answer>",
        [3, 4, 5],
        17,
        "Any answer block earns 0.1: a policy that never solves anything still gets paid "
        "and can settle there. Ours gives nothing for a wrong answer.",
    ),
    Hack(
        "power tower",
        "<think>9**9**9 ok</think><answer>9**9**9</answer>",
        [9, 9, 9],
        1,
        "9**9**9 has 370 million digits: eval hangs and the training run stalls with it. "
        "Ours rejects the operator in microseconds.",
    ),
)


def nasty_inputs() -> list[tuple[str, object]]:
    """Inputs that have hung, crashed or fooled verifiers: (name, completion)."""
    think = "<think>x</think>"
    return [
        ("power tower", f"{think}<answer>9**9**9</answer>"),
        ("10,000-digit number", f"{think}<answer>{'9' * 10_000}</answer>"),
        ("5,000 nested parentheses", f"{think}<answer>{'(' * 5000}1{')' * 5000}</answer>"),
        ("1 MB of reasoning", "<think>" + "x" * 1_000_000 + "</think><answer>3*4+5</answer>"),
        ("1 MB of tags", "<think>" * 100_000),
        ("import attempt", f"{think}<answer>__import__('os').system('true')</answer>"),
        ("unicode digits", f"{think}<answer>٣*٤+٥</answer>"),
        ("not text", None),
    ]


MIXED_KINDS = ("correct trace", "trace with one random edit", "gallery hack", "nasty input")


def mixed_batch(n: int, seed: int) -> tuple[list[object], list[list[int]], list[int], list[str]]:
    """``n`` completions for Countdown problems, mixed as a training batch would be and
    worse: half correct traces, 30 % traces with one random character edit, 10 % gallery
    hacks, 10 % nasty inputs. Returns (completions, numbers, targets, kinds)."""
    import random

    from r1lab.tasks import countdown

    rng = random.Random(seed)
    problems = countdown.generate(min(n, 500), seed)
    nasty = [c for _, c in nasty_inputs()]
    completions, numbers, targets, kinds = [], [], [], []
    for i in range(n):
        problem = problems[i % len(problems)]
        slot = i % 10
        if slot < 5:
            kind, text = MIXED_KINDS[0], countdown.write_trace(problem, rng, retry_rate=0.3)
        elif slot < 8:
            kind, text = MIXED_KINDS[1], countdown.write_trace(problem, rng, retry_rate=0.1)
            j = rng.randrange(len(text))
            text = text[:j] + rng.choice("0123456789+-*/()<>x ") + text[j + 1 :]
        elif slot == 8:
            kind, text = MIXED_KINDS[2], GALLERY[i % len(GALLERY)].completion
        else:
            kind, text = MIXED_KINDS[3], nasty[i % len(nasty)]
        completions.append(text)
        numbers.append(list(problem.numbers))
        targets.append(problem.target)
        kinds.append(kind)
    return completions, numbers, targets, kinds
