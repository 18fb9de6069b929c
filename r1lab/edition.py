"""The course in another language: the English notebooks with their markdown translated.

A translation file, ``notebooks/<lang>/translations/<notebook stem>.json``, holds for each
markdown cell of the English notebook (keyed by the cell's id) the translated text and a
hash of the English source it was translated from::

    {"notebook": "00_tour.ipynb",
     "cells": {"<cell id>": {"en_sha256": "<hash of the English source>", "text": "..."}}}

``build_edition`` writes ``notebooks/<lang>/<notebook>.ipynb``: every code cell exactly as
in English (source, outputs, tags), every markdown cell from its translation, so no code
is ever copied by hand. ``edition_problems`` lists what keeps an edition from being in
sync: a markdown cell without a translation, a translation of an older English text (its
hash no longer matches), a translation of a cell that is gone, and a built notebook whose
cells differ from what the English notebook and the translations make.

Cell ids are the keys, so an English notebook with a cell that has no id, or one that
another cell has too, is refused (:func:`read_english`): nbformat would give that cell a
new random id on every read, and its translation would be filed under a new key each time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from r1lab.course import LANGUAGES
from r1lab.notebook_runner import course_notebooks
from r1lab.paths import NOTEBOOKS_DIR


class EditionError(ValueError):
    """An edition cannot be built: translations are missing, stale or unreadable."""


class CellIdError(EditionError):
    """An English notebook has a cell without an id, or with another cell's id."""


@dataclass(frozen=True)
class Problem:
    notebook: str  # the English notebook's file name
    cell: str  # the cell id ('' for the notebook as a whole)
    kind: str  # missing | stale | orphan | unreadable | cell ids | not built | differs
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.notebook} cell {self.cell}" if self.cell else self.notebook
        return f"{where}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def source_hash(source: str) -> str:
    """The hash a translation records of the English text it translates."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def edition_dir(lang: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    if lang not in LANGUAGES:
        raise EditionError(f"unknown language {lang!r}: editions exist for {sorted(LANGUAGES)}")
    return notebooks_dir / lang


def translation_path(lang: str, notebook: Path) -> Path:
    return edition_dir(lang, notebook.parent) / "translations" / f"{notebook.stem}.json"


def all_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The English notebooks, then each edition's, in reading order."""
    found = course_notebooks(notebooks_dir)
    for lang in sorted(LANGUAGES):
        found += course_notebooks(edition_dir(lang, notebooks_dir))
    return found


