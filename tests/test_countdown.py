"""The Countdown generator, solver and trace writer."""

from __future__ import annotations

import ast
import random
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1lab.rewards import countdown_reward, parse_completion, parse_expression
from r1lab.tasks import countdown
from r1lab.tasks.countdown import CountdownProblem, CountdownSpec
from r1lab.tasks.expressions import Expr, all_expressions, random_expression
from r1lab.tasks.splits import split_of
from tests.conftest import in_script_of, other_digit_st


def test_generation_is_seeded_distinct_in_range_and_solvable():
    problems = countdown.generate(100, seed=3)
    assert problems == countdown.generate(100, seed=3)
    assert problems != countdown.generate(100, seed=4)
    assert len({p.key() for p in problems}) == 100
    spec = CountdownSpec()
    for p in problems:
        assert len(p.numbers) == spec.n_numbers
        assert all(spec.min_number <= n <= spec.max_number for n in p.numbers)
        assert spec.min_target <= p.target <= spec.max_target
        assert countdown.solve(p, limit=1), p
        assert split_of(p.key()) == "train"


def test_difficulty_knobs():
    spec = CountdownSpec(n_numbers=4, min_number=2, max_number=20, min_target=50, max_target=200)
    for p in countdown.generate(20, seed=0, spec=spec):
        assert len(p.numbers) == 4 and all(2 <= n <= 20 for n in p.numbers)
        assert 50 <= p.target <= 200
        assert countdown.solve(p, limit=1)
    assert all(split_of(p.key()) == "eval" for p in countdown.generate(20, seed=0, split="eval"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_numbers=1), "n_numbers must be between 2 and 5"),
        (dict(n_numbers=6), "n_numbers must be between 2 and 5"),
        (dict(min_number=5, max_number=4), "min_number ≤ max_number"),
        (dict(min_target=10, max_target=1), "min_target ≤ max_target"),
    ],
)
def test_bad_specs_explain_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CountdownSpec(**kwargs)


def test_bad_generate_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        countdown.generate(1, 0, split="test")
    with pytest.raises(ValueError, match="widen"):
        countdown.generate(50, 0, CountdownSpec(n_numbers=2, max_number=2, max_target=4))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=3), st.booleans())
def test_reachable_matches_brute_force(numbers, integer_only):
    brute = {
        e.value
        for e in all_expressions(numbers)
        if e.value is not None and (not integer_only or e.has_integer_steps())
    }
    assert set(countdown.reachable(numbers, integer_only)) == brute
    for value, expr in countdown.reachable(numbers, integer_only).items():
        assert expr.value == value and Counter(expr.leaves()) == Counter(numbers)


def test_solver_finds_every_solution_and_only_solutions():
    problem = CountdownProblem((3, 4, 5), 17)
    solutions = countdown.solve(problem)
    texts = [str(s) for s in solutions]
    assert "3*4+5" in texts and "5+4*3" in texts
    assert len(texts) == len(set(texts))
    assert [len(t) for t in texts] == sorted(len(t) for t in texts)
    for s in solutions:
        assert s.value == 17 and sorted(s.leaves()) == [3, 4, 5]
    assert countdown.solve(CountdownProblem((2, 2), 7)) == []
    assert countdown.solve(problem, limit=2) == solutions[:2]


def test_integer_only_solver_skips_fractions():
    problem = CountdownProblem((1, 2, 4), 2)
    assert all(s.has_integer_steps() for s in countdown.solve(problem))
    assert "1/2*4" not in {str(s) for s in countdown.solve(problem)}
    assert "1/2*4" in {str(s) for s in countdown.solve(problem, integer_only=False)}


def test_all_expressions_counts():
    assert sum(1 for _ in all_expressions([1, 2, 3])) == 192
    assert sum(1 for _ in all_expressions([1, 2, 3, 4])) == 7680


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 99), min_size=1, max_size=5), st.integers(0, 10**6))
def test_printing_keeps_the_tree(numbers, seed):
    expr = random_expression(numbers, random.Random(seed))
    text = str(expr)
    ast.parse(text, mode="eval")
    # The verifier rebuilds the same tree (or rejects it for a division by zero).
    assert parse_expression(text) == (expr if expr.value is not None else None)
    assert Counter(expr.leaves()) == Counter(numbers)


