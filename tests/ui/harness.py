"""Check what a learner sees when a notebook runs in JupyterLab.

Plain functions over a Playwright page, so the tests of the course notebooks and the
self-test against deliberately broken fixtures run exactly the same checks. Each check
returns a list of problems, one readable line each; an empty list means the learner saw
what the notebook meant to show.

The page must come from a JupyterLab started with ``--LabApp.expose_app_in_browser=True``:
the checks read the live notebook model through ``window.jupyterapp`` (see ``check_cells``).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import nbformat

from r1lab.notebook_runner import unexpected_errors

# The convention every interactive panel of the course follows (see r1lab/widgets.py):
# ipywidgets ``add_class`` puts these classes on the widgets' root DOM elements.
PANEL = ".r1lab-panel"
CONTROL = ".r1lab-control"
RUN = ".r1lab-run"
OUTPUT = ".r1lab-output"
RUNS = ".r1lab-runs"  # a Run panel's table of runs: each run adds a row "run <n>"
ERROR = ".r1lab-error"  # on an output while it shows an error line instead of a result
# An error a callback turned into one line of text ("TypeError: measure() missing…", or
# r1lab's "Cannot run with these settings: …"): a failure, however the panel marks it.
ERROR_LINE = re.compile(
    r"\b[A-Z]\w*(?:Error|Exception)\b: |^Cannot run with these settings: ", re.M
)

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# What the checks did, shown by pytest with a failure or with --log-cli-level=INFO.
log = logging.getLogger(__name__)
# What JupyterLab and ipywidgets show instead of a widget that failed to render.
BROKEN_WIDGET_TEXTS = ("Loading widget...", "Error displaying widget", "model not found")

# Every page.evaluate below starts from the notebook panel that shows `path`.
_FIND_PANEL = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
  }
  return null;
};
"""

_KERNEL_STATE = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  if (!panel) return {found: false};
  const session = panel.sessionContext.session;
  const kernel = session ? session.kernel : null;
  const prompts = [...panel.content.node.querySelectorAll('.jp-InputPrompt')];
  const dialogs = [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText);
  return {
    found: true,
    ready: panel.context.isReady,
    status: kernel ? kernel.status : 'no kernel',
    running: prompts.filter(p => p.textContent.includes('*')).length,
    dialogs: dialogs,
  };
}"""
)

# For each code cell: its nbformat JSON from the live model, and what each of its
# outputs rendered as (the OutputArea holds one child per model output, in order).
_CELLS = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  return panel.content.widgets.map((cell, index) => {
    const json = cell.model.toJSON();
    if (json.cell_type !== 'code') return {index, json, rendered: []};
    const rendered = cell.outputArea.widgets.map(child => {
      const node = child.node.querySelector(':scope > .jp-OutputArea-output') || child.node;
      return {
        mime: node.getAttribute('data-mime-type'),
        widgets: node.querySelectorAll('.jupyter-widgets').length,
        images: [...node.querySelectorAll('img')].map(img => ({
          loaded: img.complete && img.naturalWidth > 0,
          png: img.src.startsWith('data:image/png'),
        })),
        text: node.innerText.slice(0, 300),
      };
    });
    return {index, json, rendered};
  });
}"""
)

# Error outputs anywhere below `element`, read from the models of the OutputAreas that
# render them: Output widgets inside a panel are JupyterLab OutputAreas too.
_ERRORS_BELOW = (
    "(element, path) => {"
    + _FIND_PANEL
    + """
  const errors = [];
  const visit = (widget) => {
    if (widget.hasClass('jp-OutputArea') && widget.model && element.contains(widget.node)) {
      for (const output of widget.model.toJSON()) {
        if (output.output_type === 'error') errors.push(output.ename + ': ' + output.evalue);
      }
    }
    for (const child of widget.children()) visit(child);
  };
  visit(findPanel(path));
  return errors;
}"""
)

# What the learner sees of a panel's result: the HTML of its outputs and of its table of
# runs, without inline styles (which change as JupyterLab lays things out), so image
# sources and text both count; the text and pictures of its outputs; the runs in its table.
_SNAPSHOT = """(panel) => {
  const outputs = [...panel.querySelectorAll('.r1lab-output')];
  const tables = [...panel.querySelectorAll('.r1lab-runs')];
  const runs = tables.length ? [...tables[0].querySelectorAll('tr')].filter(
    row => row.children.length && /^run \\d+$/.test(row.children[0].innerText.trim())).length : 0;
  return {
    html: [...outputs, ...tables].map(e => e.innerHTML.replace(/ style="[^"]*"/g, '')).join('\\n'),
    text: outputs.map(e => e.innerText.trim()).join('\\n').trim(),
    images: outputs.reduce((n, e) => n + e.querySelectorAll('img, svg, canvas').length, 0),
    runs: runs,
    errors: [...panel.querySelectorAll('.r1lab-error')].map(e => e.innerText.trim()),
  };
}"""

