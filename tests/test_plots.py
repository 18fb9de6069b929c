import matplotlib
import pytest
import torch

from r1lab.plots import next_token_bars

matplotlib.use("Agg")


def test_next_token_bars_shows_top_tokens_and_uniform_line():
    probs = torch.softmax(torch.arange(50, dtype=torch.float32), dim=0)
    tokens = [f"t{i}" for i in range(50)]
    fig = next_token_bars(tokens, probs, top=10)
    ax = fig.axes[0]
    assert len(ax.patches) == 10
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "t49" and labels[-1] == "t40"
    assert ax.lines[0].get_ydata()[0] == pytest.approx(1 / 50)
    assert "entropy" in ax.get_title()


def test_next_token_bars_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one probability per token"):
        next_token_bars(["a"], torch.ones(3) / 3)


def test_verifier_times_marks_hung_runs():
    from r1lab.plots import verifier_times

    fig = verifier_times(["a", "b"], [1e-4, 2e-4], [0.02, None], timeout=2.0)
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and ax.get_xscale() == "log"
    assert any("hung" in t.get_text() for t in ax.texts)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]


def test_live_curves_redraw_every_few_steps():
    from r1lab.plots import LiveCurves

    live = LiveCurves(["loss", "grad_norm"], every=3)
    for step in range(1, 8):
        live.on_step({"step": step, "loss": 1.0 / step, "grad_norm": 2.0})
    assert live.steps == list(range(1, 8))
    # Redrawn after steps 3 and 6, not yet after 7.
    assert len(live.axes[0].lines[0].get_xdata()) == 6
    live.redraw()
    assert list(live.axes[0].lines[0].get_ydata())[-1] == pytest.approx(1 / 7)
    assert live.axes[1].get_title() == "gradient norm"  # its label in r1lab.metrics
    rates = LiveCurves(["checked_rate"], every=1)
    rates.on_step({"step": 1, "checked_rate": 1.0})
    assert rates.axes[0].get_title() == "share that computes and checks (searches)"
    assert rates.axes[0].get_ylim()[1] > 1  # a line at 100 % stays in sight
    assert rates.axes[0].get_yticklabels()[-1].get_text() == "100%"
    with pytest.raises(ValueError, match="every must be"):
        LiveCurves(every=0)


def test_compare_bars_draws_one_bar_per_model_and_metric():
    from r1lab.plots import compare_bars

    fig = compare_bars(
        {"base": {"format": 0.0, "pass@1": 0.0}, "sft": {"format": 0.97, "pass@1": 0.3}}
    )
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    assert sorted(round(p.get_height(), 2) for p in ax.patches) == [0.0, 0.0, 0.3, 0.97]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["format", "pass@1"]
    with pytest.raises(ValueError):
        compare_bars({})


def test_pass_at_k_curves_and_temperature_sweep():
    from r1lab.plots import pass_at_k_curves, temperature_sweep

    fig = pass_at_k_curves({"a": {1: 0.2, 2: 0.3, 4: 0.5}, "b": {1: 0.0, 2: 0.0, 4: 0.0}})
    lines = fig.axes[0].lines
    assert [list(line.get_ydata()) for line in lines] == [[0.2, 0.3, 0.5], [0.0, 0.0, 0.0]]
    fig = temperature_sweep(
        [0.5, 1.0], {"pass@1": [0.3, 0.2], "format": [1.0, 0.9]}, shares=["pass@1"]
    )
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "format"
    assert fig.axes[0].get_ylim() == (0, 1.02) and fig.axes[1].get_ylim() != (0, 1.02)
    with pytest.raises(ValueError, match="not there"):
        temperature_sweep([1.0], {"pass@1": [0.3]}, shares=["accuracy"])


def test_moving_average_and_smoothed_live_curves():
    from r1lab.plots import LiveCurves, moving_average

    assert moving_average([1, 2, 3, 4], 2) == [1, 1.5, 2.5, 3.5]
    assert moving_average([5.0], 10) == [5.0]
    live = LiveCurves(["reward"], every=100, smooth=3)
    for step, value in enumerate([0.0, 0.0, 3.0, 3.0], 1):
        live.on_step({"step": step, "reward": value})
    live.redraw()
    raw, smooth = live.axes[0].lines
    assert list(raw.get_ydata()) == [0, 0, 3, 3] and list(smooth.get_ydata()) == [0, 0, 1, 2]
    with pytest.raises(ValueError, match="smooth must be"):
        LiveCurves(smooth=0)