def test_printing_uses_only_needed_parentheses():
    a, b, c = Expr.leaf(1), Expr.leaf(2), Expr.leaf(3)
    assert str(Expr.node("-", a, Expr.node("-", b, c))) == "1-(2-3)"
    assert str(Expr.node("-", Expr.node("-", a, b), c)) == "1-2-3"
    assert str(Expr.node("*", Expr.node("+", a, b), c)) == "(1+2)*3"
    assert str(Expr.node("+", a, Expr.node("*", b, c))) == "1+2*3"
    assert str(Expr.node("/", a, Expr.node("*", b, c))) == "1/(2*3)"


def _check_trace(problem: CountdownProblem, trace: str) -> list[countdown.Attempt]:
    parsed = parse_completion(trace)
    assert parsed.ok, (trace, parsed.reason)
    attempts = countdown.parse_think(parsed.think)
    assert attempts, trace
    for attempt in attempts:
        assert attempt.arithmetic_ok(), (trace, attempt)
        assert attempt.check_ok(problem.target), (trace, attempt)
        # Each attempt uses every number exactly once: replay it on a pool of values.
        pool = Counter(problem.numbers)
        for a, _, b, result in attempt.steps:
            pool[a] -= 1
            pool[b] -= 1
            assert pool[a] >= 0 and pool[b] >= 0, (trace, attempt)
            pool[result] += 1
        assert +pool == Counter([attempt.value]), (trace, attempt)
    assert [a.verdict for a in attempts] == ["no"] * (len(attempts) - 1) + ["ok"]
    answer = parse_expression(parsed.answer)
    assert answer.value == problem.target
    assert answer.steps()[-1].result == attempts[-1].value
    return attempts


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.floats(0, 1), st.integers(1, 5))
def test_traces_are_correct_arithmetic_and_verify(seed, retry_rate, max_attempts):
    problem = countdown.generate(1, seed)[0]
    trace = countdown.write_trace(
        problem, random.Random(seed), retry_rate=retry_rate, max_attempts=max_attempts
    )
    attempts = _check_trace(problem, trace)
    assert 1 <= len(attempts) <= max_attempts
    assert countdown_reward([trace], numbers=[list(problem.numbers)], target=[problem.target]) == [
        1.0
    ]


def test_retry_rate_and_attempt_knobs():
    problems = countdown.generate(400, seed=1)
    rng = random.Random(0)
    counts = [
        len(countdown.parse_think(parse_completion(countdown.write_trace(p, rng)).think))
        for p in problems
    ]
    share = sum(c > 1 for c in counts) / len(counts)
    # the default is the shipped cold start's share of traces with a retry
    assert abs(share - countdown.RETRY_RATE) <= 0.08, share
    assert max(counts) <= 3
    many = [countdown.write_trace(p, rng, retry_rate=1.0, max_attempts=4) for p in problems[:100]]
    assert all(" wait " in t for t in many)
    assert max(t.count(" wait ") for t in many) == 3
    never = [countdown.write_trace(p, rng, retry_rate=0.0) for p in problems[:100]]
    assert not any("wait" in t for t in never)


def test_trace_writer_validates_its_inputs():
    problem = CountdownProblem((3, 4, 5), 17)
    rng = random.Random(0)
    with pytest.raises(ValueError, match="retry_rate must be between 0 and 1"):
        countdown.write_trace(problem, rng, retry_rate=1.5)
    with pytest.raises(ValueError, match="max_attempts must be between 1 and 8"):
        countdown.write_trace(problem, rng, max_attempts=0)
    with pytest.raises(ValueError, match="no solution"):
        countdown.write_trace(CountdownProblem((2, 2), 7), rng)
    with pytest.raises(ValueError, match="not a whole-number solution"):
        countdown.write_trace(problem, rng, solution=parse_expression("3+4+5"))


def test_parse_think_reads_model_text_tolerantly():
    attempts = countdown.parse_think("3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok")
    assert [a.verdict for a in attempts] == ["no", "ok"]
    assert attempts[0].steps == [(3, "+", 4, 7), (7, "*", 5, 35)]
    assert attempts[1].value == 17
    wrong = countdown.parse_think("7+1=7,7+9=13 ok")[0]
    assert not wrong.arithmetic_ok() and not wrong.check_ok(16)
    assert countdown.parse_think("") == []
    assert countdown.parse_think("hmm")[0].steps == []
    assert countdown.parse_think("9/-1=-9 no")[0].arithmetic_ok()
    assert countdown.parse_think("x" * 1_000_000) is not None


