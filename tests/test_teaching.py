"""The instructor pack: every notebook is covered, and every link leads somewhere."""

import re

import pytest

from r1lab.course import CHAPTERS
from r1lab.paths import REPO_ROOT

PACK = REPO_ROOT / "docs" / "teaching"
PAGES = sorted(PACK.glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_pack_has_its_pages():
    names = {p.name for p in PAGES}
    for page in ("README.md", "syllabus.md", "objectives.md", "answers.md", "pitfalls.md",
                 "questions.md", "glossary.md", "references.md", "timings.md"):  # fmt: skip
        assert page in names, page


@pytest.mark.parametrize("page", ["objectives.md", "answers.md", "pitfalls.md", "questions.md"])
def test_every_notebook_has_a_section(page):
    text = (PACK / page).read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    for chapter in CHAPTERS:
        assert any(chapter.stem in h for h in headings), f"{page}: no section for {chapter.stem}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name}: broken link {target}"


def test_the_timings_cover_every_notebook():
    text = (PACK / "timings.md").read_text(encoding="utf-8")
    for chapter in CHAPTERS:
        assert f"| {chapter.stem} |" in text, f"timings.md has no row for {chapter.stem}"
