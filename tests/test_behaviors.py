"""Reading think text as a search: attempts, honest checks, the kind of every retry."""

from __future__ import annotations

import random

import pytest

from r1lab.behaviors import (
    RETRY_KINDS,
    aha_step,
    analyze,
    classify_retries,
    data_rates,
    read_items,
    search_quality,
    search_rates,
    step_metrics,
)
from r1lab.rewards import countdown_reward, shown_work_ok, shown_work_reward
from r1lab.tasks import countdown
from r1lab.worlds import SEARCH

P = ([3, 4, 5], 17)  # use 3 4 5 to make 17


def think(body: str, answer: str) -> str:
    return f"<think>{body}</think><answer>{answer}</answer>"


# (id, completion, expected retry kinds, correct, supported)
CASES = [
    ("first try", think("3*4=12,12+5=17 ok", "3*4+5"), [], True, True),
    (
        "effective: a wrong attempt, then the right one",
        think("3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok", "3*4+5"),
        ["effective"],
        True,
        True,
    ),
    (
        "two effective retries",
        think("3+4=7,7*5=35 no wait 3+4=7,7+5=12 no wait 3*4=12,12+5=17 ok", "3*4+5"),
        ["effective", "effective"],
        True,
        True,
    ),
    (
        "superficial: repeats a right attempt",
        think("3*4=12,12+5=17 ok wait 3*4=12,12+5=17 ok", "3*4+5"),
        ["superficial"],
        True,
        True,
    ),
    (
        "superficial: repeats the same wrong attempt, then effective",
        think("3+4=7,7*5=35 no wait 3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok", "3*4+5"),
        ["superficial", "effective"],
        True,
        True,
    ),
    (
        "harmful: abandons a right attempt for a wrong answer",
        think("3*4=12,12+5=17 no wait 3+4=7,7*5=35 ok", "(3+4)*5"),
        ["harmful"],
        False,
        False,
    ),
    (
        "unsuccessful: a wrong attempt, then another wrong one",
        think("3+4=7,7*5=35 no wait 3+4=7,7+5=12 ok", "3+4+5"),
        ["unsuccessful"],
        False,
        False,
    ),
    (
        "wrong arithmetic reaching the target is not a right attempt",
        think("3+4=12,12+5=17 ok wait 3*4=12,12+5=17 ok", "3*4+5"),
        ["effective"],
        True,
        True,  # its check is honest about what it wrote; the last attempt is right
    ),
    (
        "other numbers reaching the target make no right attempt",
        think("9+8=17 ok wait 3*4=12,12+5=17 ok", "3*4+5"),
        ["effective"],
        True,
        True,
    ),
    (
        "lucky: the answer is right but the last attempt did not find it",
        think("7*7=49,49-1=48 no wait 3+4=7,7+5=15 ok", "3*4+5"),
        ["lucky"],
        True,
        False,
    ),
    (
        "lucky: the last attempt is right but the answer is another expression",
        think("3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok", "5+3*4"),
        ["lucky"],
        True,
        False,
    ),
    (
        "a wrong sum in an abandoned attempt does not spoil a real fix",
        think("3+4=8,8*5=40 no wait 3*4=12,12+5=17 ok", "3*4+5"),
        ["effective"],
        True,
        True,
    ),
    (
        "superficial: repeats the same wrong attempt and stays wrong",
        think("3+4=7,7*5=35 no wait 3+4=7,7*5=35 no", "(3+4)*5"),
        ["superficial"],
        False,
        False,
    ),
    (
        "right answer behind a dishonest check",
        think("3+4=7,7*5=35 ok", "3*4+5"),
        [],
        True,
        False,
    ),
    (
        "right answer that is not the last attempt's expression",
        think("3*4=12,12+5=17 ok", "5+3*4"),
        [],
        True,
        False,
    ),
    (
        "'wait' with no new attempt is not a retry",
        think("3*4=12,12+5=17 ok wait", "3*4+5"),
        [],
        True,
        True,
    ),  # fmt: skip
    ("malformed", "<think>3+4=7 wait 3*4=12", ["unsuccessful"], False, False),
]


