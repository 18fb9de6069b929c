"""Every notebook ends by linking the papers it relies on, in both languages."""

import nbformat
import pytest

from r1lab.notebook_runner import course_notebooks
from r1lab.paths import NOTEBOOKS_DIR, REPO_ROOT
from r1lab.references import NOTEBOOK_PAPERS, PAPERS, papers_cell_text, references_markdown


def test_every_notebook_has_its_list_of_papers():
    assert sorted(NOTEBOOK_PAPERS) == [p.stem for p in course_notebooks()]
    used = {key for keys in NOTEBOOK_PAPERS.values() for key in keys}
    assert used == set(PAPERS), "a paper no notebook uses, or a notebook's unknown paper"
    urls = [paper.url for paper in PAPERS.values()]
    assert len(set(urls)) == len(urls) and all(u.startswith("https://") for u in urls)


@pytest.mark.parametrize("stem", sorted(NOTEBOOK_PAPERS))
def test_the_last_cell_links_the_papers(stem):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    last = [c for c in nb.cells if c.cell_type == "markdown"][-1]
    assert last.source.endswith(papers_cell_text(stem))
    translated = nbformat.read(NOTEBOOKS_DIR / "zh" / f"{stem}.ipynb", as_version=4)
    last_zh = [c for c in translated.cells if c.cell_type == "markdown"][-1]
    for key in NOTEBOOK_PAPERS[stem]:
        assert f"]({PAPERS[key].url})" in last_zh.source, key


def test_a_paper_without_a_title_is_linked_by_its_arxiv_number():
    assert PAPERS["tsilivis"].markdown() == (
        "Tsilivis et al. (2025), [arXiv 2510.11495](https://arxiv.org/abs/2510.11495)"
    )
    assert PAPERS["ppo"].markdown().startswith("Schulman et al. (2017), [*Proximal")


def test_the_teaching_references_are_written_from_the_module():
    path = REPO_ROOT / "docs" / "teaching" / "references.md"
    assert path.read_text(encoding="utf-8") == references_markdown(), "run `r1lab references`"
    for paper in PAPERS.values():
        assert paper.url in path.read_text(encoding="utf-8")
