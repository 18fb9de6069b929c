"""The instructor pack's numbers, checked against what the course committed.

The pack (``docs/teaching/``) quotes the notebooks' committed outputs. A re-run changes
those outputs, and a pack that still quotes the old ones contradicts the course it
describes. :func:`pack_problems` lists every place where that happened, the way
:func:`r1lab.edition.edition_problems` lists stale translations:

- a **quote**: text in double quotes or in backticks that holds a decimal number, a
  number with a thousands separator or a ratio (``"sampled at 161.3 per second"``,
  ``"10,000 completions scored in 1.32 s"``) must appear word for word (white space
  aside) in a committed output, or in a notebook's own text (a quoted prompt);
- a **number**: every other such number must appear in a committed output, in a
  shipped model's or run's card or summary, in the generated timings table, or in a
  notebook's code (a setting such as ``β = 0.04``).

Other integers are not checked: they are mostly counts of things the
course fixes (3 seeds, 16 samples, section 4), and would match anything.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from r1lab.notebook_runner import course_notebooks, output_lists, shown_stream, widget_state
from r1lab.paths import DATA_DIR, NOTEBOOKS_DIR, REPO_ROOT

PACK_DIR = REPO_ROOT / "docs" / "teaching"
# The pages that quote the course; references.md is generated and quotes no numbers.
PACK_PAGES = (
    "README.md",
    "syllabus.md",
    "objectives.md",
    "answers.md",
    "pitfalls.md",
    "questions.md",
    "glossary.md",
)
# Pages whose double quotes are misconceptions to correct, not outputs.
QUOTES_ARE_SPEECH = ("pitfalls.md",)

# 25.8, 0.04, 1,024, 18,486.5, 122×: a decimal, a number with a thousands separator, a ratio
NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+(?=×))(?![\w]|,\d{3})")
# A quote may wrap onto the next line, as the pages' prose does.
QUOTE = re.compile(r"\"([^\"\n]+(?:\n[^\"\n]+)?)\"|“([^”\n]+(?:\n[^”\n]+)?)”|`([^`\n]+)`")
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class PackProblem:
    page: str  # the pack page, e.g. "answers.md"
    line: int
    kind: str  # quote | number
    text: str

    def __str__(self) -> str:
        what = "quotes text no committed output shows" if self.kind == "quote" else (
            "gives a number found in no committed output, card or setting")  # fmt: skip
        return f"{self.page}:{self.line} {what}: {self.text!r}"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _output_texts(nb: nbformat.NotebookNode) -> list[str]:
    """What a reader of the committed notebook sees as text, HTML tags taken out: every
    output a reader sees (:func:`output_lists`), stream text as a front end shows it, and
    the text widgets hold (a progress bar's count)."""
    state = widget_state(nb)
    values = (model.get("state", {}).get("value") for model in state.values())
    texts = [_plain_html(value) for value in values if isinstance(value, str)]
    for outputs in output_lists(nb, state):
        for out in outputs:
            if out.get("output_type") == "stream":
                texts.append(shown_stream(out["text"]))
            for mime, value in out.get("data", {}).items():
                if mime in ("text/plain", "text/markdown", "text/html"):
                    texts.append(_plain_html(value) if mime == "text/html" else value)
    return texts


def _plain_html(value: str) -> str:
    return html.unescape(_TAG.sub(" ", value))


@dataclass(frozen=True)
class Evidence:
    outputs: str  # every committed output, squashed
    other: str  # cards, run summaries, the timings table, notebook code
    prose: str = ""  # the notebooks' markdown, squashed: a quoted prompt or heading


def course_evidence(
    notebooks_dir: Path = NOTEBOOKS_DIR, data_dir: Path = DATA_DIR, pack_dir: Path = PACK_DIR
) -> Evidence:
    outputs, other, prose = [], [], []
    for path in course_notebooks(notebooks_dir):
        nb = nbformat.read(path, as_version=4)
        outputs += _output_texts(nb)
        other += [cell.source for cell in nb.cells if cell.cell_type == "code"]
        prose += [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    for path in sorted(data_dir.rglob("*")):
        if path.suffix == ".md" or path.name in ("card.json", "eval.json", "summary.json"):
            other.append(path.read_text(encoding="utf-8"))
    timings = pack_dir / "timings.md"  # written by benchmarks/notebooks.py
    if timings.exists():
        other.append(timings.read_text(encoding="utf-8"))
    return Evidence(_squash("\n".join(outputs)), "\n".join(other), _squash("\n".join(prose)))


def _has_number(text: str, corpus: str) -> bool:
    """Whether ``corpus`` holds the number ``text`` whole, with its thousands separators or
    without them (a progress bar counts 1600/1600, the prose says 1,600)."""
    return any(
        re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d]|[.,]\d)", corpus) is not None
        for form in dict.fromkeys((text, text.replace(",", "")))
    )


def page_problems(page: str, text: str, evidence: Evidence) -> list[PackProblem]:
    """What one pack page gives that the course's committed outputs do not back."""
    problems = []
    for number, line in _numbers_outside_quotes(text, check_quotes=page not in QUOTES_ARE_SPEECH):
        if not (_has_number(number, evidence.outputs) or _has_number(number, evidence.other)):
            problems.append(PackProblem(page, line, "number", number))
    if page not in QUOTES_ARE_SPEECH:
        for quote, line in _quotes(text):
            if _squash(quote) not in evidence.outputs and _squash(quote) not in evidence.prose:
                problems.append(PackProblem(page, line, "quote", quote))
    return problems


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _quotes(text: str) -> list[tuple[str, int]]:
    found = []
    for match in QUOTE.finditer(text):
        quote = next(g for g in match.groups() if g is not None)
        if NUMBER.search(quote):
            found.append((quote, _line_of(text, match.start())))
    return found


def _numbers_outside_quotes(text: str, check_quotes: bool) -> list[tuple[str, int]]:
    """Numbers the quote check does not already cover."""
    covered = [m.span() for m in QUOTE.finditer(text)] if check_quotes else []
    found = []
    for match in NUMBER.finditer(text):
        if any(a <= match.start() < b for a, b in covered):
            continue
        found.append((match.group(0), _line_of(text, match.start())))
    return found


def pack_problems(pack_dir: Path = PACK_DIR, evidence: Evidence | None = None) -> list[PackProblem]:
    """Every quote and number of the instructor pack that the course does not back."""
    evidence = evidence or course_evidence()
    problems = []
    for page in PACK_PAGES:
        path = pack_dir / page
        if path.exists():
            problems += page_problems(page, path.read_text(encoding="utf-8"), evidence)
    return problems


def pack_report(problems: list[PackProblem]) -> str:
    if not problems:
        return "The instructor pack quotes only what the committed notebooks show."
    lines = [f"{len(problems)} place(s) in docs/teaching/ the committed outputs do not back:"]
    lines += [f"  {p}" for p in problems]
    lines.append("Copy the number from the notebook's output, or describe the result without it.")
    return "\n".join(lines)
