"""Every course notebook, run in JupyterLab in Chromium, shows the learner what it should."""

import pytest

from tests.conftest import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_to_check():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_works_in_jupyterlab(inspect_notebook, path):
    committed = path.read_bytes()
    result = inspect_notebook(path)
    assert path.read_bytes() == committed, "JupyterLab saved over the committed notebook"
    assert result.problems == [], result.report()
