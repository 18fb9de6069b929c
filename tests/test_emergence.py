"""The emergence study: its runs log behaviour per step, resume, and are shipped as
produced by `r1lab emergence`."""

import json

import pytest

from r1lab.behaviors import RETRY_KINDS
from r1lab.config import RunConfig
from r1lab.experiments import (
    EMERGENCE_DIR,
    HELDOUT_EVERY,
    HELDOUT_FILE,
    SEARCH_EMERGENCE_DIR,
    SHIPPED_RUNS_DIR,
    STARTS,
    WATCH_FILE,
    WATCH_PROMPTS,
    _rewrite_from,
    emergence_dir,
    emergence_run,
    emergence_study,
)
from r1lab.grpo import train
from r1lab.grpo_settings import GRPOSettings
from r1lab.models import load_shipped, shipped_card
from r1lab.resume import CHECKPOINT_FILE
from r1lab.runlog import load_run

SHIPPED = SHIPPED_RUNS_DIR / EMERGENCE_DIR
SEARCH_SHIPPED = SHIPPED_RUNS_DIR / SEARCH_EMERGENCE_DIR
BEHAVIOUR_KEYS = (
    "attempts",
    "retry_rate",
    "honest_check_rate",
    "length_hist",
    "wait_rate",
) + tuple(f"{k}_retry_rate" for k in RETRY_KINDS)


def test_extra_metrics_see_each_completion_with_its_own_row():
    model, tokenizer = load_shipped("sft")
    rows = [{"prompt": f"use 1 2 {n} to make {n + 3}", "numbers": [1, 2, n], "target": n + 3}
            for n in range(1, 9)]  # fmt: skip
    seen = []

    def extra(texts, per_completion, lengths):
        seen.append((texts, per_completion, lengths))
        return {"my_metric": len(texts)}

    settings = GRPOSettings(steps=2, prompts_per_step=2, num_generations=3, max_new_tokens=24)
    result = train(model, tokenizer, rows, settings, extra_metrics=extra, progress=False)
    assert [m["my_metric"] for m in result.history] == [6, 6]
    texts, per_completion, lengths = seen[-1]
    assert len(texts) == len(per_completion) == len(lengths) == 6
    # G consecutive completions share a prompt's row, in the order they were sampled.
    assert per_completion[0] is per_completion[2] and per_completion[3] is per_completion[5]
    assert per_completion[0] is not per_completion[3]
    assert all(1 <= n <= 24 for n in lengths)


def test_an_emergence_run_logs_behaviour_watches_prompts_and_resumes(tmp_path):
    cfg = RunConfig.from_profile("smoke")
    run_dir = tmp_path / "sft-seed0"
    summary = emergence_run(cfg, "sft", run_dir, progress=False, steps=2, samples_every=1,
                            keep_checkpoint=True)  # fmt: skip
    run = load_run(run_dir)
    assert [m["step"] for m in run.metrics] == [1, 2]
    for key in BEHAVIOUR_KEYS:
        assert key in run.metrics[0], key
    assert sum(run.metrics[0]["length_hist"]) == cfg.prompts_per_step * cfg.num_generations
    watch = [json.loads(line) for line in (run_dir / WATCH_FILE).read_text().splitlines()]
    assert [r["step"] for r in watch] == [0] * WATCH_PROMPTS + [1] * WATCH_PROMPTS + [2] * 6
    heldout = [json.loads(line) for line in (run_dir / HELDOUT_FILE).read_text().splitlines()]
    assert heldout[0]["step"] == 0 and "effective_retry_rate" in heldout[0]
    assert summary["arm"] == "sft" and "effective_retry_rate" in summary["after"]
    assert summary["before"]["pass@1"] == pytest.approx(
        json.loads((run_dir / "eval.json").read_text())["before"]["pass@1"]
    )
    # Finished: asked again, it is returned without training.
    mtime = (run_dir / "metrics.jsonl").stat().st_mtime_ns
    assert emergence_run(cfg, "sft", run_dir, progress=False, steps=2, samples_every=1) == summary
    assert (run_dir / "metrics.jsonl").stat().st_mtime_ns == mtime
    # Extended: resumes from the checkpoint, logs steps 3 and 4 once each.
    longer = emergence_run(cfg, "sft", run_dir, progress=False, steps=4, samples_every=1)
    assert longer["resumed_from"] == 2
    assert [m["step"] for m in load_run(run_dir).metrics] == [1, 2, 3, 4]
    watch = [json.loads(line) for line in (run_dir / WATCH_FILE).read_text().splitlines()]
    assert [r["step"] for r in watch][::WATCH_PROMPTS] == [0, 1, 2, 3, 4]
    assert not (run_dir / CHECKPOINT_FILE).exists()


