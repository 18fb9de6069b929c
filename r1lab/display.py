"""Small HTML renderings for notebooks (tables, tokens); each returns an HTML string."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from r1lab.course import Chapter
from r1lab.env import PackageCheck

_CELL = "padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"


def html_table(
    rows: Iterable[Sequence[object]],
    header: Sequence[str] | None = None,
    highlight: Sequence[bool] | None = None,
) -> str:
    """A plain HTML table; every value is escaped. Rows flagged in ``highlight`` are red."""
    parts = ["<table style='border-collapse:collapse'>"]
    if header:
        cells = "".join(f"<th style='{_CELL}'>{html.escape(str(h))}</th>" for h in header)
        parts.append(f"<tr>{cells}</tr>")
    for i, row in enumerate(rows):
        cells = "".join(f"<td style='{_CELL}'>{html.escape(str(v))}</td>" for v in row)
        style = " style='background:#f8d7da'" if highlight and highlight[i] else ""
        parts.append(f"<tr{style}>{cells}</tr>")
    parts.append("</table>")
    return "".join(parts)


def html_mapping(mapping: Mapping[str, object]) -> str:
    return html_table(mapping.items())


def html_tokens(tokens: Sequence[str], unknown: str = "<unk>") -> str:
    """Tokens as adjacent boxes, so a learner sees where one ends and the next begins."""
    boxes = []
    for i, token in enumerate(tokens):
        shown = token.replace(" ", "␣").replace("\n", "⏎")
        colour = "#f8d7da" if token == unknown else ("#e8f0fe" if i % 2 else "#fef7e0")
        boxes.append(
            f"<span style='background:{colour};border:1px solid #ccc;padding:1px 3px;"
            f"margin:1px;font-family:monospace;display:inline-block'>{html.escape(shown)}</span>"
        )
    return "<div style='line-height:2'>" + "".join(boxes) + "</div>"


def html_version_checks(checks: Sequence[PackageCheck]) -> str:
    """Installed vs tested versions, with a one-line verdict underneath."""
    rows = [
        (c.name, c.installed or "missing", c.required, "ok" if c.ok else "OUTSIDE TESTED RANGE")
        for c in checks
    ]
    bad = [c.name for c in checks if not c.ok]
    verdict = (
        "All dependencies are in their tested ranges."
        if not bad
        else f"Outside the tested ranges: {', '.join(bad)}. Run the course with `make lab`."
    )
    table = html_table(
        rows,
        header=["package", "installed", "tested range", "status"],
        highlight=[not c.ok for c in checks],
    )
    return f"{table}<p>{html.escape(verdict)}</p>"


def html_course_map(chapters: Sequence[Chapter]) -> str:
    rows = [
        (c.filename, c.title, c.question, "ready" if c.available else "in preparation")
        for c in chapters
    ]
    return html_table(rows, header=["notebook", "topic", "question it answers", "status"])
