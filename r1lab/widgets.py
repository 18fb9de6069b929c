"""ipywidgets panels for the notebooks. Builders return widgets; the logic they call is
plain functions elsewhere in r1lab, which the tests call directly.

Every interactive panel is a container with the CSS class ``r1lab-panel``; the controls a
learner changes carry ``r1lab-control``, the button that runs it ``r1lab-run`` and the
output it drives ``r1lab-output``. The browser tests find panels by these classes; an
output that shows an error line carries ``r1lab-error`` until the panel works again, so a
test can tell a failure from a result.

Run panels compare: ``run(**values)`` returns a :class:`PanelResult` (a row of numbers and
the curves of the run), and the panel keeps every run of the session in a table
(``r1lab-runs``: settings → result) and draws each run's curves over the earlier ones and
over the shipped baseline (``r1lab-overlay``, an SVG whose lines carry the ids
``r1lab-run<i>-<panel>`` and ``r1lab-baseline-<panel>``).

A panel never breaks: a control that can hold no value (a cleared picker) keeps its last
value and says so, a malformed logged row is listed by number with what is wrong, and an
unexpected error in a callback becomes one line in the panel's output, not a traceback.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from r1lab.config import RunConfig
from r1lab.display import html_table, html_verdict
from r1lab.metrics import is_share, metric
from r1lab.plots import overlay_curves, svg_markup
from r1lab.rewards import check_countdown, countdown_reward, format_reward
from r1lab.runlog import window_mean
from r1lab.tasks.countdown import CountdownProblem, parse_think

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from r1lab.grpo_settings import GRPOSettings

PANEL, CONTROL, RUN, OUTPUT = "r1lab-panel", "r1lab-control", "r1lab-run", "r1lab-output"
RUNS, OVERLAY = "r1lab-runs", "r1lab-overlay"  # a Run panel's table of runs and its figure
ERROR = "r1lab-error"  # on an output while it shows an error line instead of a result
MAX_DRAWN = 8  # runs drawn in a panel's figure (the latest); the table keeps every run
ROW_FIELDS = ("step", "prompt", "completion", "numbers", "target")  # what the browsers read
MAX_NOTES = 8  # malformed rows listed by number; the rest are counted
_RED = "color:#b03a2e"


# ---------------------------------------------------------------------------- broken input


def _short_repr(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def row_problem(row: object) -> str | None:
    """What is wrong with one logged row (of ``samples.jsonl`` or ``watch.jsonl``) that the
    browsers would show, or None when nothing is."""
    if not isinstance(row, dict):
        return f"not a dict of fields (got {type(row).__name__})"
    missing = [key for key in ROW_FIELDS if key not in row]
    if missing:
        return "missing " + ", ".join(map(repr, missing))
    if not _is_int(row["step"]) or row["step"] < 0:
        return f"step must be a whole number (got {_short_repr(row['step'])})"
    for key in ("prompt", "completion"):
        if not isinstance(row[key], str):
            return f"{key} is {type(row[key]).__name__}, not text"
    numbers = row["numbers"]
    if not isinstance(numbers, (list, tuple)) or not all(_is_int(n) and n >= 0 for n in numbers):
        return f"numbers must be a list of non-negative ints (got {_short_repr(numbers)})"
    if not _is_int(row["target"]):
        return f"target must be an int (got {_short_repr(row['target'])})"
    return None


def split_rows(rows: Sequence[object]) -> tuple[list[dict], list[str]]:
    """The rows a browser can show, and a note for each other one, numbered from 1 in the
    order given (``"row 3: missing 'completion'"``)."""
    good, notes = [], []
    for number, row in enumerate(rows, start=1):
        problem = row_problem(row)
        if problem is None:
            good.append(row)
        else:
            notes.append(f"row {number}: {problem}")
    return good, notes


def _notes_html(notes: Sequence[str], source: str) -> str:
    if not notes:
        return ""
    listed = "; ".join(html.escape(note) for note in notes[:MAX_NOTES])
    more = f"; and {len(notes) - MAX_NOTES} more" if len(notes) > MAX_NOTES else ""
    return (
        f"<p style='{_RED}'>{len(notes)} malformed rows of {html.escape(source)} not shown: "
        f"{listed}{more}</p>"
    )


def _error_line(err: Exception) -> str:
    """``Type: first line of the message``: enough to know what happened, in one line."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _explaining_errors(out: w.HTML, show: Callable[..., None]) -> Callable[..., None]:
    """``show`` as a callback that puts any error in ``out`` as one line instead of raising:
    raised in an observer, it would be a traceback and leave the panel half-drawn."""

    def callback(*args: object) -> None:
        try:
            show(*args)
        except Exception as err:  # shown to the learner as one line, not swallowed
            out.value = f"<p style='{_RED}'>Cannot show this: {html.escape(_error_line(err))}</p>"
            out.add_class(ERROR)
        else:
            out.remove_class(ERROR)

    return callback


