"""What the committed notebooks show a reader on a code host, read from the .ipynb files
without running them: no path of the machine that ran them, no progress bar short of its
end, and each notebook's question asked in its first cell and answered in its last."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from r1lab.edition import all_notebooks
from r1lab.metrics import METRICS
from r1lab.notebook_runner import course_notebooks, figures_not_shown
from r1lab.paths import NOTEBOOKS_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks()
IDS = [p.stem for p in NOTEBOOKS]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}
BINARY = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}

# Folders of the machine that ran the notebook. The lookbehind keeps URLs out
# (``https://host/tmp/x``): a path starts the text or follows a space, quote or bracket.
_START = r"(?<![\w.\-/~])"
MACHINE_PATHS = re.compile(
    _START
    + r"(?:/work/|/root/|/home/[^/\s\"']+/|/Users/[^/\s\"']+/|/tmp/|/var/folders/"
    + r"|/private/var/folders/|/private/tmp/)"
)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TEXT_BAR = re.compile(r"(\d{1,3}(?:\.\d+)?)%\|")  # tqdm's text bar: " 40%|████      |"
PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
QUESTION = re.compile(r"^\*\*The questions? of this notebook:\*\*\s*\S", re.MULTILINE)
ANSWER = re.compile(r"^## The answer\s*$", re.MULTILINE)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _widget_state(nb: nbformat.NotebookNode) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _outputs(nb: nbformat.NotebookNode) -> Iterator[tuple[str, list]]:
    """Every list of outputs a reader sees: each code cell's, and each Output widget's."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            yield f"cell {index}", cell.get("outputs", [])
    for model_id, model in _widget_state(nb).items():
        if model.get("model_name") == "OutputModel":
            yield f"Output widget {model_id[:8]}", model.get("state", {}).get("outputs", [])


def _shown_streams(outputs: list) -> list[str]:
    """Stream text as a notebook front end shows it: consecutive writes to one stream
    joined, and each line only what follows its last carriage return."""
    shown, name, text = [], None, ""
    for output in [*outputs, {"output_type": "end"}]:
        if output.get("output_type") == "stream" and output.get("name") == name:
            text += output.get("text", "")
            continue
        if name is not None:
            lines = text.replace("\r\n", "\n").split("\n")
            shown.append("\n".join(line.rsplit("\r", 1)[-1] for line in lines))
        name, text = None, ""
        if output.get("output_type") == "stream":
            name, text = output.get("name"), output.get("text", "")
    return shown


def _texts(outputs: list) -> Iterator[tuple[str, str]]:
    """(kind, text) of every text a list of outputs holds."""
    for text in _shown_streams(outputs):
        yield "stream", text
    for output in outputs:
        for mime, value in output.get("data", {}).items():
            if mime not in BINARY:
                yield mime, value if isinstance(value, str) else json.dumps(value)
        if output.get("output_type") == "error":
            yield "traceback", ANSI.sub("", "\n".join(output.get("traceback", [])))
            yield "error", f"{output.get('ename')}: {output.get('evalue')}"


def _snippet(text: str, start: int, end: int, width: int = 60) -> str:
    return repr(text[max(0, start - width) : end + width])


def _refs(value) -> Iterator[str]:
    """The widget model ids a state value points to (``"IPY_MODEL_<id>"``)."""
    if isinstance(value, str) and value.startswith("IPY_MODEL_"):
        yield value[len("IPY_MODEL_") :]
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)


def _where_widgets_are_shown(nb: nbformat.NotebookNode) -> dict[str, str]:
    """For each widget model, the place (cell or Output widget) whose output shows it."""
    state = _widget_state(nb)
    where: dict[str, str] = {}
    for place, outputs in _outputs(nb):
        for output in outputs:
            view = output.get("data", {}).get(WIDGET_VIEW)
            todo = [view["model_id"]] if view else []
            while todo:
                model_id = todo.pop()
                if model_id in where:
                    continue
                where[model_id] = place
                todo += _refs(state.get(model_id, {}).get("state", {}))
    return where


