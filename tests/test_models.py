import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import LlamaForCausalLM

from r1lab.models import (
    PRESETS,
    available_devices,
    count_parameters,
    create_model,
    load,
    next_token_distribution,
    pick_device,
    sample_text,
    set_seed,
)
from r1lab.paths import SHIPPED_RUNS_DIR
from tests.conftest import hub_cache


@pytest.mark.parametrize(("preset", "low", "high"), [("tiny", 0.8e6, 1.3e6), ("small", 4e6, 6e6)])
def test_preset_sizes(tokenizer, preset, low, high):
    model = create_model(preset, tokenizer)
    assert isinstance(model, LlamaForCausalLM)
    assert low <= count_parameters(model) <= high
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.hidden_size == PRESETS[preset]["hidden_size"]


def test_unknown_preset_is_explained(tokenizer):
    with pytest.raises(ValueError, match="'huge'.*tiny, small"):
        create_model("huge", tokenizer)


def test_same_seed_same_weights_other_seed_differs(tokenizer):
    a, b, c = (create_model("tiny", tokenizer, seed=s) for s in (1, 1, 2))
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_set_seed_rejects_bad_values():
    with pytest.raises(ValueError, match="non-negative integer"):
        set_seed(-1)


def test_auto_device_is_the_first_available():
    devices = available_devices()
    assert devices[-1] == "cpu"
    assert pick_device("auto").type == devices[0]
    assert pick_device("cpu") == torch.device("cpu")


def test_unavailable_or_unknown_device_is_explained():
    with pytest.raises(ValueError, match="tpu"):
        pick_device("tpu")
    missing = [d for d in ("cuda", "mps") if d not in available_devices()]
    for name in missing:
        with pytest.raises(ValueError, match=f"'{name}' is not available.*available: "):
            pick_device(name)


def test_save_writes_safetensors_and_load_round_trips(saved_tiny_model, tokenizer):
    assert (saved_tiny_model / "model.safetensors").stat().st_size < 10 * 2**20
    assert not list(saved_tiny_model.glob("*.bin"))
    model, tok = load(saved_tiny_model, device="cpu")
    reference = create_model("tiny", tokenizer, seed=0)
    ids = torch.tensor([tokenizer.encode("<think>1+2=3</think>")])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reference(ids).logits, atol=1e-6)
    assert tok.get_vocab() == tokenizer.get_vocab()
    assert not model.training


