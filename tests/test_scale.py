"""Scale up: `r1lab scale` trains through TRL, in one process or several launched by
accelerate (two CPU processes over gloo here), with the run folder of `r1lab grpo`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r1lab import scale
from r1lab.grpo_settings import GRPOSettings
from r1lab.paths import SHIPPED_MODELS_DIR, SHIPPED_RUNS_DIR
from r1lab.rewards import countdown_reward
from r1lab.runlog import load_run
from r1lab.storage import read_json, read_jsonl
from tests.conftest import hub_cache
from tests.processes import alive, children, free_port

REPO = Path(__file__).resolve().parents[1]
CPU_DDP = REPO / "configs" / "accelerate" / "cpu_ddp.yaml"
TINY_RUN = ["--model", str(SHIPPED_MODELS_DIR / "sft"), "--prompts-per-step", "4",
            "--num-generations", "4", "--max-new-tokens", "32", "--micro-batch-size", "4",
            "--train-prompts", "100", "--quiet"]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _launch(out: Path, *extra: str, **popen) -> subprocess.Popen:
    """``accelerate launch`` of ``r1lab scale`` in two processes, the shipped cold start
    standing in for a hub model."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_DDP),
               "--main_process_port", str(free_port()), "-m", "r1lab", "scale", *TINY_RUN,
               "--out", str(out), *extra]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, env=ENV, text=True, **popen)