# ---------------------------------------------------------------------------- panels


def verdict_html(completion: str, problem: CountdownProblem) -> str:
    """What the reward playground shows: each check, the attempts in think, each reward."""
    columns = {"numbers": [list(problem.numbers)], "target": [problem.target]}
    verdict = check_countdown(completion, problem.numbers, problem.target)
    rewards = {
        "format_reward": format_reward([completion])[0],
        "countdown_reward": countdown_reward([completion], **columns)[0],
    }
    html = f"<p>problem: <code>{problem.prompt()}</code></p>" + html_verdict(verdict, rewards)
    if verdict.parsed.ok:
        attempts = parse_think(verdict.parsed.think)
        retries = max(len(attempts) - 1, 0)
        right = sum(a.arithmetic_ok() for a in attempts)
        html += (
            f"<p>reasoning: {len(attempts)} attempt(s), {retries} retry(ies) after “wait”, "
            f"{right} with correct arithmetic. (Not rewarded: only the answer is.)</p>"
        )
    return html


def reward_playground(
    problems: Sequence[CountdownProblem], completion: str = "", start: int = 0
) -> w.VBox:
    """A text box for any completion, a problem picker (starting at ``problems[start]``)
    and a Score button; the output shows the parse, each reward and why."""
    if not problems:
        raise ValueError("reward_playground needs at least one problem")
    if not 0 <= start < len(problems):
        raise ValueError(f"start must be between 0 and {len(problems) - 1} (got {start})")
    text = w.Textarea(
        value=completion,
        placeholder="<think>…</think><answer>…</answer>",
        continuous_update=False,
        layout=w.Layout(width="100%", height="80px"),
    )
    picker = w.Dropdown(
        options=[(p.prompt(), i) for i, p in enumerate(problems)],
        value=start,
        description="problem",
    )
    button = w.Button(description="Score", button_style="primary", icon="check")
    out = w.HTML()
    for widget, cls in ((text, CONTROL), (picker, CONTROL), (button, RUN), (out, OUTPUT)):
        widget.add_class(cls)

    chosen = start

    def update(*_: object) -> None:
        nonlocal chosen
        if picker.value is None:  # a cleared pick: keep scoring against the last problem
            picker.value = chosen  # draws it, through the observer
            out.value = (
                f"<p style='{_RED}'>No problem chosen: kept <code>"
                f"{html.escape(problems[chosen].prompt())}</code>.</p>{out.value}"
            )
            return
        chosen = picker.value
        out.value = verdict_html(text.value, problems[chosen])

    update = _explaining_errors(out, update)
    text.observe(update, names="value")
    picker.observe(update, names="value")
    button.on_click(update)
    update()
    panel = w.VBox(
        [w.HTML("<b>Type any completion and press Score.</b>"), text, w.HBox([picker, button]), out]
    )
    panel.add_class(PANEL)
    return panel


Points = Sequence[tuple[float, float]]


