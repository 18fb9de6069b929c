"""The sweep behind notebook 08: each arm's update is what it claims to be, runs resume
and are skipped when finished, and the shipped sweep is complete and reproducible."""

import json
import math
import subprocess
import sys

import pytest
import torch

from r1lab.config import RunConfig
from r1lab.data import countdown_dataset, load_eval
from r1lab.experiments import TRAIN_PROMPTS
from r1lab.grpo import step_advantages, train
from r1lab.grpo_settings import GRPOSettings
from r1lab.heldout import distinct_correct
from r1lab.models import load_shipped
from r1lab.paths import SHIPPED_RUNS_DIR
from r1lab.resume import CHECKPOINT_FILE
from r1lab.rewards import countdown_reward
from r1lab.runlog import EVAL_FILE, load_run
from r1lab.storage import FinishedRunError
from r1lab.sweep import (
    ARMS,
    COMPARISONS,
    RESAMPLES,
    SWEEP_DIR,
    arm_settings,
    arm_values,
    coverage,
    expert_rollouts,
    expert_source,
    load_sweep,
    run_sweep,
    spread,
    sweep_run,
    sweep_scores,
)

SHIPPED = SHIPPED_RUNS_DIR / SWEEP_DIR
SEEDS = (0, 1, 2)


# ---------------------------------------------------------------------------- the arms


def test_advantage_modes_on_one_batch():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])  # two groups of 4
    centered, keep = step_advantages(rewards, 4, GRPOSettings())
    assert keep is None
    assert torch.allclose(centered, torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]))
    positive, keep = step_advantages(rewards, 4, GRPOSettings(advantages="positive"))
    assert keep is None and torch.equal(positive, centered.clamp(min=0))
    assert positive.min() == 0 and positive.max() == 0.75
    # Rejection sampling: every success counts alike, even in a group that is all right.
    weight, keep = step_advantages(rewards, 4, GRPOSettings(advantages="filter"))
    assert torch.equal(keep, rewards >= 1) and torch.equal(weight, keep.float())
    with pytest.raises(ValueError, match="advantages must be one of"):
        GRPOSettings(advantages="negative")


def test_every_arm_gets_the_same_budget():
    cfg = RunConfig.from_profile("full")
    base = arm_settings(cfg, "grpo")
    assert base.steps == RunConfig.from_profile("full").sweep_steps
    completions = base.prompts_per_step * base.num_generations
    for name in ARMS:
        s = arm_settings(cfg, name)
        assert (s.steps, s.learning_rate, s.mu, s.seed) == (base.steps, base.learning_rate, 1, 0)
        assert s.prompts_per_step * s.num_generations == completions, name
    assert [arm_settings(cfg, f"g{g}").num_generations for g in (2, 4, 16)] == [2, 4, 16]
    assert arm_settings(cfg, "kl_0.4").beta == 0.4 and base.beta == 0.0
    assert arm_settings(cfg.replace(seed=2), "rft").seed == 2
    assert {a for arms in COMPARISONS.values() for a in arms} == set(ARMS)
    with pytest.raises(ValueError, match="unknown arm 'ppo'"):
        arm_settings(cfg, "ppo")


