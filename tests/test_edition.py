"""The Chinese edition: built from the English notebooks and translations of their markdown,
and a test that fails the moment the two drift apart."""

import json
import subprocess
import sys

import nbformat
import pytest

from r1lab.edition import (
    EditionError,
    build_edition,
    edition_problems,
    load_translations,
    readme_problems,
    source_hash,
    translation_path,
    write_todo,
)
from r1lab.notebook_runner import course_notebooks
from r1lab.paths import NOTEBOOKS_DIR, REPO_ROOT


def test_the_shipped_chinese_edition_is_in_sync_with_the_english_notebooks():
    problems = edition_problems("zh")
    assert problems == [], "\n".join(map(str, problems)) + "\n(run `r1lab edition zh --todo`)"
    for notebook in course_notebooks():
        built = nbformat.read(NOTEBOOKS_DIR / "zh" / notebook.name, as_version=4)
        english = nbformat.read(notebook, as_version=4)
        code = [(c.source, c.metadata.get("tags")) for c in english.cells if c.cell_type == "code"]
        assert [
            (c.source, c.metadata.get("tags")) for c in built.cells if c.cell_type == "code"
        ] == code
        markdown = [c.source for c in built.cells if c.cell_type == "markdown"]
        # Translated, not copied: every markdown cell holds Chinese characters.
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in markdown)


def test_the_chinese_readme_translates_the_current_readme():
    assert readme_problems("zh") == []


def test_a_readme_changed_without_its_translation_is_caught(tmp_path):
    (tmp_path / "README.md").write_text("# r1lab\n", encoding="utf-8")
    assert [p.kind for p in readme_problems("zh", tmp_path)] == ["missing"]
    english = "# r1lab\n"
    header = f"<!-- translated from README.md; en_sha256: {source_hash(english)} -->"
    (tmp_path / "README.zh.md").write_text(header + "\n# r1lab\n", encoding="utf-8")
    assert readme_problems("zh", tmp_path) == []
    (tmp_path / "README.md").write_text("# r1lab, changed\n", encoding="utf-8")
    assert [p.kind for p in readme_problems("zh", tmp_path)] == ["stale"]
    (tmp_path / "README.zh.md").write_text("# r1lab\n", encoding="utf-8")
    assert [p.kind for p in readme_problems("zh", tmp_path)] == ["unreadable"]


def _tiny_course(tmp_path):
    """A notebooks folder with one notebook, translated, and its edition built."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\nThe question: see [the notes](../docs/x.md)."),
        nbformat.v4.new_code_cell("print(1 + 1)"),
        nbformat.v4.new_markdown_cell("## The answer\n\nTwo."),
    ]
    path = tmp_path / "00_tiny.ipynb"
    nbformat.write(nb, path)
    write_todo("zh", tmp_path)
    tpath = translation_path("zh", path)
    data = json.loads(tpath.read_text())
    first, _, last = (c.id for c in nb.cells)
    data["cells"][first]["text"] = "# 标题\n\n问题：见[笔记](../docs/x.md)。"
    data["cells"][last]["text"] = "## 答案\n\n二。"
    tpath.write_text(json.dumps(data, ensure_ascii=False))
    build_edition("zh", tmp_path)
    return path, tpath, nb


def test_an_edition_copies_code_and_translates_markdown(tmp_path):
    path, _, nb = _tiny_course(tmp_path)
    assert edition_problems("zh", tmp_path) == []
    built = nbformat.read(tmp_path / "zh" / path.name, as_version=4)
    assert [c.source for c in built.cells] == [
        "# 标题\n\n问题：见[笔记](../../docs/x.md)。",  # one folder deeper
        "print(1 + 1)",
        "## 答案\n\n二。",
    ]
    assert [c.id for c in built.cells] == [c.id for c in nb.cells]
    assert built.metadata["r1lab_edition"] == {"language": "zh", "english": "../00_tiny.ipynb"}


def test_editing_an_english_cell_without_its_translation_is_caught(tmp_path):
    path, _, nb = _tiny_course(tmp_path)
    nb.cells[2].source = "## The answer\n\nFour."
    nbformat.write(nb, path)
    [problem] = edition_problems("zh", tmp_path)
    assert (problem.cell, problem.kind) == (nb.cells[2].id, "stale")
    with pytest.raises(EditionError, match="stale"):
        build_edition("zh", tmp_path)
    # --todo puts the new English text beside an empty translation, keeping the others.
    write_todo("zh", tmp_path)
    cells = load_translations(translation_path("zh", path))
    assert cells[nb.cells[2].id] == {
        "en_sha256": source_hash("## The answer\n\nFour."),
        "en": "## The answer\n\nFour.",
        "text": "",
    }
    assert cells[nb.cells[0].id]["text"].startswith("# 标题")
    assert [p.kind for p in edition_problems("zh", tmp_path)] == ["missing"]


def test_a_new_cell_a_gone_cell_and_a_missing_file_are_caught(tmp_path):
    path, tpath, nb = _tiny_course(tmp_path)
    gone = nb.cells.pop(0).id
    nb.cells.append(nbformat.v4.new_markdown_cell("A new remark."))
    nbformat.write(nb, path)
    kinds = {(p.cell, p.kind) for p in edition_problems("zh", tmp_path)}
    assert (gone, "orphan") in kinds
    assert (nb.cells[-1].id, "missing") in kinds
    assert ("", "differs") in kinds
    tpath.unlink()
    problems = edition_problems("zh", tmp_path)
    assert (problems[0].kind, problems[0].detail) == (
        "missing",
        f"no {tmp_path.name}/zh/translations/00_tiny.json",
    )


def test_a_code_cell_changed_in_the_edition_is_caught(tmp_path):
    path, _, _ = _tiny_course(tmp_path)
    built_path = tmp_path / "zh" / path.name
    built = nbformat.read(built_path, as_version=4)
    built.cells[1].source = "print(1 + 2)"  # edited by hand in the edition
    nbformat.write(built, built_path)
    [problem] = edition_problems("zh", tmp_path)
    assert problem.kind == "differs" and "cell 1 (code" in problem.detail


def test_a_corrupt_translation_file_is_named(tmp_path):
    path, tpath, _ = _tiny_course(tmp_path)
    tpath.write_text('{"cells": {"x": ')
    [problem] = [p for p in edition_problems("zh", tmp_path) if p.kind == "unreadable"]
    assert "translations/00_tiny.json" in problem.detail
    with pytest.raises(EditionError, match="00_tiny.json"):
        load_translations(tpath)


def test_an_unknown_language_is_refused(tmp_path):
    with pytest.raises(EditionError, match="unknown language 'fr'"):
        edition_problems("fr", tmp_path)


def _set_id(path, index, cell_id=None):
    """Give cell ``index`` of the notebook file the id ``cell_id``, or none, as an editor
    that loses it would; returns the id it had."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    had = raw["cells"][index].pop("id", None)
    if cell_id is not None:
        raw["cells"][index]["id"] = cell_id
    path.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return had