@dataclass
class PanelResult:
    """What a Run panel's ``run(**values)`` returns: its row of the panel's table
    (``summary``: column → value; a float is shown with 3 significant digits, so pass text
    such as ``f"{x:.1%}"`` for a share) and its curves (``curves``: metric → ``[(x, y), …]``),
    drawn over the earlier runs and the baseline."""

    summary: dict[str, float | int | str] = field(default_factory=dict)
    curves: dict[str, Points] | None = None


@dataclass
class PanelRun:
    """One row of a Run panel's table: a label, the settings (``run``'s keyword → value)
    and the result. The shipped baseline a notebook passes to a panel is one too."""

    label: str
    settings: dict[str, object]
    result: PanelResult


def metric_curves(
    metrics: Sequence[Mapping[str, object]],
    keys: Sequence[str] | Mapping[str, str],
    x: str = "step",
) -> dict[str, list[tuple[float, float]]]:
    """``{name: [(x, value), …]}`` from per-step metrics (rows of ``metrics.jsonl`` or a
    training history), skipping rows that lack the key or hold None. ``keys`` lists the
    metrics, or maps each to the name its panel shows (``{"kl": "KL to the start"}``)."""
    names = keys if isinstance(keys, Mapping) else {key: key for key in keys}
    return {
        name: [(m[x], m[key]) for m in metrics if m.get(key) is not None and x in m]
        for key, name in names.items()
    }


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _option_label(control: w.Widget, value: object) -> object:
    """What a dropdown shows for ``value`` (its option's label); other controls: the value."""
    if isinstance(control, w.Dropdown):
        for option in control.options:
            label, option_value = option if isinstance(option, tuple) else (str(option), option)
            if option_value == value:
                return label
    return value


def runs_table(
    runs: Sequence[PanelRun],
    settings: Mapping[str, str],
    shown: Callable[[str, object], object] = lambda _name, value: value,
) -> str:
    """Every run as a row: its label, its settings (``settings``: keyword → column header;
    ``shown(keyword, value)`` says what to write) and its summary, one column per key in
    order of first appearance; "–" where a run has no value. Escaped."""
    results = list(dict.fromkeys(k for r in runs for k in r.result.summary))
    rows = [
        [run.label]
        + [_shown(shown(n, run.settings[n])) if n in run.settings else "–" for n in settings]
        + [_shown(run.result.summary[k]) if k in run.result.summary else "–" for k in results]
        for run in runs
    ]
    return html_table(rows, header=["run", *settings.values(), *results])


def overlay_svg(
    runs: Sequence[PanelRun],
    baseline: PanelRun | None = None,
    smooth: int = 1,
    xlabel: str = "step",
    keys: Sequence[str] | None = None,
) -> str:
    """The curves of the latest :data:`MAX_DRAWN` runs over the baseline's, as inline SVG
    (:func:`r1lab.plots.overlay_curves`); "" when there is nothing to draw. The lines of
    a run carry its number (``r1lab-run3-0`` is run 3's first panel), counting from 1."""
    numbered = [(i, r) for i, r in enumerate(runs, start=1) if r.result.curves]
    drawn = numbered[-MAX_DRAWN:]
    if not drawn:
        return ""
    # Runs not drawn (no curves, or too old) keep their number: ids match the table's rows.
    by_number, series = dict(drawn), []
    for number in range(1, drawn[-1][0] + 1):
        run = by_number.get(number)
        series.append((run.label, run.result.curves or {}) if run else ("", {}))
    base = (baseline.label, baseline.result.curves) if baseline and baseline.result.curves else None
    fig = overlay_curves(series, base, keys=keys, smooth=smooth, xlabel=xlabel)
    note = ""
    if len(numbered) > len(drawn):
        note = (
            f"<p><i>The figure shows the latest {MAX_DRAWN} runs; the table has them all.</i></p>"
        )
    return svg_markup(fig) + note


