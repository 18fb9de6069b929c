"""Small HTML renderings for notebooks (tables, tokens); each returns an HTML string."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from r1lab.course import Chapter
from r1lab.env import PackageCheck
from r1lab.hacks import Hack, LenientResult
from r1lab.metrics import label, metric
from r1lab.rewards import Verdict

CELL_STYLE = "padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"


def is_share(key: str) -> bool:
    """Whether a metric is a share, shown as a percentage (:mod:`r1lab.metrics`)."""
    return metric(key).share


def format_score(key: str, value: float | None) -> str:
    """A held-out score or per-step metric as a table shows it (:mod:`r1lab.metrics`):
    shares as percentages, the rest (lengths, attempts) as numbers; – when absent."""
    return metric(key).format(value)


def scores_text(scores: Mapping[str, float | None]) -> str:
    """Scores on one line, each under its label (``pass@1 25.8%, greedy accuracy 39.0%``)."""
    return ", ".join(f"{label(key)} {format_score(key, value)}" for key, value in scores.items())


def change_text(key: str, before: float | None, after: float | None, width: int = 28) -> str:
    """One score before → after under its label; the change in points for a share."""
    text = f"{label(key):{width}s} {format_score(key, before):>6s} → {format_score(key, after):>6s}"
    if before is not None and after is not None:
        change = after - before
        text += f"  ({change * 100:+.1f} points)" if is_share(key) else f"  ({change:+.1f})"
    return text


def html_table(
    rows: Iterable[Sequence[object]],
    header: Sequence[str] | None = None,
    highlight: Sequence[bool] | None = None,
) -> str:
    """A plain HTML table; every value is escaped. Rows flagged in ``highlight`` are red."""
    parts = ["<table style='border-collapse:collapse'>"]
    if header:
        cells = "".join(f"<th style='{CELL_STYLE}'>{html.escape(str(h))}</th>" for h in header)
        parts.append(f"<tr>{cells}</tr>")
    for i, row in enumerate(rows):
        cells = "".join(f"<td style='{CELL_STYLE}'>{html.escape(str(v))}</td>" for v in row)
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


def html_verdict(verdict: Verdict, rewards: Mapping[str, float] | None = None) -> str:
    """The verifier's checks in order (✓/✗ and why), then each reward."""
    rows = [(name, "✓" if passed else "✗", detail) for name, passed, detail in verdict.checks]
    parts = [
        html_table(
            rows, header=["check", "", "detail"], highlight=[not p for _, p, _ in verdict.checks]
        )
    ]
    if verdict.parsed.ok:
        parts.append(
            "<p style='font-family:monospace'>think: "
            f"{html.escape(_clip(verdict.parsed.think))}<br>answer: "
            f"{html.escape(_clip(verdict.parsed.answer))}</p>"
        )
    for name, value in (rewards or {"reward": verdict.reward}).items():
        colour = "#1e7b34" if value == 1.0 else "#b03a2e"
        parts.append(
            f"<span style='display:inline-block;margin:2px 12px 2px 0'><code>{html.escape(name)}"
            f"</code> = <b style='color:{colour}'>{value:g}</b></span>"
        )
    parts.append(f"<p><i>{html.escape(verdict.reason)}</i></p>")
    return "".join(parts)


def _clip(text: str | None, limit: int = 300) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def html_hack_gallery(hacks: Sequence[Hack], lenient: Sequence[LenientResult]) -> str:
    """Each hack with what the lenient verifier paid (red when it paid) and what ours paid."""
    rows, paid = [], []
    for hack, result in zip(hacks, lenient, strict=True):
        shown = f"{result.score:g}" if result.score is not None else result.outcome
        rows.append(
            (
                hack.name,
                _clip(hack.completion, 60),
                hack.numbers,
                hack.target,
                shown,
                f"{hack.ours():g}",
                hack.why,
            )
        )
        paid.append(result.score is None or result.score > 0)
    header = ["hack", "completion", "numbers", "target", "lenient", "ours", "why ours says no"]
    return html_table(rows, header=header, highlight=paid)


_KIND_COLOURS = {
    "effective": "#1e7b34",
    "lucky": "#2874a6",
    "superficial": "#7f8c8d",
    "harmful": "#b03a2e",
    "unsuccessful": "#b9770e",
}


def html_trajectory(completion: str, numbers: Sequence[int], target: int) -> str:
    """One completion read as a search: each attempt on its own line (green when it is
    right: correct arithmetic, each number once, the target reached; red otherwise, with a
    note when its check is false), each retry labelled with its kind, then the answer and
    whether it is right. In an effective search only the retry that leads to the right
    attempt is called effective; the ones before it say that the search goes on."""
    from r1lab.behaviors import analyze, attempt_right

    path = analyze(completion, numbers, target)
    lines = []
    for i, attempt in enumerate(path.attempts):
        right = attempt_right(attempt, target, numbers)
        honest = attempt.verdict is None or not attempt.steps or attempt.check_ok(target)
        colour = "#1e7b34" if right else "#b03a2e"
        note = "" if honest else " <i>(the check is wrong)</i>"
        lines.append(
            f"<div style='font-family:monospace;color:{colour}'>attempt {i + 1}: "
            f"{html.escape(_clip(attempt.text, 120))}{note}</div>"
        )
        if i < len(path.retries):
            kind = path.retries[i].kind
            said = f"<b>{kind}</b> retry"
            # A search that ends right makes each of its retries effective, but only the
            # last leads to the right attempt: the others say the search goes on.
            following = path.attempts[i + 1] if i + 1 < len(path.attempts) else None
            if kind == "effective" and not (
                following and attempt_right(following, target, numbers)
            ):
                said = "the search goes on (the next attempt is wrong too)"
            elif kind == "effective":
                said += ": the next attempt is right"
            lines.append(
                f"<div style='margin-left:2em;color:{_KIND_COLOURS[kind]}'>↳ wait: {said}</div>"
            )
    answer = completion.split("<answer>", 1)[-1].split("</answer>", 1)[0] if (
        "<answer>" in completion) else "(no answer)"  # fmt: skip
    mark = "✓ right" if path.correct else "✗ wrong"
    lines.append(
        f"<div style='font-family:monospace'>answer: {html.escape(_clip(answer, 60))} "
        f"<b style='color:{'#1e7b34' if path.correct else '#b03a2e'}'>{mark}</b></div>"
    )
    return "<div style='margin:4px 0 10px 0'>" + "".join(lines) + "</div>"


def html_before_after(before: Mapping[str, object], after: Mapping[str, object]) -> str:
    """The same prompt at two steps of a run, side by side (rows of ``watch.jsonl`` or
    ``samples.jsonl``: ``step``, ``prompt``, ``completion``, ``numbers``, ``target``)."""
    cells = []
    for row in (before, after):
        body = html_trajectory(str(row["completion"]), row["numbers"], int(row["target"]))
        cells.append(
            "<td style='vertical-align:top;text-align:left;padding:4px 14px;"
            "border-left:3px solid #ddd'>"
            f"<b>step {row['step']}</b>{body}</td>"
        )
    prompt = html.escape(str(before["prompt"]))
    return f"<p>prompt: <code>{prompt}</code></p><table><tr>{''.join(cells)}</tr></table>"