def test_expert_rollouts_hold_the_traces_and_the_update_is_sft():
    """Filter advantages on expert traces: the gradient is exactly that of the token-mean
    cross-entropy on the traces, computed by transformers itself."""
    model, tokenizer = load_shipped("sft")
    rows = list(countdown_dataset(4, seed=3))
    source = expert_source(tokenizer, seed=0)
    batch = source(rows, 7)
    assert batch.group_size == 1 and len(batch) == 4
    assert source(rows, 7).texts == batch.texts  # a pure function of (seed, step)
    assert source(rows, 8).texts != batch.texts
    assert countdown_reward(batch.texts, [r["numbers"] for r in rows],
                            [r["target"] for r in rows]) == [1.0] * 4  # fmt: skip
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        expert_rollouts(tokenizer, ["use 1 2 to make 3"] * 2, ["<think>1+2=3 ok</think>"])
    for i, text in enumerate(batch.texts):
        ids = batch.completion_ids[i][batch.completion_mask[i].bool()]
        assert tokenizer.decode(ids) == text

    settings = GRPOSettings(steps=1, prompts_per_step=4, advantages="filter", warmup_steps=0,
                            learning_rate=1e-3, max_grad_norm=1e9)  # fmt: skip
    trained, given = load_shipped("sft")[0], []

    def half_wrong(rows, step):
        """Expert traces, every other one with a wrong answer: the filter must drop those."""
        texts = source(rows, step).texts
        texts = [t if i % 2 else t.split("<answer>")[0] + "<answer>0</answer>"
                 for i, t in enumerate(texts)]  # fmt: skip
        given.append(expert_rollouts(tokenizer, [r["prompt"] for r in rows], texts))
        return given[-1]

    result = train(trained, tokenizer, rows, settings, source=half_wrong, progress=False)
    assert result.history[0]["accuracy"] == 0.5 and result.history[0]["active_rate"] == 0.5

    # The same gradient by hand: transformers' token-mean cross-entropy on the right traces.
    kept = given[0]
    right = [1, 3]
    ids = torch.cat([kept.prompt_ids[right], kept.completion_ids[right]], dim=1)
    mask = torch.cat([kept.prompt_mask[right], kept.completion_mask[right]], dim=1)
    completion = kept.completion_ids[right].masked_fill(kept.completion_mask[right] == 0, -100)
    labels = torch.cat([torch.full_like(kept.prompt_ids[right], -100), completion], dim=1)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    reference = load_shipped("sft")[0].train()
    out = reference(input_ids=ids, attention_mask=mask, position_ids=positions, labels=labels)
    out.loss.backward()
    ours = dict(trained.named_parameters())  # train() leaves the last update's gradients
    for name, param in reference.named_parameters():
        assert torch.allclose(ours[name].grad, param.grad, rtol=1e-4, atol=1e-7), name


def test_an_expert_arm_refuses_settings_that_are_not_sft():
    cfg = RunConfig.from_profile("full", temperature=0.7)
    assert arm_settings(cfg, "grpo").temperature == 0.7
    with pytest.raises(ValueError, match="supervised fine-tuning only with"):
        arm_settings(cfg, "sft_more")


def test_active_rate_counts_the_completions_that_move_the_model(capsys):
    model, tokenizer = load_shipped("sft")
    rows = list(countdown_dataset(8, seed=1))

    def always_right(completions, **kwargs):
        return [1.0] * len(completions)

    settings = GRPOSettings(steps=1, prompts_per_step=2, num_generations=3, max_new_tokens=16)
    grpo = train(model, tokenizer, rows, settings, reward_funcs=(always_right,), progress=False)
    assert grpo.history[0]["active_rate"] == 0.0  # no spread: nothing to learn
    assert "every advantage is 0" in capsys.readouterr().out
    rft = train(model, tokenizer, rows, settings.replace(advantages="filter"),
                reward_funcs=(always_right,), progress=False)  # fmt: skip
    assert rft.history[0]["active_rate"] == 1.0  # every success counts
    assert "every advantage is 0" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="a source must return group_size completions"):
        train(model, tokenizer, rows, settings, progress=False,
              source=lambda batch, step: expert_rollouts(tokenizer, ["use 1 2 to make 3"],
                                                         ["<answer>1+2</answer>"]))  # fmt: skip


# ---------------------------------------------------------------------------- measuring


def test_sweep_scores_measure_what_they_say():
    model, tokenizer = load_shipped("sft")
    rows = list(load_eval("countdown", 12, chat=True))
    scores = sweep_scores(model, tokenizer, rows, num_samples=8, max_new_tokens=64,
                          start_model=model)  # fmt: skip
    passes = [scores[f"pass@{k}"] for k in (1, 2, 4, 8)]
    assert passes == sorted(passes) and 0 < passes[-1] <= 1
    counts = scores["correct_counts"]
    assert len(counts) == 12 and sum(counts) / (12 * 8) == pytest.approx(scores["pass@1"])
    assert scores["pass@8"] == pytest.approx(sum(c > 0 for c in counts) / 12)
    # Distinct correct answers: at least one per solved problem, never more than its count.
    assert scores["distinct_correct"] <= sum(counts) / 12
    assert scores["distinct_correct_solved"] >= 1.0
    assert abs(scores["kl_to_start"]) < 1e-4  # the model against itself
    assert 0 <= scores["retry_rate"] <= 1 and scores["mean_length"] > 5
    assert len(scores["shown"]) == 6 and len(scores["shown"][0]["completions"]) == 2


