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