@pytest.mark.parametrize(("case", "completion", "kinds", "correct", "supported"), CASES)
def test_analyze_classifies_each_retry(case, completion, kinds, correct, supported):
    path = analyze(completion, *P)
    assert path.kinds == kinds, case
    assert path.correct is correct
    assert path.supported is supported
    assert shown_work_reward([completion], [P[0]], [P[1]]) == [1.0 if supported else 0.0]
    assert set(path.kinds) <= set(RETRY_KINDS)


def test_checks_and_waits_are_counted():
    path = analyze(think("3+4=7,7*5=35 ok wait 3*4=12,12+5=17 ok", "3*4+5"), *P)
    assert (len(path.attempts), path.checks, path.honest_checks, path.waits) == (2, 2, 1, 1)
    # A verdict with no computation before it is not a check.
    junk = analyze("=0 no", *P)
    assert (len(junk.attempts), junk.checks, junk.honest_checks) == (1, 0, 0)
    # The word alone: a wait that starts nothing is counted as a wait, not as a retry.
    lone = analyze(think("3*4=12,12+5=17 ok wait", "3*4+5"), *P)
    assert (lone.waits, len(lone.retries)) == (1, 0)


def test_shown_work_is_never_more_than_a_right_answer():
    rng = random.Random(0)
    problems = countdown.generate(40, seed=3)
    texts, numbers, targets = [], [], []
    for p in problems:
        for _ in range(3):
            texts.append(countdown.write_trace(p, rng, retry_rate=0.5, ordered=True))
            # Swap the last operator of the think text: the last attempt's sum goes wrong
            # while the answer may stay right.
            body, rest = texts[-1].split("</think>")
            i = max(body.rfind(op) for op in "+-*/")
            swapped = "-" if body[i] == "+" else "+"
            if rng.random() < 0.5:
                texts[-1] = body[:i] + swapped + body[i + 1 :] + "</think>" + rest
            numbers.append(list(p.numbers))
            targets.append(p.target)
    work = shown_work_reward(texts, numbers, targets)
    right = countdown_reward(texts, numbers, targets)
    assert all(w <= r for w, r in zip(work, right, strict=True))
    assert 0 < sum(work) < sum(right)  # some scrambled think texts no longer lead anywhere


def test_cold_start_traces_show_their_work():
    rng = random.Random(1)
    problems = countdown.generate(60, seed=4)
    for p in problems:
        text = countdown.write_trace(p, rng, retry_rate=0.5, ordered=True)
        assert shown_work_ok(text, p.target), text
        path = analyze(text, p.numbers, p.target)
        assert path.correct and path.supported
        assert set(path.kinds) <= {"effective"}


def test_data_rates_match_the_trace_writers_retry_rate():
    rng = random.Random(2)
    problems = countdown.generate(400, seed=5)
    texts = [countdown.write_trace(p, rng, retry_rate=0.2, ordered=True) for p in problems]
    rates = data_rates(texts, [p.to_row() for p in problems])
    assert 0.14 < rates["effective_retry_rate"] == rates["retry_rate"] < 0.26
    assert rates["harmful_retry_rate"] == rates["unsuccessful_retry_rate"] == 0.0


def test_step_metrics_summarise_a_batch():
    completions = [
        think("3*4=12,12+5=17 ok", "3*4+5"),
        think("3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok", "3*4+5"),
        think("3+4=7,7*5=35 no wait 3+4=7,7+5=12 ok", "3+4+5"),
        think("3+4=7,7*5=35 ok", "(3+4)*5"),
    ]
    rows = [{"numbers": P[0], "target": P[1]}] * 4
    m = step_metrics(completions, rows, [20, 40, 41, 3])
    assert m["attempts"] == pytest.approx(6 / 4)
    assert m["retry_rate"] == 0.5
    assert m["effective_retry_rate"] == m["unsuccessful_retry_rate"] == 0.25
    assert m["harmful_retry_rate"] == m["superficial_retry_rate"] == 0.0
    assert m["accuracy_if_retried"] == 0.5
    assert m["accuracy_if_not_retried"] == 0.5
    assert m["answer_accuracy"] == 0.5
    assert m["supported_rate"] == 0.5
    assert m["honest_check_rate"] == pytest.approx(4 / 6)
    assert m["length_hist"] == [1, 0, 1, 0, 0, 2]  # 8-token bars: 3 | 20 | 40 and 41
    assert sum(m["length_hist"]) == 4