def test_r1_zero_gets_no_reward_to_learn_from(tmp_path):
    cfg = RunConfig.from_profile("smoke")
    summaries = emergence_study(cfg, tmp_path, seeds=[0], arms=["r1zero"], progress=False)
    [summary] = summaries.values()
    assert summary["start"] == "base" and summary["before"]["pass@1"] == 0.0
    run = load_run(tmp_path / "r1zero-seed0")
    assert all(m["reward"] == 0.0 and m["frac_reward_zero_std"] == 1.0 for m in run.metrics)
    with pytest.raises(ValueError, match="arm must be one of"):
        emergence_run(cfg, "rl", tmp_path / "x")


def test_rewrite_from_keeps_only_earlier_rows(tmp_path):
    path = tmp_path / "log.jsonl"
    _rewrite_from(path, 0, [{"step": 0}, {"step": 0}])
    _rewrite_from(path, 5, [{"step": 5}])
    _rewrite_from(path, 5, [{"step": 5, "again": True}])  # a resumed run logs step 5 again
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"step": 0}, {"step": 0}, {"step": 5, "again": True}]


# ------------------------------------------------------------------ the shipped runs

SHIPPED_RUNS = sorted(SHIPPED.glob("*-seed*"))


@pytest.mark.parametrize(
    ("study", "limit"),
    [(SHIPPED, 8_000_000), (SEARCH_SHIPPED, 10_000_000)],
    ids=["world1", "search"],
)
def test_every_arm_is_shipped_for_three_seeds_without_training_state(study, limit):
    assert [p.name for p in sorted(study.glob("*-seed*"))] == sorted(
        f"{arm}-seed{s}" for arm in STARTS for s in range(3)
    )
    assert not list(study.rglob(CHECKPOINT_FILE))
    size = sum(f.stat().st_size for f in study.rglob("*") if f.is_file())
    assert size < limit, f"{size / 1e6:.1f} MB: keep the shipped runs small"