def _run_panel(
    title: str,
    controls: Sequence[w.Widget],
    run: Callable[..., PanelResult | None],
    names: Sequence[str],
    button_text: str = "Run",
    *,
    baseline: PanelRun | None = None,
    smooth: int = 1,
    xlabel: str = "step",
    keys: Sequence[str] | None = None,
) -> w.VBox:
    """Controls, a Run button, an output area for what ``run(**values)`` prints and
    displays, then the table of this session's runs and their curves, over ``baseline``.

    Each run that returns a :class:`PanelResult` (or None: a row of settings only) adds a
    row to the table and, when it has curves, a line to every panel of the figure.

    A ``ValueError`` from ``run`` is shown as a message in the output, not a traceback:
    that is how a bad setting explains itself. Any other error is shown as one line (its
    type and message) and the button works again; an interrupt still stops the run. A run
    that fails adds nothing to the table, and the output carries :data:`ERROR` until the
    next run.
    """
    button = w.Button(description=button_text, button_style="primary", icon="play")
    out = w.Output()
    table, figure = w.HTML(), w.HTML()
    for widget in controls:
        widget.add_class(CONTROL)
    button.add_class(RUN)
    out.add_class(OUTPUT)
    table.add_class(RUNS)
    figure.add_class(OVERLAY)
    history: list[PanelRun] = []
    headers = {name: c.description or name for name, c in zip(names, controls, strict=True)}
    by_name = dict(zip(names, controls, strict=True))

    def shown(name: str, value: object) -> object:
        return _option_label(by_name[name], value)

    def redraw() -> None:
        rows = ([baseline] if baseline else []) + history
        hint = (
            "<p><i>Press Run: each run is added to this table"
            + (" and drawn over the earlier ones and the baseline" if baseline else "")
            + ".</i></p>"
        )
        table.value = (
            "<b>Runs in this session</b>"
            + (runs_table(rows, headers, shown) if rows else "")
            + ("" if history else hint)
        )
        figure.value = overlay_svg(history, baseline, smooth, xlabel, keys)

    redraw = _explaining_errors(figure, redraw)

    def on_click(*_: object) -> None:
        out.clear_output(wait=True)
        out.remove_class(ERROR)
        button.disabled = True
        values = {name: c.value for name, c in zip(names, controls, strict=True)}
        result: object = None
        try:
            with out:
                try:
                    result = run(**values)
                except ValueError as err:
                    out.add_class(ERROR)
                    print(f"Cannot run with these settings: {err}")
                    return
                except Exception as err:  # shown to the learner as one line, not swallowed
                    out.add_class(ERROR)
                    print(f"The run stopped on an unexpected error: {_error_line(err)}")
                    return
                if result is not None and not isinstance(result, PanelResult):
                    kind = type(result).__name__
                    out.add_class(ERROR)
                    print(f"The run returned a {kind}, not a PanelResult: not added to the table.")
                    return
            history.append(PanelRun(f"run {len(history) + 1}", values, result or PanelResult()))
            redraw()
        finally:
            button.disabled = False

    button.on_click(on_click)
    redraw()
    panel = w.VBox([w.HTML(f"<b>{title}</b>"), w.HBox([*controls, button]), out, table, figure])
    panel.add_class(PANEL)
    return panel


def sft_panel(
    run: Callable[..., PanelResult | None],
    examples: int = 800,
    epochs: int = 10,
    max_examples: int = 1800,
    *,
    baseline: PanelRun | None = None,
) -> w.VBox:
    """Sliders for the number of cold-start traces and epochs, and a Run button that calls
    ``run(examples=…, epochs=…)``, which trains and returns its scores and loss curve
    (:class:`PanelResult`); each run joins the table and the figure, over ``baseline``."""
    if not 1 <= examples <= max_examples:
        raise ValueError(f"examples must be between 1 and {max_examples} (got {examples})")
    style = {"description_width": "initial"}
    controls = [
        w.IntSlider(
            value=examples,
            min=1,
            max=max_examples,
            step=1,
            description="cold-start traces",
            continuous_update=False,
            style=style,
        ),
        w.IntSlider(
            value=epochs, min=1, max=20, description="epochs", continuous_update=False, style=style
        ),
    ]
    return _run_panel(
        "Cold start: choose the data and press Run to fine-tune the base model",
        controls,
        run,
        ("examples", "epochs"),
        baseline=baseline,
    )


