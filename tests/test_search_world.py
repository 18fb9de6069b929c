"""World 2, the search world: the task variant, its traces, its corpus and its gates."""

from __future__ import annotations

import random
import re
from collections import Counter
from fractions import Fraction

import pytest

from r1lab.behaviors import analyze, search_rates, step_metrics
from r1lab.data import countdown_trace_dataset, load_eval, pretraining_corpus
from r1lab.rewards import answer_steps, countdown_reward, format_reward, shown_work_ok
from r1lab.tasks import countdown
from r1lab.tasks.countdown import CountdownProblem, CountdownSpec
from r1lab.tasks.expressions import apply
from r1lab.worlds import COUNTDOWN, SEARCH, WORLDS, get_world

STEP = re.compile(r"(\d+)([-+*/])(\d+)=(\d+)")
SIGNED_STEP = re.compile(r"(-?\d+)([-+*/])(-?\d+)=(-?\d+)")  # the warm-up task goes below 0


def test_the_worlds_are_named_and_an_unknown_one_explains_itself():
    assert get_world("search") is SEARCH and get_world(SEARCH) is SEARCH
    assert set(WORLDS) == {"countdown", "search"}
    with pytest.raises(ValueError, match="unknown world 'mars'"):
        get_world("mars")


def test_search_problems_have_one_right_chain_among_many_with_small_steps():
    problems = countdown.generate(300, seed=0, spec=SEARCH.spec)
    sizes = []
    for p in problems:
        pool = countdown.candidates(p.numbers, SEARCH.spec)
        sizes.append(len(pool))
        assert len(p.numbers) == 4
        assert sum(e.value == p.target for e in pool) == 1, p
        for e in pool:
            assert all(0 <= s.result <= 99 for s in e.steps()), e
        assert SEARCH.spec.min_target <= p.target <= 99
    assert sum(sizes) / len(sizes) > 20  # many candidates, one of them right


def test_a_blind_guess_is_right_at_most_one_time_in_twenty_on_the_held_out_file():
    rows = load_eval(SEARCH.eval_name)
    rates = [
        countdown.blind_guess_rate(CountdownProblem(tuple(r["numbers"]), r["target"]), SEARCH.spec)
        for r in rows
    ]
    assert len(rates) == 200 and sum(rates) / len(rates) <= 0.05
    # World 1, for contrast: about one chain in seven is right.
    world1 = [
        countdown.blind_guess_rate(CountdownProblem(tuple(r["numbers"]), r["target"]))
        for r in load_eval(COUNTDOWN.eval_name)
    ]
    assert sum(world1) / len(world1) > 0.1


def test_world_one_problems_are_unchanged_by_the_new_knobs():
    assert countdown.generate(50, seed=3) == countdown.generate(50, seed=3, spec=CountdownSpec())
    p = countdown.generate(1, seed=3)[0]
    assert countdown.candidates(p.numbers) == countdown.chains(p.numbers)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_value=0), "max_value must be between 1 and 99999"),
        (dict(unique_target=True, ordered=False), "set ordered=True"),
        (dict(max_value=50, ordered=False), "set ordered=True"),
    ],
)
def test_bad_search_knobs_explain_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CountdownSpec(**kwargs)


def _think(trace: str) -> str:
    return trace.split("<think>", 1)[1].split("</think>", 1)[0]


def _item_texts(problem):
    """The search's items as a trace writes them one after the other."""
    items = countdown.search_items(problem.numbers, SEARCH.spec)
    return [
        countdown.search_item_text(e, problem.target, SEARCH.spec, items[i - 1] if i else None)
        for i, e in enumerate(items)
    ]


def test_the_search_order_changes_the_last_operator_first():
    chains = sorted(countdown.candidates((2, 4, 8, 7), SEARCH.spec), key=countdown.search_order)
    first = [",".join(str(s) for s in e.steps()) for e in chains[:3]]
    assert first == ["2+4=6,6+8=14,14+7=21", "2+4=6,6+8=14,14-7=7", "2+4=6,6+8=14,14*7=98"]
    assert countdown.search_order(chains[0]) == (0, 0, 0)


