"""Which problems are held out for evaluation: a fixed function of the problem itself.

A problem is held out when a hash of its key falls in the bottom ``EVAL_SHARE`` of the
range. Generators only ever emit problems of the split they are asked for, so no seed,
profile or difficulty can put an evaluation problem into training data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol, TypeVar

SPLITS = ("train", "eval")
EVAL_SHARE = 0.1


def split_of(key: str) -> str:
    """``"eval"`` for about one problem key in ten, ``"train"`` for the rest."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return "eval" if int.from_bytes(digest, "big") < EVAL_SHARE * 2**64 else "train"


class _Problem(Protocol):
    def key(self) -> str: ...


P = TypeVar("P", bound=_Problem)


def draw_distinct(n: int, split: str, draw: Callable[[], P | None], what: str) -> list[P]:
    """``n`` distinct problems of ``split`` from repeated calls to ``draw`` (which may
    return None for a rejected candidate), in the order drawn."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} (got {split!r})")
    if n < 0:
        raise ValueError(f"n must be ≥ 0 (got {n})")
    problems: dict[str, P] = {}
    for _ in range(200 * n + 1000):
        if len(problems) == n:
            break
        problem = draw()
        if problem is not None and split_of(problem.key()) == split:
            problems.setdefault(problem.key(), problem)
    if len(problems) < n:
        raise ValueError(
            f"could only find {len(problems)} of {n} distinct {split} problems for {what}: "
            "widen the ranges"
        )
    return list(problems.values())