def test_a_cell_without_an_id_is_refused_and_its_translation_kept(tmp_path):
    path, tpath, nb = _tiny_course(tmp_path)
    kept = tpath.read_bytes()
    lost = _set_id(path, 2)
    for _ in range(2):  # every run refuses; none rewrites the translation file
        with pytest.raises(
            EditionError, match=r"00_tiny\.ipynb .*cell 2 \('## The answer Two\.'\)"
        ):
            write_todo("zh", tmp_path)
        assert tpath.read_bytes() == kept
    [problem] = edition_problems("zh", tmp_path)
    assert (problem.notebook, problem.kind) == ("00_tiny.ipynb", "cell ids")
    assert "cell 2 ('## The answer Two.'): no id" in problem.detail
    with pytest.raises(EditionError, match="cell ids"):
        build_edition("zh", tmp_path)
    # With its id back, the cell finds its translation: nothing to translate, in sync.
    _set_id(path, 2, lost)
    assert write_todo("zh", tmp_path) == {"00_tiny.json": 0}
    assert load_translations(tpath)[lost]["text"] == "## 答案\n\n二。"
    assert edition_problems("zh", tmp_path) == []


def test_a_cell_repeating_another_cells_id_is_refused(tmp_path):
    path, tpath, nb = _tiny_course(tmp_path)
    _set_id(path, 2, nb.cells[0].id)
    with pytest.raises(
        EditionError, match=rf"cell 2 \('## The answer Two\.'\): id '{nb.cells[0].id}' again"
    ):
        write_todo("zh", tmp_path)
    assert [p.kind for p in edition_problems("zh", tmp_path)] == ["cell ids"]


def test_the_edition_command_refuses_a_notebook_with_an_id_less_cell(tmp_path):
    path, tpath, _ = _tiny_course(tmp_path)
    kept = tpath.read_bytes()
    _set_id(path, 0)
    run = [sys.executable, "-m", "r1lab", "edition", "zh", "--notebooks", str(tmp_path)]
    todo = subprocess.run(
        [*run, "--todo"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert todo.returncode == 2
    assert "00_tiny.ipynb has cells without a unique id" in todo.stderr
    assert "cell 0 ('# Title The question: see [the')" in todo.stderr
    assert tpath.read_bytes() == kept
    check = subprocess.run(
        [*run, "--check"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 1 and "00_tiny.ipynb: cell ids" in check.stderr
