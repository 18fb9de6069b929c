"""Matplotlib figures used by the notebooks. Each function returns a ``Figure``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure


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
