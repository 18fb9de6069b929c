from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import strategies as st

from r1lab.models import create_model, save
from r1lab.tokenizer import build_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer()


def hub_cache(root: Path, repo_id: str, model_dir: Path) -> Path:
    """``root`` laid out as the Hugging Face cache holds ``repo_id`` after one download,
    with the files of ``model_dir``: what offline hub loading reads (set HF_HUB_CACHE)."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in model_dir.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    return root


# A digit of another script (Arabic-Indic, Devanagari, fullwidth, ...): int() reads it.
other_digit_st = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())


def in_script_of(digit: str, text: str) -> str:
    """``text`` with every ASCII digit written in ``digit``'s script instead."""
    zero = ord(digit) - unicodedata.digit(digit)
    return "".join(chr(zero + int(c)) if "0" <= c <= "9" else c for c in text)


@pytest.fixture(scope="session")
def saved_tiny_model(tmp_path_factory, tokenizer) -> Path:
    """A tiny model + tokenizer written with save_pretrained, as a learner's checkpoint would be."""
    path = tmp_path_factory.mktemp("tiny_model")
    save(create_model("tiny", tokenizer, seed=0), tokenizer, path)
    return path


# ---------------------------------------------------------------- the suite leaves no trace


def _git_status() -> str | None:
    """``git status`` of the checkout (None outside a git checkout)."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STATUS] = _git_status()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No test may change, add or delete a file of the checkout (the shipped runs and
    checkpoints above all): the suite fails if ``git status`` differs at the end."""
    before, after = session.config.stash.get(_STATUS, None), _git_status()
    if before is None or after is None or before == after:
        return
    changed = sorted(set(after.splitlines()) ^ set(before.splitlines()))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("the tests changed the checkout (git status):", red=True)
        for line in changed:
            reporter.write_line(f"  {line}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_STATUS = pytest.StashKey[str | None]()