_CONTROL_KIND = """(element) => {
  if (element.querySelector('.noUi-handle')) return 'slider';
  if (element.querySelector('select')) return 'select';
  if (element.querySelector('textarea')) return 'textarea';
  if (element.querySelector('input[type=number]')) return 'number';
  if (element.querySelector('input[type=checkbox]')) return 'checkbox';
  if (element.querySelector('input[type=radio]')) return 'radio';
  if (element.querySelector('input[type=text], input:not([type])')) return 'text';
  if (element.querySelector('button.widget-toggle-button, .widget-toggle-buttons button'))
    return 'toggle';
  return 'unknown: ' + element.className;
}"""


class HarnessError(RuntimeError):
    """The harness could not drive the page (as opposed to a problem in the notebook)."""


def open_notebook(page, base_url: str, path: str, timeout: float = 120) -> None:
    """Open ``path`` (relative to the server root) in a fresh workspace; wait for its kernel."""
    page.goto(f"{base_url}/lab/tree/{path}?reset")
    try:
        page.wait_for_function(
            "(path) => {"
            + _FIND_PANEL
            + """
              const panel = findPanel(path);
              const kernel = panel && panel.sessionContext.session
                ? panel.sessionContext.session.kernel : null;
              return panel && panel.context.isReady && kernel && kernel.status === 'idle';
            }""",
            arg=path,
            timeout=timeout * 1000,
        )
    except Exception as err:
        exposed = page.evaluate("() => Boolean(window.jupyterapp)")
        hint = "" if exposed else " (start JupyterLab with --LabApp.expose_app_in_browser=True)"
        dialogs = page.evaluate(
            "() => [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText)"
        )
        hint += f"; dialogs open: {dialogs}" if dialogs else ""
        raise HarnessError(f"{path} did not open with an idle kernel{hint}: {err}") from err
    # More room for the notebook, in the screenshots too.
    page.evaluate("() => { window.jupyterapp.shell.collapseLeft(); }")


def run_all_cells(page, path: str) -> None:
    """Run → Run All Cells, from the menu bar as a learner would.

    Should the menu not be there as expected (a JupyterLab release that renames it), run the
    same command directly: a menu layout is not what these tests are about.
    """
    page.evaluate(
        "(path) => {" + _FIND_PANEL + "window.jupyterapp.shell.activateById(findPanel(path).id); }",
        path,
    )
    try:
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).first.click()
        item = page.locator('.lm-Menu-item[data-command="runmenu:run-all"]')
        item.wait_for(state="visible", timeout=10_000)
        if "lm-mod-disabled" in (item.get_attribute("class") or ""):
            raise HarnessError("Run → Run All Cells is disabled")
        item.click()
    except Exception as err:
        log.warning("Run → Run All Cells failed (%s); running the command directly", err)
        page.keyboard.press("Escape")  # close a menu left open
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def wait_until_run(page, path: str, timeout: float = 600) -> list[str]:
    """Wait until no cell is queued or running and the kernel is idle."""
    start, quiet, started = time.monotonic(), 0, False
    while time.monotonic() - start < timeout:
        state = page.evaluate(_KERNEL_STATE, path)
        if not state["found"]:
            return [f"{path}: the notebook tab disappeared"]
        if state["status"] in ("dead", "unknown", "no kernel"):
            return [f"the kernel is {state['status']}"]
        if state["dialogs"]:
            return [f"a dialog appeared: {d!r}" for d in state["dialogs"]]
        # Run All marks every code cell [*] at once, so "idle and nothing marked" twice in
        # a row means the run is over, whether it finished or stopped at an error. A run too
        # quick to be seen counts as over after a few seconds.
        started = started or state["running"] > 0 or state["status"] == "busy"
        quiet = quiet + 1 if state["status"] == "idle" and state["running"] == 0 else 0
        if quiet >= 2 and (started or time.monotonic() - start > 5):
            return []
        time.sleep(0.25)
    return [f"the notebook was still running after {timeout:.0f} s"]