def rollout_panel(
    prompts: Sequence[str],
    run: Callable[..., PanelResult | None],
    temperature: float = 1.0,
    top_p: float = 1.0,
    *,
    baseline: PanelRun | None = None,
) -> w.VBox:
    """A prompt picker and temperature / top-p sliders; Run calls
    ``run(index=…, temperature=…, top_p=…)``, which samples and shows the group and returns
    its counts and curves over k, the samples drawn (:class:`PanelResult`); each run joins
    the table and the figure, over ``baseline``."""
    if not prompts:
        raise ValueError("rollout_panel needs at least one prompt")
    style = {"description_width": "initial"}
    controls = [
        w.Dropdown(options=[(p, i) for i, p in enumerate(prompts)], value=0, description="prompt"),
        w.FloatSlider(
            value=temperature,
            min=0.0,
            max=2.0,
            step=0.1,
            description="temperature",
            continuous_update=False,
            style=style,
        ),
        w.FloatSlider(
            value=top_p,
            min=0.05,
            max=1.0,
            step=0.05,
            description="top-p",
            continuous_update=False,
            style=style,
        ),
    ]
    return _run_panel(
        "Sample a group of completions",
        controls,
        run,
        ("index", "temperature", "top_p"),
        baseline=baseline,
        xlabel="k (the first k samples of the group)",
    )


def grpo_panel(
    run: Callable[..., PanelResult | None],
    num_generations: int = RunConfig.num_generations,
    beta: float = RunConfig.beta,
    epsilon: float = 0.2,
    learning_rate: float = RunConfig.learning_rate,
    temperature: float = RunConfig.temperature,
    steps: int = 40,
    *,
    baseline: PanelRun | None = None,
    smooth: int = 5,
) -> w.VBox:
    """Sliders for GRPO's main knobs and a Run button that calls ``run(num_generations=…,
    beta=…, epsilon=…, learning_rate=…, temperature=…, steps=…)``, which trains from the
    cold-start model and returns its scores and per-step curves (:class:`PanelResult`);
    each run joins the table and the figure (a moving average over ``smooth`` steps over
    the faint raw values), over ``baseline``."""
    style = {"description_width": "initial"}
    slider = dict(continuous_update=False, style=style)
    controls = [
        w.IntSlider(value=num_generations, min=2, max=16, description="G", **slider),
        w.FloatSlider(value=beta, min=0.0, max=0.5, step=0.01, description="β (KL)", **slider),
        w.FloatSlider(value=epsilon, min=0.05, max=0.5, step=0.05, description="ε", **slider),
        w.FloatLogSlider(
            value=learning_rate, base=10, min=-5, max=-2.5, step=0.25, description="lr",
            readout_format=".1e", **slider,
        ),
        w.FloatSlider(
            value=temperature, min=0.1, max=1.5, step=0.1, description="temperature", **slider
        ),
        w.IntSlider(value=steps, min=1, max=400, description="steps", **slider),
    ]  # fmt: skip
    return _run_panel(
        "GRPO from the cold-start model: choose the knobs and press Run",
        controls,
        run,
        ("num_generations", "beta", "epsilon", "learning_rate", "temperature", "steps"),
        baseline=baseline,
        smooth=smooth,
    )


# What the GRPO panel of notebook 05 runs: plain functions, so tests call them as it does.

GRPO_PANEL_CURVES = {  # the metrics of each training step, and the names its figure shows
    "reward": "reward (training batch)",
    "length": "length (tokens)",
    "frac_reward_zero_std": "zero-advantage groups",
    "kl": "KL to the cold start (β > 0 only)",
    "clip_ratio": "clipped tokens",
}
GRPO_PANEL_KNOBS = ("num_generations", "beta", "epsilon", "learning_rate", "temperature", "steps")


