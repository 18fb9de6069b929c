"""Execute course notebooks headless: tests, output regeneration and memory benchmarks share it."""

from __future__ import annotations

import ast
import html
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from r1lab.paths import NOTEBOOKS_DIR

ALLOWED_ERROR_TAG = "raises-exception"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}

# Pushes each live tqdm bar's count to its widget: tqdm redraws at most every
# ``mininterval`` seconds, so a bar left open can show an older count than it reached.
_REFRESH_BARS_CODE = (
    "import sys as _s\n"
    "_t = getattr(_s.modules.get('tqdm.std'), 'tqdm', None)\n"
    "for _b in list(getattr(_t, '_instances', ())):\n"
    "    _b.disable or _b.refresh()"
)
_PEAK_RSS_CODE = (
    "import resource as _r, sys as _s\n"
    "print(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss / (2**20 if _s.platform == 'darwin' else 2**10))"
)


@dataclass
class NotebookRun:
    path: Path
    seconds: float
    peak_rss_mb: float | None
    notebook: nbformat.NotebookNode
    then: list[nbformat.NotebookNode] = field(default_factory=list)  # see run_notebook


def course_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Every ``NN_topic.ipynb`` in reading order (of the English course, or of the edition
    in ``folder``, e.g. ``notebooks/zh``)."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def unexpected_errors(nb: nbformat.NotebookNode) -> list[str]:
    """Errors in cells that are not tagged ``raises-exception``, as readable lines."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and ALLOWED_ERROR_TAG not in tags:
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
    return found


def drawing_names() -> frozenset[str]:
    """What a cell draws with: the functions of :mod:`r1lab.plots` that return a
    ``Figure``, and its classes that show their own figure (``LiveCurves(…).show()``)."""
    import inspect
    import typing

    from matplotlib.figure import Figure

    from r1lab import plots

    def draws(value: object) -> bool:
        if inspect.isclass(value):
            return callable(getattr(value, "show", None))
        return inspect.isfunction(value) and typing.get_type_hints(value).get("return") is Figure

    return frozenset(
        name
        for name, value in vars(plots).items()
        if getattr(value, "__module__", None) == plots.__name__ and draws(value)
    )


def _drawing_calls(tree: ast.Module, imported: dict[str, str]) -> list[tuple[ast.Call, bool]]:
    """Each call of a drawing function in a cell, and whether it runs when the cell does
    (not inside a function the cell only defines)."""
    found = []

    def visit(node: ast.AST, runs: bool) -> None:
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                name = f"{func.value.id}.{func.attr}"
            if name in imported:
                found.append((node, runs))
        inside = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, runs and not inside)

    visit(tree, True)
    return found


def _imported_drawing(nb: nbformat.NotebookNode, names: frozenset[str]) -> dict[str, str]:
    """``{name as the notebook spells it: drawing function}`` for the drawing functions
    the notebook imports from r1lab.plots (``emergence_curves``, ``plots.emergence_curves``)."""
    imported = {}
    for tree in _cell_trees(nb).values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "r1lab.plots":
                for alias in node.names:
                    if alias.name in names:
                        imported[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module == "r1lab":
                for alias in node.names:
                    if alias.name == "plots":
                        for name in names:
                            imported[f"{alias.asname or 'plots'}.{name}"] = name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "r1lab.plots" and alias.asname:
                        for name in names:
                            imported[f"{alias.asname}.{name}"] = name
    return imported


def _cell_trees(nb: nbformat.NotebookNode) -> dict[int, ast.Module]:
    """The syntax tree of each code cell that parses once IPython's syntax (``%magic``,
    ``!shell``) is turned into Python, by cell index."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    trees = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            try:
                trees[index] = ast.parse(transform(cell.source))
            except SyntaxError:
                continue
    return trees


def figures_not_shown(nb: nbformat.NotebookNode) -> list[str]:
    """Cells that draw with :mod:`r1lab.plots` and show no picture, as readable lines.

    A figure is shown when it is the cell's last expression or passed to ``display``; a
    drawing call standing alone anywhere else draws a figure no one sees. And a cell that
    draws when it runs must hold an image among its outputs (of an executed notebook).
    """
    imported = _imported_drawing(nb, drawing_names())
    found = []
    for index, tree in _cell_trees(nb).items():
        calls = _drawing_calls(tree, imported)
        if not calls:
            continue
        last = tree.body[-1] if tree.body else None
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and node is not last and isinstance(node.value, ast.Call):
                dropped = [c for c, _ in calls if c is node.value]
                found += [
                    f"cell {index}, line {c.lineno}: the figure of {ast.unparse(c.func)}() is "
                    "dropped: make it the cell's last expression or pass it to display()"
                    for c in dropped
                ]
        cell = nb.cells[index]
        drawn = sorted({ast.unparse(c.func) for c, runs in calls if runs})
        pictures = [
            o
            for o in cell.get("outputs", [])
            if any(k.startswith("image/") for k in o.get("data", {}))
        ]
        if drawn and cell.get("execution_count") and not pictures:
            found.append(f"cell {index}: draws with {', '.join(drawn)} but shows no picture")
    return found


