import argparse
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from r1lab import cli
from r1lab.cli import main
from r1lab.config import RunConfig


def test_info_prints_environment_and_passes_with_tested_versions(capsys):
    assert main(["info", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "device used    cpu" in out and "transformers" in out


def test_notebooks_command_runs_and_saves(tmp_path, capsys):
    path = tmp_path / "01_example.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
    nbformat.write(nb, path)
    assert main(["notebooks", "--profile", "smoke", "--save", str(path)]) == 0
    assert "01_example.ipynb" in capsys.readouterr().out
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].strip() == "42"


def test_grpo_command_trains_measures_and_keeps_only_the_log(tmp_path, capsys):
    import json

    from r1lab.runlog import load_run

    out = tmp_path / "run"
    assert main(["grpo", "--profile", "smoke", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "r1lab GRPO, profile smoke, seed 1: 2 steps" in printed and "pass@1" in printed
    summary = json.loads((out / "eval.json").read_text())
    assert summary["eval_problems"] == 16 and summary["settings"]["seed"] == 1
    assert set(summary["before"]) == {
        "pass@1",
        "greedy_accuracy",
        "pass@8",
        "format_rate",
        "mean_length",
    }
    assert 0 <= summary["after"]["pass@1"] <= summary["after"]["pass@8"] <= 1
    assert [m["step"] for m in load_run(out).metrics] == [1, 2]
    assert not (out / "checkpoint.pt").exists()  # the log stays, the 12 MB state does not


def test_emergence_command_runs_the_chosen_arms_and_seeds(tmp_path, capsys):
    argv = ["emergence", "--profile", "smoke", "--seeds", "1", "--arms", "sft", "--steps", "3"]
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "sft-seed1: pass@1" in printed and "effective retries" in printed
    assert [p.name for p in tmp_path.iterdir()] == ["sft-seed1"]
    assert (tmp_path / "sft-seed1" / "eval.json").exists()


# ------------------------------------------------ settings: flag > R1LAB_<FIELD> > default


@pytest.fixture
def clean_env(monkeypatch):
    """No R1LAB_* variables from the caller's shell, and torch's thread count restored."""
    for key in list(os.environ):
        if key.startswith("R1LAB_"):
            monkeypatch.delenv(key)
    threads = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(threads)


@pytest.fixture
def calls(clean_env, tmp_path):
    """The experiment functions replaced by ones that record their arguments; the
    learner's runs folder moved to a temporary one."""
    import r1lab.experiments
    import r1lab.paths
    import r1lab.sweep

    seen: dict[str, tuple] = {}

    def recorder(name, result):
        def record(*args, **kwargs):
            seen[name] = (args, kwargs)
            return result

        return record

    clean_env.setattr(r1lab.experiments, "grpo_from_sft", recorder("grpo", {}))
    clean_env.setattr(r1lab.experiments, "format_summary", lambda summary: "summary")
    clean_env.setattr(r1lab.experiments, "emergence_study", recorder("emergence", {}))
    clean_env.setattr(r1lab.sweep, "run_sweep", recorder("sweep", {}))
    clean_env.setattr(r1lab.paths, "RUNS_DIR", tmp_path / "runs")
    return seen


def test_cli_reads_r1lab_variables_as_notebooks_do(calls, clean_env, tmp_path):
    env = {"R1LAB_LEARNING_RATE": "0.5", "R1LAB_SEED": "3", "R1LAB_BETA": "0.04"}
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert main(["grpo", "--out", str(tmp_path / "run")]) == 0
    cfg = calls["grpo"][0][0]
    assert cfg == RunConfig.from_env(env) == RunConfig.from_env()
    assert (cfg.profile, cfg.learning_rate, cfg.seed, cfg.beta) == ("lesson", 0.5, 3, 0.04)


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["grpo"], {}, dict(profile="lesson", seed=0, device="auto")),
        (["emergence"], {}, dict(profile="full", seed=0)),
        (["sweep"], {}, dict(profile="full")),
        (["emergence"], {"R1LAB_PROFILE": "smoke"}, dict(profile="smoke")),
        (["emergence", "--profile", "lesson"], {"R1LAB_PROFILE": "smoke"}, dict(profile="lesson")),
        (["grpo"], {"R1LAB_SEED": "3", "R1LAB_DEVICE": "cpu"}, dict(seed=3, device="cpu")),
        (
            ["grpo", "--seed", "5", "--device", "auto"],
            {"R1LAB_SEED": "3", "R1LAB_DEVICE": "cpu"},
            dict(seed=5, device="auto"),
        ),
        (["grpo", "--profile", "smoke"], {"R1LAB_RL_STEPS": "7"}, dict(rl_steps=7)),
        (["grpo", "--steps", "4"], {"R1LAB_RL_STEPS": "7"}, dict(rl_steps=4)),
        (
            ["sweep", "--device", "cpu"],
            {"R1LAB_NUM_GENERATIONS": "4"},
            dict(device="cpu", num_generations=4),
        ),
    ],
)
def test_flag_beats_variable_beats_the_commands_default(
    calls, clean_env, tmp_path, argv, env, expected
):
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    cfg = calls[argv[0]][0][0]
    assert {name: getattr(cfg, name) for name in expected} == expected