def test_saved_directory_loads_without_r1lab(saved_tiny_model):
    """The Auto classes read the checkpoint in a process that never imports r1lab."""
    script = f"""
import json, sys
from transformers import AutoModelForCausalLM, AutoTokenizer
m = AutoModelForCausalLM.from_pretrained({str(saved_tiny_model)!r})
t = AutoTokenizer.from_pretrained({str(saved_tiny_model)!r})
ids = t.encode("<think>2*3=6</think><answer>2*3</answer>")
print(json.dumps({{
    "r1lab_imported": any(k.split(".")[0] == "r1lab" for k in sys.modules),
    "model": type(m).__name__,
    "decoded": t.decode(ids),
    "n_ids": len(ids),
    "prompt": t.apply_chat_template([{{"role": "user", "content": "hi"}}], tokenize=False,
                                    add_generation_prompt=True),
}}))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=saved_tiny_model,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "r1lab_imported": False,
        "model": "LlamaForCausalLM",
        "decoded": "<think>2*3=6</think><answer>2*3</answer>",
        "n_ids": 4 + len("2*3=6") + len("2*3"),
        "prompt": "<s><|user|>hi<|assistant|>",
    }


def test_load_rejects_a_directory_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load(tmp_path)


def test_load_rejects_something_that_is_neither_path_nor_hub_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="no directory .* not a hub id"):
        load(tmp_path / "missing" / "dir")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="not a hub id"):
        load(tmp_path / "file.txt")


def test_load_explains_a_directory_with_a_model_but_no_tokenizer(tmp_path, tokenizer):
    create_model("tiny", tokenizer).save_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds a model but no tokenizer"):
        load(tmp_path)


@pytest.mark.parametrize(
    "run", ["grpo/r1lab-lesson-seed0", "grpo/trl-lesson-seed0", "emergence/sft-seed0"]
)
def test_load_says_a_run_folder_is_not_a_model_and_what_to_pass(run):
    folder = SHIPPED_RUNS_DIR / run  # written by r1lab grpo / r1lab emergence
    with pytest.raises(FileNotFoundError) as caught:
        load(folder)
    message = str(caught.value)
    assert f"{folder} is an r1lab run folder" in message and "not a model" in message
    assert "data/checkpoints/sft" in message and "hub id" in message


def test_a_model_folder_that_also_holds_a_run_log_still_loads(tmp_path, saved_tiny_model):
    for file in saved_tiny_model.iterdir():
        (tmp_path / file.name).write_bytes(file.read_bytes())
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    model, _ = load(tmp_path, device="cpu")
    assert model.num_parameters() > 0


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_hub_id_offline_fails_with_a_clear_message(tmp_path):
    out = _run_python(
        "from r1lab.models import load\n"
        "try:\n"
        "    load('r1lab-test/definitely-not-cached')\n"
        "except OSError as e:\n"
        "    print('ERROR', e)\n",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path),  # an empty cache: nothing to find
    )
    assert out.returncode == 0, out.stderr
    assert "ERROR could not load 'r1lab-test/definitely-not-cached'" in out.stdout
    assert "there is no directory" in out.stdout
    assert "HF_HUB_OFFLINE is set" in out.stdout and "r1lab.models.save" in out.stdout


def test_hub_loading_path_reads_a_cached_hub_layout(tmp_path, saved_tiny_model):
    """The hub branch of load() works offline once a model is in the local HF cache."""
    hub_cache(tmp_path / "hub", "someone/tiny-r1", saved_tiny_model)
    out = _run_python(
        "from r1lab.models import load\n"
        "m, t = load('someone/tiny-r1', device='cpu')\n"
        "print(type(m).__name__, t.decode(t.encode('<answer>1+2</answer>')))\n",
        HF_HUB_OFFLINE="1",
        HF_HUB_CACHE=str(tmp_path / "hub"),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LlamaForCausalLM <answer>1+2</answer>"


def test_sample_text_is_seeded_and_strips_special_tokens(tokenizer):
    model = create_model("tiny", tokenizer, seed=0)
    a = sample_text(model, tokenizer, "1 2 3", n=3, max_new_tokens=12, seed=4)
    b = sample_text(model, tokenizer, "1 2 3", n=3, max_new_tokens=12, seed=4)
    c = sample_text(model, tokenizer, "1 2 3", n=3, max_new_tokens=12, seed=5)
    assert a == b and a != c
    assert len(a) == 3 and all(len(t) > 0 for t in a)
    assert not any("<pad>" in t or "<|assistant|>" in t for t in a)
    greedy = sample_text(model, tokenizer, "1 2 3", n=2, max_new_tokens=8, temperature=0)
    assert greedy[0] == greedy[1]


def test_sample_text_can_show_special_tokens_and_stops_at_eos(tokenizer):
    model = create_model("tiny", tokenizer, seed=0)
    raw = sample_text(model, tokenizer, "1 2", n=16, max_new_tokens=40, skip_special_tokens=False)
    clean = sample_text(model, tokenizer, "1 2", n=16, max_new_tokens=40)
    for r, c in zip(raw, clean, strict=True):
        assert "</s>" not in r[:-4]  # nothing after the first end of sequence
        assert len(r) >= len(c)
    assert any(r != c for r in raw), "an untrained model samples special tokens somewhere"


def test_sample_text_rejects_bad_arguments(tokenizer):
    model = create_model("tiny", tokenizer)
    with pytest.raises(ValueError, match="n must be"):
        sample_text(model, tokenizer, "x", n=0)
    with pytest.raises(ValueError, match="temperature"):
        sample_text(model, tokenizer, "x", temperature=-1)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        sample_text(model, tokenizer, "Numbers 1 2")


def test_next_token_distribution_names_ids_beyond_the_tokenizer(tokenizer):
    model = create_model("tiny", tokenizer)
    model.resize_token_embeddings(len(tokenizer) + 3)
    tokens, probs = next_token_distribution(model, tokenizer, "1")
    assert len(tokens) == len(probs) == len(tokenizer) + 3
    assert tokens[-1] == f"<id {len(tokenizer) + 2}>"


def test_untrained_next_token_distribution_is_near_uniform(tokenizer):
    model = create_model("tiny", tokenizer, seed=0)
    tokens, probs = next_token_distribution(model, tokenizer, "3 4 5")
    assert len(tokens) == len(probs) == len(tokenizer)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    entropy = -(probs * probs.log()).sum().item()
    assert entropy > 0.95 * torch.log(torch.tensor(float(len(probs)))).item()
