"""The SFT cold start through trl.SFTTrainer."""

import json

import pytest
import torch

from r1lab.models import create_model
from r1lab.sft import (
    SFTPhase,
    SFTSettings,
    cold_start,
    cold_start_data,
    cold_start_traces,
    phase_data,
)
from r1lab.tasks.countdown import parse_think, think_text


def test_cold_start_data_are_traces_with_rare_retries():
    data = cold_start_data(SFTSettings(examples=400, retry_rate=0.1, seed=0))
    assert len(data) == 400
    completions = [row["completion"][0]["content"] for row in data]
    assert all(c.startswith("<think>") and c.endswith("</answer>") for c in completions)
    retried = sum(len(parse_think(think_text(c))) > 1 for c in completions)
    assert 20 <= retried <= 60  # about 1 in 10


def test_cold_start_trains_on_the_completion_and_reports_each_step(tokenizer):
    model = create_model("tiny", tokenizer, seed=0)
    before = model.model.embed_tokens.weight.detach().clone()
    seen = []
    summary = cold_start(
        model,
        tokenizer,
        SFTSettings(examples=32, epochs=2, batch_size=8),
        device="cpu",
        on_step=seen.append,
        progress=False,
    )
    assert summary["steps"] == 8 and summary["examples"] == 32
    assert [m["step"] for m in seen] == list(range(1, 9))
    assert all(torch.isfinite(torch.tensor(m["loss"])) for m in seen)
    assert seen[-1]["loss"] < seen[0]["loss"]
    assert not torch.equal(before, model.model.embed_tokens.weight)
    assert not model.training


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(examples=0), "examples must be"),
        (dict(examples=5000), "about 1,840 distinct problems"),
        (dict(epochs=0), "epochs must be"),
        (dict(retry_rate=1.5), "retry_rate must be"),
        (dict(learning_rate=0.0), "learning_rate must be"),
        (dict(batch_size=0), "batch_size must be"),
    ],
)
def test_bad_settings_explain_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SFTSettings(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(then=(SFTPhase(examples=0, search_rate=1.0),)), r"then\[0\]\.examples must be"),
        (dict(then=(SFTPhase(examples=8, search_rate=1.0, epochs=0),)), r"then\[0\]\.epochs"),
        (dict(world="countdown", then=(SFTPhase(8, 1.0),)), "only the search world"),
    ],
)
def test_bad_later_passes_explain_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SFTSettings(**{"world": "search", **kwargs})
    with pytest.raises(ValueError, match="search_rate must be"):
        SFTPhase(examples=8, search_rate=1.5)


def test_later_passes_train_on_their_own_traces_and_count_steps_on(tokenizer):
    settings = SFTSettings(
        world="search",
        examples=16,
        epochs=1,
        batch_size=8,
        then=(SFTPhase(examples=16, search_rate=1.0), SFTPhase(examples=8, search_rate=0.0)),
    )
    searches = [
        [" vs " in row["completion"][0]["content"] for row in phase_data(settings, i)]
        for i in (0, 1)
    ]
    assert all(searches[0]) and not any(searches[1])
    first = [row["prompt"] for row in cold_start_data(settings)]
    assert [row["prompt"] for row in phase_data(settings, 0)] != first  # fresh problems
    model = create_model("tiny", tokenizer, seed=0)
    seen = []
    summary = cold_start(
        model, tokenizer, settings, device="cpu", on_step=seen.append, progress=False
    )
    assert [p["examples"] for p in summary["passes"]] == [16, 16, 8]
    assert [p["steps"] for p in summary["passes"]] == [2, 2, 1]
    assert summary["steps"] == 5 and summary["examples"] == 40
    assert [m["step"] for m in seen] == [1, 2, 3, 4, 5]
    assert len(summary["loss_curve"]) == 5
    # The settings as a card stores them (JSON) read back as the same settings.
    stored = json.loads(json.dumps(settings.to_dict()))
    assert SFTSettings(**stored) == settings
    every = cold_start_traces(settings)
    assert len(every) == 40 and every[16]["prompt"] == phase_data(settings, 0)[0]["prompt"]


def test_the_loss_covers_the_completion_and_its_end_only(tokenizer, tmp_path):
    from r1lab.sft import make_trainer

    settings = SFTSettings(examples=8, epochs=1, batch_size=8)
    data = cold_start_data(settings)
    model = create_model("tiny", tokenizer, seed=0)
    trainer = make_trainer(model, tokenizer, settings, data, str(tmp_path), device="cpu")
    batch = next(iter(trainer.get_train_dataloader()))
    completions = {row["completion"][0]["content"] for row in data}
    for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        trained = tokenizer.decode(ids[labels != -100])
        assert trained.endswith("</s>") and trained[: -len("</s>")] in completions
        assert "use " not in trained and "<|user|>" not in trained


def test_after_the_cold_start_the_model_computes_what_its_saved_copy_does(tokenizer, tmp_path):
    from r1lab.models import load, save

    model = create_model("tiny", tokenizer, seed=0)
    cold_start(model, tokenizer, SFTSettings(examples=16, epochs=1), device="cpu", progress=False)
    save(model, tokenizer, tmp_path)
    reloaded, _ = load(tmp_path, device="cpu")
    ids = tokenizer(
        ["<s><|user|>use 1 2 3 to make 6<|assistant|><think>1+2=3"],
        return_tensors="pt",
        add_special_tokens=False,
    )["input_ids"]
    with torch.no_grad():
        # Also causal: a prefix's logits do not depend on what follows it.
        full, prefix = model(input_ids=ids).logits, model(input_ids=ids[:, :10]).logits
        assert torch.allclose(full, reloaded(input_ids=ids).logits, atol=1e-5)
        assert torch.allclose(full[:, :10], prefix, atol=1e-5)


def test_an_example_longer_than_the_model_sees_is_refused_not_cut(tokenizer):
    data = cold_start_data(SFTSettings(examples=8, seed=0))
    long = data.to_list()
    long[5]["completion"] = [
        {"role": "assistant", "content": "<think>" + " wait ".join(["3+4=7 no"] * 80) + "</think>"}
    ]
    from datasets import Dataset

    model = create_model("tiny", tokenizer, seed=0)
    before = model.model.embed_tokens.weight.detach().clone()
    with pytest.raises(ValueError, match="example 5 is .* tokens long, more than the world's 512"):
        cold_start(model, tokenizer, SFTSettings(examples=8), dataset=Dataset.from_list(long))
    assert torch.equal(before, model.model.embed_tokens.weight)  # refused before training


def test_length_grouped_batches_pad_less_and_see_every_example_once(tokenizer, tmp_path):
    from r1lab.sft import make_trainer

    padded = {}
    for grouped in (False, True):
        settings = SFTSettings(
            world="search", examples=400, epochs=1, batch_size=8, group_by_length=grouped
        )
        data = cold_start_data(settings)
        model = create_model("tiny", tokenizer, seed=0)
        trainer = make_trainer(model, tokenizer, settings, data, str(tmp_path), device="cpu")
        batches = list(trainer.get_train_dataloader())
        assert sum(len(b["input_ids"]) for b in batches) == 400
        real = sum(int(b["attention_mask"].sum()) for b in batches)
        padded[grouped] = sum(b["input_ids"].numel() for b in batches) - real
    assert padded[True] < padded[False] / 2
