"""The shipped GRPO runs: produced by `r1lab grpo`, meeting the course's learning target."""

import json

import pytest

from r1lab.checkpoints import CHECKPOINTS_DIR, read_card
from r1lab.config import RunConfig
from r1lab.experiments import SHIPPED_RUNS_DIR, grpo_from_sft
from r1lab.runlog import list_runs, load_run

SHIPPED = sorted((SHIPPED_RUNS_DIR / "grpo").glob("r1lab-lesson-seed*"))


def test_three_seeds_are_shipped_without_training_state():
    assert [p.name for p in SHIPPED] == [f"r1lab-lesson-seed{s}" for s in range(3)]
    assert not list(SHIPPED_RUNS_DIR.rglob("checkpoint.pt"))
    assert set(list_runs(SHIPPED_RUNS_DIR / "grpo")) >= set(SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_grpo_lifts_sampled_and_greedy_accuracy_for_every_seed(path):
    """The learning target: +20 points of pass@1 at the training temperature and +10 of
    greedy accuracy on the held-out problems, from the shipped cold start."""
    summary = json.loads((path / "eval.json").read_text())
    lesson = RunConfig.from_profile("lesson")
    assert summary["profile"] == "lesson" and summary["settings"]["steps"] == lesson.rl_steps
    before, after = summary["before"], summary["after"]
    assert after["pass@1"] - before["pass@1"] >= 0.20
    assert after["greedy"] - before["greedy"] >= 0.10
    run = load_run(path)
    assert [m["step"] for m in run.metrics] == list(range(1, lesson.rl_steps + 1))
    assert run.config["seed"] == summary["seed"] and run.samples


def test_before_is_the_sft_cards_evaluation():
    """Same file, samples, temperature and seed as the card: the same numbers."""
    card = read_card(CHECKPOINTS_DIR / "sft")["evaluation"]
    for path in SHIPPED:
        before = json.loads((path / "eval.json").read_text())["before"]
        assert before["pass@1"] == pytest.approx(card["pass@1"])
        assert before["greedy"] == pytest.approx(card["greedy_accuracy"])


def test_an_unknown_trainer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="trainer must be one of r1lab, trl"):
        grpo_from_sft(RunConfig.from_profile("smoke"), tmp_path, trainer="ppo")
