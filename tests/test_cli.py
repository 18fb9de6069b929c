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
