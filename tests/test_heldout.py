"""Held-out measurement: one function, one set of names, the same numbers as its parts."""

import json

import pytest

from r1lab.behaviors import search_quality, search_rates
from r1lab.data import load_eval
from r1lab.display import format_score, is_share
from r1lab.experiments import before_after_rows, heldout_settings, load_emergence
from r1lab.grpo_settings import GRPOSettings
from r1lab.heldout import (
    EVAL_SEED,
    correct_counts,
    distinct_answers,
    distinct_correct,
    evaluate,
    greedy_accuracy,
    measure,
    measure_with_samples,
    powers_of_two,
)
from r1lab.models import load_shipped
from r1lab.paths import SHIPPED_RUNS_DIR
from r1lab.runlog import mean_of, window_mean
from r1lab.worlds import SEARCH, get_world

THINK = "<think>3+4=7 ok</think>"


@pytest.fixture(scope="module")
def sft():
    return load_shipped("sft", device="cpu")


@pytest.fixture(scope="module")
def rows():
    return list(load_eval("countdown", 6, chat=True))


def test_measure_is_its_parts_under_one_set_of_names(sft, rows):
    model, tokenizer = sft
    scores, sampled = measure_with_samples(
        model, tokenizer, rows, num_samples=4, max_new_tokens=48, distinct=True,
        behaviors=True, truncated=True, start_model=model,
    )  # fmt: skip
    again = evaluate(model, tokenizer, rows, num_samples=4, max_new_tokens=48, seed=EVAL_SEED)
    assert sampled.texts == again.texts and sampled.rewards == again.rewards
    assert [scores[f"pass@{k}"] for k in (1, 2, 4)] == [again.pass_at[k] for k in (1, 2, 4)]
    assert scores["greedy_accuracy"] == greedy_accuracy(model, tokenizer, rows, max_new_tokens=48)
    assert scores["format_rate"] == again.format_rate
    assert scores["mean_length"] == again.mean_length
    assert scores["truncated_rate"] == again.truncated_rate
    assert "retry_rate" in scores and "effective_retry_rate" in scores
    assert scores["kl_to_start"] == pytest.approx(0.0, abs=1e-5)  # the model against itself
    assert correct_counts(sampled.rewards) == [sum(r >= 1 for r in g) for g in again.rewards]
    # no other spelling of the same metric
    assert not {"greedy", "format", "format_reward"} & set(scores)


def test_measure_reports_only_what_is_asked(sft, rows):
    model, tokenizer = sft
    scores = measure(model, tokenizer, rows, num_samples=4, ks=(1, 4), max_new_tokens=32)
    assert list(scores) == ["pass@1", "pass@4", "greedy_accuracy", "format_rate", "mean_length"]


def test_the_search_world_measurement_says_how_well_the_search_goes():
    model, tokenizer = load_shipped("search-sft", device="cpu")
    rows = list(load_eval(SEARCH.eval_name, 4, chat=True))
    scores, sampled = measure_with_samples(
        model, tokenizer, rows, num_samples=4, max_new_tokens=160, search=True
    )
    texts = [t for group in sampled.texts for t in group]
    again = search_rates(texts, [row for row in rows for _ in range(4)])
    for key in search_quality([]):
        assert key in scores and scores[key] == again[key], key
    # each mode's pass@1 is the share correct among that mode's samples
    modes = [s for s in (scores["search_pass1"], scores["direct_pass1"]) if s is not None]
    assert modes and all(0.0 <= s <= 1.0 for s in modes)
    assert "false_ok_rate" not in measure(model, tokenizer, rows[:1], num_samples=2,
                                          max_new_tokens=16)  # fmt: skip


def test_a_run_is_measured_as_the_shipped_runs_were():
    settings = GRPOSettings()
    countdown = heldout_settings(settings)
    search = heldout_settings(settings.replace(max_new_tokens=1024), get_world("search"))
    assert countdown["ks"] == (1, 8) and not countdown["search"]
    assert search["ks"] == (1, 16) and search["search"] and search["truncated"]
    shipped = json.loads(
        (SHIPPED_RUNS_DIR / "grpo" / "r1lab-lesson-seed0" / "eval.json").read_text()
    )
    assert set(shipped["before"]) == {
        *(f"pass@{k}" for k in countdown["ks"]), "greedy_accuracy", "format_rate", "mean_length"
    }  # fmt: skip


def test_distinct_answers_ignore_spaces_and_unformatted_completions():
    texts = [
        f"{THINK}<answer>3+4</answer>",
        f"{THINK}<answer>3 + 4</answer>",
        f"{THINK}<answer>4+3</answer>",
        "3+4",  # not in the answer format
    ]
    assert distinct_answers(texts) == 2
    assert distinct_correct(texts, [True, True, False, False]) == 1
    assert powers_of_two(16) == [1, 2, 4, 8, 16] and powers_of_two(6) == [1, 2, 4]


def test_scores_format_and_window_means():
    assert (
        format_score("mean_length", 286.94) == "286.9" and format_score("attempts", 2.33) == "2.3"
    )
    assert format_score("pass@1", 0.4343) == "43.4%" and format_score("x", None) == "–"
    shares = [k for k in ("greedy_accuracy", "retry_rate", "pass@16", "kl_to_start", "attempts")
              if is_share(k)]  # fmt: skip
    assert shares == ["greedy_accuracy", "retry_rate", "pass@16"]
    assert mean_of([0.5, None, 1.0]) == 0.75 and mean_of([None]) is None
    assert all(is_share(key) for key in search_quality([]))  # the search measures
    assert not is_share("search_items") and format_score("ok_precision", 0.5) == "50.0%"
    metrics = [{"step": i, "r": float(i)} for i in range(1, 11)] + [{"step": 11, "r": None}]
    assert window_mean(metrics, "r", first=True, n=2) == 1.5
    assert window_mean(metrics, "r", first=False, n=3) == 9.5  # step 11 did not measure it


def test_the_emergence_study_loads_with_its_summaries():
    study = load_emergence("search")
    assert set(study) == {"sft", "r1zero"} and len(study["sft"]) == 3
    run = study["sft"][0]
    assert run.summary["world"] == "search" and run.metrics and run.log("watch.jsonl")
    with pytest.raises(FileNotFoundError, match="no nothing.jsonl"):
        run.log("nothing.jsonl")
    rows = before_after_rows(study["sft"], ["pass@1", "mean_length"])
    assert [r[0] for r in rows] == [r.name for r in study["sft"]] + ["mean"]
    before = [r.summary["before"]["pass@1"] for r in study["sft"]]
    after = [r.summary["after"]["pass@1"] for r in study["sft"]]
    mean = f"{format_score('pass@1', sum(before) / 3)} → {format_score('pass@1', sum(after) / 3)}"
    assert rows[-1][1] == mean
    # runs measured before the search measures existed show them as absent
    assert before_after_rows(study["sft"], ["false_ok_rate"])[-1] == ["mean", "– → –"]