def machine_paths(nb: nbformat.NotebookNode) -> list[str]:
    """Every absolute path of the build machine in an output or in the widget state."""
    root = re.escape(str(REPO_ROOT))
    pattern = re.compile(rf"{root}|{MACHINE_PATHS.pattern}")
    found = []
    for place, outputs in _outputs(nb):
        for kind, text in _texts(outputs):
            for match in pattern.finditer(text):
                found.append(f"{place} {kind}: {_snippet(text, match.start(), match.end())}")
    state = json.dumps(nb.metadata.get("widgets", {}), ensure_ascii=False)
    for match in pattern.finditer(state):
        found.append(f"widget state: {_snippet(state, match.start(), match.end())}")
    return found


# A measured quantity's key (``greedy_accuracy``) where a reader should see its label
# (``greedy accuracy``): a printed line or a table's header. Keys with an underscore only
# (``pass@1`` is its own label); ``key=`` is a settings object's repr, and a settings
# table names its fields in its cells, where a key is what a practitioner types.
_RAW_KEY = re.compile(
    r"(?<![\w.])("
    + "|".join(re.escape(k) for k in sorted((k for k in METRICS if "_" in k), key=len)[::-1])
    + r")(?![\w=])"
)
_HEADER = re.compile(r"<th\b[^>]*>(.*?)</th>", re.DOTALL)


def raw_metric_keys(nb: nbformat.NotebookNode) -> list[str]:
    """Every metric key an output prints, or a table's header shows, instead of its label."""
    found = []
    for place, outputs in _outputs(nb):
        for kind, text in _texts(outputs):
            if kind in ("stream", "text/plain"):
                parts = [text]
            elif kind == "text/html":
                parts = _HEADER.findall(text)
            else:
                continue
            for part in parts:
                for match in _RAW_KEY.finditer(part):
                    found.append(f"{place} {kind}: {_snippet(part, match.start(), match.end())}")
    return found


def unfinished_bars(nb: nbformat.NotebookNode) -> list[str]:
    """Every progress bar a reader would see short of 100 %: a progress widget's saved
    value below its max, the percentage beside it, or a text bar in an output."""
    found = []
    state = _widget_state(nb)
    where = _where_widgets_are_shown(nb)
    for model_id, model in state.items():
        if model.get("model_name") not in PROGRESS_MODELS:
            continue
        s = model.get("state", {})
        value, top = s.get("value", 0), s.get("max", 100)
        if value < top:
            place = where.get(model_id, "not displayed")
            found.append(f"{place} widget {model_id[:8]}: value {value} < max {top}")
    # tqdm's widget is an HBox of (HTML, progress, HTML); its HTML says "desc: 40%".
    for model_id, model in state.items():
        children = list(_refs(model.get("state", {}).get("children", [])))
        kinds = [state.get(c, {}).get("model_name") for c in children]
        if not any(kind in PROGRESS_MODELS for kind in kinds):
            continue
        for child, kind in zip(children, kinds, strict=True):
            if kind != "HTMLModel":
                continue
            text = html.unescape(state[child]["state"].get("value", "")).replace("\u2007", " ")
            for match in PERCENT.finditer(text):
                if float(match.group(1)) < 100:
                    place = where.get(model_id, "not displayed")
                    found.append(f"{place} widget text {child[:8]}: {text!r}")
    for place, outputs in _outputs(nb):
        for kind, text in _texts(outputs):
            for match in TEXT_BAR.finditer(text):
                if float(match.group(1)) < 100:
                    found.append(f"{place} {kind}: {_snippet(text, match.start(), match.end())}")
    return found


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_output_shows_a_path_of_the_build_machine(path):
    found = machine_paths(_read(path))
    assert not found, f"{path.name} shows the build machine's paths:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_saved_progress_bar_is_finished(path):
    found = unfinished_bars(_read(path))
    assert not found, f"{path.name} saves bars short of 100 %:\n" + "\n".join(found)


