from __future__ import annotations

from pathlib import Path

import pytest

from r1lab.models import create_model, save
from r1lab.tokenizer import build_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="session")
def saved_tiny_model(tmp_path_factory, tokenizer) -> Path:
    """A tiny model + tokenizer written with save_pretrained, as a learner's checkpoint would be."""
    path = tmp_path_factory.mktemp("tiny_model")
    save(create_model("tiny", tokenizer, seed=0), tokenizer, path)
    return path
