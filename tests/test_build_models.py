"""Building the shipped checkpoints, their cards, and the checkpoints in data/."""

import dataclasses
import hashlib
import json
import subprocess
import sys

import pytest

from r1lab.build_models import (
    NAMES,
    BuildSettings,
    EvalSettings,
    build,
    check_targets,
    files_digests,
    format_card,
    weights_digest,
)
from r1lab.models import read_card, shipped_card
from r1lab.paths import SHIPPED_MODELS_DIR
from r1lab.pretrain import PretrainConfig
from r1lab.sft import SFTSettings
from r1lab.worlds import get_world

TINY = BuildSettings(
    pretrain=PretrainConfig(corpus_docs=300, steps=4, batch_size=4, block_size=32),
    sft=SFTSettings(examples=16, epochs=1, batch_size=8),
    evaluation=EvalSettings(n_problems=4, num_samples=8, max_new_tokens=24, probes=8),
)


def _digest(path):
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("checkpoints")
    cards = build(out, TINY, device="cpu", progress=False, log=lambda _: None)
    return out, cards


def test_build_writes_both_checkpoints_with_cards(built):
    out, cards = built
    assert set(cards) == set(NAMES)
    for name in NAMES:
        card = read_card(out / name)
        assert card == json.loads(json.dumps(cards[name]))
        assert (out / name / "model.safetensors").is_file()
        assert card["evaluation"]["settings"]["n_problems"] == 4
        for key in ("format_rate", "pass@1", "pass@8", "greedy_accuracy", "mean_length"):
            assert 0 <= card["evaluation"][key] <= (1 if key != "mean_length" else 24)
        assert [t["target"] for t in card["targets"]] == [t for t, _ in _targets(name)]
    assert cards["sft"]["data"]["cold_start_traces"] == 16
    assert cards["base"]["training"]["steps"] == 4


def _targets(name):
    from r1lab.build_models import TARGETS

    return TARGETS[name]


def test_rebuilding_from_the_same_seed_gives_the_same_weights(built, tmp_path):
    out, _ = built
    again = build(tmp_path, TINY, only="base", device="cpu", progress=False, log=lambda _: None)
    assert _digest(tmp_path / "base") == _digest(out / "base")
    assert again["base"]["evaluation"] == read_card(out / "base")["evaluation"]


def test_targets_are_checked_against_the_numbers():
    good = {"format_rate": 0.99, "pass@1": 0.3, "pass@8": 0.6}
    assert all(t["met"] for t in check_targets("sft", good))
    too_good = {**good, "pass@1": 0.7, "pass@8": 0.9}
    assert [t["met"] for t in check_targets("sft", too_good)] == [True, False, True]
    assert not check_targets("base", {"format_rate": 0.2})[0]["met"]


def test_a_missing_card_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="r1lab checkpoints"):
        read_card(tmp_path)
    with pytest.raises(ValueError, match="only must be one of"):
        build(tmp_path, TINY, only="rl")


# ------------------------------------------------------------------ the shipped checkpoints


@pytest.mark.parametrize("name", NAMES)
def test_shipped_checkpoints_meet_their_targets_and_load_without_r1lab(name):
    path = SHIPPED_MODELS_DIR / name
    card = read_card(path)
    assert all(t["met"] for t in card["targets"]), format_card(card)
    assert card["model"]["parameters"] > 500_000
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 10 * 2**20, f"{path} holds {size / 2**20:.1f} MB; data/ must stay small"
    code = (
        "import sys; from transformers import AutoModelForCausalLM, AutoTokenizer; "
        f"m = AutoModelForCausalLM.from_pretrained({str(path)!r}); "
        f"t = AutoTokenizer.from_pretrained({str(path)!r}); "
        "assert 'r1lab' not in sys.modules; print(type(m).__name__, len(t))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("LlamaForCausalLM")


SEARCH_NAMES = ("search-base", "search-sft")


@pytest.mark.parametrize("name", SEARCH_NAMES)
def test_shipped_search_checkpoints_load_without_r1lab_and_record_their_gates(name):
    path = SHIPPED_MODELS_DIR / name
    card = read_card(path)
    # The card says which gates hold; a missed gate is reported there, not hidden.
    assert card["targets"] == check_targets(name, card["evaluation"])
    assert card["evaluation"]["settings"]["world"] == "search"
    code = (
        "import sys; from transformers import AutoModelForCausalLM; "
        f"m = AutoModelForCausalLM.from_pretrained({str(path)!r}); "
        "assert 'r1lab' not in sys.modules; print(m.config.max_position_embeddings)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(get_world("search").max_positions)


def test_the_search_cold_start_checks_honestly_and_searches_in_a_minority():
    e = shipped_card("search-sft")["evaluation"]
    assert e["honest_check_rate"] >= 0.95
    assert 0.05 <= e["search_rate"] <= 0.40
    assert shipped_card("search-base")["evaluation"]["pass@8"] > 0


@pytest.mark.parametrize("name", NAMES + SEARCH_NAMES)
def test_shipped_cards_describe_the_shipped_weights(name):
    assert shipped_card(name)["weights_sha256"] == weights_digest(SHIPPED_MODELS_DIR / name)
    # Every file of the folder, config and tokenizer too, as a rebuild would record them.
    files = shipped_card(name)["files_sha256"]
    assert files == files_digests(SHIPPED_MODELS_DIR / name)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(files)


def test_the_sft_card_names_its_base():
    assert shipped_card("sft")["base"].endswith("base")


def test_the_search_world_builds_into_its_own_folders_with_its_gates(tmp_path):
    from r1lab.build_models import SEARCH_EVAL, SEARCH_PRETRAIN, SEARCH_SFT

    tiny = BuildSettings(
        pretrain=dataclasses.replace(
            SEARCH_PRETRAIN, corpus_docs=300, steps=3, batch_size=4, block_size=64
        ),
        sft=dataclasses.replace(
            SEARCH_SFT,
            examples=16,
            epochs=1,
            batch_size=8,
            then=tuple(dataclasses.replace(p, examples=8) for p in SEARCH_SFT.then),
        ),
        evaluation=dataclasses.replace(SEARCH_EVAL, n_problems=4, max_new_tokens=24, probes=8),
    )
    cards = build(tmp_path, tiny, device="cpu", progress=False, log=lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "search-base",
        "search-sft",
    ]
    sft = read_card(tmp_path / "search-sft")
    assert sft["name"] == "search-sft" and sft["base"] == "search-base"
    assert sft["built_by"] == "r1lab checkpoints --world search --only sft"
    assert [t["target"] for t in sft["targets"]] == [t for t, _ in _targets("search-sft")]
    for key in ("search_rate", "attempts", "effective_retry_rate", "truncated_rate"):
        assert key in sft["evaluation"]
    assert "search:" in format_card(cards["sft"])
    # Every pass of the cold start is on the card, with its own traces.
    passes = sft["training"]["passes"]
    assert [p["examples"] for p in passes] == [16, 8, 8]
    assert sft["data"]["cold_start_traces"] == 32
    # The search world's models see long contexts: the world's positions.
    config = json.loads((tmp_path / "search-base" / "config.json").read_text())
    assert config["max_position_embeddings"] == get_world("search").max_positions


def test_the_world_one_build_settings_are_unchanged_by_the_search_world():
    assert BuildSettings.with_seed(0) == BuildSettings()
    search = BuildSettings.with_seed(3, "search")
    assert search.world.name == "search" and search.pretrain.seed == search.sft.seed == 3
