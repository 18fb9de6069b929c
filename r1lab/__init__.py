"""r1lab: the DeepSeek-R1 recipe in miniature, for learning on a laptop CPU.

The names below load on first use (PEP 562): ``import r1lab`` alone does not import torch
and transformers, so the ``r1lab`` command starts in a fraction of a second and a worker
it launches can check on its launcher before the slow imports (:mod:`r1lab.lifeline`)."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_HOMES = {
    "PROFILES": "r1lab.config",
    "RunConfig": "r1lab.config",
    "build_tokenizer": "r1lab.tokenizer",
    "create_model": "r1lab.models",
    "load": "r1lab.models",
    "pick_device": "r1lab.models",
    "sample_text": "r1lab.models",
    "save": "r1lab.models",
    "set_seed": "r1lab.models",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'r1lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
