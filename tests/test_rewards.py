"""The verifier: exact on good completions, 0 on every kind of bad one, never raises."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1lab.rewards import (
    arithmetic_reward,
    check_countdown,
    countdown_reward,
    evaluate_expression,
    format_reward,
    parse_completion,
    shown_work_reward,
)
from r1lab.tasks import countdown
from r1lab.tasks.expressions import MAX_EXPRESSION_CHARS
from tests.conftest import in_script_of, other_digit_st

THINK = "<think>3*4=12,12+5=17 ok</think>"
GOOD = THINK + "<answer>3*4+5</answer>"
P = ([3, 4, 5], 17)  # the default problem: use 3 4 5 to make 17


def answer(expr: str, think: str = THINK) -> str:
    return f"{think}<answer>{expr}</answer>"


# (case id, completion, numbers, target, expected countdown_reward, expected format_reward)
BAD_INPUTS = [
    ("empty", "", *P, 0.0, 0.0),
    ("whitespace only", "  \n\t ", *P, 0.0, 0.0),
    ("truncated in think", "<think>3*4=12,12+", *P, 0.0, 0.0),
    ("truncated in answer", THINK + "<answer>3*4+", *P, 0.0, 0.0),
    ("no think", "<answer>3*4+5</answer>", *P, 0.0, 0.0),
    ("no answer", THINK, *P, 0.0, 0.0),
    ("plain text", "the answer is 3*4+5", *P, 0.0, 0.0),
    ("duplicated answer", GOOD + "<answer>3*4+5</answer>", *P, 0.0, 0.0),
    ("duplicated think", THINK + GOOD, *P, 0.0, 0.0),
    ("nested think", "<think><think>x</think></think><answer>3*4+5</answer>", *P, 0.0, 0.0),
    ("nested answer", THINK + "<answer><answer>3*4+5</answer></answer>", *P, 0.0, 0.0),
    ("mis-cased tags", "<Think>x</Think><ANSWER>3*4+5</ANSWER>", *P, 0.0, 0.0),
    ("answer inside think", "<think>so <answer>3*4+5</answer></think>", *P, 0.0, 0.0),
    (
        "answer in think and after",
        "<think><answer>1</answer></think><answer>3*4+5</answer>",
        *P,
        0.0,
        0.0,
    ),
    ("answer before think", "<answer>3*4+5</answer><think>x</think>", *P, 0.0, 0.0),
    ("text after answer", GOOD + " and so on", *P, 0.0, 0.0),
    ("two end markers", GOOD + "</s></s>", *P, 0.0, 0.0),
    ("text before think", "ok! " + GOOD, *P, 0.0, 0.0),
    ("text between blocks", "<think>x</think> so <answer>3*4+5</answer>", *P, 0.0, 0.0),
    ("empty think", "<think> </think><answer>3*4+5</answer>", *P, 0.0, 0.0),
    ("empty answer", answer("  "), *P, 0.0, 0.0),
    ("wrong value", answer("3+4+5"), *P, 0.0, 1.0),
    ("answer stuffing with or", answer("3*4+5 or 17"), *P, 0.0, 1.0),
    ("answer stuffing with comma", answer("17, 3*4+5"), *P, 0.0, 1.0),
    ("answer stuffing with equals", answer("3*4+5=17"), *P, 0.0, 1.0),
    ("bare target", answer("17"), *P, 0.0, 1.0),
    ("number reused", answer("3*4+5+5-5"), *P, 0.0, 1.0),
    ("number missing", answer("3*4"), [3, 4, 5], 12, 0.0, 1.0),
    ("number not given (glued digits)", answer("12+5"), *P, 0.0, 1.0),
    ("glued decimal", answer("2.5*4"), [2, 5, 4], 10, 0.0, 1.0),
    ("decimal literal", answer("3*4+5.0"), *P, 0.0, 1.0),
    ("power tower", answer("9**9**9"), [9, 9, 9], 1, 0.0, 1.0),
    ("power", answer("2**3*1"), [2, 3, 1], 8, 0.0, 1.0),
    ("floor division", answer("7//2*1"), [7, 2, 1], 3, 0.0, 1.0),
    ("modulo", answer("7%4*1"), [7, 4, 1], 3, 0.0, 1.0),
    ("bitwise xor", answer("3^4^5"), [3, 4, 5], 2, 0.0, 1.0),
    ("unary minus", answer("-(2+3+4)"), [2, 3, 4], -9, 0.0, 1.0),
    ("unary plus", answer("+3*4+5"), *P, 0.0, 1.0),
    ("division by zero", answer("3/(4-4)"), [3, 4, 4], 0, 0.0, 1.0),
    ("leading zero", answer("03*4+5"), *P, 0.0, 1.0),
    ("digit separator", answer("1_2+5"), [12, 5], 17, 0.0, 1.0),
    ("hex literal", answer("0x11"), [17], 17, 0.0, 1.0),
    ("10,000-digit literal", answer("1" * 10_000), [1], 1, 0.0, 1.0),
    ("7-digit literal", answer("1000000+1"), [1000000, 1], 1000001, 0.0, 1.0),
    ("5,000 nested parentheses", answer("(" * 5000 + "3*4+5" + ")" * 5000), *P, 0.0, 1.0),
    ("13 nested parentheses", answer("(" * 13 + "3*4+5" + ")" * 13), *P, 0.0, 1.0),
    ("unbalanced parentheses", answer("(3*4+5"), *P, 0.0, 1.0),
    ("implicit multiplication", answer("3(4)+5"), *P, 0.0, 1.0),
    ("over-long expression", answer("3*4+5" + "+0" * 60), [3, 4, 5] + [0] * 60, 17, 0.0, 1.0),
    ("names", answer("x*y+z"), *P, 0.0, 1.0),
    ("function call", answer("abs(17)"), *P, 0.0, 1.0),
    ("import attempt", answer("__import__('os').getcwd()"), *P, 0.0, 1.0),
    ("attribute access", answer("(17).real"), *P, 0.0, 1.0),
    ("lambda", answer("(lambda: 17)()"), *P, 0.0, 1.0),
    ("nan", answer("float('nan')"), *P, 0.0, 1.0),
    ("nan bare", answer("nan"), *P, 0.0, 1.0),
    ("inf via exponent", answer("1e999"), *P, 0.0, 1.0),
    ("unicode digits", answer("٣*٤+٥"), *P, 0.0, 1.0),
    ("full-width digits", answer("３*4+5"), *P, 0.0, 1.0),
    ("newline inside expression", answer("3*4\n+5"), *P, 0.0, 1.0),
    ("1 MB of junk", "x" * 1_000_000, *P, 0.0, 0.0),
    ("1 MB after the answer", GOOD + "x" * 1_000_000, *P, 0.0, 0.0),
    ("non-string: None", None, *P, 0.0, 0.0),
    ("non-string: int", 17, *P, 0.0, 0.0),
    ("non-string: bytes", GOOD.encode(), *P, 0.0, 0.0),
    ("non-string: float nan", float("nan"), *P, 0.0, 0.0),
    ("message without content", [{"role": "assistant"}], *P, 0.0, 0.0),
    ("message with non-text content", [{"role": "assistant", "content": 17}], *P, 0.0, 0.0),
    ("empty message list", [], *P, 0.0, 0.0),
    ("last message not the assistant's", [{"role": "user", "content": GOOD}], *P, 0.0, 0.0),
    ("unicode white space around", "\u3000" + GOOD + "\u2028", *P, 0.0, 0.0),
    ("control character before end marker", GOOD + "\x1c</s>", *P, 0.0, 0.0),
    ("no-break space in answer", answer("\xa03*4+5"), *P, 0.0, 1.0),
    ("double zero", answer("00+3*4+5"), [0, 3, 4, 5], 17, 0.0, 1.0),
]


def test_there_are_at_least_30_bad_input_classes():
    assert len({case[0] for case in BAD_INPUTS}) == len(BAD_INPUTS) >= 30


@pytest.mark.parametrize(
    "completion, numbers, target, expected, expected_format",
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_the_expected_reward(completion, numbers, target, expected, expected_format):
    assert countdown_reward([completion], numbers=[numbers], target=[target]) == [expected]
    assert format_reward([completion]) == [expected_format]
    verdict = check_countdown(completion, numbers, target)
    assert verdict.reason and verdict.reason != "correct"


GOOD_INPUTS = [
    ("plain", GOOD, *P),
    ("end marker and white space", "\n " + GOOD + " </s>\n", *P),
    (
        "new lines between blocks",
        "<think>3*4=12,\n12+5=17 ok</think>\n<answer> 3*4+5 </answer>",
        *P,
    ),
    ("chat completion", [{"role": "assistant", "content": GOOD}], *P),
    ("any order of numbers", answer("5+4*3"), [3, 4, 5], 17),
    ("spaces in the expression", answer("( 5 + 4 ) * 3"), [3, 4, 5], 27),
    ("exact fractions", answer("(1+1/3)*3"), [1, 1, 3, 3], 4),
    ("repeated numbers", answer("9*9+9"), [9, 9, 9], 90),
    ("12 nested parentheses", answer("(" * 12 + "3*4+5" + ")" * 12), *P),
    ("zero as a number", answer("3*4+5+0"), [0, 3, 4, 5], 17),
    (
        "multi-message chat",
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": GOOD}],
        *P,
    ),
    ("1 MB of reasoning", "<think>" + "x" * 1_000_000 + "</think><answer>3*4+5</answer>", *P),
]


@pytest.mark.parametrize(
    "completion, numbers, target", [c[1:] for c in GOOD_INPUTS], ids=[c[0] for c in GOOD_INPUTS]
)
def test_correct_completions_score_one(completion, numbers, target):
    assert countdown_reward([completion], numbers=[numbers], target=[target]) == [1.0]
    assert format_reward([completion]) == [1.0]


def test_integer_only_rejects_fractional_steps():
    completion = answer("1/2*4")
    assert countdown_reward([completion], numbers=[[1, 2, 4]], target=[2]) == [1.0]
    assert countdown_reward([completion], [[1, 2, 4]], [2], integer_only=[True]) == [0.0]
    verdict = check_countdown(completion, [1, 2, 4], 2, integer_only=True)
    assert "1/2" in verdict.reason and "whole number" in verdict.reason


def test_reasons_name_what_went_wrong():
    assert "appears 2 times" in parse_completion(GOOD + "<answer>1</answer>").reason
    assert "not allowed" in evaluate_expression("2**3").reason
    assert "uses 5 3 times" in check_countdown(answer("3*4+5+5-5"), *P).reason
    assert "does not use 5" in check_countdown(answer("3*4"), [3, 4, 5], 12).reason
    assert (
        "value 12 is not the target 17"
        in check_countdown(answer("3*4*(5/5)"), [3, 4, 5, 5], 17).reason
    )


def test_batches_mix_strings_and_messages_and_check_column_lengths():
    completions = [GOOD, [{"role": "assistant", "content": GOOD}], "junk"]
    numbers, targets = [[3, 4, 5]] * 3, [17] * 3
    assert countdown_reward(completions, numbers=numbers, target=targets) == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="one entry per completion"):
        countdown_reward(completions, numbers=numbers[:2], target=targets)
    with pytest.raises(TypeError, match="numbers must be a list"):
        countdown_reward([GOOD], numbers=["3 4 5"], target=[17])


# Every public reward function, with columns for one completion and a completion it pays.
REWARDS = {
    "format_reward": (format_reward, {}, GOOD),
    "countdown_reward": (countdown_reward, {"numbers": [[3, 4, 5]], "target": [17]}, GOOD),
    "arithmetic_reward": (arithmetic_reward, {"answer": [12]}, THINK + "<answer>12</answer>"),
    "shown_work_reward": (shown_work_reward, {"numbers": [[3, 4, 5]], "target": [17]}, GOOD),
}


@pytest.mark.parametrize("name", REWARDS)
@pytest.mark.parametrize(
    "bare", [GOOD, "x", GOOD.encode(), {"role": "assistant", "content": GOOD}, None]
)
def test_a_bare_completion_is_refused_not_scored_per_character(name, bare):
    # One completion is still a batch of one: a bare string would be scored one character
    # at a time ("x" even matches a one-row problem column and silently scores 0).
    fn, columns, good = REWARDS[name]
    with pytest.raises(TypeError, match=rf"{name}: completions must be a list of completions"):
        fn(bare, **columns)
    assert fn([good], **columns) == [1.0]


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("countdown_reward", "numbers"),
        ("countdown_reward", "target"),
        ("countdown_reward", "integer_only"),
        ("arithmetic_reward", "answer"),
        ("shown_work_reward", "numbers"),
        ("shown_work_reward", "target"),
    ],
)
def test_a_bare_string_column_is_refused(name, column):
    fn, columns, good = REWARDS[name]
    with pytest.raises(TypeError, match=rf"{name}: {column} must be a list .*, got a str"):
        fn([good], **{**columns, column: "1"})  # "1" has one entry, like the batch


def test_arithmetic_reward():
    good = "<think>45*2=90,23+90=113</think><answer>113</answer>"
    assert arithmetic_reward([good, good, good], answer=[113, 114, -113]) == [1.0, 0.0, 0.0]
    negative = "<think>3-20=-17</think><answer>-17</answer>"
    assert arithmetic_reward([negative], answer=[-17]) == [1.0]
    for bad in [
        "<think>x</think><answer>113.0</answer>",
        "<think>x</think><answer>1e2</answer>",
        "<think>x</think><answer>100+13</answer>",
        "<answer>113</answer>",
        None,
        "<think>x</think><answer>" + "1" * 50 + "</answer>",
    ]:
        assert arithmetic_reward([bad], answer=[113]) == [0.0], bad


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**6), other_digit_st)
def test_digits_of_another_script_are_not_shown_work(seed, digit):
    problem = countdown.generate(1, seed)[0]
    trace = countdown.write_trace(problem, random.Random(seed))
    columns = {"numbers": [list(problem.numbers)], "target": [problem.target]}
    assert shown_work_reward([trace], **columns) == [1.0]
    think, rest = trace.split("</think>")
    foreign = in_script_of(digit, think) + "</think>" + rest  # e.g. ٣*٤=١٢ for 3*4=12
    assert countdown_reward([foreign], **columns) == [1.0]  # the answer is still right
    assert shown_work_reward([foreign], **columns) == [0.0]


@settings(max_examples=100, deadline=None)
@given(st.integers(-(10**6), 10**6), other_digit_st)
def test_an_answer_in_another_scripts_digits_is_not_a_number(value, digit):
    written = in_script_of(digit, str(value))
    assert arithmetic_reward([f"<think>x</think><answer>{value}</answer>"], answer=[value]) == [1.0]
    assert arithmetic_reward([f"<think>x</think><answer>{written}</answer>"], answer=[value]) == [
        0.0
    ]


# --------------------------------------------------------------------------- code execution

PAYLOADS = [
    "__import__('pathlib').Path({path!r}).touch()",
    "open({path!r}, 'w').close()",
    "(lambda: __import__('os').system('touch ' + {path!r}))()",
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
    "[0].__init__.__globals__['system']('touch ' + {path!r})",
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=["import", "open", "lambda", "subclasses"])
def test_code_in_a_completion_never_runs(tmp_path, payload):
    # The payload is real: run as Python it creates the sentinel file...
    proof = tmp_path / "proof"
    subprocess.run([sys.executable, "-c", payload.format(path=str(proof))], check=True)
    assert proof.exists()
    # ...and scoring it, in the answer or anywhere else, creates nothing.
    sentinel = tmp_path / "sentinel"
    code = payload.format(path=str(sentinel))
    for completion in [answer(code), f"<think>{code}</think><answer>{code}</answer>", code]:
        assert countdown_reward([completion], numbers=[[3, 4, 5]], target=[17]) == [0.0]
        format_reward([completion])
    assert not sentinel.exists()


# --------------------------------------------------------------------------- properties

numbers_st = st.lists(st.integers(1, 12), min_size=2, max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numbers=numbers_st, pick=st.integers(0, 10_000))
def test_every_solver_solution_scores_one(numbers, pick):
    values = countdown.reachable(numbers, integer_only=False)
    integers = sorted(int(v) for v in values if v.denominator == 1 and v >= 0)
    if not integers:
        return
    target = integers[pick % len(integers)]
    problem = countdown.CountdownProblem(tuple(numbers), target)
    solutions = countdown.solve(problem, integer_only=False, limit=25)
    assert solutions, "reachable() and solve() disagree"
    completions = [answer(str(s)) for s in solutions]
    n = len(completions)
    assert countdown_reward(completions, numbers=[numbers] * n, target=[target] * n) == [1.0] * n


ALPHABET = list("0123456789+-*/() .,=x\n") + [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "</s>",
    "**",
    "٣",
    "é",
    "\x00",
]


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace"]),
            st.integers(0, 10_000),
            st.sampled_from(ALPHABET),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_random_mutations_never_crash_and_never_pay_for_an_invalid_answer(seed, edits):
    problem = countdown.generate(1, seed)[0]
    text = countdown.write_trace(problem, random.Random(seed), retry_rate=0.5)
    for kind, position, piece in edits:
        i = position % (len(text) + 1)
        if kind == "insert":
            text = text[:i] + piece + text[i:]
        elif kind == "delete":
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + piece + text[i + 1 :]
    numbers, target = list(problem.numbers), problem.target
    [reward] = countdown_reward([text], numbers=[numbers], target=[target])
    assert reward in (0.0, 1.0)
    assert format_reward([text])[0] in (0.0, 1.0)
    if reward == 1.0:  # an independent check of what was paid for
        body = text.strip().removesuffix("</s>").strip()
        ans = (
            re.fullmatch(r"<think>.+</think>\s*<answer>(.+)</answer>", body, re.S).group(1).strip()
        )
        assert re.fullmatch(r"[\d+\-*/() ]+", ans) and len(ans) <= MAX_EXPRESSION_CHARS
        assert "**" not in ans and "//" not in ans
        assert sorted(int(t) for t in re.findall(r"\d+", ans)) == sorted(numbers)
        assert _shunting_yard(ans) == target


def _shunting_yard(expr: str) -> Fraction:
    """An independent evaluator (Dijkstra's shunting yard) to cross-check the verifier."""
    prec = {"+": 1, "-": 1, "*": 2, "/": 2}
    out: list[Fraction] = []
    ops: list[str] = []

    def reduce() -> None:
        op, b, a = ops.pop(), out.pop(), out.pop()
        out.append(a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b)

    for token in re.findall(r"\d+|[-+*/()]", expr):
        if token.isdigit():
            out.append(Fraction(int(token)))
        elif token == "(":
            ops.append(token)
        elif token == ")":
            while ops[-1] != "(":
                reduce()
            ops.pop()
        else:
            while ops and ops[-1] != "(" and prec[ops[-1]] >= prec[token]:
                reduce()
            ops.append(token)
    while ops:
        reduce()
    return out[0]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.lists(st.text())))
def test_arbitrary_values_never_raise(value):
    assert countdown_reward([value], numbers=[[1, 2]], target=[3]) in ([0.0], [1.0])
    assert format_reward([value]) in ([0.0], [1.0])
    assert evaluate_expression(value).ok in (True, False)
