"""Which problems are held out for evaluation: a fixed function of the problem itself.

A problem is held out when a hash of its key falls in the bottom ``EVAL_SHARE`` of the
range. Generators only ever emit problems of the split they are asked for, so no seed,
profile or difficulty can put an evaluation problem into training data.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "eval")
EVAL_SHARE = 0.1


def split_of(key: str) -> str:
    """``"eval"`` for about one problem key in ten, ``"train"`` for the rest."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return "eval" if int.from_bytes(digest, "big") < EVAL_SHARE * 2**64 else "train"
