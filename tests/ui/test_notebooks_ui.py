"""Every course notebook, run in JupyterLab in Chromium, shows the learner what it should."""

import re

import pytest

from r1lab.widgets import OVERLAY, RUNS
from tests.conftest import REPO_ROOT
from tests.ui.conftest import SCREENSHOTS
from tests.ui.harness import (
    CONTROL,
    PANEL,
    RUN,
    change_control,
    check_cells,
    open_notebook,
    run_all_cells,
    save_screenshot,
    shutdown_kernels,
    wait_until_run,
)

# The English notebooks and the Chinese edition built from them.
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (REPO_ROOT / "notebooks" / "zh").glob("*.ipynb")
)
IDS = [p.relative_to(REPO_ROOT / "notebooks").with_suffix("").as_posix() for p in NOTEBOOKS]


def test_there_are_notebooks_to_check():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_works_in_jupyterlab(inspect_notebook, path):
    committed = path.read_bytes()
    result = inspect_notebook(path)
    assert path.read_bytes() == committed, "JupyterLab saved over the committed notebook"
    assert result.problems == [], result.report()


# The comparative panels, operated as a learner would: press Run, change a control, press
# Run again; the panel's table must then hold both runs with their settings and its figure
# both runs' curves over the baseline. Notebook → the control to change (its label, which
# is also its column in the table).
COMPARED = {"03_rollouts": "temperature"}

_TABLE = """(table) => [...table.querySelectorAll('tr')].map(
  row => [...row.children].map(cell => cell.innerText.trim()))"""
# The curves of the panel's figure: SVG groups with ids r1lab-run<i>-<k> / r1lab-baseline-<k>
# (see r1lab.plots.overlay_curves), kept only if they hold a drawn path.
_CURVES = """(figure) => [...figure.querySelectorAll('svg g[id^="r1lab-"]')]
  .filter(g => g.querySelector('path')).map(g => g.id)"""


@pytest.mark.parametrize("name", sorted(COMPARED))
def test_a_run_panel_compares_two_runs(page, lab, name):
    from playwright.sync_api import expect

    path = REPO_ROOT / "notebooks" / f"{name}.ipynb"
    relative, committed = path.relative_to(REPO_ROOT).as_posix(), path.read_bytes()
    column = COMPARED[name]
    try:
        open_notebook(page, lab.url, relative)
        run_all_cells(page, relative)
        assert wait_until_run(page, relative) == []
        assert check_cells(page, relative) == []
        panel = page.locator(PANEL).filter(has=page.locator(RUN)).first
        panel.scroll_into_view_if_needed()
        table, figure = panel.locator(f".{RUNS} table"), panel.locator(f".{OVERLAY}")
        button = panel.locator(RUN).first
        baseline_rows = len(table.evaluate(_TABLE)) - 1 if table.count() else 0
        done = []
        for turn in (1, 2):
            if turn == 2:
                done.append(change_control(panel.locator(CONTROL).filter(has_text=column).first))
            button.click()
            done.append("pressed Run")
            # One more row: the header, the baseline's row and one per run so far.
            expect(panel.locator(f".{RUNS} tr")).to_have_count(
                1 + baseline_rows + turn, timeout=300_000
            )
            expect(button).to_be_enabled(timeout=300_000)
        rows = table.evaluate(_TABLE)
        where = f"{name} after {', '.join(done)}"
        assert [row[0] for row in rows[-2:]] == ["run 1", "run 2"], (where, rows)
        col = rows[0].index(column)
        assert rows[-2][col] != rows[-1][col], (where, rows)  # each row has its own setting
        ids = figure.evaluate(_CURVES)
        runs = {re.match(r"r1lab-run(\d+)-", i).group(1) for i in ids if i.startswith("r1lab-run")}
        assert runs == {"1", "2"}, (where, ids)
        assert any(i.startswith("r1lab-baseline-") for i in ids), (where, ids)
        output = panel.locator(".r1lab-output").first.inner_text()
        assert "Cannot run" not in output and "unexpected error" not in output, output
    finally:
        try:
            save_screenshot(page, SCREENSHOTS / f"{name}-compared.png")
        finally:
            shutdown_kernels(page)
    assert path.read_bytes() == committed, "JupyterLab saved over the committed notebook"