def test_the_search_writes_every_chain_once_and_cuts_each_at_its_first_forbidden_step():
    for p in countdown.generate(100, seed=2, spec=SEARCH.spec):
        items = countdown.search_items(p.numbers, SEARCH.spec)
        full = [e for e in items if not countdown.is_dead_end(e, SEARCH.spec)]
        # the full items are the candidates, in the search's order
        assert full == sorted(
            countdown.candidates(p.numbers, SEARCH.spec), key=countdown.search_order
        )
        # every one of the 4**3 operator choices is covered exactly once: by its chain or
        # by the dead end it starts with
        covered = Counter()
        for e in items:
            order = countdown.search_order(e)
            covered[order] += 1
            assert len(order) == 3 or countdown.is_dead_end(e, SEARCH.spec)  # cut short: dead
        assert sum(4 ** (3 - len(o)) for o in covered) == 64
        assert list(covered) == sorted(covered)  # a depth-first walk in the fixed order
    assert (
        countdown.search_item_text(
            countdown.search_items((9, 6, 2, 5), SEARCH.spec)[2], 17, SEARCH.spec
        )
        == "9+6=15,15+2=17,17*5=85 vs 17 no"
    )
    items = countdown.search_items((9, 3, 2, 8), SEARCH.spec)
    texts = [countdown.search_item_text(e, 12, SEARCH.spec) for e in items]
    assert "9-3=6,6-2=4,4/8=x" in texts and "9*3=27,27*2=54,54*8=x" in texts
    assert "9/3=3,3/2=x" in texts  # cut at the second step: 9/3/2… never written in full


def test_after_a_wait_only_a_changed_last_step_is_written_and_read_back_in_full():
    problem = CountdownProblem((9, 3, 2, 8), 12)
    texts = _item_texts(problem)
    assert texts[:6] == [
        "9+3=12,12+2=14,14+8=22 vs 12 no",
        "14-8=6 vs 12 no",  # only the last operator changed: the steps before are one back
        "14*8=x",
        "14/8=x",
        "9+3=12,12-2=10,10+8=18 vs 12 no",  # a backtrack is written in full
        "10-8=2 vs 12 no",
    ]
    attempts = countdown.parse_think(" wait ".join(texts[:6]))
    assert [a.carried for a in attempts] == [0, 2, 2, 2, 0, 2]
    assert attempts[1].steps == [(9, "+", 3, 12), (12, "+", 2, 14), (14, "-", 8, 6)]
    assert attempts[2].steps == [(9, "+", 3, 12), (12, "+", 2, 14)]
    assert attempts[2].dead == (14, "*", 8) and attempts[2].arithmetic_ok()
    assert attempts[5].steps == [(9, "+", 3, 12), (12, "-", 2, 10), (10, "-", 8, 2)]
    # every item of every problem reads back as the chain it stands for
    for p in countdown.generate(60, seed=4, spec=SEARCH.spec):
        items = countdown.search_items(p.numbers, SEARCH.spec)
        attempts = countdown.parse_think(" wait ".join(_item_texts(p)))
        for item, attempt in zip(items, attempts, strict=True):
            dead = countdown.is_dead_end(item, SEARCH.spec)
            steps = item.left.steps() if dead else item.steps()
            assert attempt.steps == [
                (int(s.left), s.op, int(s.right), int(s.result)) for s in steps
            ]
    # A first step that does not start from the previous attempt's kept result is a new chain
    (_, first) = countdown.parse_think("9+3=12,12+2=14,14+8=22 vs 12 no wait 9/8=x")
    assert first.steps == [] and first.carried == 0 and first.dead == (9, "/", 8)
    # written steps are counted once: the carried ones were counted where they were written
    row = {"numbers": [9, 3, 2, 8], "target": 12}
    think = " wait ".join(texts[:6])
    assert search_rates([f"<think>{think}</think>"], [row])["step_accuracy"] == 1.0
    slip = think.replace("10-8=2", "10-8=3")
    written = 3 + 1 + 1 + 1 + 3 + 1
    assert search_rates([f"<think>{slip}</think>"], [row])["step_accuracy"] == pytest.approx(
        (written - 1) / written
    )


@pytest.mark.parametrize(
    "step, right",
    [
        ((3, "/", 2), True),
        ((7, "-", 8), True),
        ((13, "*", 8), True),
        ((6, "/", 3), False),
        ((12, "*", 8), False),
        ((99, "+", 1), True),
        ((5, "-", 5), False),
    ],
)
def test_a_dead_end_is_right_exactly_when_its_operation_is_forbidden(step, right):
    assert countdown.dead_end_right(*step) is right
    a, op, b = step
    (attempt,) = countdown.parse_think(f"2+3=5,{a}{op}{b}=x")
    assert attempt.dead == step and attempt.value is None and attempt.verdict is None
    assert attempt.arithmetic_ok() is right
    rates = search_rates([f"<think>2+3=5,{a}{op}{b}=x</think>"], [{"numbers": [2, 3], "target": 5}])
    assert rates["step_accuracy"] == (1.0 if right else 0.5)