def test_distinct_correct_counts_answers_as_written():
    def done(answer):
        return f"<think>1+2=3 ok</think><answer>{answer}</answer>"

    texts = [done("3+4"), done(" 3 + 4 "), done("4+3"), done("3*4"), "no answer"]
    assert distinct_correct(texts, [True, True, True, False, True]) == 3  # "" counts too
    assert distinct_correct(texts[:2], [True, True]) == 1
    assert distinct_correct(texts, [False] * 5) == 0


def test_coverage_counts_problems_gained_and_lost_against_the_start():
    sweep = {
        "starts": {"sft": {"correct_counts": [0, 0, 3, 5], "resampled": [[0, 1, 3, 0]]}},
        "runs": {"grpo": {0: {"scores": {"correct_counts": [2, 0, 0, 5]}},
                          1: {"scores": {"correct_counts": [0, 0, 1, 1]}}}},
    }  # fmt: skip
    assert coverage(sweep, "grpo") == {"gained": [1, 0], "lost": [1, 0]}
    assert coverage(sweep, "resampled") == {"gained": [1], "lost": [1]}
    assert coverage(sweep, "rft") == {"gained": [], "lost": []}


# ---------------------------------------------------------------------------- running


def test_a_sweep_run_is_skipped_when_finished_and_resumes_when_extended(tmp_path):
    cfg = RunConfig.from_profile("smoke")
    run_dir = tmp_path / "rft-seed0"
    first = sweep_run(cfg, "rft", run_dir, steps=2, progress=False, keep_checkpoint=True)
    assert first["arm"] == "rft" and first["settings"]["advantages"] == "filter"
    assert (run_dir / EVAL_FILE).exists() and (run_dir / CHECKPOINT_FILE).exists()
    again = sweep_run(cfg, "rft", run_dir, steps=2, progress=False)
    assert again == first  # finished: read back, not trained again
    longer = sweep_run(cfg, "rft", run_dir, steps=3, progress=False)
    assert longer["resumed_from"] == 2
    assert [m["step"] for m in load_run(run_dir).metrics] == [1, 2, 3]
    assert not (run_dir / CHECKPOINT_FILE).exists()
    metrics = load_run(run_dir).metrics[-1]
    assert "effective_retry_rate" in metrics and "length_hist" not in metrics
    assert 0 <= metrics["active_rate"] <= 1
    # Finished without its checkpoint: longer is another run, refused unless replaced.
    with pytest.raises(FinishedRunError, match="steps: 3 → 4"):
        sweep_run(cfg, "rft", run_dir, steps=4, progress=False, keep_checkpoint=True)
    sweep_run(cfg, "rft", run_dir, steps=4, progress=False, keep_checkpoint=True, overwrite=True)
    assert [m["step"] for m in load_run(run_dir).metrics] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="checkpoint at step 4, past steps=3"):
        sweep_run(cfg, "rft", run_dir, steps=3, progress=False)


