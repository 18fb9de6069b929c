"""Every notebook runs top to bottom in the smoke profile, failing only where it means to."""

import nbformat
import pytest

from r1lab.edition import all_notebooks
from r1lab.notebook_runner import (
    ALLOWED_ERROR_TAG,
    course_notebooks,
    figures_not_shown,
    run_notebook,
    unexpected_errors,
)
from r1lab.paths import NOTEBOOKS_DIR
from tests.notebooks.operate_panels import operate_panels, probe_code, read_report

# The English notebooks, then the Chinese edition built from them (notebooks/zh/).
NOTEBOOKS = all_notebooks()
IDS = [p.relative_to(NOTEBOOKS_DIR).with_suffix("").as_posix() for p in NOTEBOOKS]
# What the first markdown cell asks and the last one answers, in each language.
QUESTION = {"notebooks": "question", "zh": "问题"}
ANSWER = {"notebooks": "answer", "zh": "答案"}


def test_there_are_notebooks_to_run():
    assert any(p.name == "00_tour.ipynb" for p in NOTEBOOKS)
    assert len(NOTEBOOKS) == 2 * len(course_notebooks()), "every notebook has its edition"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_smoke_profile(path):
    # Then, in the same kernel, every panel it built is operated (tests/notebooks/
    # operate_panels.py): a Run panel must add a run to its table, no panel may show an
    # error line.
    run = run_notebook(path, profile="smoke", timeout=600, then=[probe_code()])
    assert unexpected_errors(run.notebook) == []
    code_cells = [c for c in run.notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code_cells), "a code cell did not run"
    # A cell tagged to fail must actually fail, or the lesson it teaches is gone.
    for cell in code_cells:
        if ALLOWED_ERROR_TAG in cell.metadata.get("tags", []):
            assert any(o.output_type == "error" for o in cell.outputs), cell.source[:80]
    assert figures_not_shown(run.notebook) == [], "a cell draws and shows no picture"
    report = read_report(run.then[0])
    assert report["problems"] == [], f"{report['panels']} panels operated"
    assert report["panels"] == panels_built(run.notebook), "a panel was not found to operate"


def panels_built(nb: nbformat.NotebookNode) -> int:
    """How many calls of r1lab.widgets' panel builders (its functions that return a
    ``VBox``) the notebook's cells make."""
    import ast
    import inspect

    import r1lab.widgets

    builders = {
        name
        for name, f in vars(r1lab.widgets).items()
        if inspect.isfunction(f)
        and f.__module__ == r1lab.widgets.__name__
        and not name.startswith("_")
        and f.__annotations__.get("return") in ("w.VBox", r1lab.widgets.w.VBox)
    }
    calls = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(cell.source)):
                func = getattr(node, "func", None)
                calls += isinstance(node, ast.Call) and getattr(func, "id", None) in builders
    return calls


def test_the_panel_probe_catches_a_run_that_ends_in_one_error_line():
    from r1lab.tasks.countdown import CountdownProblem
    from r1lab.widgets import PanelResult, grpo_panel, reward_playground

    def broken(**knobs):  # what notebook 05's panel did: a helper called with one argument
        raise TypeError("measure() missing 2 required positional arguments")

    def working(**knobs):
        return PanelResult({"held-out pass@1": "30.0%"}, {"reward": [(1, 0.2), (2, 0.3)]})

    problems = operate_panels([grpo_panel(broken), grpo_panel(working)])
    assert problems == [
        "panel 0: after pressing 'Run', 0 runs in the table, not 1",
        "panel 0: after pressing 'Run', the output shows an error line (r1lab-error)",
    ]
    playground = reward_playground([CountdownProblem((3, 4, 5), 17)], "<think>3*4=12</think>")
    assert operate_panels([playground]) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_follows_the_course_conventions(path):
    nb = nbformat.read(path, as_version=4)
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    assert QUESTION[path.parent.name] in first_md.source.lower(), "the first cell asks"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "RunConfig.from_env()" in first_code.source
    assert "set_seed(" in first_code.source and "pick_device(" in first_code.source
    last_md = [c for c in nb.cells if c.cell_type == "markdown"][-1]
    assert ANSWER[path.parent.name] in last_md.source.lower(), "the last cell answers"
    # Committed with the outputs of a real run, so the notebook reads well on a code host.
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert any(c.outputs for c in code_cells), "commit the notebook with its outputs"
    assert unexpected_errors(nb) == [], "a committed output shows an unexpected error"


def test_unexpected_errors_ignores_only_tagged_cells():
    nb = nbformat.v4.new_notebook()
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])
    tagged = nbformat.v4.new_code_cell("x", metadata={"tags": [ALLOWED_ERROR_TAG]})
    tagged.outputs = [error]
    untagged = nbformat.v4.new_code_cell("y")
    untagged.outputs = [error]
    nb.cells = [tagged, untagged]
    assert unexpected_errors(nb) == ["cell 1: ValueError: boom"]


def test_runner_stops_on_an_untagged_error(tmp_path):
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("1 / 0", metadata={"tags": [ALLOWED_ERROR_TAG]}),
        nbformat.v4.new_code_cell("import os; print(os.environ['R1LAB_PROFILE'])"),
        nbformat.v4.new_code_cell("raise RuntimeError('untagged')"),
    ]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(CellExecutionError, match="untagged"):
        run_notebook(path, profile="smoke", timeout=60)


def test_runner_reports_profile_time_and_memory(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os; print(os.environ['R1LAB_PROFILE'])")]
    path = tmp_path / "ok.ipynb"
    nbformat.write(nb, path)
    run = run_notebook(path, profile="full", timeout=60, save=True)
    assert run.notebook.cells[0].outputs[0]["text"].strip() == "full"
    assert run.seconds > 0 and 10 < run.peak_rss_mb < 2000
    saved = nbformat.read(path, as_version=4)
    assert len(saved.cells) == 1 and saved.cells[0].outputs, "outputs saved, probe cell not"


def test_runner_runs_more_code_in_the_same_kernel_and_keeps_it_apart(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 41")]
    path = tmp_path / "then.ipynb"
    nbformat.write(nb, path)
    run = run_notebook(path, profile="smoke", timeout=60, save=True, then=["print(x + 1)", "1 / 0"])
    assert run.then[0].outputs[0]["text"].strip() == "42"
    assert run.then[1].outputs[-1]["ename"] == "ZeroDivisionError"  # kept, not raised
    assert len(nbformat.read(path, as_version=4).cells) == 1, "the extra cells are not saved"