def grpo_panel_settings(
    settings: GRPOSettings,
    *,
    num_generations: int,
    beta: float,
    epsilon: float,
    learning_rate: float,
    temperature: float,
    steps: int,
) -> GRPOSettings:
    """The main run's ``settings`` with the panel's knobs: ε on both sides, no warm-up (the
    runs are short) and two updates per batch (``mu = 2``), so that ε has ratios to clip."""
    return settings.replace(
        num_generations=num_generations, beta=beta, epsilon_low=epsilon, epsilon_high=epsilon,
        learning_rate=learning_rate, temperature=temperature, steps=steps, warmup_steps=0, mu=2,
    )  # fmt: skip


def grpo_panel_row(history: Sequence[Mapping[str, Any]], heldout: Mapping[str, float]) -> dict:
    """A run's row of the GRPO panel's table: its training reward in the first and last
    fifth of its steps, its zero-advantage groups at the end, then its held-out scores."""
    if not history:
        raise ValueError("a GRPO panel row needs at least one training step (got none)")
    fifth = max(1, len(history) // 5)
    history = list(history)
    return {
        "reward, first fifth": f"{window_mean(history, 'reward', True, fifth):.2f}",
        "reward, last fifth": f"{window_mean(history, 'reward', False, fifth):.2f}",
        "zero-advantage groups, last fifth": (
            f"{window_mean(history, 'frac_reward_zero_std', False, fifth):.0%}"
        ),
        "held-out pass@1": f"{heldout['pass@1']:.1%}",
        "held-out greedy": f"{heldout['greedy_accuracy']:.1%}",
    }


def grpo_panel_run(
    *,
    settings: GRPOSettings,
    start: Callable[[], PreTrainedModel],
    tokenizer: PreTrainedTokenizerBase,
    train_rows: Sequence[dict],
    eval_rows: Sequence[dict],
    measure_options: Mapping[str, Any],
    **knobs: Any,
) -> PanelResult:
    """One run of the GRPO panel: train a fresh model from ``start()`` on ``train_rows``
    with the main run's ``settings`` and the panel's knobs (:func:`grpo_panel_settings`),
    measure it on ``eval_rows`` as the main run was measured (``measure_options`` of
    :func:`r1lab.heldout.measure`), print its row and return it with its curves."""
    from r1lab.grpo import train
    from r1lab.heldout import measure

    unknown = sorted(set(knobs) - set(GRPO_PANEL_KNOBS))
    if unknown:
        raise TypeError(f"unknown GRPO panel knobs {unknown}: the panel has {GRPO_PANEL_KNOBS}")
    chosen = grpo_panel_settings(settings, **knobs)
    model = start()
    run = train(model, tokenizer, train_rows, chosen)
    heldout = measure(model, tokenizer, eval_rows, **measure_options)
    row = grpo_panel_row(run.history, heldout)
    print(", ".join(f"{key} {value}" for key, value in row.items()))
    return PanelResult(row, metric_curves(run.history, GRPO_PANEL_CURVES))


def grpo_panel_baseline(
    label: str, history: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]
) -> PanelRun:
    """A finished run as the GRPO panel's baseline (its first row and dashed curves):
    its per-step ``history`` and its ``eval.json`` ``summary`` (settings, scores after)."""
    ran = summary["settings"]
    knobs = {knob: ran[knob] for knob in GRPO_PANEL_KNOBS if knob != "epsilon"}
    knobs["epsilon"] = ran["epsilon_low"]
    return PanelRun(
        label,
        {knob: knobs[knob] for knob in GRPO_PANEL_KNOBS},
        PanelResult(
            grpo_panel_row(history, summary["after"]), metric_curves(history, GRPO_PANEL_CURVES)
        ),
    )