# Both editions: the Chinese one copies the English outputs, and a reader sees either.
EDITIONS = all_notebooks()


@pytest.mark.parametrize(
    "path",
    EDITIONS,
    ids=[p.relative_to(NOTEBOOKS_DIR).with_suffix("").as_posix() for p in EDITIONS],
)
def test_every_cell_that_draws_with_r1lab_plots_shows_a_picture(path):
    found = figures_not_shown(_read(path))
    assert not found, f"{path.name} draws figures no one sees:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_output_shows_a_metric_by_its_key(path):
    found = raw_metric_keys(_read(path))
    assert not found, (
        f"{path.name} shows metric keys where a reader should see labels "
        "(r1lab.metrics.label):\n" + "\n".join(found)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_cell_asks_the_question_and_last_cell_answers_it(path):
    nb = _read(path)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and QUESTION.search(first.source), (
        f"{path.name}: the first cell should state the question in a line starting "
        "'**The question of this notebook:**'"
    )
    heading = ANSWER.search(last.source) if last.cell_type == "markdown" else None
    assert heading, f"{path.name}: the last cell should hold the '## The answer' heading"
    assert len(last.source[heading.end() :].split()) >= 20, (
        f"{path.name}: the answer under '## The answer' is missing or a stub"
    )


# ------------------------------------------------------------- the checks catch what they should


def _notebook(outputs: list, widgets: dict | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = outputs
    nb.cells = [cell]
    if widgets is not None:
        nb.metadata["widgets"] = {WIDGET_STATE: {"state": widgets}}
    return nb


def _tqdm_widget(value: float, top: float, left: str, right: str) -> tuple[dict, dict]:
    """A tqdm.notebook bar as nbclient saves it: its display output and its widget state."""
    children = ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]
    state = {
        "box": {"model_name": "HBoxModel", "state": {"children": children}},
        "l": {"model_name": "HTMLModel", "state": {"value": left}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": value, "max": top}},
        "r": {"model_name": "HTMLModel", "state": {"value": right}},
    }  # fmt: skip
    output = nbformat.v4.new_output(
        "display_data",
        data={WIDGET_VIEW: {"model_id": "box"}, "text/plain": "GRPO: 100%|██████████| 4/4"},
    )
    return output, state


def test_finds_a_bar_at_zero_in_each_place_it_can_hide():
    output, state = _tqdm_widget(1.0, 4.0, "GRPO:\u200725%", "\u20071/4\u2007[00:01&lt;00:03]")
    found = unfinished_bars(_notebook([output], state))
    assert any("cell 0 widget p" in f and "value 1.0 < max 4.0" in f for f in found), found
    assert any("cell 0 widget text l" in f and "25%" in f for f in found), found
    text = nbformat.v4.new_output("display_data", data={"text/plain": "GRPO:   0%|   | 0/4"})
    assert unfinished_bars(_notebook([text])) != []


def test_a_text_bar_counts_as_the_front_end_shows_it():
    def stream(text):
        return nbformat.v4.new_output("stream", name="stderr", text=text)

    finished = [stream("\rsweep:   0%|          | 0/4"), stream("\rsweep: 100%|██████████| 4/4\n")]
    assert unfinished_bars(_notebook(finished)) == []
    stopped = [stream("\rsweep:   0%|          | 0/4"), stream("\rsweep:  50%|█████     | 2/4\n")]
    assert "50%|" in unfinished_bars(_notebook(stopped))[0]
    output, state = _tqdm_widget(4.0, 4.0, "GRPO:\u2007100%", "\u20074/4")
    assert unfinished_bars(_notebook([output], state)) == []


def test_finds_machine_paths_but_not_urls_or_relative_paths():
    def printed(text):
        return nbformat.v4.new_output("stream", name="stdout", text=text)

    for text in (
        "saved to /tmp/pytest-of-me/x",
        "run: /home/alice/r1lab/data/runs",
        "File /Users/bob/r1lab/r1lab/grpo.py:12",
        f"'{REPO_ROOT}/data'",
        "/root/.cache/huggingface",
        "/var/folders/xy/T/tmp1",
    ):
        assert machine_paths(_notebook([printed(text)])), text
    for text in ("data/runs/grpo/r1lab-lesson-seed0", "https://example.org/tmp/x", "~/r1lab"):
        assert machine_paths(_notebook([printed(text)])) == [], text
    _, state = _tqdm_widget(4.0, 4.0, "GRPO", "/home/carol/x")
    assert machine_paths(_notebook([], state)) != []


# ------------------------------------------------- the runner saves each bar as it ended


def test_runner_saves_each_bar_as_it_ended(tmp_path):
    """tqdm displays its widget once, at 0 %, and the runner used to save that text."""
    from r1lab.notebook_runner import run_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "from tqdm.auto import tqdm\nfor _ in tqdm(range(50), desc='finished'):\n    pass",
            "bar = tqdm(total=10, desc='stopped early')\nbar.update(4)\nbar.close()",
            # never closed, and drawn at most once a minute: its widget lags its count
            "left = tqdm(total=300, desc='left open', mininterval=60)\n"
            "for _ in range(300):\n    left.update(1)",
            "for _ in tqdm(range(5), desc='transient', leave=False):\n    pass",
        )
    ]
    path = tmp_path / "bars.ipynb"
    nbformat.write(nb, path)
    run_notebook(path, profile="smoke", timeout=120, save=True)
    saved = _read(path)
    assert unfinished_bars(saved) == []
    finished, stopped, left, transient = (cell.outputs for cell in saved.cells)
    assert finished[0]["data"]["text/plain"].startswith("finished: 100%|██████████| 50/50 [")
    assert WIDGET_VIEW in finished[0]["data"]
    assert stopped[0]["data"]["text/plain"].startswith("stopped early: stopped at 4/10 [")
    assert WIDGET_VIEW not in stopped[0]["data"], "no widget draws a part-filled bar"
    assert left[0]["data"]["text/plain"].startswith("left open: 100%|██████████| 300/300 [")
    assert transient == [], "a bar closed with leave=False is gone from the screen"
    state = _widget_state(saved)
    progress = [m for m in state.values() if m["model_name"] in PROGRESS_MODELS]
    assert len(progress) == 2, "the dropped bars' widgets are not saved"