def run_notebook(
    path: str | Path,
    profile: str = "smoke",
    timeout: int = 600,
    save: bool = False,
    then: Sequence[str] = (),
) -> NotebookRun:
    """Run every cell in a fresh kernel under ``R1LAB_PROFILE=profile``.

    Raises ``CellExecutionError`` on the first error in a cell not tagged
    ``raises-exception``. With ``save`` the executed notebook replaces the file.
    ``then``: code to run in the same kernel afterwards, each in a cell that is not kept
    (``NotebookRun.then`` holds them with their outputs, errors included): how a test
    operates what the notebook built. What it changes in widgets is in the widget state.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "R1LAB_PROFILE": profile, "HF_HUB_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)  # let the kernel choose its inline backend
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        allow_errors=False,
    )
    start = time.perf_counter()
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        _run_probe(client, _REFRESH_BARS_CODE)
        peak = _kernel_peak_rss(client)
        after = [_run_unsaved(client, code) for code in then]
    client.set_widgets_metadata()
    settle_progress_bars(nb)
    if save:
        nbformat.write(nb, path)
    return NotebookRun(path, seconds, peak, nb, after)


# ---------------------------------------------------------------- progress bars as saved


def settle_progress_bars(nb: nbformat.NotebookNode) -> None:
    """Make the outputs of an executed notebook show each progress bar as it ended.

    tqdm in a notebook displays its widget once, when the bar is created, and then
    only updates the widget: the output's ``text/plain`` (what a code host shows, since
    it draws no widgets) stays the bar at 0 %, while the widget state nbclient saves in
    the notebook's metadata follows the bar to its end. So each bar's text becomes its
    final state, read from that widget state. A bar that ended short of its total (an
    error, a ``break``, a bar never finished) becomes one plain line saying where it
    stopped, and its widget is dropped so that no view draws a part-filled bar; a bar
    closed with ``leave=False`` is removed, as it was from the screen. Stream text is
    kept as a front end shows it (consecutive writes joined, each line what follows its
    last carriage return), and a text bar short of 100 % becomes the same plain line.
    """
    state = widget_state(nb)
    dropped: list[str] = []
    for outputs in output_lists(nb, state):
        kept = []
        for output in _joined_streams(outputs):
            if output.get("output_type") == "stream":
                output["text"] = _settled_text_bars(output["text"])
                kept.append(output)
                continue
            bar = _tqdm_widget(output, state)
            if bar is None:
                kept.append(output)
                continue
            box_id, left, value, top, right, hidden = bar
            if not hidden:
                if value >= top:
                    output["data"]["text/plain"] = _bar_line(left, right)
                    kept.append(output)
                    continue
                output["data"] = {"text/plain": _stopped_line(left, right)}
                kept.append(output)
            dropped.append(box_id)
        outputs[:] = kept
    _forget_widgets(nb, state, dropped)


def widget_state(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The widget models saved in the notebook's metadata, by model id."""
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def output_lists(nb: nbformat.NotebookNode, state: dict[str, Any]) -> list[list]:
    """Every list of outputs a reader sees: each code cell's and each Output widget's
    (``state``: :func:`widget_state`)."""
    lists = [cell.outputs for cell in nb.cells if cell.cell_type == "code"]
    for model in state.values():
        if model.get("model_name") == "OutputModel" and "outputs" in model.get("state", {}):
            lists.append(model["state"]["outputs"])
    return lists