def check_cells(page, path: str, render_timeout: float = 30) -> list[str]:
    """Errors, cells that did not run, widgets that did not render, plots that did not appear.

    Errors are read from the live notebook model, not from the DOM: JupyterLab renders an
    error and a harmless warning on stderr alike (``data-mime-type=
    "application/vnd.jupyter.stderr"``), while the model keeps nbformat's
    ``output_type: "error"``. That model is exactly what JupyterLab would save, so the same
    ``unexpected_errors`` as the headless notebook tests applies, ``raises-exception`` tags
    included. Rendering is then checked output by output against the DOM.
    """
    deadline = time.monotonic() + render_timeout
    while True:
        cells = page.evaluate(_CELLS, path)
        nb = nbformat.from_dict(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {},
                "cells": [cell["json"] for cell in cells],
            }
        )
        problems = list(unexpected_errors(nb))
        problems += [
            f"cell {cell['index']} did not run (no execution count)"
            for cell in cells
            if cell["json"]["cell_type"] == "code" and not cell["json"].get("execution_count")
        ]
        rendering = [p for cell in cells for p in _rendering_problems(cell)]
        # Widgets and images render asynchronously after the kernel goes idle.
        if not rendering or time.monotonic() > deadline:
            return problems + rendering + _log_console_problems(page, "after Run All")
        time.sleep(0.5)


def _rendering_problems(cell: dict) -> list[str]:
    outputs = cell["json"].get("outputs", [])
    where = f"cell {cell['index']}"
    if len(outputs) != len(cell["rendered"]):
        return [f"{where}: {len(outputs)} outputs in the model, {len(cell['rendered'])} shown"]
    problems = []
    for output, shown in zip(outputs, cell["rendered"], strict=True):
        data = output.get("data", {})
        broken = [t for t in BROKEN_WIDGET_TEXTS if t in shown["text"]]
        if WIDGET_MIME in data and (not shown["widgets"] or broken):
            seen = " ".join(shown["text"].split())[:120]
            problems.append(f"{where}: a widget did not render; the page shows {seen!r}")
        elif broken:
            problems.append(f"{where}: an output shows {broken[0]!r}")
        # A matplotlib figure is image/png only; richer mimes (HTML) win over it when present.
        plot = "image/png" in data and WIDGET_MIME not in data and "text/html" not in data
        if plot and not any(img["png"] and img["loaded"] for img in shown["images"]):
            problems.append(f"{where}: a plot (image/png) is not shown as an image")
    return problems


def _log_count(page) -> int:
    """Entries in JupyterLab's log console for the current notebook, from its status bar item.

    A widget callback that raises outside an ``Output`` context ends up there: the learner
    sees nothing happen, apart from this counter.
    """
    titles = page.evaluate(
        "() => [...document.querySelectorAll('.jp-LogConsoleStatusItem [title]')].map(e => e.title)"
    )
    counts = [int(m.group(1)) for t in titles if (m := re.search(r"(\d+) log entries", t))]
    return max(counts, default=0)


def _log_console_problems(page, when: str, before: int = 0) -> list[str]:
    new = _log_count(page) - before
    if new <= 0:
        return []
    return [f"{when}, JupyterLab's log console got {new} new message(s): {_log_text(page)!r}"]


def _log_text(page) -> str:
    """The newest log console message, opened the way a learner would: its status bar item."""
    try:
        page.locator(".jp-LogConsoleStatusItem").first.click()
        entries = page.locator(".jp-LogConsolePanel .jp-OutputArea-output")
        entries.last.wait_for(timeout=5_000)
        lines = [line.strip() for line in entries.last.inner_text().splitlines() if line.strip()]
        # A traceback: where it was raised ("Cell In[7], line 6, in f") and what was raised.
        text = " | ".join([line for line in lines if line.startswith("Cell In")][-1:] + lines[-1:])
        # Close it again: docked under the notebook it would squeeze the screenshot.
        page.evaluate(
            """() => {
              for (const area of ['main', 'down']) {
                for (const w of window.jupyterapp.shell.widgets(area)) {
                  const n = w.node;
                  if (n.matches('.jp-LogConsolePanel') || n.querySelector('.jp-LogConsolePanel'))
                    w.close();
                }
              }
            }"""
        )
        return text[-300:]
    except Exception:  # only decorates the message; the count is the finding
        return "(could not open the log console)"


def panel_count(page) -> int:
    return page.locator(PANEL).count()