def test_a_metric_a_step_could_not_measure_leaves_a_gap_not_a_crash():
    from r1lab.behaviors import search_quality
    from r1lab.plots import LiveCurves, moving_average

    nan = float("nan")
    smooth = moving_average([1.0, nan, 3.0, nan, nan], 2)
    assert smooth[:4] == [1.0, 1.0, 3.0, 3.0] and smooth[4] != smooth[4]  # NaN: none in reach
    keys = list(search_quality([]))
    live = LiveCurves(keys, every=1, smooth=2)
    live.on_step({"step": 1, **dict.fromkeys(keys)})  # a batch with no search: all None
    live.on_step({"step": 2, **dict.fromkeys(keys, 0.5)})
    for ax, key in zip(live.axes, keys, strict=True):
        assert ax.get_title() != key and ax.get_yticklabels()[-1].get_text() == "100%", key
        assert list(ax.lines[-1].get_ydata())[-1] == 0.5


def test_training_curves_one_line_per_run_and_panel_per_metric():
    from r1lab.plots import training_curves

    ours = [{"step": i, "reward": i / 10, "length": 30 + i} for i in range(1, 11)]
    theirs = [{"step": i, "reward": 0.5, "length": None} for i in range(1, 11)]
    fig = training_curves({"ours": ours, "trl": theirs}, keys=("reward", "length"), smooth=1)
    reward, length = fig.axes
    assert len(reward.lines) == 2 and len(length.lines) == 1  # None values are skipped
    assert [t.get_text() for t in reward.get_legend().get_texts()] == ["ours", "trl"]
    with pytest.raises(ValueError, match="at least one run"):
        training_curves({})


def test_clip_objective_is_flat_exactly_where_the_clip_binds():
    from r1lab.plots import clip_objective

    fig = clip_objective(0.2, 0.3)
    good, bad = fig.axes
    x, y = good.lines[1].get_xdata(), good.lines[1].get_ydata()
    assert max(y) == pytest.approx(1.3)  # A=+1 capped at 1 + epsilon_high
    assert min(bad.lines[1].get_ydata()) == pytest.approx(-2.0)  # A=-1: no floor for r > 1
    assert y[list(x).index(min(x, key=lambda v: abs(v - 0.5)))] == pytest.approx(0.5, abs=1e-2)


def _metrics(values, key="effective_retry_rate", **extra):
    return [{"step": i + 1, key: v, **extra} for i, v in enumerate(values)]


def test_seed_band_draws_the_mean_and_the_range_of_the_seeds():
    import matplotlib.pyplot as plt

    from r1lab.plots import seed_band

    fig, ax = plt.subplots()
    runs = [_metrics([0.1, 0.2, 0.3]), _metrics([0.3, 0.4, 0.5]), _metrics([0.2, 0.3, 0.4])]
    steps, mean = seed_band(ax, runs, "effective_retry_rate", "#000", "main", smooth=1)
    assert steps == [1, 2, 3] and mean == pytest.approx([0.2, 0.3, 0.4])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert min(band) == pytest.approx(0.1) and max(band) == pytest.approx(0.5)
    assert ax.lines[0].get_label() == "main (3 seeds)"
    assert seed_band(ax, runs, "missing", "#000", "x") is None
    plt.close(fig)


def test_emergence_curves_panels_heldout_points_and_reference_line():
    from r1lab.plots import EMERGENCE_PANELS, emergence_curves

    keys = tuple(EMERGENCE_PANELS)
    run = [{"step": i, **{k: 0.5 for k in keys}} for i in range(1, 31)]
    heldout = [[{"step": 0, "pass@1": 0.2}, {"step": 30, "pass@1": 0.4}]]
    fig = emergence_curves(
        {"main": [run, run], "zero": [run]},
        heldout={"main": heldout},
        reference={"effective_retry_rate": ("data", 0.1)},
    )
    axes = fig.axes
    assert [a.get_title() for a in axes] == list(EMERGENCE_PANELS.values())
    assert len(axes[0].collections) >= 2  # a band for the two seeds, and error bars
    assert [line.get_ydata()[0] for line in axes[2].lines if line.get_linestyle() == "--"] == [0.1]
    assert axes[0].get_ylim()[0] == 0 and 1 < axes[0].get_ylim()[1] < 1.1
    with pytest.raises(ValueError, match="at least one group"):
        emergence_curves({})


