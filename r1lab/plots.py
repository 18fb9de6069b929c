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