def check_panel(
    page, path: str, index: int, idle_grace: float = 10, timeout: float = 300
) -> list[str]:
    """Change the panel's first control, press its Run button, and expect its result.

    The result of a Run panel (one with a table of runs) is one more run in its table;
    of any other panel, a changed, non-empty output. Either way an error line is a
    failure, not a change: an output marked ``r1lab-error``, an error output, or a line
    such as ``TypeError: …`` (:data:`ERROR_LINE`).

    Gives up waiting once the kernel has been idle for ``idle_grace`` seconds without the
    result changing, or after ``timeout`` seconds in all.
    """
    panel = page.locator(PANEL).nth(index)
    panel.scroll_into_view_if_needed()
    cell = panel.evaluate(
        "(el) => [...el.closest('.jp-Notebook').querySelectorAll('.jp-Cell')]"
        ".indexOf(el.closest('.jp-Cell'))"
    )
    where = f"panel {index} (cell {cell})"
    output, control = panel.locator(OUTPUT), panel.locator(CONTROL)
    if not output.count():
        return [f"{where}: no element with class r1lab-output"]
    if not control.count():
        return [f"{where}: no element with class r1lab-control"]
    compares = panel.locator(RUNS).count() > 0 and panel.locator(RUN).count() > 0
    before, log_before = panel.evaluate(_SNAPSHOT), _log_count(page)
    try:
        action = change_control(control.first)
        run = panel.locator(RUN)
        if run.count():
            label = run.first.inner_text().strip() or "run"
            run.first.click()
            action += f", pressed {label!r}"
    except Exception as err:  # hidden, disabled or detached: the learner could not use it
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        return [f"{where}: could not operate the panel: {first_line}"]

    busy_button = panel.locator(RUN).first if panel.locator(RUN).count() else None
    after = _wait_for_change(page, path, panel, before, idle_grace, timeout, busy_button)
    problems = []
    errors = panel.evaluate(_ERRORS_BELOW, path)
    problems += [f"{where}: after {action}, the output shows {e}" for e in errors]
    shown = after or panel.evaluate(_SNAPSHOT)
    # An error is the last thing a marked output shows (after a run's progress bars, say).
    lines = [(e.strip().splitlines() or [""])[-1] for e in shown["errors"]]
    lines += [
        line.strip()
        for line in shown["text"].splitlines()
        if ERROR_LINE.search(line.strip()) and not any(line.strip() in e for e in shown["errors"])
    ]
    problems += [f"{where}: after {action}, the panel shows an error line: {e!r}" for e in lines]
    if compares and shown["runs"] != before["runs"] + 1:
        problems.append(
            f"{where}: after {action}, {shown['runs']} runs in the panel's table, "
            f"not {before['runs'] + 1}"
        )
    elif after is None:
        problems.append(f"{where}: after {action}, the output did not change")
    elif not compares and not after["text"] and not after["images"]:
        problems.append(f"{where}: after {action}, the output is empty")
    text = panel.inner_text()
    problems += [f"{where}: shows {t!r}" for t in BROKEN_WIDGET_TEXTS if t in text]
    problems += _log_console_problems(page, f"{where}: after {action}", log_before)
    done = "a new run in the table" if compares else "output changed"
    log.info("%s: %s -> %s", where, action, "; ".join(problems) or done)
    return problems


def _wait_for_change(page, path, panel, before, idle_grace, timeout, busy_button=None):
    """The panel's new snapshot once it changed and settled, or None if it never changed.

    JupyterLab can report the kernel idle while a widget callback still runs, so a panel
    whose Run button is disabled (as r1lab's panels do while they work) counts as busy.
    """
    start = time.monotonic()
    idle_since, changed, last = None, None, None
    while time.monotonic() - start < timeout:
        snap = panel.evaluate(_SNAPSHOT)
        idle = page.evaluate(_KERNEL_STATE, path).get("status") == "idle"
        if busy_button is not None and busy_button.is_disabled():
            idle = False
        if snap["html"] != before["html"]:
            # Settled: kernel idle and the same snapshot twice in a row (live plots redraw).
            if idle and last is not None and snap["html"] == last["html"]:
                return snap
            changed = snap
        elif idle:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > idle_grace:
                return None
        else:
            idle_since = None
        last = snap
        time.sleep(0.5)
    return changed


