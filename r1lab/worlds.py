"""The course's two Countdown worlds: one name for everything that differs between them.

* ``countdown`` (world 1, the course's main task): 3 numbers, about 9 candidate chains, a
  first guess a 1 M model can learn. Cold-start traces check every attempt with a bare
  ``ok``/``no`` and half of them retry. RL sharpens the first guess.
* ``search`` (world 2): 4 numbers, about 24 candidate chains of which exactly one reaches
  the target, so a blind guess is right about 1 time in 20; every value on the way stays
  at most 99, so each step is arithmetic the model does reliably. Checking is cheap by
  construction: an attempt writes its result beside the target (``33 vs 17 no``), a
  comparison the base model's corpus teaches. Most cold-start traces answer at sight;
  a minority search (compute, check, "wait", the next chain) until the check says ``ok``.

A world names its task spec, its held-out file, its checkpoint folders, the pretraining
corpus mix and the cold start's trace style. Everything downstream (pretraining, the
cold start, RL, the emergence study) takes a world instead of repeating these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from r1lab.config import RunConfig
from r1lab.tasks.countdown import CountdownSpec


@dataclass(frozen=True)
class World:
    """What makes a Countdown world: the task, its files and how its models are taught."""

    name: str
    spec: CountdownSpec
    eval_name: str  # the held-out file data/eval/<eval_name>.jsonl
    base_dir: str  # data/checkpoints/<base_dir>
    sft_dir: str  # data/checkpoints/<sft_dir>
    # Share of each kind of pretraining document (r1lab.data.CORPUS_KINDS).
    corpus_mix: dict[str, float] = field(default_factory=dict)
    trace_style: str = "retry"  # retry (world 1) | search (world 2): r1lab.data traces
    search_rate: float = 0.0  # search style: share of cold-start traces that search
    # search style: how many items a search tries before it gives up (drawn per trace)
    patience: tuple[int, int] = (2, 10)
    max_new_tokens: int = RunConfig.max_new_tokens  # completion budget: RL, held-out sampling
    max_positions: int = 512  # the model's context (positions) when pretrained

    def __post_init__(self) -> None:
        if self.trace_style not in TRACE_STYLES:
            raise ValueError(
                f"trace_style must be one of {', '.join(TRACE_STYLES)} (got {self.trace_style!r})"
            )
        if not 0.0 <= self.search_rate <= 1.0:
            raise ValueError(f"search_rate must be between 0 and 1 (got {self.search_rate})")
        low, high = self.patience
        if not 1 <= low <= high <= 64:
            raise ValueError(f"patience must be 1 ≤ low ≤ high ≤ 64 (got {self.patience})")


TRACE_STYLES = ("retry", "search")

COUNTDOWN = World(
    name="countdown",
    spec=CountdownSpec(),
    eval_name="countdown",
    base_dir="base",
    sft_dir="sft",
    corpus_mix={"fact": 0.25, "chain": 0.15, "value": 0.1, "check": 0.5},
)

SEARCH = World(
    name="search",
    spec=CountdownSpec(n_numbers=4, max_value=99, min_target=10, unique_target=True),
    eval_name="countdown_search",
    base_dir="search-base",
    sft_dir="search-sft",
    corpus_mix={
        "fact": 0.25,
        "chain": 0.12,
        "value": 0.08,
        "compare": 0.12,
        "check": 0.21,
        "chat_arithmetic": 0.1,
        "chat_numbers": 0.12,
    },
    trace_style="search",
    search_rate=0.15,
    patience=(2, 48),
    max_new_tokens=1024,
    max_positions=1088,
)

WORLDS: dict[str, World] = {w.name: w for w in (COUNTDOWN, SEARCH)}


def get_world(name: str | World) -> World:
    """The world called ``name`` (a :class:`World` is returned as it is)."""
    if isinstance(name, World):
        return name
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}: choose one of {', '.join(WORLDS)}")
    return WORLDS[name]