def test_length_histograms_pool_the_first_and_last_steps():
    from r1lab.plots import length_histograms

    run = [{"step": i, "length_hist": [0, 4] if i <= 5 else [0, 0, 0, 4]} for i in range(1, 11)]
    fig = length_histograms({"main": [run, run]}, window=5)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0, 1.0, 0, 0, 0, 1.0])  # start: bar 1; end: bar 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["first 5 steps (mean ≈ 12)", "last 5 steps (mean ≈ 28)"]


def test_length_histograms_merge_bins_so_no_panel_has_too_many_bars():
    from r1lab.plots import length_histograms

    # 128 logged 8-token bins (a 1,024-token budget): at most 40 bars means 4 bins a bar.
    start, end = [0] * 128, [0] * 128
    start[2], end[125], end[126] = 6, 2, 2
    run = [{"step": 1, "length_hist": start}, {"step": 2, "length_hist": end}]
    fig = length_histograms({"long": [run]}, window=1, max_bars=40)
    ax = fig.axes[0]
    assert {p.get_width() for p in ax.patches} == {32}
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 2 * 32
    assert heights[0] == pytest.approx(1.0)  # start: all in bins 0-3
    assert heights[32 + 31] == pytest.approx(1.0)  # end: bins 125 and 126 share bar 31
    assert ax.get_xlabel() == "completion length (tokens, 32-token bars)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["first 1 steps (mean ≈ 20)", "last 1 steps (mean ≈ 1008)"]
    with pytest.raises(ValueError, match="max_bars"):
        length_histograms({"long": [run]}, max_bars=0)


def test_emergence_curves_share_a_panel_for_a_tuple_of_keys():
    from r1lab.plots import emergence_curves

    run = [{"step": i, "accuracy_if_retried": 0.2, "accuracy_if_not_retried": 0.6}
           for i in range(1, 11)]  # fmt: skip
    fig = emergence_curves(
        {"main": [run]}, keys=[("accuracy_if_retried", "accuracy_if_not_retried")]
    )
    [ax] = fig.axes
    assert ax.get_title() == "accuracy: retried or not"
    assert [line.get_ydata()[-1] for line in ax.lines] == pytest.approx([0.2, 0.6])
    assert ax.get_legend() is None  # one legend, below the panels: none over the data
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "accuracy when it retried (1 seed)",
        "accuracy when it did not retry (1 seed)",
    ]
    # Two groups: the colour tells the group, the line style the metric.
    fig = emergence_curves(
        {"world 1": [run], "world 2": [run]},
        keys=[("accuracy_if_retried", "accuracy_if_not_retried")],
    )
    [ax] = fig.axes
    styles = {(line.get_color(), line.get_linestyle()) for line in ax.lines}
    assert len(styles) == 4 and len({c for c, _ in styles}) == 2
    assert len({ls for _, ls in styles}) == 2
    assert ax.get_legend() is None
    # The legend: each world once by its colour, each metric once by its line style.
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "world 1 (1 seed)",
        "world 2 (1 seed)",
        "accuracy when it retried",
        "accuracy when it did not retry",
    ]