def sample_browser(samples: dict[str, Sequence[dict]]) -> w.VBox:
    """Browse logged completions by run and step (``{run name: rows of samples.jsonl}``):
    each one read as attempts and retries (:func:`r1lab.display.html_trajectory`).
    Malformed rows are listed under the completions, by number (:func:`row_problem`)."""
    from r1lab.display import html_trajectory

    runs = {name: split_rows(rows) for name, rows in samples.items() if rows}
    if not runs:
        raise ValueError("sample_browser needs at least one run with logged samples")
    picker = w.Dropdown(options=list(runs), description="run")
    step = w.SelectionSlider(options=[0], description="step", continuous_update=False)
    out = w.HTML()
    for widget in (picker, step):
        widget.add_class(CONTROL)
    out.add_class(OUTPUT)

    def show(*_: object) -> None:
        good, notes = runs[picker.value]
        notes_html = _notes_html(notes, f"run {picker.value}")
        if not good:
            name = html.escape(str(picker.value))
            out.value = f"<p><b>Run {name} has no well-formed rows to show.</b></p>{notes_html}"
            return
        rows = [r for r in good if r["step"] == step.value]
        parts = [
            f"<p><code>{html.escape(r['prompt'])}</code></p>"
            + html_trajectory(r["completion"], r["numbers"], r["target"])
            for r in rows
        ]
        out.value = (
            f"<p><b>{len(rows)} completions logged at step {step.value}</b></p>"
            + "".join(parts)
            + notes_html
        )

    def on_run(*_: object) -> None:
        options = sorted({r["step"] for r in runs[picker.value][0]}) or ["–"]
        step.options = options
        step.value = options[0]
        show()

    picker.observe(_explaining_errors(out, on_run), names="value")
    step.observe(_explaining_errors(out, show), names="value")
    _explaining_errors(out, on_run)()
    panel = w.VBox([w.HTML("<b>Logged completions, by step</b>"), w.HBox([picker, step]), out])
    panel.add_class(PANEL)
    return panel


def trajectory_viewer(watch: Sequence[dict]) -> w.VBox:
    """The same held-out prompt before training and at any later step (rows of
    ``watch.jsonl``), side by side. Malformed rows are listed by number
    (:func:`row_problem`)."""
    from r1lab.display import html_before_after

    if not watch:
        raise ValueError("trajectory_viewer needs the rows of a watch.jsonl file")
    rows, notes = split_rows(watch)
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))
    steps = sorted({r["step"] for r in rows}) or ["–"]
    picker = w.Dropdown(options=prompts, description="prompt")
    step = w.SelectionSlider(options=steps, value=steps[-1], description="after step",
                             continuous_update=False)  # fmt: skip
    out = w.HTML()
    for widget in (picker, step):
        widget.add_class(CONTROL)
    out.add_class(OUTPUT)
    index = {(r["prompt"], r["step"]): r for r in rows}
    notes_html = _notes_html(notes, "the watch log")

    def show(*_: object) -> None:
        if not rows:
            out.value = f"<p><b>The log has no well-formed rows to show.</b></p>{notes_html}"
            return
        before = index.get((picker.value, steps[0]))
        after = index.get((picker.value, step.value))
        if before is None or after is None:
            out.value = "<p>No completion logged for this prompt at that step.</p>" + notes_html
            return
        out.value = html_before_after(before, after) + notes_html

    show = _explaining_errors(out, show)
    picker.observe(show, names="value")
    step.observe(show, names="value")
    show()
    panel = w.VBox([w.HTML("<b>Before and after, on the same prompt</b>"),
                    w.HBox([picker, step]), out])  # fmt: skip
    panel.add_class(PANEL)
    return panel


