"""Slides from the notebooks: reveal.js decks that nbconvert builds from the cells' slide tags.

Each cell's ``metadata.slideshow.slide_type`` (the tag JupyterLab's property inspector
edits) says where a slide starts. The course tags them from the headings: a cell that
opens with a ``#`` or ``##`` heading starts a slide, one with ``###`` a sub-slide (reveal.js
shows it below its slide), and every other cell continues the slide before it, so a figure
sits under the text that explains it. ``r1lab slides --tag`` rewrites the tags after a
notebook gains or loses a heading; ``r1lab slides`` (``make slides``) builds the decks.

The decks load reveal.js from its CDN when opened (pass ``reveal_prefix`` to point to a
local copy for a classroom without internet); building them needs no network.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from r1lab.paths import NOTEBOOKS_DIR, REPO_ROOT

SLIDES_DIR = REPO_ROOT / "slides"


def slide_type(cell: nbformat.NotebookNode) -> str:
    """Where ``cell`` sits in the deck: "slide", "subslide" or "-" (continues)."""
    if cell.cell_type != "markdown":
        return "-"
    first = cell.source.lstrip().split("\n", 1)[0]
    if first.startswith(("# ", "## ")):
        return "slide"
    if first.startswith("### "):
        return "subslide"
    return "-"


def untagged_cells(nb: nbformat.NotebookNode) -> list[int]:
    """The indices of cells whose slide tag is not the one their heading calls for."""
    return [
        i
        for i, cell in enumerate(nb.cells)
        if cell.metadata.get("slideshow", {}).get("slide_type", "-") != slide_type(cell)
    ]


def tag_slides(nb: nbformat.NotebookNode) -> int:
    """Give every cell the slide tag of its heading (a cell that continues its slide needs
    none: that is reveal.js's default); returns how many tags changed."""
    changed = untagged_cells(nb)
    for i in changed:
        kind = slide_type(nb.cells[i])
        if kind == "-":
            nb.cells[i].metadata.pop("slideshow", None)
        else:
            nb.cells[i].metadata["slideshow"] = {"slide_type": kind}
    return len(changed)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook in ``path``; a file that is missing, unreadable or not a valid notebook
    is an error naming it."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a notebook: name .ipynb files")
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except FileNotFoundError:
        raise FileNotFoundError(f"no notebook {path}") from None
    except OSError as err:
        raise OSError(f"cannot read the notebook {path}: {err.strerror or err}") from err
    except (ValueError, KeyError, TypeError, AttributeError, nbformat.ValidationError) as err:
        # nbformat reports bad JSON and bad structure in all of these; the first line of
        # its message says what is wrong (a schema error goes on for pages).
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path} is not a valid notebook: {reason}") from err
    return nb


def deck_path(notebook: Path, out_dir: Path = SLIDES_DIR) -> Path:
    """``notebooks/05_x.ipynb`` → ``slides/05_x.slides.html``; an edition's notebook
    (``notebooks/zh/05_x.ipynb``) → ``slides/zh/05_x.slides.html``."""
    try:
        folder = notebook.resolve().parent.relative_to(NOTEBOOKS_DIR.resolve())
    except ValueError:  # a notebook from elsewhere
        folder = Path()
    return out_dir / folder / f"{notebook.stem}.slides.html"


def build_slides(
    notebooks: list[Path],
    out_dir: Path = SLIDES_DIR,
    reveal_prefix: str | None = None,
    on_deck=None,
) -> list[Path]:
    """Write a reveal.js deck per notebook (code, outputs and figures as committed);
    returns the paths written. A notebook with no slide tags is refused: it would make
    one endless slide."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(
        reveal_scroll=True,  # a slide taller than the screen scrolls instead of being cut
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    if reveal_prefix:
        exporter.reveal_url_prefix = reveal_prefix
    written = []
    for notebook in notebooks:
        nb = read_notebook(notebook)
        if not any(c.metadata.get("slideshow", {}).get("slide_type") == "slide" for c in nb.cells):
            raise ValueError(
                f"{notebook} has no cell tagged to start a slide: run `r1lab slides --tag`"
            )
        try:
            body, _ = exporter.from_notebook_node(nb)
        except Exception as err:  # nbconvert's templates fail in many ways: name the notebook
            raise ValueError(f"cannot make slides of {notebook}: {err}") from err
        path = deck_path(notebook, out_dir)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        except FileExistsError as err:  # a file where a folder of the path should be
            raise NotADirectoryError(
                f"cannot write {path}: {err.filename} is a file, not a folder"
            ) from err
        except OSError as err:
            raise OSError(f"cannot write {path}: {err.strerror or err}") from err
        written.append(path)
        if on_deck:
            on_deck(path)
    return written