def test_search_traces_answer_at_sight_or_search_honestly_in_a_fixed_order():
    problems = countdown.generate(400, seed=1, spec=SEARCH.spec)
    rng = random.Random(0)
    modes = Counter()
    high = SEARCH.patience[1]
    for p in problems:
        trace = countdown.write_search_trace(
            p, rng, spec=SEARCH.spec, search_rate=0.2, patience=SEARCH.patience
        )
        attempts = countdown.parse_think(_think(trace))
        for a, op, b, result in STEP.findall(trace):
            assert apply(op, Fraction(int(a)), Fraction(int(b))) == int(result), trace
        if " vs " not in trace:
            modes["direct"] += 1  # the answer at sight: no calculation, no check
            assert countdown_reward([trace], [list(p.numbers)], [p.target]) == [1.0], trace
            assert _think(trace) == trace.split("<answer>")[1].split("</answer>")[0]
            assert not STEP.search(trace) and "wait" not in trace
            continue
        # a search: the first items of the fixed order, each written once, until the
        # solution or until its patience runs out (then it stops after a checked chain)
        items = _item_texts(p)
        assert 1 <= len([a for a in attempts if a.dead is None]) <= high
        assert [a.text for a in attempts] == items[: len(attempts)]
        assert all(a.arithmetic_ok() for a in attempts), trace
        checked = [a for a in attempts if a.dead is None]
        assert all(a.compared == p.target and a.check_ok(p.target) for a in checked)
        assert attempts[-1].dead is None and attempts[-1].verdict in ("ok", "no")
        path = analyze(trace, p.numbers, p.target)
        assert path.honest_checks == path.checks == len(checked)
        solved = countdown_reward([trace], [list(p.numbers)], [p.target]) == [1.0]
        assert solved == (attempts[-1].verdict == "ok")
        if solved:
            modes["found"] += 1
            assert path.found and (len(attempts) == 1 or path.has("effective"))
        else:  # gave up: it answers the last chain it tried, which is wrong
            assert not path.correct and attempts[-1].verdict == "no"
        answer = trace.split("<answer>")[1].split("</answer>")[0]
        assert answer_steps(answer) == attempts[-1].steps  # the answer is its last chain
        if solved:
            assert shown_work_ok(trace, p.target), trace  # dead ends need no check
    assert 0.12 < (modes["search"] or len(problems) - modes["direct"]) / len(problems) < 0.28
    assert 0 < modes["found"] < len(problems) - modes["direct"]  # some searches give up


def test_search_trace_settings_are_checked():
    p = countdown.generate(1, seed=0, spec=SEARCH.spec)[0]
    with pytest.raises(ValueError, match="search_rate must be between 0 and 1"):
        countdown.write_search_trace(p, random.Random(0), spec=SEARCH.spec, search_rate=2)
    with pytest.raises(ValueError, match="patience must be two numbers"):
        countdown.write_search_trace(p, random.Random(0), spec=SEARCH.spec, patience=(5, 2))
    impossible = CountdownProblem((1, 1, 1, 1), 97)
    with pytest.raises(ValueError, match="no left-to-right solution"):
        countdown.write_search_trace(impossible, random.Random(0), spec=SEARCH.spec)


def test_the_cold_start_dataset_follows_the_world():
    ds = countdown_trace_dataset(200, seed=0, world="search")
    texts = [row["completion"][0]["content"] for row in ds]
    assert all(len(row["numbers"]) == 4 for row in ds)
    assert format_reward(texts) == [1.0] * 200
    share = sum(" vs " in t for t in texts) / len(texts)
    assert 0.05 < share < 0.25  # the world's search_rate is 15 %
    direct = [t for t in texts if " vs " not in t]
    assert all(_think(t) == t.split("<answer>")[1].split("</answer>")[0] for t in direct)
    world1 = countdown_trace_dataset(20, seed=0, retry_rate=0.5)
    assert all(len(row["numbers"]) == 3 for row in world1)


def test_the_check_grammar_is_read_with_the_number_it_compares():
    a, b = countdown.parse_think("3+4=7,7*5=35,35-2=33 vs 17 no wait 3*4=12,12+5=17 vs 17 ok")
    assert (a.value, a.compared, a.verdict) == (33, 17, "no") and a.check_ok(17)
    assert (b.value, b.compared, b.verdict) == (17, 17, "ok")
    (bare,) = countdown.parse_think("3+4=7,7*5=35 no")
    assert bare.compared is None and bare.verdict == "no"
    # A miscopied target is read as written, and a verdict about the copy is still judged
    # against the real target.
    (wrong,) = countdown.parse_think("4*6=24,24+5=29 vs 29 ok")
    assert wrong.compared == 29 and not wrong.check_ok(50)