def test_step_metrics_say_what_is_wrong_with_their_input():
    with pytest.raises(ValueError, match="one row and one length per completion"):
        step_metrics(["x"], [], [1])
    with pytest.raises(ValueError, match="at least one completion"):
        step_metrics([], [], [])


def test_analyze_never_raises_on_junk():
    rng = random.Random(7)
    alphabet = "0123456789+-*/=, waitoknothink<>/answer"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        path = analyze(text, *P)
        assert len(path.retries) == max(len(path.attempts) - 1, 0)
    # A huge completion is read in bounded time (parse_think reads the first 10,000 chars).
    analyze("<think>" + "1+1=2 no wait " * 50_000, *P)


def test_aha_step_is_where_the_share_stays_above_the_threshold():
    steps = list(range(1, 11))
    assert aha_step(steps, [0, 0, 0.3, 0, 0.3, 0.3, 0.4, 0.5, 0.5, 0.6], 0.25, window=1) == 5
    # A rise that falls back is no aha moment.
    assert aha_step(steps, [0, 0, 0.3, 0.3, 0.3, 0, 0, 0, 0, 0], 0.25, window=1) is None
    # Smoothing ignores a single dip.
    shares = [0, 0, 0.3, 0.3, 0.3, 0.1, 0.3, 0.3, 0.3, 0.3]
    assert aha_step(steps, shares, 0.25, window=1) == 7
    assert aha_step(steps, shares, 0.19, window=3) == 4  # the dip is averaged away
    with pytest.raises(ValueError, match="steps but"):
        aha_step([1, 2], [0.1], 0.2)


def test_classify_retries_on_parsed_attempts():
    attempts = countdown.parse_think("3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok")
    kinds = [r.kind for r in classify_retries(attempts, 17, correct=True, found=True)]
    assert kinds == ["effective"]
    kinds = [r.kind for r in classify_retries(attempts, 17, correct=True, found=False)]
    assert kinds == ["lucky"]
    kinds = [r.kind for r in classify_retries(attempts, 17, correct=False, found=False)]
    assert kinds == ["unsuccessful"]
    # With the numbers given, an attempt that reaches 17 from other numbers is not right.
    other = countdown.parse_think("9+8=17 ok wait 3*4=12,12+5=17 ok")
    kinds = [r.kind for r in classify_retries(other, 17, True, True, numbers=[3, 4, 5])]
    assert kinds == ["effective"]
    assert [r.kind for r in classify_retries(other, 17, True, True)] == ["superficial"]


def test_aha_examples_pair_the_same_prompt_before_and_after():
    from r1lab.behaviors import aha_examples

    def row(step, prompt, completion):
        return {"step": step, "prompt": prompt, "numbers": P[0], "target": P[1],
                "completion": completion}  # fmt: skip

    plain = think("3*4=12,12+5=17 ok", "3*4+5")
    fixed = think("3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok", "3*4+5")
    watch = [row(0, "a", plain), row(0, "b", plain), row(25, "a", plain), row(25, "b", fixed),
             row(50, "a", plain), row(50, "b", plain)]  # fmt: skip
    pairs = aha_examples(watch, step=10)
    assert [(b["prompt"], b["step"], a["step"]) for b, a in pairs] == [("b", 0, 25), ("a", 0, 25)]
    assert [a["step"] for _, a in aha_examples(watch)] == [50, 50]  # default: the last step
    with pytest.raises(ValueError, match="nothing was logged at or after step 60"):
        aha_examples(watch, step=60)
    with pytest.raises(ValueError, match="kind must be one of"):
        aha_examples(watch, kind="aha")
    assert aha_examples([]) == []


# ------------------------------------------------------------------ how well the search goes

S = ([9, 7, 9, 3], 22)  # use 9 7 9 3 to make 22: 9+7+9-3
CHAIN = "9+7=16,16+9=25,25+3=28 vs 22 no"  # the first item; it keeps 9+7=16,16+9=25
CLEAN = think(f"{CHAIN} wait 25-3=22 vs 22 ok", "9+7+9-3")
LOOP = think(f"{CHAIN} wait {CHAIN} wait 25-3=22 vs 22 ok", "9+7+9-3")
WRONG_LEFT = think(f"{CHAIN} wait 9-3=6 vs 22 no", "9-3")  # 9, not the kept 25
DIRECT = think("9+7+9-3", "9+7+9-3")
SEARCH_KEYS = (
    "ok_precision",
    "no_precision",
    "false_ok_rate",
    "repeat_rate",
    "valid_item_rate",
    "search_pass1",
    "direct_pass1",
)


