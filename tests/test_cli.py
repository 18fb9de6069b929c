import nbformat

from r1lab.cli import main


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
    assert set(summary["before"]) == {"pass@1", "greedy", "pass@8", "format", "mean_length"}
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