def load_translations(path: Path) -> dict[str, dict]:
    """``{cell id: {"en_sha256", "text"}}`` from a translation file; a file that is not
    valid JSON or not of this shape is named in the error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cells = data["cells"]
        if not isinstance(cells, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("text"), str) and "en_sha256" in v
            for v in cells.values()
        ):
            raise TypeError("each cell needs 'en_sha256' and a 'text' string")
    except (OSError, ValueError, KeyError, TypeError) as err:
        where = "/".join(path.parts[-4:])  # notebooks/<lang>/translations/<file>
        raise EditionError(f"cannot read the translation file {where}: {err}") from err
    return cells


def _first_words(cell: dict, words: int = 6) -> str:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    first = " ".join(text.split()[:words])
    return first if len(first) <= 50 else first[:49] + "…"


def read_english(notebook: Path) -> nbformat.NotebookNode:
    """The English ``notebook``, whose cell ids key its translations. A cell without an
    id, or with the id of an earlier cell, is a :class:`CellIdError` naming the notebook
    and each such cell (its index and first words): nbformat would make up a new id for
    it on every read, filing its translation under a new key each time."""
    try:
        text = notebook.read_text(encoding="utf-8")
        cells = json.loads(text)["cells"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise EditionError(f"cannot read the notebook {notebook}: {err}") from err
    seen: set[str] = set()
    bad = []
    for index, cell in enumerate(cells):
        cell_id = cell.get("id") if isinstance(cell, dict) else None
        if not isinstance(cell_id, str) or not cell_id:
            bad.append(f"cell {index} ({_first_words(cell)!r}): no id")
        elif cell_id in seen:
            bad.append(f"cell {index} ({_first_words(cell)!r}): id {cell_id!r} again")
        else:
            seen.add(cell_id)
    if bad:
        listed = "; ".join(bad[:10]) + (f"; … and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise CellIdError(
            f"{notebook.name} has cells without a unique id, which key their translations: "
            + listed
            + f". Restore a cell's lost id (`git diff {notebook.name}` shows it) to keep its "
            "translation; give a new cell an id by saving the notebook with nbformat "
            "(nbformat.write(nbformat.read(path, 4), path))."
        )
    return nbformat.reads(text, as_version=4)


def translation_skeleton(notebook: Path, lang: str) -> dict:
    """A translation file's content for ``notebook``: entries already translated and
    current are kept, every other markdown cell gets its English text to translate and an
    empty ``text`` (``edition_problems`` reports those as missing)."""
    nb = read_english(notebook)
    path = translation_path(lang, notebook)
    old = load_translations(path) if path.exists() else {}
    cells = {}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        h = source_hash(cell.source)
        kept = old.get(cell.id)
        if kept and kept["en_sha256"] == h and kept["text"].strip():
            cells[cell.id] = kept
        else:
            cells[cell.id] = {"en_sha256": h, "en": cell.source, "text": ""}
    return {"notebook": notebook.name, "cells": cells}


def _localise_links(text: str) -> str:
    """Links that leave ``notebooks/`` climb one folder more from ``notebooks/<lang>/``."""
    return re.sub(r"\]\(\.\./", "](../../", text)


def translated_notebook(
    notebook: Path, lang: str
) -> tuple[nbformat.NotebookNode | None, list[Problem]]:
    """The edition of ``notebook`` and the problems of its translations (the edition
    keeps the English text of a cell whose translation is missing or stale); None, with
    the problem, for a notebook whose cells cannot be keyed (:func:`read_english`)."""
    try:
        nb = read_english(notebook)
    except EditionError as err:
        kind = "cell ids" if isinstance(err, CellIdError) else "unreadable"
        return None, [Problem(notebook.name, "", kind, str(err))]
    path = translation_path(lang, notebook)
    problems = []
    try:
        cells = load_translations(path)
    except EditionError as err:
        if path.exists():
            return nb, [Problem(notebook.name, "", "unreadable", str(err))]
        where = path.relative_to(notebook.parent.parent).as_posix()
        return nb, [Problem(notebook.name, "", "missing", f"no {where}")]
    out = copy.deepcopy(nb)
    ids = set()
    for cell in out.cells:
        if cell.cell_type != "markdown":
            continue
        ids.add(cell.id)
        entry = cells.get(cell.id)
        if entry is None or not entry["text"].strip():
            problems.append(Problem(notebook.name, cell.id, "missing", cell.source[:60]))
        elif entry["en_sha256"] != source_hash(cell.source):
            problems.append(
                Problem(notebook.name, cell.id, "stale", "the English cell changed since")
            )
        else:
            cell.source = _localise_links(entry["text"])
    problems += [Problem(notebook.name, i, "orphan", "no such cell") for i in cells if i not in ids]
    out.metadata["r1lab_edition"] = {"language": lang, "english": f"../{notebook.name}"}
    return out, problems


def _cells_differ(
    built: nbformat.NotebookNode, expected: nbformat.NotebookNode, unsettled: set[str]
) -> str:
    """Why the built edition is not what the English notebook makes ('' when it is); the
    text of ``unsettled`` markdown cells (translation missing or stale) is not compared,
    as those are reported already."""
    if len(built.cells) != len(expected.cells):
        return f"{len(built.cells)} cells, the English notebook makes {len(expected.cells)}"
    for i, (a, b) in enumerate(zip(built.cells, expected.cells, strict=True)):
        same_text = a.source == b.source or (a.cell_type == "markdown" and b.id in unsettled)
        if (a.cell_type, a.get("id")) != (b.cell_type, b.get("id")) or not same_text:
            return f"cell {i} ({a.cell_type}, id {a.get('id')}) differs; rebuild the edition"
    return ""


def edition_problems(lang: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Problem]:
    """Everything that keeps the ``lang`` edition from matching the English notebooks
    (``readme_problems`` checks its README)."""
    edition_dir(lang, notebooks_dir)  # an unknown language is refused
    problems = []
    for notebook in course_notebooks(notebooks_dir):
        expected, found = translated_notebook(notebook, lang)
        problems += found
        if expected is None:  # its cells have no ids to compare by
            continue
        built = edition_dir(lang, notebooks_dir) / notebook.name
        if not built.exists():
            problems.append(Problem(notebook.name, "", "not built", str(built.name)))
            continue
        unsettled = {p.cell for p in found if p.kind in ("missing", "stale")}
        why = _cells_differ(nbformat.read(built, as_version=4), expected, unsettled)
        if why:
            problems.append(Problem(notebook.name, "", "differs", why))
    return problems


def readme_problems(lang: str, root: Path | None = None) -> list[Problem]:
    """``README.<lang>.md`` records the hash of the ``README.md`` it translates in its first
    line (``<!-- translated from README.md; en_sha256: … -->``): a README changed since is
    reported, as a notebook cell would be."""
    edition_dir(lang)
    root = root or NOTEBOOKS_DIR.parent
    translated = root / f"README.{lang}.md"
    if not translated.exists():
        return [Problem("README.md", "", "missing", f"no README.{lang}.md")]
    first = translated.read_text(encoding="utf-8").split("\n", 1)[0]
    found = re.fullmatch(r"<!-- translated from README\.md; en_sha256: ([0-9a-f]+) -->", first)
    if not found:
        return [Problem("README.md", "", "unreadable", f"README.{lang}.md lacks its hash line")]
    if found.group(1) != source_hash((root / "README.md").read_text(encoding="utf-8")):
        return [Problem("README.md", "", "stale", f"README.md changed since README.{lang}.md")]
    return []


def build_edition(lang: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Write every notebook of the ``lang`` edition; refuses (naming each cell) while a
    translation is missing or stale, so an edition is never half English unnoticed."""
    edition_dir(lang, notebooks_dir)
    built, problems = [], []
    for notebook in course_notebooks(notebooks_dir):
        nb, found = translated_notebook(notebook, lang)
        problems += found
        built.append((notebook, nb))
    if problems:
        listed = "\n  ".join(map(str, problems[:20]))
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise EditionError(
            f"the {lang} edition is out of sync with the English notebooks "
            f"({len(problems)} problems):\n  {listed}{more}\n"
            f"`r1lab edition {lang} --todo` writes what is left to translate into each "
            "translation file."
        )
    paths = []
    for notebook, nb in built:
        path = edition_dir(lang, notebooks_dir) / notebook.name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def write_todo(lang: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, int]:
    """Rewrite each translation file with every cell that still needs translating (its
    English text beside an empty ``text``); returns how many cells each file needs.
    Every notebook is read before any file is written, so a notebook that is refused
    (:func:`read_english`) leaves every translation file as it was."""
    edition_dir(lang, notebooks_dir)
    todo = {}
    skeletons = [(n, translation_skeleton(n, lang)) for n in course_notebooks(notebooks_dir)]
    for notebook, skeleton in skeletons:
        path = translation_path(lang, notebook)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(skeleton, ensure_ascii=False, indent=1) + "\n", "utf-8")
        todo[path.name] = sum(not c["text"].strip() for c in skeleton["cells"].values())
    return todo