def test_a_clean_search_follows_its_chain_and_ends_on_a_right_ok():
    path = analyze(CLEAN, *S)
    assert path.searches and path.correct
    assert (path.items, path.valid_items, path.repeated, path.false_ok) == (2, 2, False, False)
    assert (path.ok_checks, path.right_oks, path.no_checks, path.right_nos) == (1, 1, 1, 1)
    # the second item is read with the steps it continues
    assert read_items(path.attempts, S[0])[1].steps == ((9, "+", 7, 16), (16, "+", 9, 25),
                                                          (25, "-", 3, 22))  # fmt: skip


def test_a_looping_search_repeats_an_attempt():
    assert analyze(LOOP, *S).repeated
    assert not analyze(CLEAN, *S).repeated
    # A continuation written again after the same chain is the same work, even when it
    # goes back in the order + - * / (which parse_think does not read as a continuation).
    again = think(f"{CHAIN} wait 25-3=22 vs 22 no wait 25+3=28 vs 22 no", "9+7+9+3")
    assert analyze(again, *S).repeated
    # the same last step after another chain is other work
    other = think(f"{CHAIN} wait 9-7=2,2*9=18,18+3=21 vs 22 no wait 18-3=15 vs 22 no", "9-7")
    assert not analyze(other, *S).repeated


@pytest.mark.parametrize(
    "case, body",
    [
        ("the target not reached", "9+7=16,16+9=25,25+3=28 vs 22 ok"),
        ("the arithmetic wrong", "9+7=16,16+9=25,25+3=22 vs 22 ok"),
        ("a number used twice, one left out", "9+7=16,16+3=19,19+3=22 vs 22 ok"),
        ("numbers not in the prompt", "9+7=16,16+2=18,18+4=22 vs 22 ok"),
        ("a continuation from the wrong operand", f"{CHAIN} wait 19+3=22 vs 22 ok"),
    ],
)
def test_a_search_that_ends_on_a_false_ok(case, body):
    path = analyze(think(body, "9+7+9-3"), *S)
    assert path.false_ok, case
    assert path.ok_checks == 1 and path.right_oks == 0
    # the answer is right, but the search did not find it
    assert path.correct


def test_only_the_last_verdict_makes_a_false_ok():
    recovered = think("9+7=16,16+9=25,25+3=28 vs 22 ok wait 25-3=22 vs 22 ok", "9+7+9-3")
    path = analyze(recovered, *S)
    assert not path.false_ok and (path.ok_checks, path.right_oks) == (2, 1)
    assert not analyze(CLEAN, *S).false_ok
    # a "no" on a right chain is a wrong verdict, not a false ok
    denied = analyze(think("9+7=16,16+9=25,25-3=22 vs 22 no", "9+7+9-3"), *S)
    assert not denied.false_ok and (denied.no_checks, denied.right_nos) == (1, 0)


def test_an_item_that_takes_the_wrong_left_operand_is_invalid():
    path = analyze(WRONG_LEFT, *S)
    assert (path.items, path.valid_items) == (2, 1)
    assert [i.valid for i in read_items(path.attempts, S[0])] == [True, False]
    # The items after it are judged against the chain that was kept (25), not the slip.
    back = think(f"{CHAIN} wait 9-3=6 vs 22 no wait 25/3=x wait 25-3=22 vs 22 ok", "9+7+9-3")
    path = analyze(back, *S)
    assert [i.valid for i in read_items(path.attempts, S[0])] == [True, False, True, True]
    assert not path.false_ok  # its "ok" is judged on 9+7=16,16+9=25,25-3=22
    # A number the prompt does not hold, or one used up, breaks the chain as well.
    for slip in ("25-4=21 vs 22 no", "25-9=16 vs 22 no", "28-3=25 vs 22 no"):
        items = read_items(analyze(think(f"{CHAIN} wait {slip}", "9"), *S).attempts, S[0])
        assert [i.valid for i in items] == [True, False], slip