def shown_stream(text: str) -> str:
    """Stream text as a terminal would show it: each line only what follows its last
    ``\\r``, and no line that ends by moving the cursor up (``ESC[A``: tqdm's text bar
    below another open bar, which its next line overwrites)."""
    lines = [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(line for line in lines if not line.endswith("\x1b[A"))


def _joined_streams(outputs: list) -> list:
    """``outputs`` with consecutive writes to one stream joined into one output."""
    joined: list = []
    for output in outputs:
        last = joined[-1] if joined else None
        if (
            output.get("output_type") == "stream"
            and last is not None
            and last.get("output_type") == "stream"
            and last.get("name") == output.get("name")
        ):
            last["text"] += output["text"]
        else:
            joined.append(output)
    for output in joined:
        if output.get("output_type") == "stream":
            output["text"] = shown_stream(output["text"])
    return joined


_TEXT_BAR = re.compile(r"^(?P<left>.*?\d{1,3}(?:\.\d+)?%)\|[^|\n]*\|(?P<right>.*)$", re.MULTILINE)


def _settled_text_bars(text: str) -> str:
    def settle(match: re.Match) -> str:
        percent = float(re.search(r"(\d{1,3}(?:\.\d+)?)%$", match["left"])[1])
        return match[0] if percent >= 100 else _stopped_line(match["left"], match["right"])

    return _TEXT_BAR.sub(settle, text)


def _refs(value: Any) -> list[str]:
    """The widget model ids a widget's state points to (``"IPY_MODEL_<id>"``)."""
    if isinstance(value, str):
        return [value.removeprefix("IPY_MODEL_")] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []


def _tqdm_widget(
    output: dict[str, Any], state: dict[str, Any]
) -> tuple[str, str, float, float, str, bool] | None:
    """(box id, left text, value, max, right text, hidden) when ``output`` displays a
    tqdm.notebook bar (an HBox of HTML, progress and HTML), else None."""
    view = output.get("data", {}).get(WIDGET_VIEW)
    box = state.get(view.get("model_id", "")) if isinstance(view, dict) else None
    if box is None or box.get("model_name") != "HBoxModel":
        return None
    children = [state.get(ref, {}) for ref in _refs(box["state"].get("children", []))]
    kinds = [child.get("model_name") for child in children]
    if len(kinds) != 3 or kinds[1] not in _PROGRESS_MODELS or kinds[::2] != ["HTMLModel"] * 2:
        return None
    left, bar, right = (child.get("state", {}) for child in children)
    layout = state.get(next(iter(_refs(box["state"].get("layout"))), ""), {})
    hidden = layout.get("state", {}).get("visibility") == "hidden"  # closed, leave=False
    return (
        view["model_id"], _plain(left.get("value", "")), float(bar.get("value", 0)),
        float(bar.get("max", 100)), _plain(right.get("value", "")), hidden,
    )  # fmt: skip


def _plain(value: str) -> str:
    """tqdm's widget text as plain text (it escapes HTML and pads with figure spaces)."""
    return html.unescape(value).replace("\u2007", " ")


def _bar_line(left: str, right: str) -> str:
    """A finished bar as tqdm prints it: ``desc: 100%|██████████| 400/400 [...]``."""
    return f"{left}|{'█' * 10}|{right}" if left else right  # no left: a bar with no total


def _stopped_line(left: str, right: str) -> str:
    """A bar that ended short of its total, as one line: ``GRPO: stopped at 160/400 [01:02,
    1.2step/s]`` (no percentage or bar to draw, and no time left to estimate)."""
    desc = re.sub(r"\s*\d{1,3}(?:\.\d+)?%$", "", left).strip().rstrip(":")
    where = re.sub(r"<[^,\]]*", "", right).strip()
    return f"{desc}: stopped at {where}" if desc else f"stopped at {where}"


def _forget_widgets(nb: nbformat.NotebookNode, state: dict[str, Any], dropped: list[str]) -> None:
    """Remove the dropped bars' widgets (box, children, layouts, styles) from the saved
    state, keeping any that something still shown points to."""
    if not dropped:
        return
    gone, todo = set(), list(dropped)
    while todo:
        model_id = todo.pop()
        if model_id not in gone and model_id in state:
            gone.add(model_id)
            todo += _refs(state[model_id].get("state", {}))
    still = {ref for mid, model in state.items() if mid not in gone for ref in _refs(model)}
    for outputs in output_lists(nb, state):
        for output in outputs:
            view = output.get("data", {}).get(WIDGET_VIEW)
            if isinstance(view, dict):
                still.add(view.get("model_id"))
    for model_id in gone - still:
        del state[model_id]


def _run_probe(client: NotebookClient, code: str) -> nbformat.NotebookNode | None:
    """Run ``code`` in the kernel in a cell that is not kept; None if it failed."""
    probe = nbformat.v4.new_code_cell(code)
    client.nb.cells.append(probe)
    try:
        client.execute_cell(probe, len(client.nb.cells) - 1)
    except CellExecutionError:
        return None
    finally:
        client.nb.cells.pop()
    return probe


def _run_unsaved(client: NotebookClient, code: str) -> nbformat.NotebookNode:
    """Run ``code`` in the kernel in a cell that is not kept; the cell, with its outputs
    and any error."""
    cell = nbformat.v4.new_code_cell(code)
    client.nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1)
    except CellExecutionError:
        pass  # the error is among the cell's outputs
    finally:
        client.nb.cells.pop()
    return cell


def _kernel_peak_rss(client: NotebookClient) -> float | None:
    """Peak resident memory of the kernel process so far, in MB."""
    probe = _run_probe(client, _PEAK_RSS_CODE)
    if probe is None:
        return None
    for output in probe.outputs:
        if output.get("name") == "stdout":
            try:
                return float(output["text"].strip().splitlines()[-1])
            except (ValueError, IndexError):
                return None
    return None


def format_summary(runs: list[NotebookRun]) -> str:
    lines = [f"{'notebook':32} {'seconds':>8} {'peak MB':>8}"]
    for run in runs:
        peak = f"{run.peak_rss_mb:8.0f}" if run.peak_rss_mb is not None else "       ?"
        lines.append(f"{run.path.name:32} {run.seconds:8.1f} {peak}")
    return "\n".join(lines)
