"""The pretraining corpus and the base model's training loop."""

import re
from fractions import Fraction

import pytest
import torch

from r1lab.data import CORPUS_KINDS, corpus_document, pretraining_corpus
from r1lab.pretrain import PretrainConfig, learning_rate_at, pack_corpus, pretrain
from r1lab.tasks.countdown import CountdownProblem, CountdownSpec
from r1lab.tasks.expressions import apply
from r1lab.tasks.splits import split_of
from r1lab.worlds import COUNTDOWN

STEP = re.compile(r"(\d+)([-+*/])(\d+)=(\d+)")
CHECK = re.compile(r"use ([\d ]+) to make (\d+): (.*) (ok|no)")


@pytest.fixture(scope="module")
def corpus():
    return pretraining_corpus(3000, seed=0)


def test_corpus_never_shows_the_format_or_a_chat_turn(corpus):
    for text in corpus["text"]:
        assert "<" not in text and ">" not in text and "think" not in text, text
        assert "answer" not in text and "|" not in text


def test_corpus_has_every_kind_and_is_seeded(corpus):
    assert set(corpus["kind"]) == set(COUNTDOWN.corpus_mix) <= set(CORPUS_KINDS)
    again = pretraining_corpus(3000, seed=0)
    assert again["text"] == corpus["text"]
    assert pretraining_corpus(3000, seed=1)["text"] != corpus["text"]


def test_every_calculation_in_the_corpus_is_right(corpus):
    n_steps = 0
    for text in corpus["text"]:
        for a, op, b, result in STEP.findall(text):
            assert apply(op, Fraction(int(a)), Fraction(int(b))) == int(result), text
            n_steps += 1
    assert n_steps > 3000


def test_checks_say_ok_exactly_when_the_result_is_wanted(corpus):
    verdicts = {"ok": 0, "no": 0}
    for text in corpus["text"]:
        match = CHECK.fullmatch(text)
        if match is None:
            continue
        wanted, steps, verdict = int(match[2]), match[3], match[4]
        last = int(STEP.findall(steps)[-1][3])
        assert verdict == ("ok" if last == wanted else "no"), text
        verdicts[verdict] += 1
    # Both verdicts are common: a model that always says "ok" learns nothing.
    assert min(verdicts.values()) > 0.3 * sum(verdicts.values())


def test_checks_never_pair_a_held_out_problem_with_its_numbers(corpus):
    checks = 0
    for text in corpus["text"]:
        match = CHECK.fullmatch(text)
        if match:
            numbers = tuple(int(n) for n in match[1].split())
            steps = STEP.findall(match[3])
            # The attempt uses the listed numbers, in order.
            assert [int(steps[0][0]), int(steps[0][2]), *(int(s[2]) for s in steps[1:])] == [
                *numbers
            ]
            assert split_of(CountdownProblem(numbers, int(match[2])).key()) == "train", text
            checks += 1
    assert checks > 1000


def test_bad_corpus_requests_explain_themselves():
    import random

    with pytest.raises(ValueError, match="kind must be one of"):
        corpus_document("poem", random.Random(0), CountdownSpec())
    with pytest.raises(ValueError, match="n must be"):
        pretraining_corpus(0, seed=0)


def test_packing_wraps_documents_and_cuts_full_blocks(tokenizer):
    blocks = pack_corpus(["1+2=3", "4*5=20"], tokenizer, block_size=4)
    ids = blocks.flatten().tolist()
    assert blocks.shape == (3, 4)  # 7 + 8 tokens = 15, three full blocks of 4
    assert ids[0] == tokenizer.bos_token_id and ids[6] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[1:6]) == "1+2=3"
    with pytest.raises(ValueError, match="fewer than one block"):
        pack_corpus(["1"], tokenizer, block_size=64)


def test_learning_rate_warms_up_then_decays():
    cfg = PretrainConfig(steps=100, warmup_steps=10, learning_rate=1e-3)
    rates = [learning_rate_at(s, cfg) for s in range(100)]
    assert rates[0] < rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert rates[-1] == pytest.approx(1e-4, rel=0.05)


def test_bad_settings_explain_themselves():
    with pytest.raises(ValueError, match="preset must be one of"):
        PretrainConfig(preset="huge")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        PretrainConfig(steps=0)


SMALL = PretrainConfig(corpus_docs=300, steps=6, batch_size=4, block_size=32, checkpoint_every=3)


def test_pretraining_lowers_the_loss_and_is_deterministic():
    cfg = PretrainConfig(corpus_docs=300, steps=30, batch_size=8, block_size=32)
    seen = []
    model, _, summary = pretrain(cfg, device="cpu", progress=False, on_step=seen.append)
    assert [m["step"] for m in seen] == list(range(1, 31))
    assert seen[-1]["loss"] < seen[0]["loss"] - 0.5
    assert summary["tokens_seen"] == 30 * 8 * 32
    again, _, _ = pretrain(cfg, device="cpu", progress=False)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


class Stop(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    straight, _, _ = pretrain(SMALL, device="cpu", progress=False, work_dir=tmp_path / "a")

    def crash_after_four(metrics):
        if metrics["step"] == 4:
            raise Stop

    with pytest.raises(Stop):
        pretrain(
            SMALL, device="cpu", progress=False, work_dir=tmp_path / "b", on_step=crash_after_four
        )
    resumed, _, summary = pretrain(SMALL, device="cpu", progress=False, work_dir=tmp_path / "b")
    assert summary["resumed_from_step"] == 3  # the last checkpoint before the crash
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_state_from_other_settings_is_refused(tmp_path):
    pretrain(SMALL, device="cpu", progress=False, work_dir=tmp_path)
    other = PretrainConfig(**{**SMALL.to_dict(), "learning_rate": 1e-4})
    with pytest.raises(ValueError, match="different settings"):
        pretrain(other, device="cpu", progress=False, work_dir=tmp_path)