def change_control(control) -> str:
    """Change an ipywidgets control the way a learner would; describe what was done.

    DOM of ipywidgets 8 under JupyterLab 4 (the class from ``add_class`` sits on the
    widget's root element): a slider holds a noUiSlider ``.noUi-handle`` (role=slider,
    aria-valuenow) that takes arrow keys; a Dropdown holds a ``select``; a Textarea a
    ``textarea``; a Text an ``input type=text``; IntText/FloatText an ``input type=number``.
    """
    kind = control.evaluate(_CONTROL_KIND)
    name = control.locator(".widget-label").first
    name = name.inner_text().strip() if name.count() else ""
    name = f" {name!r}" if name else ""
    if kind == "slider":
        handle = control.locator(".noUi-handle").first
        old = float(handle.get_attribute("aria-valuenow"))
        top = float(handle.get_attribute("aria-valuemax"))
        handle.focus()
        handle.press("ArrowRight" if old < top else "ArrowLeft")
        new = float(handle.get_attribute("aria-valuenow"))
        if new == old:
            raise HarnessError(f"slider{name} did not move from {old:g}")
        return f"moving slider{name} from {old:g} to {new:g}"
    if kind == "select":
        select = control.locator("select").first
        old = select.input_value()
        values = [o.get_attribute("value") for o in select.locator("option").all()]
        others = [v for v in values if v != old]
        if not others:
            raise HarnessError(f"dropdown{name} has no other option than {old!r}")
        select.select_option(others[0])
        return f"choosing {others[0]!r} instead of {old!r} in dropdown{name}"
    if kind in ("textarea", "text"):
        box = control.locator("textarea" if kind == "textarea" else "input").first
        old = box.input_value()
        # One character fewer: a different length and text, and no character the course's
        # char-level tokenizer lacks.
        new = old[:-1] if len(old) > 1 else old + "1"
        box.fill(new)
        box.press("Tab")  # commits the value even with continuous_update=False
        return f"typing {new[:40]!r} in{name or ' the text box'}"
    if kind == "number":
        box = control.locator("input[type=number]").first
        old = box.input_value()
        box.press("ArrowUp")
        if box.input_value() == old:
            box.press("ArrowDown")
        box.press("Tab")
        return f"changing{name or ' the number'} from {old} to {box.input_value()}"
    if kind == "checkbox":
        control.locator("input[type=checkbox]").first.click()
        return f"toggling checkbox{name}"
    if kind == "radio":
        control.locator("input[type=radio]:not(:checked)").first.click()
        return f"picking another option of{name or ' the radio buttons'}"
    if kind == "toggle":
        control.locator("button:not(.mod-active)").first.click()
        return f"picking another option of{name or ' the toggle buttons'}"
    raise HarnessError(f"cannot change r1lab-control ({kind})")


def check_panels(page, path: str, **kwargs) -> list[str]:
    problems = []
    for index in range(panel_count(page)):
        problems += check_panel(page, path, index, **kwargs)
    return problems


def check_notebook(
    page, base_url: str, path: str, run_timeout: float = 600, **panel_kwargs
) -> list[str]:
    """Open ``path``, Run All, and return every problem a learner would see."""
    open_notebook(page, base_url, path)
    run_all_cells(page, path)
    start = time.monotonic()
    problems = wait_until_run(page, path, run_timeout)
    log.info("%s: Run All took %.1f s", path, time.monotonic() - start)
    if problems:  # a dead kernel or an open dialog: the rest would only add noise
        return problems
    return check_cells(page, path) + check_panels(page, path, **panel_kwargs)


def save_screenshot(page, target: Path) -> Path:
    """The whole notebook in one image: grow the window to the notebook's height first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    cells = ".jp-NotebookPanel .jp-WindowedPanel-viewport"
    # Twice: cells outside the window have estimated heights until they are laid out.
    for _ in range(2):
        height = page.evaluate(f"() => document.querySelector('{cells}').scrollHeight")
        # Room for the menu, toolbar and status bar around the cells; Chromium caps the size.
        page.set_viewport_size(
            {"width": size["width"], "height": min(max(height + 300, 800), 16000)}
        )
        page.wait_for_timeout(300)
    page.evaluate(
        "() => document.querySelectorAll('.jp-NotebookPanel .jp-WindowedPanel-outer')"
        ".forEach(e => { e.scrollTop = 0; })"
    )
    page.wait_for_timeout(500)
    page.screenshot(path=str(target), full_page=True)
    page.set_viewport_size(size)
    return target


def shutdown_kernels(page) -> None:
    """Shut down the kernels this page started (what Kernel → Shut Down All does)."""
    page.evaluate(
        "async () => { if (window.jupyterapp)"
        " await window.jupyterapp.serviceManager.sessions.shutdownAll(); }"
    )