def test_emergence_steps_flag_then_the_profiles_budget(calls, clean_env):
    """Without --steps the study runs the profile's budget (search_steps in the search
    world: the experiments read it from the config), which R1LAB_SEARCH_STEPS changes."""
    assert main(["emergence", "--world", "search"]) == 0
    assert "steps" not in calls["emergence"][1]
    assert calls["emergence"][0][0].search_steps == RunConfig.from_profile("full").search_steps
    clean_env.setenv("R1LAB_SEARCH_STEPS", "7")
    assert main(["emergence", "--world", "search"]) == 0
    assert "steps" not in calls["emergence"][1] and calls["emergence"][0][0].search_steps == 7
    assert main(["emergence", "--world", "search", "--steps", "3"]) == 0
    assert calls["emergence"][1]["steps"] == 3


def test_run_config_builds_from_flags_environment_and_default(clean_env):
    args = argparse.Namespace(profile=None, seed=None, device=None)
    assert cli.run_config(args, "full", environ={}) == RunConfig.from_profile("full")
    env = {"R1LAB_PROFILE": "smoke", "R1LAB_SEED": "2"}
    assert cli.run_config(args, "full", environ=env) == RunConfig.from_profile("smoke", seed=2)
    args = argparse.Namespace(profile="lesson", seed=9, device="cpu")
    assert cli.run_config(args, "full", environ=env) == RunConfig.from_profile(
        "lesson", seed=9, device="cpu"
    )
    with pytest.raises(ValueError, match="unknown variable R1LAB_TYPO"):
        cli.run_config(args, "full", environ={"R1LAB_TYPO": "1"})


def test_unknown_variable_stops_the_command_before_any_work(calls, clean_env, tmp_path, capsys):
    clean_env.setenv("R1LAB_TYPO", "1")
    assert main(["grpo", "--out", str(tmp_path / "run")]) == 2
    assert "grpo" not in calls and not (tmp_path / "run").exists()
    err = capsys.readouterr().err
    assert err.startswith("r1lab grpo: error: unknown variable R1LAB_TYPO")


def test_typo_variable_makes_the_command_exit_non_zero_naming_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("R1LAB_")}
    env.update(R1LAB_LEARNING_RATE="0.5", R1LAB_TYPO="1", OMP_NUM_THREADS="1")
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "r1lab", "grpo", "--profile", "smoke", "--out", str(out)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "R1LAB_TYPO" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", ["grpo", "scale"])
def test_steps_beyond_the_bound_are_refused_alike_before_any_work(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("R1LAB_")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "r1lab", command, "--steps", "1000000000000", "--out", str(out)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"r1lab {command}: error: --steps must be an integer in [0, 100000] (got 1000000000000)"
    )
    assert not out.exists()


# ------------------------------------------------------------------------- threads


def test_cli_sets_torch_threads_from_r1lab_threads(clean_env, tmp_path):
    import r1lab.experiments
    from r1lab.config import DEFAULT_THREADS

    seen = []

    def record(cfg, out, **kwargs):
        seen.append(torch.get_num_threads())
        return {}

    clean_env.setattr(r1lab.experiments, "grpo_from_sft", record)
    clean_env.setattr(r1lab.experiments, "format_summary", lambda summary: "summary")
    clean_env.setenv("R1LAB_THREADS", "2")
    torch.set_num_threads(1)
    assert main(["grpo", "--out", str(tmp_path / "a")]) == 0
    clean_env.delenv("R1LAB_THREADS")
    torch.set_num_threads(2)
    assert main(["grpo", "--out", str(tmp_path / "b")]) == 0
    assert seen == [2, DEFAULT_THREADS]
    assert torch.get_num_threads() == 2  # a call from Python leaves its caller's setting


