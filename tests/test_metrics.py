"""One registry of measured quantities: every number the course logs or measures has a label
and a kind there, shares are fractions, and tables, figures and panels read it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from r1lab.metrics import METRICS, Metric, is_share, label, metric
from r1lab.paths import SHIPPED_MODELS_DIR, SHIPPED_RUNS_DIR

# What runs and cards store beside the metrics: counters, settings, raw lists.
NOT_METRICS = {"step", "length_hist", "correct_counts", "shown", "settings", "num_problems",
               "num_samples", "temperature"}  # fmt: skip


def _shipped_values() -> Iterator[tuple[str, str, object]]:
    """(where, key, value) for every number the shipped runs and model cards store."""
    for path in sorted(SHIPPED_RUNS_DIR.glob("*/*/*.jsonl")):
        if path.name in ("metrics.jsonl", "heldout.jsonl"):
            for line in path.read_text().splitlines():
                for key, value in json.loads(line).items():
                    yield f"{path.parent.name}/{path.name}", key, value
    for path in sorted(SHIPPED_RUNS_DIR.glob("*/*/eval.json")):
        summary = json.loads(path.read_text())
        for part in ("before", "after", "scores"):
            for key, value in (summary.get(part) or {}).items():
                yield f"{path.parent.name}/eval.json {part}", key, value
    for path in sorted(SHIPPED_MODELS_DIR.glob("*/card.json")):
        for key, value in json.loads(path.read_text())["evaluation"].items():
            yield f"{path.parent.name}/card.json", key, value


def _measured(key: str) -> bool:
    return key not in NOT_METRICS and not key.startswith("rewards/")  # TRL's per-function keys


def test_every_stored_metric_is_in_the_registry():
    stored = {key for _, key, _ in _shipped_values() if _measured(key)}
    missing = sorted(k for k in stored if k not in METRICS and not k.startswith("pass@"))
    assert missing == [], f"add these to r1lab.metrics.METRICS: {missing}"


def test_every_logged_and_measured_key_is_in_the_registry(tokenizer):
    from r1lab.behaviors import data_rates, search_quality, search_rates, step_metrics
    from r1lab.data import load_eval
    from r1lab.heldout import measure
    from r1lab.models import create_model

    row = {"numbers": [3, 4, 5], "target": 17}
    text = "<think>3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok</think><answer>3*4+5</answer>"
    logged = {**step_metrics([text], [row], [30]), **data_rates([text], [row])}
    logged |= search_rates([text], [row]) | search_quality([])
    model = create_model("tiny", tokenizer, seed=0)
    logged |= measure(
        model, tokenizer, list(load_eval("countdown", 2, chat=True)), num_samples=2,
        max_new_tokens=8, truncated=True, distinct=True, behaviors=True, search=True,
        start_model=model,
    )  # fmt: skip
    missing = sorted(k for k in logged if _measured(k) and k not in METRICS
                     and not k.startswith("pass@"))  # fmt: skip
    assert missing == []


def test_shares_are_fractions_in_the_shipped_data():
    outside = [(where, key, value) for where, key, value in _shipped_values()
               if _measured(key) and is_share(key) and value is not None
               and not 0 <= value <= 1]  # fmt: skip
    assert outside[:5] == []


def test_one_label_per_quantity():
    by_label: dict[str, list[str]] = {}
    for key, m in METRICS.items():
        by_label.setdefault(m.label, []).append(key)
    shared = {text: keys for text, keys in by_label.items() if len(keys) > 1}
    # The same count in training batches and held out: two keys, one quantity.
    assert shared == {"share that computes and checks (searches)": ["checked_rate", "search_rate"]}


def test_pass_at_k_unknown_keys_and_formatting():
    assert metric("pass@16") == Metric("pass@16", share=True) and is_share("pass@1")
    assert metric("made_up_rate") == Metric("made_up_rate")  # shown as its own name
    assert label("honest_check_rate").startswith("verdicts matching")
    assert metric("mean_length").unit == "tokens" and metric("kl").unit == "per token"
    assert metric("greedy_accuracy").format(0.4343) == "43.4%"
    assert metric("attempts").format(2.33) == "2.3" and metric("x").format(None) == "–"
    # A small number keeps its digits: a learning rate of 2e-4 is not "0.0".
    assert metric("learning_rate").format(2e-4) == "0.0002"
    assert metric("kl").format(0.0213) == "0.0213" and metric("kl").format(0.0) == "0.0"


def test_tables_figures_and_panels_read_the_registry():
    import matplotlib.pyplot as plt

    from r1lab.display import format_score
    from r1lab.plots import LiveCurves, compare_bars, training_curves

    assert format_score("effective_retry_rate", 0.25) == "25.0%"
    bars = compare_bars({"a": {"greedy_accuracy": 0.4, "format_rate": 0.9}})
    ticks = [t.get_text() for t in bars.axes[0].get_xticklabels()]
    assert ticks == [label("greedy_accuracy"), label("format_rate")]
    rows = [{"step": s, "frac_reward_zero_std": 0.5, "length": 30.0} for s in range(1, 4)]
    curves = training_curves({"run": rows}, keys=("frac_reward_zero_std", "length"), smooth=1)
    share, length = curves.axes
    assert share.get_title() == "zero-advantage groups" and share.get_ylim()[1] == pytest.approx(
        1.04
    )
    assert length.get_title() == label("length") and length.get_ylim()[1] > 30  # tokens
    live = LiveCurves(["checked_rate"])
    assert live.axes[0].get_title() == label("checked_rate")
    plt.close("all")


def test_printed_scores_read_their_labels():
    from r1lab.display import change_text, scores_text

    line = scores_text({"pass@1": 0.258, "greedy_accuracy": 0.39, "mean_length": 46.6})
    assert line == "pass@1 25.8%, greedy accuracy 39.0%, mean length (tokens) 46.6"
    share = change_text("greedy_accuracy", 0.39, 0.625)
    assert share.split() == ["greedy", "accuracy", "39.0%", "→", "62.5%", "(+23.5", "points)"]
    assert change_text("mean_length", 46.6, 33.1).endswith("(-13.5)")
    assert change_text("pass@1", None, 0.5).split()[-1] == "50.0%"  # nothing to subtract
