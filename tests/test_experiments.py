"""The shipped GRPO runs: produced by `r1lab grpo`, meeting the course's learning target."""

import json

import pytest

from r1lab.config import RunConfig
from r1lab.experiments import grpo_from_sft
from r1lab.models import shipped_card
from r1lab.paths import SHIPPED_RUNS_DIR
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
    assert after["greedy_accuracy"] - before["greedy_accuracy"] >= 0.10
    run = load_run(path)
    assert [m["step"] for m in run.metrics] == list(range(1, lesson.rl_steps + 1))
    assert run.config["seed"] == summary["seed"] and run.samples


def test_before_is_the_sft_cards_evaluation():
    """Same file, samples, temperature and seed as the card: the same numbers."""
    card = shipped_card("sft")["evaluation"]
    for path in SHIPPED:
        before = json.loads((path / "eval.json").read_text())["before"]
        assert before["pass@1"] == pytest.approx(card["pass@1"])
        assert before["greedy_accuracy"] == pytest.approx(card["greedy_accuracy"])


def test_an_unknown_trainer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="trainer must be one of r1lab, trl"):
        grpo_from_sft(RunConfig.from_profile("smoke"), tmp_path, trainer="ppo")


@pytest.mark.parametrize("trainer, seed", [("r1lab", 1), ("trl", 0)])
def test_a_shipped_run_loads_as_train_returns_it(trainer, seed):
    """What notebooks 05 (r1lab) and 06 (trl) show with USE_SHIPPED_RUN = True."""
    from r1lab.experiments import load_shipped_run

    result, summary = load_shipped_run(trainer, seed=seed)
    assert result.run_dir == SHIPPED_RUNS_DIR / "grpo" / f"{trainer}-lesson-seed{seed}"
    steps = RunConfig.from_profile("lesson").rl_steps
    assert [m["step"] for m in result.history] == list(range(1, steps + 1))
    assert result.resumed_from == 0 and result.skipped_steps == 0 and result.last_rollouts is None
    assert summary["trainer"] == trainer and summary["seed"] == seed
    assert summary["profile"] == "lesson" and summary["settings"]["steps"] == steps
    # The learning target of the r1lab runs holds through TRL too.
    assert summary["after"]["pass@1"] - summary["before"]["pass@1"] >= 0.20
    assert summary["after"]["greedy_accuracy"] - summary["before"]["greedy_accuracy"] >= 0.10


def test_a_missing_shipped_run_names_the_shipped_ones(tmp_path):
    from r1lab.experiments import load_shipped_run

    with pytest.raises(FileNotFoundError, match="r1lab-lesson-seed0, r1lab-lesson-seed1"):
        load_shipped_run("r1lab", seed=7)
    with pytest.raises(FileNotFoundError, match="the shipped runs are none"):
        load_shipped_run("r1lab", root=tmp_path)
    with pytest.raises(ValueError, match="trainer must be one of r1lab, trl"):
        load_shipped_run("ppo")


def test_a_trl_run_keeps_its_training_state_only_when_asked(tmp_path):
    from r1lab.config import RunConfig
    from r1lab.experiments import grpo_from_sft
    from r1lab.trl_grpo import TRL_DIR

    cfg = RunConfig.from_profile("smoke")
    grpo_from_sft(cfg, tmp_path / "dropped", trainer="trl", progress=False)
    assert (tmp_path / "dropped" / "eval.json").exists()
    assert not (tmp_path / "dropped" / TRL_DIR).exists()  # 13 MB per lesson run otherwise
    grpo_from_sft(cfg, tmp_path / "kept", trainer="trl", keep_checkpoint=True, progress=False)
    assert any((tmp_path / "kept" / TRL_DIR).glob("checkpoint-*"))