def test_bad_thread_count_is_a_clear_error(clean_env, capsys):
    clean_env.setenv("R1LAB_THREADS", "0")
    assert main(["info", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "r1lab info: error: R1LAB_THREADS must be a positive integer (got '0')" in err


def test_info_reports_threads_and_how_to_change_them(clean_env, capsys):
    clean_env.setenv("R1LAB_THREADS", "2")
    main(["info", "--device", "cpu"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("torch threads"))
    assert " 2 " in f"{line} " and "R1LAB_THREADS" in line


# ------------------------------------------------------- errors as messages, not tracebacks


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad value"),
        FileNotFoundError("no such file: x"),
        OSError("disk full"),
        TypeError("wrong type"),
    ],
)
def test_command_errors_print_one_line_and_exit_2(calls, clean_env, tmp_path, capsys, error):
    import r1lab.experiments

    def fail(*args, **kwargs):
        raise error

    clean_env.setattr(r1lab.experiments, "grpo_from_sft", fail)
    assert main(["grpo", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"r1lab grpo: error: {error}\n"


def test_debug_flag_shows_the_traceback(calls, tmp_path, clean_env):
    import r1lab.experiments

    def fail(*args, **kwargs):
        raise ValueError("bad value")

    clean_env.setattr(r1lab.experiments, "grpo_from_sft", fail)
    with pytest.raises(ValueError, match="bad value"):
        main(["--debug", "grpo", "--out", str(tmp_path / "run")])


def test_interrupt_says_how_to_resume_and_exits_130(calls, tmp_path, clean_env, capsys):
    import r1lab.experiments

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    clean_env.setattr(r1lab.experiments, "emergence_study", interrupted)
    assert main(["emergence", "--out", str(tmp_path / "runs")]) == 130
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "the same command again" in err


# -------------------------------------------------------- output folders checked first


def test_check_writable_creates_the_folder(tmp_path):
    out = tmp_path / "a" / "b"
    assert cli.check_writable(out) == out and out.is_dir()
    assert cli.check_writable(out) == out  # an existing folder is fine


def test_check_writable_refuses_a_file_and_a_folder_under_a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("x")
    with pytest.raises(NotADirectoryError, match=rf"{path} is a file, not a folder"):
        cli.check_writable(path)
    with pytest.raises(OSError, match=rf"cannot create the output folder {path / 'run'}"):
        cli.check_writable(path / "run")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_check_writable_refuses_a_folder_nothing_can_be_written_in():
    # /proc/self is a folder nobody, not even root, can create files in (chmod does not
    # stop root, so a read-only folder of our own would not test anything here).
    folder = Path("/proc/self")
    with pytest.raises(OSError, match=rf"cannot (write into|create) the output folder {folder}"):
        cli.check_writable(folder)


@pytest.mark.parametrize(
    "argv",
    [["grpo"], ["emergence"], ["sweep"], ["checkpoints"], ["eval-sets"]],
)
def test_every_command_checks_its_output_before_working(calls, tmp_path, clean_env, capsys, argv):
    import r1lab.build_models
    import r1lab.data

    def work(*args, **kwargs):
        raise AssertionError("work started")

    clean_env.setattr(r1lab.build_models, "build", work)
    clean_env.setattr(r1lab.data, "write_eval_sets", work)
    path = tmp_path / "a-file"
    path.write_text("x")
    assert main([*argv, "--out", str(path)]) == 2
    assert not calls
    assert capsys.readouterr().err.startswith(f"r1lab {argv[0]}: error: {path} is a file")


# -------------------------------------------------- finished runs and default folders


@pytest.mark.parametrize("command", ["grpo", "emergence", "sweep"])
def test_overwrite_is_passed_on(calls, tmp_path, command):
    assert main([command, "--out", str(tmp_path / "x")]) == 0
    assert calls[command][1]["overwrite"] is False
    assert main([command, "--out", str(tmp_path / "x"), "--overwrite"]) == 0
    assert calls[command][1]["overwrite"] is True


@pytest.mark.parametrize(
    ("argv", "folder"),
    [
        (["emergence"], "emergence"),
        (["emergence", "--world", "search"], "emergence-search"),
        (["sweep"], "sweep"),
        (["grpo", "--profile", "smoke", "--seed", "2"], "grpo/r1lab-smoke-seed2"),
    ],
)
def test_default_output_is_the_learners_runs_folder_not_the_shipped_one(
    calls, tmp_path, argv, folder
):
    assert main(argv) == 0
    out = calls[argv[0]][0][1]
    assert out == tmp_path / "runs" / folder and out.is_dir()


def test_help_says_where_runs_go_and_what_overwrite_does(capsys):
    for command in ("emergence", "sweep", "grpo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--overwrite" in text and "data/runs/" not in text.replace("--out data/runs", "")
        assert "finished run" in text