def test_a_backtrack_written_in_full_is_a_valid_item():
    numbers = [3, 9, 6, 9]
    body = (
        "3+9=12,12/6=2,2+9=11 vs 24 no wait 2-9=x wait 2*9=18 vs 24 no wait 2/9=x "
        "wait 3-9=x wait 3*9=27,27-6=21,21+9=30 vs 24 no"
    )
    items = read_items(analyze(think(body, "3*9-6+9"), numbers, 24).attempts, numbers)
    assert [i.valid for i in items] == [True] * 6
    assert items[4].steps == () and items[4].dead == (3, "-", 9)  # a fresh first step
    # a checked chain that leaves a number out is not a candidate
    short = read_items(analyze(think("3+9=12,12*6=72 vs 24 no", "3"), numbers, 24).attempts,
                       numbers)  # fmt: skip
    assert [i.valid for i in short] == [False]


def test_a_direct_answer_is_not_a_search():
    path = analyze(DIRECT, *S)
    assert not path.searches and path.correct and path.items == 0
    shares = search_quality([path])
    assert shares["direct_pass1"] == 1.0
    assert all(shares[k] is None for k in SEARCH_KEYS if k != "direct_pass1")


def test_cold_start_searches_score_perfectly_on_every_search_measure():
    rng = random.Random(3)
    problems = countdown.generate(150, seed=2, spec=SEARCH.spec)
    texts = [
        countdown.write_search_trace(p, rng, spec=SEARCH.spec, search_rate=0.5,
                                     patience=SEARCH.patience)
        for p in problems
    ]  # fmt: skip
    shares = search_rates(texts, [p.to_row() for p in problems])
    assert shares["repeat_rate"] == shares["false_ok_rate"] == 0.0
    assert shares["valid_item_rate"] == shares["ok_precision"] == shares["no_precision"] == 1.0
    assert shares["search_pass1"] < 1.0  # some searches give up (and answer wrong)
    assert shares["direct_pass1"] == 1.0  # the cold start's direct answers are solutions


def test_step_metrics_split_the_verdicts_that_the_pooled_check_rate_hides():
    # a long honest search that ends on one false "ok"
    false_end = think(
        "9+7=16,16+9=25,25+3=28 vs 22 no wait 25*3=75 vs 22 no wait 25/3=x "
        "wait 9+7=16,16-9=7,7+3=10 vs 22 no wait 7-3=4 vs 22 no wait 7*3=21 vs 22 ok",
        "(9+7-9)*3",
    )
    wrong_direct = think("9*7-9-3", "9*7-9-3")
    batch = [CLEAN, LOOP, WRONG_LEFT, false_end, DIRECT, wrong_direct]
    m = step_metrics(batch, [{"numbers": S[0], "target": S[1]}] * 6, [40] * 6)
    assert all(key in m for key in SEARCH_KEYS)
    # verdicts: CLEAN no ok, LOOP no no ok, WRONG_LEFT no no, false_end no no no no ok
    assert m["honest_check_rate"] == pytest.approx(11 / 12)  # only "21 vs 22 ok" is dishonest
    assert m["ok_precision"] == pytest.approx(2 / 3)
    assert m["no_precision"] == 1.0
    assert m["false_ok_rate"] == pytest.approx(1 / 4)
    assert m["repeat_rate"] == pytest.approx(1 / 4)
    assert m["valid_item_rate"] == pytest.approx((2 + 3 + 1 + 6) / (2 + 3 + 2 + 6))
    assert m["search_pass1"] == pytest.approx(2 / 4)
    assert m["direct_pass1"] == pytest.approx(1 / 2)
    # the held-out measurement reads the same numbers under the same names
    rates = search_rates(batch, [{"numbers": S[0], "target": S[1]}] * 6)
    assert {k: rates[k] for k in SEARCH_KEYS} == {k: m[k] for k in SEARCH_KEYS}
    # a batch with no search at all has nothing to say about the search
    direct = step_metrics([DIRECT], [{"numbers": S[0], "target": S[1]}], [10])
    assert direct["false_ok_rate"] is None and direct["search_pass1"] is None