def test_step_metrics_count_checked_completions_and_copied_targets():
    rows = [{"numbers": [3, 4, 5, 1], "target": 17}] * 3
    texts = [
        "<think>3+4=7,7*5=35,35-1=34</think><answer>(3+4)*5-1</answer>",
        "<think>3+4=7,7*5=35,35-1=34 vs 17 no wait 3*4=12,12+5=17,17*1=17 vs 17 ok</think>"
        "<answer>(3*4+5)*1</answer>",
        "<think>3+4=7,7*5=35,35-1=34 vs 34 ok</think><answer>(3+4)*5-1</answer>",
    ]
    m = step_metrics(texts, rows, [30, 60, 40])
    assert m["checked_rate"] == pytest.approx(2 / 3)
    assert m["copied_target_rate"] == pytest.approx(2 / 3)  # 33 is not the target
    assert m["honest_check_rate"] == pytest.approx(2 / 3)  # "33 vs 33 ok" is a false ok


def test_the_gate_measurement_reads_honest_checks_searches_and_effective_retries():
    row = {"numbers": [3, 4, 5, 1], "target": 17}
    honest = (
        "<think>3+4=7,7*5=35,35-1=34 vs 17 no wait 3*4=12,12+5=17,17*1=17 vs 17 ok</think>"
        "<answer>(3*4+5)*1</answer>"
    )
    direct = "<think>3+4=7,7*5=35,35-1=34</think><answer>(3+4)*5-1</answer>"
    false_ok = "<think>3+4=7,7*5=35,35-1=34 vs 17 ok</think><answer>(3+4)*5-1</answer>"
    rates = search_rates([honest, direct, false_ok, direct], [row] * 4)
    assert rates["search_rate"] == 0.5
    assert rates["honest_check_rate"] == pytest.approx(2 / 3)
    assert rates["effective_retry_rate"] == 0.25
    assert rates["attempts"] == pytest.approx((2 + 1 + 1 + 1) / 4)
    assert rates["step_accuracy"] == 1.0
    assert search_rates([direct], [row])["honest_check_rate"] is None
    slip = "<think>3+4=8,8*5=40,40-1=39</think><answer>(3+4)*5-1</answer>"
    assert search_rates([slip], [row])["step_accuracy"] == pytest.approx(2 / 3)  # 3+4=8


@pytest.fixture(scope="module")
def corpus():
    return pretraining_corpus(3000, seed=0, world="search")


def test_the_search_corpus_teaches_comparisons_and_checks_honestly(corpus):
    kinds = Counter(corpus["kind"])
    assert set(kinds) == set(SEARCH.corpus_mix)
    for text, kind in zip(corpus["text"], corpus["kind"], strict=True):
        for a, op, b, result in SIGNED_STEP.findall(text):
            assert apply(op, Fraction(int(a)), Fraction(int(b))) == int(result), text
        for a, op, b in re.findall(r"(\d+)([-+*/])(\d+)=x", text):
            assert countdown.dead_end_right(int(a), op, int(b)), text  # truly forbidden
        if kind == "compare":
            x, y, verdict = re.fullmatch(r"(\d+) vs (\d+) (ok|no)", text).groups()
            assert verdict == ("ok" if x == y else "no")
        if kind == "check" and " vs " in text:
            m = re.fullmatch(r"use ([\d ]+) to make (\d+): .*=(\d+) vs (\d+) (ok|no)", text)
            target, value, copied, verdict = m.group(2), m.group(3), m.group(4), m.group(5)
            assert copied == target and verdict == ("ok" if value == target else "no")


def test_the_search_corpus_teaches_which_steps_are_forbidden(corpus):
    facts = [t for t, k in zip(corpus["text"], corpus["kind"], strict=True) if k == "fact"]
    dead = [t for t in facts if t.endswith("=x")]
    assert 0.05 < len(dead) / len(facts) < 0.5  # forbidden steps are facts too
    ops = Counter(re.fullmatch(r"\d+([-+*/])\d+=x", t).group(1) for t in dead)
    assert set(ops) == {"-", "*", "/"}  # below 0, above 99, not whole
    chains = [t for t, k in zip(corpus["text"], corpus["kind"], strict=True) if k == "chain"]
    assert any(t.endswith("=x") for t in chains) and not any(" vs " in t for t in chains)


def test_the_search_corpus_shows_the_format_only_on_other_tasks(corpus):
    tagged = [t for t in corpus["text"] if "<think>" in t]
    assert tagged, "R1-Zero needs formatted documents to start from"
    for text in tagged:
        assert text.startswith(("<|user|>compute ", "<|user|>use ")), text
        # never Countdown itself: no target to reach, no check against one
        assert not re.search(r"to make \d", text) and " vs " not in text
        assert format_reward([text.split("<|assistant|>", 1)[1]]) == [1.0]


def test_world_one_corpus_is_unchanged_by_the_search_world():
    texts = pretraining_corpus(500, seed=0)["text"]
    assert texts == pretraining_corpus(500, seed=0, world="countdown")["text"]
    assert not any(" vs " in t or "<" in t for t in texts)