def test_prompt_is_in_the_model_vocabulary(tokenizer):
    from r1lab.tokenizer import check_text

    for p in countdown.generate(50, seed=0):
        check_text(p.prompt(), tokenizer)
        check_text(countdown.write_trace(p, random.Random(0), retry_rate=1.0), tokenizer)
    assert CountdownProblem((3, 4, 5), 17).prompt() == "use 3 4 5 to make 17"
    assert CountdownProblem((5, 4, 3), 17).key() == CountdownProblem((3, 4, 5), 17).key()
    assert Fraction(17) == CountdownProblem((3, 4, 5), 17).target


def test_ordered_problems_are_solved_left_to_right_in_the_given_order():
    problems = countdown.generate(300, seed=3)
    assert CountdownSpec().ordered
    for p in problems:
        solutions = countdown.chain_solutions(p)
        assert solutions, p
        for s in solutions:
            assert s.leaves() == list(p.numbers) and s.has_natural_steps()
            assert all(
                step.left == s.steps()[i - 1].result for i, step in enumerate(s.steps()) if i
            )


def test_chains_are_every_operator_choice_with_natural_steps():
    exprs = countdown.chains([8, 2, 6])
    texts = {str(e) for e in exprs}
    assert "(8-2)/6" in texts and "8*2+6" in texts and "8/2*6" in texts
    assert "8-2-6" in texts and len(texts) == len(exprs)
    # 8/2/6 is not whole, and nothing may go below zero.
    assert "8/2/6" not in texts and all(e.has_natural_steps() for e in exprs)
    assert len(exprs) <= 16


def test_unordered_problems_may_need_another_order():
    spec = CountdownSpec(ordered=False)
    problems = countdown.generate(300, seed=3, spec=spec)
    assert any(not countdown.chain_solutions(p) for p in problems)
    assert all(countdown.solve(p) for p in problems)


def test_ordered_traces_search_among_chains():
    rng = random.Random(0)
    for p in countdown.generate(60, seed=4):
        trace = countdown.write_trace(p, rng, retry_rate=1.0, max_attempts=3, ordered=True)
        think = trace[len("<think>") : trace.index("</think>")]
        attempts = countdown.parse_think(think)
        assert len(attempts) >= 2 or len(countdown.chains(p.numbers)) <= 1
        for a in attempts:
            assert a.arithmetic_ok() and a.check_ok(p.target)
            assert [a.steps[0][0], a.steps[0][2], a.steps[1][2]] == list(p.numbers)
        assert attempts[-1].verdict == "ok"


@pytest.mark.parametrize(
    "completion, think",
    [
        ("<think>1+2=3 ok</think><answer>1+2</answer>", "1+2=3 ok"),
        ("1+2=3 ok</think><answer>1+2</answer>", "1+2=3 ok"),  # opening tag missing
        ("<think>1+2=3 no wait 1*2=2", "1+2=3 no wait 1*2=2"),  # cut off
        ("<think>a</think><think>b</think>", "a"),
        ("", ""),
    ],
)
def test_think_text_reads_malformed_completions_too(completion, think):
    assert countdown.think_text(completion) == think


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 99), st.sampled_from("+-*"), st.integers(1, 99), other_digit_st)
def test_parse_think_reads_only_ascii_numbers(a, op, b, digit):
    result = {"+": a + b, "-": a - b, "*": a * b}[op]
    step = f"{a}{op}{b}={result} vs {result} ok"
    [read] = countdown.parse_think(step)
    assert (read.steps, read.compared) == ([(a, op, b, result)], result)
    # The same step in another script's digits is no step and no comparison...
    [foreign] = countdown.parse_think(in_script_of(digit, step))
    assert (foreign.steps, foreign.compared) == ([], None)
    # ...and a number glued to such a digit is not read as the ASCII part alone.
    assert countdown.parse_think(digit + step)[0].steps == []
    assert countdown.parse_think(f"{a}{op}{b}={result}{digit} ok")[0].steps == []