def sweep_browser(sweep: dict) -> w.VBox:
    """Browse a sweep (:func:`r1lab.sweep.load_sweep`) by arm and seed: the held-out
    scores, two held-out samples of a few problems, and the training samples logged at a
    chosen step, each read as attempts and retries."""
    from r1lab.display import html_table, html_trajectory

    runs = {arm: seeds for arm, seeds in sweep["runs"].items() if seeds}
    if not runs:
        raise ValueError("sweep_browser needs a sweep with at least one finished run")

    def label(arm: str) -> str:
        return next(iter(runs[arm].values())).get("label", arm)

    arm = w.Dropdown(options=[(label(a), a) for a in runs], description="arm")
    seed = w.Dropdown(options=[0], description="seed", layout=w.Layout(width="140px"))
    step = w.SelectionSlider(options=[0], description="training step", continuous_update=False)
    out = w.HTML()
    for widget in (arm, seed, step):
        widget.add_class(CONTROL)
    out.add_class(OUTPUT)
    shown_keys = ("pass@1", "pass@16", "greedy_accuracy", "distinct_correct", "retry_rate",
                  "effective_retry_rate", "mean_length", "kl_to_start")  # fmt: skip

    def numbers_of(prompt: str) -> list[int]:
        head = prompt.split(" to make ")[0].removeprefix("use ")
        return [int(x) for x in head.split() if x.isdigit()]

    def show(*_: object) -> None:
        run = runs[arm.value].get(seed.value)
        if run is None:
            return
        scores = run["scores"]
        table = html_table(
            [[metric(k).label, f"{scores[k]:.1%}" if is_share(k)
              else f"{scores[k]:.3g}"] for k in shown_keys if k in scores],
            header=["held-out score", "value"],
        )  # fmt: skip
        heldout = "".join(
            f"<p><code>{html.escape(str(p['prompt']))}</code></p>"
            + "".join(html_trajectory(c, p["numbers"], int(p["target"]))
                      for c in p["completions"])
            for p in scores["shown"][:3]
        )  # fmt: skip
        good, notes = split_rows(run["samples"])
        logged = [r for r in good if r["step"] == step.value]
        training = "".join(
            f"<p><code>{html.escape(r['prompt'])}</code></p>"
            + html_trajectory(r["completion"], r["numbers"], r["target"])
            for r in logged
        )
        out.value = (
            f"{table}<h4>Held-out samples after training</h4>{heldout}"
            f"<h4>Completions it trained on at step {step.value}</h4>{training}"
            + _notes_html(notes, f"the training samples of {arm.value} seed {seed.value}")
        )

    def on_arm(*_: object) -> None:
        seeds = sorted(runs[arm.value])
        seed.options = seeds
        seed.value = seeds[0]
        on_seed()

    def on_seed(*_: object) -> None:
        run = runs[arm.value][seed.value]
        steps = sorted({r["step"] for r in split_rows(run["samples"])[0]}) or [0]
        step.options = steps
        step.value = steps[-1]
        show()

    arm.observe(_explaining_errors(out, on_arm), names="value")
    seed.observe(_explaining_errors(out, on_seed), names="value")
    step.observe(_explaining_errors(out, show), names="value")
    _explaining_errors(out, on_arm)()
    panel = w.VBox([w.HTML("<b>Browse the sweep: one run at a time</b>"),
                    w.HBox([arm, seed, step]), out])  # fmt: skip
    panel.add_class(PANEL)
    return panel


def arm_runner(
    run: Callable[..., PanelResult | None],
    arms: dict[str, str],
    arm: str = "grpo",
    *,
    baseline: PanelRun | None = None,
    smooth: int = 10,
) -> w.VBox:
    """Pick an arm (``{name: label}``) and a seed and press Run: calls ``run(arm=…,
    seed=…)``, which trains it live, shows it next to the shipped sweep and returns its
    scores and per-update curves (:class:`PanelResult`); each run joins the table and the
    figure, over ``baseline``."""
    if arm not in arms:
        raise ValueError(f"arm {arm!r} is not one of {', '.join(arms)}")
    controls = [
        w.Dropdown(options=[(text, name) for name, text in arms.items()], value=arm,
                   description="arm"),
        w.BoundedIntText(value=0, min=0, max=999, description="seed",
                         layout=w.Layout(width="160px")),
    ]  # fmt: skip
    return _run_panel(
        "Train one arm live, in the lesson budget",
        controls,
        run,
        ("arm", "seed"),
        baseline=baseline,
        smooth=smooth,
        xlabel="update",
    )