@pytest.mark.parametrize("path", SHIPPED_RUNS, ids=lambda p: p.name)
def test_a_shipped_run_is_complete(path):
    full = RunConfig.from_profile("full")
    summary = json.loads((path / "eval.json").read_text())
    assert summary["profile"] == "full" and summary["settings"]["steps"] == full.rl_steps
    run = load_run(path)
    assert [m["step"] for m in run.metrics] == list(range(1, full.rl_steps + 1))
    for key in BEHAVIOUR_KEYS:
        assert all(key in m for m in run.metrics), key
    heldout = [json.loads(line) for line in (path / HELDOUT_FILE).read_text().splitlines()]
    assert [r["step"] for r in heldout] == list(range(0, full.rl_steps + 1, HELDOUT_EVERY))
    watch = (path / WATCH_FILE).read_text().splitlines()
    assert len(watch) == WATCH_PROMPTS * (full.rl_steps // 25 + 1)
    if summary["arm"] == "sft":
        card = shipped_card("sft")["evaluation"]
        assert summary["before"]["pass@1"] == pytest.approx(card["pass@1"])
    else:  # R1-Zero: the base model never writes the format, so nothing is ever rewarded
        assert all(m["reward"] == 0.0 for m in run.metrics)
        assert summary["after"]["pass@1"] == 0.0


# ------------------------------------------------------------------ the search world

SEARCH_QUALITY_KEYS = ("ok_precision", "no_precision", "false_ok_rate", "repeat_rate",
                       "valid_item_rate", "search_pass1", "direct_pass1")  # fmt: skip
SEARCH_KEYS = BEHAVIOUR_KEYS + ("checked_rate", "copied_target_rate", "step_accuracy")


def test_a_search_world_run_starts_from_its_own_models_and_measures_searches(tmp_path):
    cfg = RunConfig.from_profile("smoke")
    run_dir = tmp_path / "sft-seed0"
    summary = emergence_run(cfg, "sft", run_dir, progress=False, world="search", steps=2,
                            max_new_tokens=24)  # fmt: skip
    assert summary["world"] == "search" and summary["settings"]["max_new_tokens"] == 24
    shown = ("pass@16", "search_rate", "attempts", "honest_check_rate", "truncated_rate")
    for key in shown + SEARCH_QUALITY_KEYS:
        assert key in summary["before"] and key in summary["after"], key
    run = load_run(run_dir)
    for key in SEARCH_KEYS + SEARCH_QUALITY_KEYS:  # the shipped runs predate the second
        assert key in run.metrics[0], key
    watch = [json.loads(line) for line in (run_dir / WATCH_FILE).read_text().splitlines()]
    assert all(len(r["numbers"]) == 4 for r in watch)  # the search world's held-out problems
    # The same folder asked for world 1 is not mistaken for this finished run.
    assert (
        emergence_dir("search") == SEARCH_EMERGENCE_DIR
        and emergence_dir("countdown") == EMERGENCE_DIR
    )


def test_the_search_world_budget_is_the_worlds_unless_asked_otherwise(tmp_path):
    from r1lab.worlds import SEARCH

    assert SEARCH.max_new_tokens >= 2 * 200  # long searches fit
    with pytest.raises(ValueError, match="unknown world"):
        emergence_run(RunConfig.from_profile("smoke"), "sft", tmp_path, world="mars")


def _summary(before, after):
    return {"before": before, "after": after}


def test_the_search_targets_are_read_per_seed_from_the_logs():
    from r1lab.experiments import aha_threshold, search_targets

    before = {"mean_length": 60.0, "attempts": 2.0, "effective_retry_rate": 0.04,
              "pass@1": 0.2, "pass@16": 0.8}  # fmt: skip
    grown = {"mean_length": 150.0, "attempts": 5.0, "effective_retry_rate": 0.3,
             "pass@1": 0.3, "pass@16": 0.78}  # fmt: skip
    shrunk = {**grown, "mean_length": 50.0, "pass@16": 0.6}
    steps = [{"step": i + 1, "effective_retry_rate": 0.05 if i < 25 else 0.4,
              "honest_check_rate": 0.99} for i in range(100)]  # fmt: skip
    flat = [{**m, "effective_retry_rate": 0.05, "honest_check_rate": 0.9} for m in steps]
    assert aha_threshold(steps) == 0.25 and aha_threshold(flat) == 0.25
    assert aha_threshold([{"effective_retry_rate": 0.2}]) == pytest.approx(0.4)
    rows = {r["target"]: r for r in search_targets([_summary(before, grown)], [steps], 1.5)}
    assert all(r["met"] for r in rows.values()), rows
    # the 25-step average of 0.05s then 0.4s first reaches 25 % with 15 of the 0.4s in it
    assert rows["an aha step in every seed"]["values"] == ["step 40"]
    assert rows["held-out length ≥ 1.5× its start"]["values"] == ["2.50×"]
    two = search_targets([_summary(before, grown), _summary(before, shrunk)], [steps, flat], 1.5)
    missed = {r["target"] for r in two if not r["met"]}
    assert missed == {
        "held-out length ≥ 1.5× its start",
        "held-out pass@16 falls by at most 5 points",
        "checks honest ≥ 95 % at every step (lowest)",
        "an aha step in every seed",
    }
    with pytest.raises(ValueError, match="1 summaries but 2 runs"):
        search_targets([_summary(before, grown)], [steps, flat], 1.5)


SEARCH_RUNS = sorted(SEARCH_SHIPPED.glob("*-seed*"))


@pytest.mark.parametrize("path", SEARCH_RUNS, ids=lambda p: p.name)
def test_a_shipped_search_run_is_complete(path):
    from r1lab.worlds import SEARCH

    summary = json.loads((path / "eval.json").read_text())
    steps = RunConfig.from_profile("full").search_steps  # the study's budget
    assert summary["world"] == "search" and summary["settings"]["steps"] == steps
    assert summary["settings"]["max_new_tokens"] == SEARCH.max_new_tokens
    run = load_run(path)
    assert [m["step"] for m in run.metrics] == list(range(1, steps + 1))
    for key in SEARCH_KEYS:
        assert all(key in m for m in run.metrics), key
    heldout = [json.loads(line) for line in (path / HELDOUT_FILE).read_text().splitlines()]
    assert [r["step"] for r in heldout] == list(range(0, steps + 1, HELDOUT_EVERY))
    assert "pass@16" in summary["before"] and "pass@16" in summary["after"]


@pytest.mark.parametrize("seed", range(3))
def test_r1_zero_in_the_search_world_starts_learning_from_rare_rewards(seed):
    run = load_run(SEARCH_SHIPPED / f"r1zero-seed{seed}")
    assert any(m["reward"] > 0 for m in run.metrics)  # unlike world 1's, it gets going
    assert run.metrics[-1]["format_rate"] > run.metrics[0]["format_rate"]