def test_two_processes_train_different_prompts_into_the_same_weights(tmp_path):
    out = tmp_path / "run"
    done = _launch(out, "--steps", "3", "--trace-processes",
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    log, _ = done.communicate(timeout=600)
    assert done.returncode == 0, log
    assert "2 process(es) on cpu: 3 steps" in log
    summary = read_json(out / "eval.json")
    assert summary["processes"] == 2 and summary["prompt_style"] == "r1lab"
    # 4 prompts × 4 completions = 16, split over 2 processes in micro-batches of 4.
    assert summary["trainer_args"]["gradient_accumulation_steps"] == 2
    # The run folder of `r1lab grpo`, written once, with its metric names.
    run = load_run(out)
    assert [m["step"] for m in run.metrics] == [1, 2, 3]
    for key in ("reward", "accuracy", "length", "kl", "rewards/countdown_reward/mean"):
        assert key in run.metrics[0], key
    # Data parallelism: each process trained its own prompts, and after every update
    # both hold the same weights, which the updates changed.
    ranks = [read_jsonl(out / scale.TRACE_DIR / f"rank{r}.jsonl") for r in (0, 1)]
    assert [row["step"] for row in ranks[0]] == [row["step"] for row in ranks[1]] == [1, 2, 3]
    for a, b in zip(*ranks, strict=True):
        assert len(a["prompts"]) == len(b["prompts"]) == 2  # 4 prompts per step, 2 each
        assert not set(a["prompts"]) & set(b["prompts"])
        assert a["weights_sha256"] == b["weights_sha256"]
    digests = [row["weights_sha256"] for row in ranks[0]]
    assert len(set(digests)) > 1


def test_a_killed_launch_resumes_from_its_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    steps = ["--steps", "12", "--checkpoint-every", "2"]
    first = _launch(out, *steps, start_new_session=True, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(read_jsonl(out / "metrics.jsonl")) < 5:
            assert first.poll() is None, "the launch ended before its fifth step"
            time.sleep(0.1)
        assert len(read_jsonl(out / "metrics.jsonl")) >= 5, "no fifth step within 300 s"
        workers = children(first.pid)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the launcher, kill -9
        first.wait()
    assert len(workers) == 2, "the launch is not running two processes"
    # torchrun starts each process in a session of its own, out of killpg's reach: they
    # exit once they see their launcher gone (die_with_parent), which on a loaded machine
    # took up to seconds. Until then the first still holds the run folder's lock and
    # writes to it, so a relaunch started at once could meet it there.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(map(alive, workers)):
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)], "processes outlived their launcher"
    assert not (out / "eval.json").exists()
    again = _launch(out, *steps, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log, _ = again.communicate(timeout=600)
    assert again.returncode == 0, log
    summary = read_json(out / "eval.json")
    assert summary["resumed_from"] >= 4  # checkpoint-4 was complete when it was killed
    assert [m["step"] for m in load_run(out).metrics] == list(range(1, 13))


def test_a_finished_scale_run_is_kept(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "r1lab", "scale", *TINY_RUN, "--out", str(out)]
    first = subprocess.run([*command, "--steps", "1"], cwd=REPO, env=ENV, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "1 process(es) on cpu: 1 steps" in first.stdout
    again = subprocess.run([*command, "--steps", "2"], cwd=REPO, env=ENV, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 2
    assert "holds a finished run (other settings: steps: 1 → 2)" in again.stderr
    assert [m["step"] for m in load_run(out).metrics] == [1]


def test_a_run_folder_passed_as_the_model_is_named_as_one(tmp_path):
    run = SHIPPED_RUNS_DIR / "grpo" / "r1lab-lesson-seed0"  # written by r1lab grpo
    done = subprocess.run(
        [sys.executable, "-m", "r1lab", "scale", *TINY_RUN[2:], "--model", str(run),
         "--steps", "1", "--out", str(tmp_path / "run")],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"{run} is an r1lab run folder" in done.stderr and "not a model" in done.stderr
    assert "pass a model folder, such as data/checkpoints/sft" in done.stderr.lower()
    assert "no tokenizer" not in done.stderr


# ---------------------------------------------------------------------------- the pieces


def test_the_instruct_task_is_classic_countdown_in_the_models_chat_format():
    setup = scale.ScaleSettings(model="someone/model", train_prompts=40)
    assert scale.prompt_style(setup) == "instruct"
    rows = scale.scale_dataset(setup)
    assert len(rows) == 40 and {len(r["numbers"]) for r in rows} == {3, 4}
    assert max(max(r["numbers"]) for r in rows) > 9  # numbers up to 99, in any order
    text = rows[0]["prompt"][0]["content"]
    assert rows[0]["prompt"][0]["role"] == "user"
    assert f"equals {rows[0]['target']}" in text and "<answer>" in text and "<think>" in text
    # The same reward: a solution scores 1 from the verifier, in the tags the prompt asks.
    from r1lab.tasks.countdown import CountdownProblem, solve

    row = next(r for r in rows if len(r["numbers"]) == 3)
    [expr] = solve(CountdownProblem(tuple(row["numbers"]), row["target"]), limit=1)
    completion = f"<think>try</think><answer>{expr}</answer>"
    assert countdown_reward([completion], [row["numbers"]], [row["target"]]) == [1.0]
    # r1lab's own checkpoints keep the course's prompt and task.
    ours = scale.ScaleSettings(model=str(SHIPPED_MODELS_DIR / "sft"), train_prompts=5)
    assert scale.prompt_style(ours) == "r1lab"
    assert scale.scale_dataset(ours)[0]["prompt"][0]["content"].startswith("use ")


def test_the_engine_settings_follow_the_hardware_and_refuse_what_cannot_run(monkeypatch):
    settings = scale.SCALE_GRPO
    args = scale.trainer_args(scale.ScaleSettings(device="cpu"), settings)
    assert not args["bf16"] and not args["use_vllm"] and not args["gradient_checkpointing"]
    assert args["gradient_accumulation_steps"] == 16 * 8 // 8
    monkeypatch.setenv("WORLD_SIZE", "4")
    args = scale.trainer_args(scale.ScaleSettings(device="cpu"), settings)
    assert args["gradient_accumulation_steps"] == 16 * 8 // (8 * 4)
    assert args["ddp_find_unused_parameters"] is False
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="must split into 3 processes"):
        scale.trainer_args(scale.ScaleSettings(device="cpu"), settings)
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(ValueError, match="vllm=on needs"):
        scale.trainer_args(scale.ScaleSettings(device="cpu", vllm="on"), settings)
    monkeypatch.setattr(scale, "has", lambda package: False)
    with pytest.raises(ValueError, match=r"lora_rank=16 needs peft: pip install -e '\.\[gpu\]'"):
        scale.lora_config(scale.ScaleSettings(lora_rank=16))
    assert scale.lora_config(scale.ScaleSettings()) is None
    with pytest.raises(ValueError, match="vllm must be one of auto, on, off"):
        scale.ScaleSettings(vllm="yes")
    with pytest.raises(ValueError, match="numbers must be sizes between 2 and 5"):
        scale.ScaleSettings(numbers=(7,))


def test_scale_grpo_settings_are_valid_grpo_settings():
    assert GRPOSettings(**scale.SCALE_GRPO.to_dict()) == scale.SCALE_GRPO
    assert scale.SCALE_GRPO.max_new_tokens >= 1024 and scale.SCALE_GRPO.learning_rate <= 1e-5


def test_a_hub_id_loads_offline_from_a_hand_built_cache(tmp_path, saved_tiny_model):
    """The default path of `r1lab scale` (a hub id) with no network: the model comes from a
    cache laid out as the hub's, as it would after one download."""
    hub_cache(tmp_path / "hub", "someone/tiny-r1", saved_tiny_model)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "r1lab", "scale", *TINY_RUN[2:], "--model", "someone/tiny-r1",
         "--prompt-style", "r1lab", "--steps", "1", "--out", str(out)],
        cwd=REPO, env={**ENV, "HF_HUB_CACHE": str(tmp_path / "hub")}, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert read_json(out / "eval.json")["scale"]["model"] == "someone/tiny-r1"