def test_run_sweep_runs_two_at_a_time_and_then_skips_everything(tmp_path, capsys):
    cfg = RunConfig.from_profile("smoke")
    arms = ("sft_more", "r1zero")
    results = run_sweep(cfg, tmp_path, arms=arms, seeds=(0,), jobs=2)
    assert sorted(results) == ["r1zero-seed0", "sft_more-seed0"]
    assert results["r1zero-seed0"]["scores"]["pass@1"] == 0.0  # the base model has no format
    sweep = load_sweep(tmp_path)
    assert set(sweep["starts"]) == {"sft", "base"} and set(sweep["runs"]) == set(arms)
    resampled = sweep["starts"]["sft"]["resampled"]  # the start model, sampled again
    assert len(resampled) == RESAMPLES and all(len(counts) == 16 for counts in resampled)
    assert resampled[0] != resampled[1] or resampled[1] != resampled[2]  # other seeds
    assert sweep["runs"]["sft_more"][0]["metrics"][0]["accuracy"] == 1.0  # expert traces
    mtimes = {p: p.stat().st_mtime for p in tmp_path.rglob("*.json")}
    capsys.readouterr()
    assert run_sweep(cfg, tmp_path, arms=arms * 2, seeds=(0, 0), jobs=1) == results
    assert {p: p.stat().st_mtime for p in tmp_path.rglob("*.json")} == mtimes
    # In this process (jobs=1) the numbers are those of the worker processes.
    alone = run_sweep(cfg, tmp_path / "alone", arms=("sft_more",), seeds=(0,), jobs=1)
    assert alone["sft_more-seed0"]["scores"] == results["sft_more-seed0"]["scores"]
    with pytest.raises(ValueError, match="unknown arm"):
        run_sweep(cfg, tmp_path, arms=("dpo",))


def test_the_sweep_command(tmp_path):
    out = tmp_path / "sweep"
    done = subprocess.run(
        [sys.executable, "-m", "r1lab.cli", "sweep", "--profile", "smoke", "--arms", "grpo",
         "--seeds", "0", "--jobs", "1", "--quiet", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "grpo-seed0" in done.stdout + done.stderr and "1 runs finished" in done.stdout
    assert json.loads((out / "grpo-seed0" / EVAL_FILE).read_text())["profile"] == "smoke"
    wrong = subprocess.run(
        [sys.executable, "-m", "r1lab.cli", "sweep", "--arms", "ppo", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert wrong.returncode == 2 and "unknown arm 'ppo': choose from grpo" in wrong.stderr


# ---------------------------------------------------------------------------- shipped


@pytest.fixture(scope="module")
def shipped():
    return load_sweep(SHIPPED)


def test_the_shipped_sweep_is_complete(shipped):
    assert set(shipped["starts"]) == {"sft", "base"}
    assert set(shipped["runs"]) == set(ARMS)
    for name, runs in shipped["runs"].items():
        assert sorted(runs) == list(SEEDS), name
        for seed, run in runs.items():
            assert run["profile"] == "full" and run["eval_problems"] == 200
            # a field added since the sweep was trained reads as its default
            settings = arm_settings(RunConfig.from_profile("full", seed=seed), name)
            assert settings.same_as(run["settings"]), name
            assert [m["step"] for m in run["metrics"]] == list(
                range(1, RunConfig.from_profile("full").sweep_steps + 1)
            )
            assert len(run["scores"]["correct_counts"]) == 200
    assert not list(SHIPPED.rglob(CHECKPOINT_FILE))
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size < 12e6, f"the shipped sweep is {size / 1e6:.1f} MB"
    mean, low, high = spread(arm_values(shipped, "grpo", "pass@1"))
    assert low <= mean <= high and not math.isnan(mean)


def test_the_shipped_sweep_is_what_the_command_makes(shipped):
    """The first steps of a shipped run, trained again with one thread as the sweep does,
    log the same numbers."""
    cfg = RunConfig.from_profile("full", seed=1)
    settings = arm_settings(cfg, "grpo_pos")
    model, tokenizer = load_shipped("sft")
    seen = []

    class Enough(Exception):
        pass

    def stop_after_two(metrics):
        seen.append(metrics)
        if len(seen) == 2:
            raise Enough

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(Enough):
            train(model, tokenizer, countdown_dataset(TRAIN_PROMPTS, seed=0), settings,
                  on_step=stop_after_two, progress=False)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    logged = shipped["runs"]["grpo_pos"][1]["metrics"][:2]
    for ours, theirs in zip(seen, logged, strict=True):
        for key in ("reward", "loss", "length", "grad_norm", "active_rate", "kl"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-7), key