def test_runner_keeps_text_bars_as_a_terminal_shows_them():
    from r1lab.notebook_runner import settle_progress_bars

    def stream(text):
        return nbformat.v4.new_output("stream", name="stderr", text=text)

    nb = _notebook(
        [
            stream("\rsweep:   0%|          | 0/4 [00:00<?, ?step/s]"),
            stream("\rsweep: 100%|██████████| 4/4 [00:02<00:00, 2.0step/s]\n"),
            stream("\rgrid:   0%|          | 0/8 [00:00<?, ?run/s]"),
            stream("\rgrid:  38%|███▊      | 3/8 [00:03<00:05, 1.0run/s]\n"),
        ]
    )
    settle_progress_bars(nb)
    assert [o.text for o in nb.cells[0].outputs] == [
        "sweep: 100%|██████████| 4/4 [00:02<00:00, 2.0step/s]\n"
        "grid: stopped at 3/8 [00:03, 1.0run/s]\n"
    ]


def _drawing_notebook(*sources: str, pictures: int = 1) -> nbformat.NotebookNode:
    """An executed notebook: an import cell, then one cell per source with ``pictures``
    image outputs each."""
    nb = nbformat.v4.new_notebook()
    head = nbformat.v4.new_code_cell(
        "import r1lab.plots as P\nfrom r1lab.plots import compare_bars as bars, LiveCurves"
    )
    nb.cells = [head]
    for count, source in enumerate(sources, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        png = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
        cell.outputs = [nbformat.v4.new_output("display_data", data=png)] * pictures
        nb.cells.append(cell)
    return nb


def test_figures_not_shown_finds_every_figure_no_one_sees():
    shown = _drawing_notebook(
        "bars({'a': {'x': 1}})",  # the cell's last expression
        "fig = P.compare_bars({})\nprint(1)\ndisplay(fig)",  # displayed by name
        "display(bars({}))\nprint('after')",  # displayed, then more code
        "live = LiveCurves(['reward']).show()\nlive.redraw()",  # shows itself
        "def later():\n    return bars({})",  # only defined: draws when called
        "%matplotlib inline\nbars({})",  # IPython syntax parses
    )
    assert figures_not_shown(shown) == []
    dropped = _drawing_notebook("bars({})\nprint('the figure above is dropped')", pictures=0)
    assert figures_not_shown(dropped) == [
        "cell 1, line 1: the figure of bars() is dropped: make it the cell's last "
        "expression or pass it to display()",
        "cell 1: draws with bars but shows no picture",
    ]
    in_a_loop = _drawing_notebook("for k in (1, 2):\n    P.compare_bars({})\nk")
    assert [line[:30] for line in figures_not_shown(in_a_loop)] == [
        "cell 1, line 2: the figure of "
    ]
    never_shown = _drawing_notebook("fig = bars({})", pictures=0)
    assert figures_not_shown(never_shown) == ["cell 1: draws with bars but shows no picture"]
    not_run = _drawing_notebook("bars({})", pictures=0)
    not_run.cells[1].execution_count = None  # a notebook saved without outputs: nothing to see
    assert figures_not_shown(not_run) == []


def test_finds_a_metric_key_in_a_printed_line_and_a_table_header():
    def shown(data=None, text=None):
        if text is not None:
            return _notebook([nbformat.v4.new_output("stream", name="stdout", text=text)])
        return _notebook([nbformat.v4.new_output("display_data", data=data)])

    assert raw_metric_keys(shown(text="greedy_accuracy  39.0% → 62.5%\n")) != []
    header = "<table><tr><th>run</th><th>effective_retry_rate</th></tr></table>"
    assert raw_metric_keys(shown({"text/html": header})) != []
    # Labels pass, and so do a settings repr and a settings table's field names.
    assert raw_metric_keys(shown(text="greedy accuracy  39.0% → 62.5%\n")) == []
    assert raw_metric_keys(shown(text="GRPOSettings(learning_rate=0.0002)\n")) == []
    cells = "<table><tr><td>learning_rate</td><td>2e-4</td></tr></table>"
    assert raw_metric_keys(shown({"text/html": cells})) == []


# ------------------------------------------------------------- what two notebooks must say


def _markdown(name: str) -> str:
    nb = _read(NOTEBOOKS_DIR / f"{name}.ipynb")
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_the_tour_maps_r1s_whole_pipeline_and_what_the_course_rebuilds():
    text = _markdown("00_tour")
    # R1's cold start was thousands of examples (R1 paper, section 2.3.1).
    assert "few hundred" not in text and "thousands of long chain-of-thought" in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    stages = ("R1-Zero", "Cold start", "Reasoning-oriented RL", "Rejection sampling",
              "RL for all scenarios", "Distillation")  # fmt: skip
    for stage in stages:
        [row] = [line for line in table if stage in line.split("|")[1]]
        course = row.rstrip(" |").rsplit("|", 1)[-1]
        # Each stage says where the course rebuilds it, or that it does not.
        assert re.search(r"`\d\d`", course) or "Not rebuilt" in course, row


def test_each_seed_shows_its_own_aha_example():
    nb = _read(NOTEBOOKS_DIR / "07_emergence.ipynb")
    [cell] = [c for c in nb.cells if c.cell_type == "code" and "aha_examples(" in c.source]
    shown = [o.data["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
    assert len(shown) >= 2
    # Each says which aha step it stands for and which logged step it shows ...
    assert all(re.search(r"aha step \d+; .* so this is step \d+", page) for page in shown)
    # ... and none repeats an example shown above it (greedy seeds often write the same).
    afters = [page.split("<b>step", 2)[-1] for page in shown]
    assert len(set(afters)) == len(afters)
