"""Slides: every notebook's headings are tagged, and `make slides` builds a deck of each."""

import re

import nbformat
import pytest

from r1lab.cli import main
from r1lab.edition import all_notebooks
from r1lab.paths import NOTEBOOKS_DIR
from r1lab.slides import build_slides, deck_path, slide_type, tag_slides, untagged_cells

NOTEBOOKS = all_notebooks()


def test_slide_types_follow_the_headings():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [md("# 05 · Title"), md("## 1. A part"), md("### A detail"), md("Plain text."),
             md("#hashtag, not a heading"), code("# a comment\nx = 1")]  # fmt: skip
    assert [slide_type(c) for c in cells] == ["slide", "slide", "subslide", "-", "-", "-"]
    nb = nbformat.v4.new_notebook(cells=cells)
    assert untagged_cells(nb) == [0, 1, 2]
    assert tag_slides(nb) == 3 and untagged_cells(nb) == []
    nb.cells[1].source = "No heading any more."
    assert tag_slides(nb) == 1 and "slideshow" not in nb.cells[1].metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(NOTEBOOKS_DIR).stem)
def test_every_notebook_is_tagged_for_slides(path):
    nb = nbformat.read(path, as_version=4)
    assert untagged_cells(nb) == [], "run `r1lab slides --tag` after changing a heading"


def test_every_notebook_builds_a_deck(tmp_path):
    written = build_slides(NOTEBOOKS, tmp_path)
    assert written == [deck_path(p, tmp_path) for p in NOTEBOOKS]
    assert len({p.relative_to(tmp_path) for p in written}) == len(NOTEBOOKS)
    for notebook, deck in zip(NOTEBOOKS, written, strict=True):
        html = deck.read_text(encoding="utf-8")
        nb = nbformat.read(notebook, as_version=4)
        slides = sum(slide_type(c) == "slide" for c in nb.cells)
        # nbconvert wraps each slide in an outer <section> holding its sub-slides' sections.
        outer = sum(slide_type(c) in ("slide", "subslide") for c in nb.cells) + slides
        assert html.count("<section") == outer, deck.name
        assert "Reveal.initialize" in html
        assert 'data-mime-type="image/png"' in html or "<img" in html, "figures are in the deck"
        title = re.search(r"<title>(.*?)</title>", html).group(1)
        assert title, deck.name


def test_a_notebook_without_slide_tags_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Text only.")])
    path = tmp_path / "untagged.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="r1lab slides --tag"):
        build_slides([path], tmp_path / "out")


BAD_NOTEBOOKS = {
    "missing": None,
    "not json": "{not json",
    "not utf-8": b"\xff\xfe",
    "no cells": "{}",
    "cells not a list": '{"cells": 3}',
    "cell without metadata": '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, '
    '"cells": [{"cell_type": "markdown", "id": "a"}]}',
}


@pytest.mark.parametrize("content", BAD_NOTEBOOKS.values(), ids=BAD_NOTEBOOKS.keys())
def test_a_bad_notebook_is_an_error_naming_it(tmp_path, capsys, content):
    path = tmp_path / "bad.ipynb"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["slides", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("r1lab slides: error: ") and str(path) in err, err
    assert len(err.splitlines()) == 1  # one line, no traceback


def test_a_folder_passed_as_a_notebook_is_named(tmp_path, capsys):
    assert main(["slides", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert f"{tmp_path} is a folder, not a notebook" in capsys.readouterr().err


def test_an_unwritable_output_is_an_error_naming_it(tmp_path, capsys):
    notebook = NOTEBOOKS[0]
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["slides", str(notebook), "--out", str(blocker)]) == 2
    assert f"{blocker} is a file, not a folder" in capsys.readouterr().err
    # Called as a function, the deck's own path is named, and what is in its way.
    deck = re.escape(str(deck_path(notebook, blocker)))
    with pytest.raises(NotADirectoryError, match=rf"cannot write {deck}: .*a-file is a file"):
        build_slides([notebook], blocker)
    deck = re.escape(str(deck_path(notebook, blocker / "decks")))
    with pytest.raises(OSError, match=f"cannot write {deck}: Not a directory"):
        build_slides([notebook], blocker / "decks")