def test_error_bar_panels_show_mean_range_seeds_and_reference():
    from matplotlib.collections import PathCollection
    from matplotlib.patches import Rectangle

    from r1lab.plots import error_bar_panels

    fig = error_bar_panels(
        {"pass@1": {"GRPO": [0.4, 0.5, 0.6], "SFT": [0.2, 0.3]}, "length": {"GRPO": [30.0]}},
        reference={"pass@1": ("start", 0.25)},
        percent=["pass@1"],
    )
    left, right = fig.axes
    assert [a.get_title() for a in fig.axes] == ["pass@1", "length"]
    heights = [p.get_height() for p in left.patches if isinstance(p, Rectangle)]
    assert heights == pytest.approx([0.5, 0.25])  # the means
    caps = [line.get_ydata() for line in left.lines if line.get_marker() == "_"]
    assert sorted(float(y[0]) for y in caps) == pytest.approx([0.2, 0.3, 0.4, 0.6])
    assert [line.get_ydata()[0] for line in left.lines if line.get_linestyle() == "--"] == [0.25]
    dots = [c for c in left.collections if isinstance(c, PathCollection)]  # a dot per seed
    assert sum(len(c.get_offsets()) for c in dots) == 5
    assert "50%" in [t.get_text() for t in left.texts] and "30" in right.texts[0].get_text()
    # Each bar is named under it; the legend below names only the reference line.
    assert [t.get_text() for t in left.get_xticklabels()] == ["GRPO", "SFT"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["start"]
    assert left.get_legend() is None
    with pytest.raises(ValueError, match="at least one panel"):
        error_bar_panels({})


def test_pass_at_k_bands_plot_the_mean_and_the_reference():
    from r1lab.plots import pass_at_k_bands

    fig = pass_at_k_bands(
        {"GRPO": {1: [0.4, 0.6], 16: [0.9, 0.9]}}, reference=("start", {1: 0.3, 16: 0.95})
    )
    ax = fig.axes[0]
    [start] = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert list(start.get_ydata()) == [0.3, 0.95]
    [grpo] = ax.containers  # the error-bar plot: its line holds the means over seeds
    assert grpo.get_label() == "GRPO"
    assert list(grpo.lines[0].get_ydata()) == pytest.approx([0.5, 0.9])
    with pytest.raises(ValueError, match="at least one curve"):
        pass_at_k_bands({})


def test_error_bars_survive_a_mean_that_rounds_past_the_seeds():
    from r1lab.plots import error_bar_panels, pass_at_k_bands

    # The mean of three 0.1s is 0.10000000000000002: the lower bar must not go negative.
    assert sum([0.1, 0.1, 0.1]) / 3 > 0.1
    error_bar_panels({"a": {"x": [0.1, 0.1, 0.1], "y": [0.7, 0.7, 0.7]}})
    pass_at_k_bands({"x": {1: [0.1, 0.1, 0.1], 2: [0.7, 0.7, 0.7]}})


def test_overlay_curves_draws_runs_over_a_baseline_cut_to_their_range():
    from r1lab.plots import overlay_curves

    baseline = ("shipped", {"reward": [(s, s / 400) for s in range(1, 401)], "kl": [(1, 0.0)]})
    runs = [(f"run {i}", {"reward": [(s, i * s / 40) for s in range(1, 41)]}) for i in (1, 2)]
    fig = overlay_curves(runs, baseline, smooth=5)
    reward, kl = fig.axes
    gids = [line.get_gid() for line in reward.lines if line.get_gid()]
    assert gids == ["r1lab-baseline-0", "r1lab-run1-0", "r1lab-run2-0"]
    assert len(reward.lines) == 5  # and the raw values of each run, faint
    assert reward.get_xlim()[1] < 45  # the 400 steps of the baseline are cut to the runs'
    assert [line.get_gid() for line in kl.lines] == ["r1lab-baseline-1"]
    assert [t.get_text() for t in reward.get_legend().get_texts()] == ["shipped", "run 1", "run 2"]
    five = overlay_curves(runs, keys=["a", "b", "c", "d", "reward"])
    assert len(five.axes) == 6 and not five.axes[-1].axison  # two rows of three, one spare
    with pytest.raises(ValueError, match="at least one run or a baseline"):
        overlay_curves([])
    with pytest.raises(ValueError, match="smooth must be"):
        overlay_curves(runs, smooth=0)


def test_svg_markup_keeps_the_line_ids_and_scales_to_its_box():
    from r1lab.plots import overlay_curves, svg_markup

    svg = svg_markup(overlay_curves([("run 1", {"loss": [(1, 2.0), (2, 1.0)]})]))
    assert svg.startswith("<svg style='max-width:100%;height:auto' ")
    assert '<g id="r1lab-run1-0">' in svg and "<?xml" not in svg
    assert "run 1</text>" in svg  # text stays text


def test_a_world_or_an_arm_has_one_colour_in_every_figure():
    from r1lab.plots import ARM_COLORS, WORLD_COLORS, error_bar_panels, series_colors
    from r1lab.sweep import ARMS, COMPARISONS

    assert {a.label for a in ARMS.values()} <= set(ARM_COLORS)  # every arm has its colour
    for arms in COMPARISONS.values():  # and the arms of one comparison can be told apart
        assert len({ARM_COLORS[ARMS[a].label] for a in arms}) == len(arms)
    # The same arm, first or last in a figure, alone or with others: the same colour.
    assert series_colors(["GRPO"])["GRPO"] == series_colors(["x", "y", "GRPO"])["GRPO"]
    # A world keeps its colour whatever follows its name, and whatever else is drawn.
    two = series_colors(["world 2: SFT → GRPO", "world 1: SFT → GRPO"])
    assert two["world 2: SFT → GRPO"] == WORLD_COLORS["world 2"]
    assert series_colors(["world 2, after"])["world 2, after"] == WORLD_COLORS["world 2"]
    assert len(set(WORLD_COLORS.values())) == 2
    # The learner's own run is black, live or beside the shipped runs.
    from r1lab.plots import YOURS_COLOR

    assert series_colors(["world 2: shipped runs", "your run"])["your run"] == YOURS_COLOR
    # Unnamed series take colours no named series in the figure has.
    mixed = series_colors(["GRPO", "mine", "yours"])
    assert len(set(mixed.values())) == 3
    # The figures themselves: world 2 alone or beside world 1, GRPO first or last.
    from matplotlib.colors import to_hex

    from r1lab.plots import emergence_curves

    run = [{"step": i, "accuracy": 0.5} for i in range(1, 11)]

    def line_colors(fig):
        return {line.get_label(): to_hex(line.get_color()) for line in fig.axes[0].lines}

    alone = line_colors(emergence_curves({"world 2": [run]}, keys=["accuracy"], smooth=1))
    both = emergence_curves({"world 1": [run], "world 2": [run]}, keys=["accuracy"], smooth=1)
    assert alone["world 2 (1 seed)"] == line_colors(both)["world 2 (1 seed)"]
    assert alone["world 2 (1 seed)"] == WORLD_COLORS["world 2"].lower()

    def bar_color(panels, label):
        fig = error_bar_panels({"pass@1": panels})
        return to_hex(fig.axes[0].patches[list(panels).index(label)].get_facecolor())

    first = bar_color({"GRPO": [0.4], "SFT on more expert traces": [0.3]}, "GRPO")
    last = bar_color({"GRPO, G=2": [0.4], "GRPO, G=4": [0.3], "GRPO": [0.4]}, "GRPO")
    assert first == last == ARM_COLORS["GRPO"].lower()
    # In a bar figure, a world's "before" is its colour, pale and hatched.
    fig = error_bar_panels({"length": {"world 2, before": [50.0], "world 2, after": [300.0]}})
    before, after = fig.axes[0].patches
    assert before.get_facecolor()[:3] == after.get_facecolor()[:3]
    assert before.get_hatch() and not after.get_hatch()


def test_grids_leave_no_empty_places_they_can_avoid():
    from r1lab.plots import _grid, emergence_curves, error_bar_panels

    assert [_grid(n) for n in (1, 2, 3, 4, 5, 6, 7, 9)] == [
        (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (2, 3), (4, 2), (3, 3),
    ]  # fmt: skip
    keys = ["accuracy", "length", "retry_rate", "checked_rate"]
    run = [{"step": i, **{k: 0.5 for k in keys}} for i in range(1, 11)]
    fig = emergence_curves({"main": [run]}, keys=keys)
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(fig.axes) == 4 and len(rows) == 2  # two by two
    fig = error_bar_panels({k: {"GRPO": [0.5]} for k in "abcd"})
    assert len({round(ax.get_position().x0, 3) for ax in fig.axes}) == 2


def test_runs_of_very_different_length_share_an_axis_of_progress():
    from r1lab.plots import emergence_curves

    long = [{"step": i, "accuracy": 0.5} for i in range(1, 601)]
    short = [{"step": i, "accuracy": 0.5} for i in range(1, 101)]
    fig = emergence_curves({"world 1": [long], "world 2": [short]}, keys=["accuracy"], smooth=1)
    [ax] = fig.axes
    ends = sorted(max(line.get_xdata()) for line in ax.lines)
    assert ends == pytest.approx([100, 100])  # both runs span the whole axis
    assert "%" in ax.get_xlabel()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["world 1, 600 steps (1 seed)", "world 2, 100 steps (1 seed)"]
    # Runs of similar length keep their steps.
    fig = emergence_curves({"a": [long[:80]], "b": [short]}, keys=["accuracy"], smooth=1)
    assert fig.axes[0].get_xlabel() == "GRPO step"
