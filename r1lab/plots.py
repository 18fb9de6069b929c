"""Matplotlib figures used by the notebooks. Each function returns a ``Figure``
(:func:`svg_markup` turns one into inline SVG for a widget).

Figures are closed before they are returned, so none is drawn twice or left open: a
notebook shows one as its cell's last expression or with ``display(fig)``, and nowhere
else (``tests/test_notebook_outputs.py`` fails on a cell that draws and shows nothing)."""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from r1lab.metrics import is_share, metric


def next_token_bars(tokens: Sequence[str], probs: torch.Tensor, top: int = 30) -> Figure:
    """The ``top`` most likely next tokens, with the uniform level and the entropy marked."""
    probs = probs.detach().float().cpu()
    if probs.ndim != 1 or len(tokens) != len(probs):
        raise ValueError(f"need one probability per token (got {len(tokens)} and {probs.shape})")
    order = torch.argsort(probs, descending=True)[:top]
    labels = [tokens[i].replace(" ", "␣").replace("\n", "⏎") for i in order.tolist()]
    entropy = float(-(probs * torch.log(probs.clamp_min(1e-12))).sum())
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.bar(range(len(order)), probs[order].numpy(), color="#4a7ab5")
    ax.axhline(1 / len(probs), color="#c0392b", ls="--", lw=1, label=f"uniform = 1/{len(probs)}")
    ax.set_xticks(range(len(order)), labels, rotation=90, fontfamily="monospace")
    ax.set_ylabel("probability")
    ax.set_title(
        f"the {len(order)} most likely of {len(probs)} next tokens · entropy {entropy:.2f} nats "
        f"(uniform: {math.log(len(probs)):.2f})"
    )
    ax.legend(loc="upper right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def verifier_times(
    names: Sequence[str],
    ours: Sequence[float],
    lenient: Sequence[float | None],
    timeout: float,
) -> Figure:
    """Seconds each verifier spent per input (log scale); lenient runs that hit the
    timeout are drawn at the timeout and marked."""
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(names) + 1.2))
    y = range(len(names))
    lenient_drawn = [timeout if t is None else t for t in lenient]
    ax.barh(
        [i + 0.2 for i in y], lenient_drawn, height=0.4, color="#c0392b", label="lenient (eval)"
    )
    ax.barh([i - 0.2 for i in y], ours, height=0.4, color="#2e86c1", label="ours (AST)")
    for i, t in enumerate(lenient):
        if t is None:
            ax.text(timeout, i + 0.2, " hung: killed", va="center", fontsize=8)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(right=timeout * 8)
    ax.set_xlabel("seconds to score one completion (log scale)")
    ax.set_title("Time to score each hack: the lenient verifier runs in a fresh process")
    ax.legend(loc="upper right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Mean of the last ``window`` values at each point (fewer at the start). NaN (a step
    that had nothing to measure) is left out of the mean; a window of NaN alone gives NaN."""
    out, total, count = [], 0.0, 0
    for i, v in enumerate(values):
        if not math.isnan(v):
            total, count = total + v, count + 1
        if i >= window and not math.isnan(values[i - window]):
            total, count = total - values[i - window], count - 1
        out.append(total / count if count else math.nan)
    return out


def _smoothed_line(ax, steps, values, window: int, color: str, label: str | None = None) -> None:
    """The raw values faint, their moving average bold (just the raw line if window 1)."""
    if window > 1:
        ax.plot(steps, values, color=color, lw=0.8, alpha=0.3)
        values = moving_average(values, window)
    ax.plot(steps, values, color=color, lw=1.6, label=label)


class LiveCurves:
    """A training plot that redraws itself every ``every`` steps.

    Pass :meth:`on_step` as a training function's ``on_step`` callback. In a notebook,
    :meth:`show` displays the figure once and later redraws update it in place.
    """

    def __init__(
        self,
        keys: Sequence[str] = ("loss",),
        every: int = 5,
        title: str = "",
        xlabel: str = "step",
        smooth: int = 1,
    ):
        if every < 1:
            raise ValueError(f"every must be ≥ 1 (got {every})")
        if smooth < 1:
            raise ValueError(f"smooth must be ≥ 1 step (got {smooth})")
        self.keys, self.every, self.smooth = tuple(keys), every, smooth
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {k: [] for k in self.keys}
        self.fig, axes = plt.subplots(1, len(self.keys), figsize=(4.5 * len(self.keys), 3))
        self.axes = list(axes) if len(self.keys) > 1 else [axes]
        self.title, self.xlabel = title, xlabel
        self._handle = None
        plt.close(self.fig)
        self.redraw()

    def show(self) -> LiveCurves:
        from IPython.display import display

        self._handle = display(self.fig, display_id=True)
        return self

    def on_step(self, metrics: dict) -> None:
        self.steps.append(int(metrics.get("step", len(self.steps) + 1)))
        for key in self.keys:
            value = metrics.get(key)  # None: nothing to measure at this step
            self.values[key].append(math.nan if value is None else float(value))
        if len(self.steps) % self.every == 0:
            self.redraw()

    def redraw(self) -> None:
        for ax, key in zip(self.axes, self.keys, strict=True):
            ax.clear()
            _smoothed_line(ax, self.steps, self.values[key], self.smooth, YOURS_COLOR)
            ax.set_xlabel(self.xlabel)
            ax.set_title(metric(key).label, fontsize=10)
            if is_share(key):
                _percent_axis(ax)
            ax.grid(alpha=0.3)
        if self.title:
            self.fig.suptitle(self.title)
        self.fig.tight_layout()
        if self._handle is not None:
            self._handle.update(self.fig)


def compare_bars(results: dict[str, dict[str, float]], title: str = "") -> Figure:
    """Grouped bars: one group per metric, one bar per model (values in [0, 1])."""
    if not results:
        raise ValueError("compare_bars needs at least one model's results")
    metrics = list(next(iter(results.values())))
    # Wide enough for the bars and for the legend's one row of names.
    legend_width = 0.085 * sum(len(name) for name in results) + 0.7 * len(results)
    fig, ax = plt.subplots(figsize=(max(1.6 * len(metrics) + 3, legend_width), 3.2))
    width = 0.8 / len(results)
    color_of = series_colors(list(results))
    for i, (name, values) in enumerate(results.items()):
        xs = [j + (i - (len(results) - 1) / 2) * width for j in range(len(metrics))]
        ys = [values[m] for m in metrics]
        bars = ax.bar(xs, ys, width=width, label=name, color=color_of[name])
        ax.bar_label(bars, labels=[f"{y:.0%}" for y in ys], fontsize=8, padding=1)
    ax.set_xticks(range(len(metrics)), [metric(m).label for m in metrics])
    ax.set_ylim(0, 1.3)  # room for the legend above the tallest bar and its label
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(loc="upper center", ncols=len(results), fontsize=9, frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def pass_at_k_curves(curves: dict[str, dict[int, float]], title: str = "") -> Figure:
    """pass@k against k (log scale), one line per model."""
    if not curves:
        raise ValueError("pass_at_k_curves needs at least one curve")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, curve in curves.items():
        ks = sorted(curve)
        ax.plot(ks, [curve[k] for k in ks], marker="o", label=name)
    _pass_at_k_axes(ax, {k for c in curves.values() for k in c})
    ax.legend()
    ax.set_title(title or "pass@k: the chance that at least one of k samples is right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def _pass_at_k_axes(ax, ks: set[int]) -> None:
    """A pass@k axis: k on a log-2 scale with a tick at each k, pass@k in percent."""
    all_ks = sorted(ks)
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_ks, [str(k) for k in all_ks])
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("k (samples allowed per problem)")
    ax.set_ylabel("pass@k (held-out problems)")
    ax.grid(alpha=0.3)


def temperature_sweep(
    temperatures: Sequence[float],
    series: dict[str, Sequence[float]],
    shares: Sequence[str] = (),
) -> Figure:
    """Several measurements against sampling temperature, one panel each; the series
    named in ``shares`` are fractions, drawn on a 0–100 % axis."""
    if not series:
        raise ValueError("temperature_sweep needs at least one series")
    unknown = sorted(set(shares) - set(series))
    if unknown:
        raise ValueError(f"shares names series that are not there: {unknown}")
    nrows, ncols = _grid(len(series))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 2.9 * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax, (name, values) in zip(flat, series.items(), strict=False):  # spare panels stay
        ax.plot(temperatures, values, marker="o", color=COLORS[0])
        ax.set_xlabel("temperature")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        if name in shares:
            ax.set_ylim(0, 1.02)
            ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    for ax in flat[len(series) :]:
        ax.axis("off")
    fig.tight_layout()
    plt.close(fig)
    return fig


# ------------------------------------------------------------------------- colours

# Okabe and Ito's colour-blind-safe palette, in the order unnamed series take it.
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
# A world or an arm has one colour in every figure of the course. Worlds: world 1 blue,
# world 2 orange, also when a label goes on ("world 2: SFT → GRPO", "world 2, after").
WORLD_COLORS = {"world 1": "#0072B2", "world 2": "#E69F00"}
# The sweep's arms, by their labels (r1lab.sweep.ARMS; a test checks that every arm has
# one, and that the arms of one comparison differ). GRPO, in every comparison, is always
# vermillion. Eight safe colours do not go round twelve arms, so arms that never share a
# figure share a colour.
ARM_COLORS = {
    "GRPO": "#D55E00",
    "SFT on more expert traces": "#56B4E9",
    "rejection sampling (own successes)": "#CC79A7",
    "GRPO, positives only": "#009E73",
    "GRPO from the base model (R1-Zero)": "#000000",
    "GRPO, KL β=0.04": "#56B4E9",
    "GRPO, KL β=0.4": "#CC79A7",
    "GRPO, G=2": "#56B4E9",
    "GRPO, G=4": "#009E73",
    "GRPO, G=16": "#CC79A7",
    "GRPO, loss 'grpo'": "#009E73",
    "GRPO, loss 'dr_grpo'": "#CC79A7",
}
START_COLOR = "#999999"  # the model before training ("cold start …"): grey, not a run
YOURS_COLOR = "#000000"  # the learner's own run ("your run", "yours …"), live or compared


def series_colors(labels: Sequence[str]) -> dict[str, str]:
    """The colour of each series of one figure: an arm's or a world's own colour, grey
    for the cold start, black for the learner's own run, and the palette's unused colours,
    in order, for the rest."""
    fixed: dict[str, str] = {}
    for label in labels:
        world = next((w for w in WORLD_COLORS if label.startswith(w)), None)
        if label in ARM_COLORS:
            fixed[label] = ARM_COLORS[label]
        elif world is not None:
            fixed[label] = WORLD_COLORS[world]
        elif label.startswith("cold start"):
            fixed[label] = START_COLOR
        elif label.lower().startswith("your"):
            fixed[label] = YOURS_COLOR
    spare = iter([c for c in COLORS if c not in fixed.values()] + list(COLORS) * 4)
    return {label: fixed.get(label) or next(spare) for label in labels}


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    """Rows and columns for ``n`` panels with as few empty places as possible (four
    panels: two by two, not three and one), the widest such grid."""
    if n <= max_cols:
        return 1, max(n, 1)
    cols = min(range(max_cols, 1, -1), key=lambda c: (-n) % c)
    return math.ceil(n / cols), cols


def training_curves(
    runs: dict[str, Sequence[dict]],
    keys: Sequence[str] = ("reward", "accuracy", "length"),
    smooth: int = 10,
    title: str = "",
) -> Figure:
    """One panel per metric, one line per run (``{name: per-step metrics}``), each a
    moving average over ``smooth`` steps over the faint raw values."""
    if not runs:
        raise ValueError("training_curves needs at least one run")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.3 * len(keys), 3.1), squeeze=False)
    color_of = series_colors(list(runs))
    for ax, key in zip(axes[0], keys, strict=True):
        for name, metrics in runs.items():
            color = color_of[name]
            points = [(m["step"], m[key]) for m in metrics if m.get(key) is not None]
            if points:
                steps, values = zip(*points, strict=True)
                _smoothed_line(ax, steps, values, smooth, color, label=name)
        ax.set_xlabel("step")
        ax.set_title(metric(key).label, fontsize=10)
        if is_share(key):
            _percent_axis(ax)
        ax.grid(alpha=0.3)
    if len(runs) > 1:
        axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


Curves = dict[str, Sequence[tuple[float, float]]]  # metric name -> (x, y) points
BASELINE_COLOR = "#444444"


def overlay_curves(
    runs: Sequence[tuple[str, Curves]],
    baseline: tuple[str, Curves] | None = None,
    keys: Sequence[str] | None = None,
    smooth: int = 1,
    xlabel: str = "step",
    title: str = "",
) -> Figure:
    """One panel per metric (three to a row), every run's curve on top of the others, and
    the baseline dashed in dark grey. ``runs`` is ``[(label, {metric: [(x, y), …]})]`` in
    the order they ran; ``keys`` the metrics to draw (default: all, in order of
    appearance). Each run's line carries the SVG id ``r1lab-run<i>-<panel>`` (i from 1)
    and the baseline's ``r1lab-baseline-<panel>``, so a browser can count the curves. Once
    a run is drawn, the x axis spans the runs' range: a longer baseline is cut to it."""
    if not runs and baseline is None:
        raise ValueError("overlay_curves needs at least one run or a baseline")
    if smooth < 1:
        raise ValueError(f"smooth must be ≥ 1 point (got {smooth})")
    every = ([baseline] if baseline else []) + list(runs)
    keys = list(keys or dict.fromkeys(k for _, curves in every for k in curves))
    if not keys:
        raise ValueError("overlay_curves got no curves to draw")
    nrows, ncols = _grid(len(keys))
    # Not through pyplot: a panel draws this inside a widget callback, and the inline
    # backend shows every figure pyplot still holds after each comm message. One made
    # there, even if closed at once, could be caught open and shown in the log console.
    fig = Figure(figsize=(4.3 * ncols, 3.1 * nrows))
    axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    for ax in axes[len(keys) :]:
        ax.axis("off")
    run_xs = [x for _, c in runs for k in keys for x, _ in c.get(k, ())]
    for panel, (ax, key) in enumerate(zip(axes, keys, strict=False)):
        if baseline is not None and baseline[1].get(key):
            xs, ys = zip(*baseline[1][key], strict=True)
            ys = moving_average(ys, smooth) if smooth > 1 else ys
            # Above the runs: dashed, it hides none of them, and none of them hides it.
            style = dict(color=BASELINE_COLOR, lw=1.4, ls="--", zorder=3)
            (line,) = ax.plot(xs, ys, label=baseline[0], **style)
            line.set_gid(f"r1lab-baseline-{panel}")
        for i, (label, curves) in enumerate(runs, start=1):
            if not curves.get(key):
                continue
            xs, ys = zip(*curves[key], strict=True)
            color = COLORS[(i - 1) % len(COLORS)]
            if smooth > 1:
                ax.plot(xs, ys, color=color, lw=0.8, alpha=0.3)
                ys = moving_average(ys, smooth)
            marker = "o" if len(xs) <= 20 else None  # a short curve shows its points
            (line,) = ax.plot(xs, ys, color=color, lw=1.8, label=label, marker=marker, ms=3)
            line.set_gid(f"r1lab-run{i}-{panel}")
        if run_xs:
            margin = max(max(run_xs) - min(run_xs), 1) * 0.03
            ax.set_xlim(min(run_xs) - margin, max(run_xs) + margin)
        if all(float(x).is_integer() for x in run_xs):  # steps, samples: no ticks between
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        values = [y for _, curves in every for _, y in curves.get(key, ())]
        if values and all(float(y).is_integer() for y in values):  # counts
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if is_share(key):
            _percent_axis(ax)
        ax.set_xlabel(xlabel)
        ax.set_title(metric(key).label, fontsize=10)
        ax.grid(alpha=0.3)
    labelled = [ax for ax in axes if ax.get_legend_handles_labels()[0]]
    if labelled:  # one legend, in the first panel that has a line
        labelled[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def svg_markup(fig: Figure) -> str:
    """``fig`` as an inline ``<svg>`` element that shrinks to the width it is given; text
    stays text (not paths), and each line's gid becomes the id of its SVG group."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    return svg.replace("<svg ", "<svg style='max-width:100%;height:auto' ", 1)


def clip_objective(epsilon_low: float = 0.2, epsilon_high: float = 0.2) -> Figure:
    """The clipped objective ``min(r·A, clip(r)·A)`` against the ratio r, for a good
    (A = +1) and a bad (A = -1) token: where it goes flat, the gradient is zero."""
    ratio = torch.linspace(0.0, 2.0, 401)
    clipped = ratio.clamp(1 - epsilon_low, 1 + epsilon_high)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, adv in zip(axes, (1.0, -1.0), strict=True):
        objective = torch.minimum(ratio * adv, clipped * adv)
        ax.plot(ratio, ratio * adv, color="#bbb", ls="--", label="unclipped r·A")
        ax.plot(ratio, objective, color="#2e86c1", lw=2, label="min(r·A, clip(r)·A)")
        flat = objective.diff().abs() < 1e-9
        ax.fill_between(
            ratio[1:], -2.2, 2.2, where=flat, color="#f5b7b1", alpha=0.4, label="no gradient"
        )
        ax.axvline(1.0, color="#555", lw=0.8)
        ax.set_xlabel("ratio r = π(token) / π_old(token)")
        ax.set_title(f"A = {adv:+.0f}: {'better' if adv > 0 else 'worse'} than the group's mean")
        ax.set_ylim(-2.2, 2.2)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("objective (the loss is minus this)")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    plt.close(fig)
    return fig


# ------------------------------------------------------------------------- emergence

# What the emergence figure shows, in order: metric key and panel title.
EMERGENCE_PANELS = {
    key: metric(key).label
    for key in ("accuracy", "length", "effective_retry_rate", "retry_rate", "honest_check_rate")
}


def seed_band(
    ax,
    runs: Sequence[Sequence[dict]],
    key: str,
    color: str,
    label: str,
    smooth: int = 25,
    ls: str = "-",
    x_scale: float = 1.0,
) -> tuple[list[int], list[float]] | None:
    """The mean over seeds of one metric's moving average, bold (line style ``ls``), with
    the band between the lowest and the highest seed, drawn at x = step × ``x_scale``.
    Returns the mean curve (steps, values), or None when no run logged ``key``."""
    curves = []
    for metrics in runs:
        points = [(m["step"], m[key]) for m in metrics if m.get(key) is not None]
        if points:
            steps, values = zip(*points, strict=True)
            curves.append(dict(zip(steps, moving_average(values, smooth), strict=True)))
    if not curves:
        return None
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    rows = [[c[s] for c in curves] for s in steps]
    mean = [sum(r) / len(r) for r in rows]
    xs = [s * x_scale for s in steps]
    shown = f"{label} ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
    ax.plot(xs, mean, color=color, lw=1.8, ls=ls, label=shown)
    if len(curves) > 1:
        ax.fill_between(xs, [min(r) for r in rows], [max(r) for r in rows], color=color,
                        alpha=0.2, lw=0)  # fmt: skip
    return steps, mean


def _last_step(runs: Sequence[Sequence[dict]]) -> int:
    return max((m["step"] for metrics in runs for m in metrics), default=0)


LINE_STYLES = ("-", "--", ":", "-.")


def emergence_curves(
    groups: dict[str, Sequence[Sequence[dict]]],
    keys: Sequence[str | tuple[str, ...]] = tuple(EMERGENCE_PANELS),
    smooth: int = 25,
    heldout: dict[str, Sequence[Sequence[dict]]] | None = None,
    reference: dict[str, tuple[str, float]] | None = None,
    title: str = "",
    xlabel: str = "GRPO step",
) -> Figure:
    """One panel per metric over GRPO steps (``xlabel``); per group (``{label: [metrics of each
    seed]}``) the mean over seeds with a min–max band, in the group's colour
    (:func:`series_colors`). A tuple of keys shares one panel: one colour per key for one
    group, else one line style per key. ``heldout`` (``{label: [rows of heldout.jsonl per
    seed]}``) adds held-out pass@1 as points with seed ranges to the accuracy panel;
    ``reference`` draws a dashed line per key (``{key: (label, value)}``), e.g. the rate in
    the cold-start data. Groups whose runs differ in length by 2× or more (600 steps in one
    world, 100 in the other) share an axis of progress, in percent of each run's steps, so
    that the short run is not squeezed into a corner; their legend says each length."""
    if not groups:
        raise ValueError("emergence_curves needs at least one group of runs")
    rows, cols = _grid(len(keys))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.1 * rows + 0.5), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[len(keys) :]:
        ax.remove()
    color_of = series_colors(list(groups))
    last = {label: _last_step(runs) for label, runs in groups.items()}
    lengths = [n for n in last.values() if n]
    progress = len(lengths) > 1 and max(lengths) >= 2 * min(lengths)
    scale = {label: (100 / n if progress and n else 1.0) for label, n in last.items()}
    shown = {label: f"{label}, {last[label]} steps" if progress else label for label in groups}
    styled: dict[str, str] = {}  # metric label -> line style, in panels shared by groups
    for ax, key in zip(flat, keys, strict=False):
        subkeys = key if isinstance(key, tuple) else (key,)
        for label, runs in groups.items():
            for j, sub in enumerate(subkeys):
                line_color, ls, name = color_of[label], "-", shown[label]
                if len(subkeys) > 1 and len(groups) == 1:  # one colour per metric
                    line_color, name = COLORS[j % len(COLORS)], metric(sub).label
                elif len(subkeys) > 1:  # colour: the group; line style: the metric
                    ls = LINE_STYLES[j % len(LINE_STYLES)]
                    styled[metric(sub).label] = ls
                seed_band(ax, runs, sub, line_color, name, smooth, ls=ls, x_scale=scale[label])
            if key == "accuracy" and heldout and heldout.get(label):
                _heldout_points(ax, heldout[label], color_of[label], scale[label])
        if reference and not isinstance(key, tuple) and key in reference:
            name, value = reference[key]
            ax.axhline(value, color="#555", ls="--", lw=1, label=name)
        if all(is_share(sub) for sub in subkeys):
            _percent_axis(ax)
        ax.set_xlabel("training progress (% of the run's steps)" if progress else xlabel)
        panel = " vs ".join(metric(sub).label for sub in subkeys)
        ax.set_title(panel if len(subkeys) == 1 else "accuracy: retried or not"
                     if set(subkeys) == {"accuracy_if_retried", "accuracy_if_not_retried"}
                     else panel, fontsize=10)  # fmt: skip
        ax.grid(alpha=0.3)
    # One legend for the figure, below the panels: groups (and the metrics of a one-group
    # shared panel) by colour, the metrics of a panel shared by groups by line style.
    handles: dict[str, Any] = {}
    for ax in flat[: len(keys)]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)  # a group's first line is its solid one
    for name, ls in styled.items():
        handles.setdefault(name, plt.Line2D([], [], color="#555", lw=1.8, ls=ls))
    _legend_below(fig, handles, title)
    plt.close(fig)
    return fig


def _legend_below(fig: Figure, handles: dict[str, Any], title: str, max_cols: int = 4) -> None:
    """A figure's one legend, below its panels (0.3 inch a row of names, at most
    ``max_cols`` names a row), its title, and its layout around both."""
    bottom = 0.0
    if handles:
        ncol = min(len(handles), max_cols)
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=ncol,
                   fontsize=8, frameon=False)  # fmt: skip
        bottom = 0.3 * math.ceil(len(handles) / ncol) / fig.get_figheight()
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, bottom, 1, 1))


def _percent_axis(ax) -> None:
    """0–100 % with a little room above, so a line at 100 % stays visible."""
    ax.set_ylim(0, 1.04)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")


def _heldout_points(ax, runs: Sequence[Sequence[dict]], color: str, x_scale: float = 1.0) -> None:
    by_step: dict[int, list[float]] = {}
    for rows in runs:
        for row in rows:
            by_step.setdefault(row["step"], []).append(row["pass@1"])
    steps = sorted(by_step)
    mean = [sum(by_step[s]) / len(by_step[s]) for s in steps]
    low = [m - min(by_step[s]) for m, s in zip(mean, steps, strict=True)]
    high = [max(by_step[s]) - m for m, s in zip(mean, steps, strict=True)]
    xs = [s * x_scale for s in steps]
    ax.errorbar(xs, mean, yerr=[low, high], fmt="o", color=color, mfc="white", ms=5,
                capsize=3, label="held-out pass@1")  # fmt: skip


def length_histograms(
    groups: dict[str, Sequence[Sequence[dict]]],
    window: int = 25,
    bin_tokens: int = 8,
    max_bars: int = 40,
) -> Figure:
    """Completion lengths in the first and the last ``window`` steps of each group (all
    seeds pooled), from the ``length_hist`` every step logs (bins of ``bin_tokens``): one
    panel per group. A panel whose lengths would need more than ``max_bars`` bars merges
    neighbouring bins (e.g. 32-token bars under a 1,024-token budget), so that no bar is
    too thin to see; the means are computed from the logged bins either way."""
    if not groups:
        raise ValueError("length_histograms needs at least one group of runs")
    if max_bars < 1:
        raise ValueError(f"max_bars must be at least 1 (got {max_bars})")
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.1), squeeze=False)
    color_of = series_colors(list(groups))
    for ax, (label, runs) in zip(axes[0], groups.items(), strict=True):
        color = color_of[label]
        pooled: dict[str, list[int]] = {}
        for part in ("start", "end"):
            counts: list[int] = []
            for metrics in runs:
                rows = [m for m in metrics if m.get("length_hist")]
                chosen = rows[:window] if part == "start" else rows[-window:]
                for m in chosen:
                    hist = m["length_hist"]
                    counts.extend([0] * (len(hist) - len(counts)))
                    for i, c in enumerate(hist):
                        counts[i] += c
            pooled[part] = counts
        merge = max(1, math.ceil(max(map(len, pooled.values())) / max_bars))
        width = merge * bin_tokens
        for part, shade, name in (("start", START_COLOR, "first"), ("end", color, "last")):
            counts = pooled[part]
            total = sum(counts)
            if not total:
                continue
            mean = sum((i + 0.5) * bin_tokens * c for i, c in enumerate(counts)) / total
            bars = [sum(counts[i : i + merge]) for i in range(0, len(counts), merge)]
            ax.bar([i * width for i in range(len(bars))], [c / total for c in bars], width=width,
                   align="edge", color=shade, alpha=0.55, edgecolor="white",
                   label=f"{name} {window} steps (mean ≈ {mean:.0f})")  # fmt: skip
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(f"completion length (tokens, {width}-token bars)")
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("share of completions")
    fig.tight_layout()
    plt.close(fig)
    return fig


# ------------------------------------------------------------------------- the sweep


def error_bar_panels(
    panels: dict[str, dict[str, Sequence[float]]],
    reference: dict[str, tuple[str, float]] | None = None,
    percent: Sequence[str] = (),
    title: str = "",
    cols: int = 3,
) -> Figure:
    """One panel per metric (``{panel title: {arm label: a value per seed}}``): a bar at
    the mean over seeds, named under it, an error bar from the lowest to the highest seed
    and a dot per seed; ``reference`` draws a dashed line per panel (``{panel: (label,
    value)}``), e.g. the model every arm started from, named in the legend below the
    panels. Panels named in ``percent`` read as percentages; at most ``cols`` panels to a
    row. Each arm has its colour (:func:`series_colors`); a label that ends in "before"
    is drawn hatched and pale, beside its "after" in the full colour."""
    if not panels or not any(panels.values()):
        raise ValueError("error_bar_panels needs at least one panel with values")
    labels = list(dict.fromkeys(label for arms in panels.values() for label in arms))
    color = series_colors(labels)
    rows, cols = _grid(len(panels), cols)
    width = max(3.6, 0.95 * max(len(arms) for arms in panels.values()) + 1.0)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 3.3 * rows + 0.4), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[len(panels) :]:
        ax.remove()
    references: dict[str, Any] = {}
    for ax, (name, arms) in zip(flat, panels.items(), strict=False):
        is_rate = name in percent
        for x, (label, values) in enumerate(arms.items()):
            if not values:
                continue
            mean = sum(values) / len(values)
            before = label.endswith("before")
            ax.bar(x, mean, color=color[label], alpha=0.35 if before else 0.8, width=0.7,
                   hatch="//" if before else None, edgecolor=color[label])  # fmt: skip
            # max(0, …): a mean can round to just past the lowest or highest value
            spread = [[max(0.0, mean - min(values))], [max(0.0, max(values) - mean)]]
            ax.errorbar(x, mean, yerr=spread, color="#222", capsize=4, lw=1.2)
            ax.scatter([x] * len(values), values, color="#222", s=9, zorder=3)
            shown = f"{mean:.0%}" if is_rate else f"{mean:.3g}"
            ax.annotate(shown, (x, max(values)), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=8)  # fmt: skip
        if reference and name in reference:
            ref_label, value = reference[name]
            references[ref_label] = ax.axhline(value, color="#555", ls="--", lw=1)
        names = [textwrap.fill(label, 13, break_long_words=False) for label in arms]
        ax.set_xticks(range(len(arms)), names, fontsize=8)
        if is_rate:
            ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    _legend_below(fig, references, title)
    plt.close(fig)
    return fig


def pass_at_k_bands(
    curves: dict[str, dict[int, Sequence[float]]],
    reference: tuple[str, dict[int, float]] | None = None,
    title: str = "",
) -> Figure:
    """pass@k against k (log scale): per arm (``{label: {k: a value per seed}}``) the mean
    over seeds with a min–max error bar; ``reference`` ``(label, {k: value})`` dashed."""
    if not curves:
        raise ValueError("pass_at_k_bands needs at least one curve")
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    color_of = series_colors(list(curves))
    for i, (label, curve) in enumerate(curves.items()):
        ks = sorted(curve)
        mean = [sum(curve[k]) / len(curve[k]) for k in ks]
        low = [max(0.0, m - min(curve[k])) for m, k in zip(mean, ks, strict=True)]
        high = [max(0.0, max(curve[k]) - m) for m, k in zip(mean, ks, strict=True)]
        offset = 2 ** ((i - (len(curves) - 1) / 2) * 0.04)  # side by side, not on top
        ax.errorbar([k * offset for k in ks], mean, yerr=[low, high], marker="o", ms=4,
                    capsize=3, color=color_of[label], label=label)  # fmt: skip
    if reference is not None:
        name, ref = reference
        ks = sorted(ref)
        ax.plot(ks, [ref[k] for k in ks], color="#555", ls="--", marker=".", label=name)
    _pass_at_k_axes(ax, {k for c in curves.values() for k in c})
    ax.legend(fontsize=8)
    ax.set_title(title or "pass@k, mean over seeds (bars: lowest to highest seed)", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig
