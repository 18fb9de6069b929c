"""The classroom switch of notebooks 05 and 06: with ``USE_SHIPPED_RUN = True`` the long
training cell reads the run shipped in ``data/runs/grpo/`` instead of training, and every
later cell still runs, showing the shipped run's held-out scores. The live run stays the
default (the committed notebooks say ``False``)."""

from __future__ import annotations

import nbformat
import pytest

from r1lab.experiments import load_shipped_run
from r1lab.notebook_runner import run_notebook, unexpected_errors
from r1lab.paths import NOTEBOOKS_DIR

SWITCH = "USE_SHIPPED_RUN = False"
NOTEBOOKS = {"05_grpo_from_scratch": "r1lab", "06_grpo_with_trl": "trl"}


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_the_live_run_is_the_default(name):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    switches = [c for c in nb.cells if c.cell_type == "code" and SWITCH in c.source]
    assert len(switches) == 1 and "run_dir=run_dir" in switches[0].source
    assert any("USE_SHIPPED_RUN" in c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_the_switch_shows_the_shipped_run_instead_of_training(tmp_path, name):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if SWITCH in c.source)
    nb.cells[at].source = nb.cells[at].source.replace(SWITCH, "USE_SHIPPED_RUN = True")
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    run = run_notebook(path, profile="smoke", timeout=600)
    assert unexpected_errors(run.notebook) == []

    def printed(cells):
        return "".join(o.get("text", "") for c in cells for o in c.get("outputs", []))

    result, summary = load_shipped_run(NOTEBOOKS[name], seed=0)
    training = printed([run.notebook.cells[at]])
    assert f"read the shipped run {result.run_dir.name}, no training" in training
    assert f"{len(result.history)} steps" in training  # the shipped run's, not the smoke 2
    # The held-out scores after training are the shipped run's own.
    assert f"→ {summary['after']['pass@1']:6.1%}" in printed(run.notebook.cells[at + 1 :])
