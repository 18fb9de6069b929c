"""Operate every r1lab panel a notebook built, in its own kernel, and say what went wrong.

The headless twin of the browser harness (tests/ui/harness.py): after a notebook has run,
its source is sent to the kernel (``run_notebook(..., then=[PROBE])``), which then presses
each panel's Run button, or changes its first control, as a learner would. A Run panel
must add a row to its table of runs; any other panel must change its output; no panel may
show an error line (the output carries ``r1lab-error``, see r1lab/widgets.py). The
widgets' state is read in the kernel, so no browser is needed.

Self-contained on purpose: only ipywidgets and r1lab.widgets, since the kernel runs it as
a cell.
"""

from __future__ import annotations

import json
import math
import re

import ipywidgets as w

from r1lab.widgets import CONTROL, ERROR, OUTPUT, PANEL, RUN, RUNS

_RUN_ROW = re.compile(r"<tr[^>]*><td[^>]*>run \d+</td>")


def live_panels() -> list[w.Widget]:
    """Every r1lab panel alive in this process, in the order they were built."""
    from ipywidgets.widgets import widget

    instances = getattr(widget, "_instances", None) or w.Widget.widgets
    return [x for x in list(instances.values()) if PANEL in getattr(x, "_dom_classes", ())]


def _find(widget: w.Widget, cls: str) -> list[w.Widget]:
    found = [widget] if cls in getattr(widget, "_dom_classes", ()) else []
    for child in getattr(widget, "children", ()):
        found += _find(child, cls)
    return found


def change(control: w.Widget) -> str:
    """Change ``control`` to another valid value; say what was done."""
    name = getattr(control, "description", "") or type(control).__name__
    if isinstance(control, (w.Dropdown, w.SelectionSlider, w.Select, w.ToggleButtons)):
        if len(control.options) < 2:
            raise ValueError(f"{name} has no other option")
        control.index = (control.index + 1) % len(control.options)
        return f"chose option {control.index} of {name!r}"
    if isinstance(control, (w.Textarea, w.Text)):
        old = control.value
        control.value = old[:-1] if len(old) > 1 else old + "1"
        return f"typed in {name!r}"
    if isinstance(control, w.Checkbox):
        control.value = not control.value
        return f"toggled {name!r}"
    if hasattr(control, "max") and hasattr(control, "min"):  # sliders and bounded numbers
        old, step = control.value, getattr(control, "step", 1) or 1
        if isinstance(control, w.FloatLogSlider):  # min, max and step are exponents
            exponent = math.log(old, control.base) + step
            exponent = exponent if exponent <= control.max else exponent - 2 * step
            control.value = control.base**exponent
        else:
            control.value = old + step if old + step <= control.max else old - step
        return f"moved {name!r} from {old} to {control.value}"
    raise ValueError(f"cannot change {type(control).__name__} {name!r}")


def _shown(outputs: list[w.Widget]) -> list[object]:
    return [(getattr(o, "value", None), getattr(o, "outputs", None)) for o in outputs]


def operate(panel: w.Widget, where: str) -> list[str]:
    """Operate one panel; its problems, one line each."""
    controls, buttons = _find(panel, CONTROL), _find(panel, RUN)
    outputs, tables = _find(panel, OUTPUT), _find(panel, RUNS)
    if not outputs:
        return [f"{where}: no element with class {OUTPUT}"]
    problems = []
    if tables and buttons:  # a Run panel: a run must join the table
        before = len(_RUN_ROW.findall(tables[0].value))
        buttons[0].click()
        action = f"pressing {buttons[0].description!r}"
        after = len(_RUN_ROW.findall(tables[0].value))
        if after != before + 1:
            problems.append(f"{where}: after {action}, {after} runs in the table, not {before + 1}")
    else:
        if not controls:
            return [f"{where}: no element with class {CONTROL}"]
        before = _shown(outputs)
        action = change(controls[0])
        if buttons:
            buttons[0].click()
            action += f", pressed {buttons[0].description!r}"
        if _shown(outputs) == before:
            problems.append(f"{where}: after {action}, the output did not change")
    problems += [
        f"{where}: after {action}, the output shows an error line ({ERROR})"
        for o in outputs
        if ERROR in o._dom_classes
    ]
    return problems


def operate_panels(panels: list[w.Widget] | None = None) -> list[str]:
    """Operate ``panels`` (default: every live one) in order; every problem found."""
    panels = live_panels() if panels is None else panels
    problems = []
    for index, panel in enumerate(panels):
        try:
            problems += operate(panel, f"panel {index}")
        except Exception as err:  # the panel raised where a learner would see a traceback
            problems.append(f"panel {index}: {type(err).__name__}: {err}")
    return problems


# What the notebook tests send to the kernel: this module's source, then this line. The
# marker keeps the report apart from what the panels print.
REPORT = "R1LAB-PANELS "


def probe_code() -> str:
    from pathlib import Path

    source = Path(__file__).read_text(encoding="utf-8")
    return (
        source
        + f"\nprint({REPORT!r} + json.dumps({{'panels': len(live_panels()), "
        + "'problems': operate_panels()}))\n"
    )


def read_report(cell) -> dict:
    """The probe cell's report (``{"panels": n, "problems": [...]}``)."""
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    for line in text.splitlines():
        if line.startswith(REPORT):
            return json.loads(line[len(REPORT) :])
    errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
    raise AssertionError(f"the panel probe did not report: {errors or text[-500:]}")
