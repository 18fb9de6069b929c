import itertools
import json
import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from r1lab import decoders
from r1lab.data import load_eval
from r1lab.decoders import LeanDecoder, TransformersDecoder, lean_unsupported, make_decoder
from r1lab.heldout import EvalResult, evaluate, greedy_accuracy, pass_at_k, pass_at_k_curve
from r1lab.models import create_model, load_shipped
from r1lab.rewards import arithmetic_reward
from r1lab.rollouts import (
    Rollouts,
    completion_logprobs,
    sample,
    top_p_filter,
)
from r1lab.worlds import WORLDS

# Prompts of different lengths, so the batch really is left-padded.
PROMPTS = ["use 9 8 7 to make 55", "hi", "compute 16*20*5 please, then stop"]


@pytest.fixture(scope="module")
def model(tokenizer):
    return create_model("tiny", tokenizer, seed=0).eval()


@pytest.fixture(scope="module")
def lively(tokenizer):
    """A tiny model with larger random weights: untrained, but its greedy text varies."""
    model = create_model("tiny", tokenizer, seed=0).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


def bigram_model(tokenizer, transitions: dict[str, str | list[str]]):
    """A real Llama whose next token depends only on the current one, with certainty.

    Layers are silenced (their output projections zeroed), embeddings are one-hot, and an
    untied lm_head holds the transition table: ``transitions[a]`` is the next token after
    ``a`` (a list: equally likely choices). Other tokens are followed by ``</s>``.
    """
    model = create_model("tiny", tokenizer, seed=0).eval()
    vocab, hidden = model.config.vocab_size, model.config.hidden_size
    table = torch.zeros(vocab, hidden)
    table[tokenizer.eos_token_id, :vocab] = 30.0
    for current, following in transitions.items():
        column = tokenizer.convert_tokens_to_ids(current)
        table[:, column] = 0.0
        for token in [following] if isinstance(following, str) else following:
            table[tokenizer.convert_tokens_to_ids(token), column] = 30.0
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.eye(vocab, hidden))
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    model.lm_head.weight = torch.nn.Parameter(table)
    return model


def chain(text: str) -> dict[str, str]:
    """Transitions that make the model answer ``text`` (distinct tokens) then stop."""
    tokens = ["<|assistant|>", *_tokens(text)]
    return dict(itertools.pairwise(tokens))


def _tokens(text: str) -> list[str]:
    tags = ("<think>", "</think>", "<answer>", "</answer>", "</s>")
    out = []
    while text:
        tag = next((t for t in tags if text.startswith(t)), None)
        out.append(tag or text[0])
        text = text[len(tag or text[0]) :]
    return out


def templated(tokenizer, prompts):
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]


# ---------------------------------------------------------------------------- sample


def test_shapes_masks_and_padding(model, tokenizer):
    r = sample(model, tokenizer, PROMPTS, num_generations=3, max_new_tokens=12, seed=1)
    assert isinstance(r, Rollouts)
    n = len(PROMPTS) * 3
    assert len(r) == n and r.num_prompts == len(PROMPTS) and r.group_size == 3
    assert r.prompt_ids.shape == r.prompt_mask.shape and r.prompt_ids.shape[0] == n
    assert r.completion_ids.shape == r.completion_mask.shape == r.logprobs.shape
    assert r.completion_ids.shape[0] == n and r.completion_ids.shape[1] <= 12
    assert r.truncated.shape == (n,) and r.truncated.dtype == torch.bool
    for t in (r.prompt_ids, r.completion_ids, r.logprobs, r.truncated):
        assert t.device.type == "cpu"
    pad = tokenizer.pad_token_id
    # Prompts are left-padded: the mask never goes from 1 back to 0 along a row.
    assert (r.prompt_mask.diff(dim=1) >= 0).all()
    assert (r.prompt_ids[r.prompt_mask == 0] == pad).all()
    assert r.prompt_mask[:, -1].all()
    # Completions are right-padded: the mask never goes from 0 back to 1.
    assert (r.completion_mask.diff(dim=1) <= 0).all()
    assert (r.completion_ids[r.completion_mask == 0] == pad).all()
    assert (r.logprobs[r.completion_mask == 0] == 0).all()
    assert (r.logprobs[r.completion_mask == 1] <= 0).all()
    assert torch.equal(r.lengths, r.completion_mask.sum(dim=1))
    stops = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("</answer>")}
    rows = zip(r.completion_ids.tolist(), r.lengths.tolist(), r.truncated.tolist(), strict=True)
    for row, length, cut in rows:
        real = row[:length]
        # A row stops exactly at its first stop token, or runs to max_new_tokens.
        assert not stops & set(real[:-1])
        assert cut == (real[-1] not in stops) and (not cut or length == 12)
    decoded = [
        tokenizer.decode(row[:length], skip_special_tokens=True)
        for row, length in zip(r.completion_ids.tolist(), r.lengths.tolist(), strict=True)
    ]
    assert r.texts == decoded


def test_rows_are_grouped_by_prompt(model, tokenizer):
    r = sample(model, tokenizer, PROMPTS, num_generations=4, max_new_tokens=4)
    assert r.prompts == PROMPTS
    expected = tokenizer(templated(tokenizer, PROMPTS), add_special_tokens=False)["input_ids"]
    for i, ids in enumerate(expected):
        for row in range(i * 4, i * 4 + 4):
            assert r.prompt_ids[row][r.prompt_mask[row].bool()].tolist() == ids
    assert r.groups(r.completion_ids).shape == (3, 4, r.completion_ids.shape[1])
    assert r.groups() == [r.texts[i : i + 4] for i in (0, 4, 8)]
    assert r.groups(list(range(12)))[2] == [8, 9, 10, 11]
    with pytest.raises(ValueError, match="one entry per row \\(12\\), got 5"):
        r.groups([0] * 5)


def test_chat_messages_and_plain_text_give_the_same_rollouts(model, tokenizer):
    messages = [[{"role": "user", "content": p}] for p in PROMPTS]
    a = sample(model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=8, seed=3)
    b = sample(model, tokenizer, messages, num_generations=2, max_new_tokens=8, seed=3)
    assert torch.equal(a.completion_ids, b.completion_ids) and a.texts == b.texts
    assert b.prompts == PROMPTS


def test_a_row_stops_right_after_eos(tokenizer):
    model = bigram_model(tokenizer, chain("ab</s>"))
    r = sample(model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=10)
    assert r.texts == ["ab"] * 6  # EOS is in the ids, not the text
    assert r.completion_ids.shape[1] == 3  # the loop ends when every row is done
    assert r.completion_ids[0].tolist() == tokenizer.convert_tokens_to_ids(["a", "b", "</s>"])
    assert r.lengths.tolist() == [3] * 6 and not r.truncated.any()
    # Certain tokens have log-prob 0.
    assert torch.allclose(r.logprobs, torch.zeros_like(r.logprobs), atol=1e-6)


def test_a_row_stops_right_after_answer_close_unless_told_not_to(tokenizer):
    model = bigram_model(tokenizer, chain("<answer>7</answer>xy</s>"))
    r = sample(model, tokenizer, ["hi"], num_generations=1, max_new_tokens=20)
    assert r.texts == ["<answer>7</answer>"] and r.lengths.tolist() == [3]
    r = sample(model, tokenizer, ["hi"], num_generations=1, max_new_tokens=20, stop_at_answer=False)
    assert r.texts == ["<answer>7</answer>xy"] and r.lengths.tolist() == [6]


def test_rows_stop_independently_and_logprobs_are_exact(tokenizer):
    # After <|assistant|>, "a" and "b" are equally likely; "a" ends at once, "b" goes on.
    model = bigram_model(tokenizer, {"<|assistant|>": ["a", "b"], "a": "</s>", "b": "c"})
    r = sample(model, tokenizer, ["hi"], num_generations=32, max_new_tokens=8, seed=0)
    assert set(r.texts) == {"a", "bc"}
    assert r.lengths.tolist() == [2 if t == "a" else 3 for t in r.texts]
    assert r.completion_ids.shape[1] == 3
    assert torch.allclose(r.logprobs[:, 0], torch.full((32,), math.log(0.5)), atol=1e-5)
    assert torch.allclose(r.logprobs[:, 1:], torch.zeros(32, 2), atol=1e-5)


def test_truncated_rows_are_flagged(tokenizer):
    model = bigram_model(tokenizer, chain("abc</s>"))
    short = sample(model, tokenizer, ["hi"], num_generations=2, max_new_tokens=2)
    assert short.texts == ["ab", "ab"] and short.truncated.all()
    assert short.completion_mask.tolist() == [[1, 1], [1, 1]]
    # Stopping on the very last allowed step is not truncation.
    exact = sample(model, tokenizer, ["hi"], num_generations=2, max_new_tokens=4)
    assert exact.lengths.tolist() == [4, 4] and not exact.truncated.any()


def test_same_seed_same_rollouts_other_seed_differs(lively, tokenizer):
    def run(seed):
        return sample(lively, tokenizer, PROMPTS, num_generations=4, max_new_tokens=16, seed=seed)

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.completion_ids, b.completion_ids) and a.texts == b.texts
    assert torch.equal(a.logprobs, b.logprobs)
    assert not torch.equal(a.completion_ids[:, :8], c.completion_ids[:, :8])
    # The G samples of one prompt are not copies of each other.
    assert len(set(a.texts[:4])) > 1


@pytest.mark.parametrize("stop_at_answer", [False, True])
def test_greedy_matches_generate_token_for_token(lively, tokenizer, stop_at_answer):
    stops = [tokenizer.eos_token_id]
    if stop_at_answer:
        stops.append(tokenizer.convert_tokens_to_ids("</answer>"))
    r = sample(
        lively,
        tokenizer,
        PROMPTS,
        num_generations=1,
        max_new_tokens=40,
        temperature=0.0,
        stop_at_answer=stop_at_answer,
    )
    batch = tokenizer(templated(tokenizer, PROMPTS), add_special_tokens=False, padding=True)
    ids, mask = torch.tensor(batch["input_ids"]), torch.tensor(batch["attention_mask"])
    assert mask[:, 0].tolist().count(0) >= 1  # some prompts are padded
    with torch.no_grad():
        out = lively.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=False,
            max_new_tokens=40,
            eos_token_id=stops,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[:, ids.shape[1] :]
    assert torch.equal(r.prompt_ids, ids)
    for i, length in enumerate(r.lengths.tolist()):
        assert r.completion_ids[i, :length].tolist() == new[i, :length].tolist()
        assert (new[i, length:] == tokenizer.pad_token_id).all()
    assert len(set(r.texts)) == len(PROMPTS)  # the comparison is not trivial


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 0.9), (1.3, 1.0), (0.0, 1.0)])
def test_recorded_logprobs_match_a_single_forward_pass(lively, tokenizer, temperature, top_p):
    r = sample(
        lively,
        tokenizer,
        PROMPTS,
        num_generations=4,
        max_new_tokens=24,
        temperature=temperature,
        top_p=top_p,
        seed=5,
    )
    recomputed = completion_logprobs(
        lively, r.prompt_ids, r.prompt_mask, r.completion_ids, r.completion_mask, temperature
    )
    assert recomputed.shape == r.logprobs.shape
    assert torch.allclose(recomputed, r.logprobs, atol=1e-4)
    assert (r.logprobs[r.completion_mask.bool()] < 0).any()  # not all certain
    assert len(set(r.lengths.tolist())) > 1  # rows left the batch at different steps


def test_completion_logprobs_carry_gradients(lively, tokenizer):
    r = sample(lively, tokenizer, PROMPTS[:1], num_generations=2, max_new_tokens=6)
    logp = completion_logprobs(
        lively, r.prompt_ids, r.prompt_mask, r.completion_ids, r.completion_mask
    )
    assert logp.requires_grad
    logp.sum().backward()
    assert lively.lm_head.weight.grad is not None
    lively.zero_grad(set_to_none=True)
    with pytest.raises(ValueError, match="same shapes"):
        completion_logprobs(
            lively, r.prompt_ids, r.prompt_mask[:, 1:], r.completion_ids, r.completion_mask
        )


def test_tiny_top_p_is_greedy(lively, tokenizer):
    kwargs = dict(num_generations=2, max_new_tokens=24, seed=7)
    greedy = sample(lively, tokenizer, PROMPTS, temperature=0.0, **kwargs)
    nucleus = sample(lively, tokenizer, PROMPTS, temperature=1.0, top_p=1e-6, **kwargs)
    assert torch.equal(greedy.completion_ids, nucleus.completion_ids)


def test_top_p_filter_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.1, 0.5, 0.3, 0.1]])
    assert torch.equal(top_p_filter(probs, 0.5), torch.tensor([[0.0, 0.5, 0.0, 0.0]]))
    assert torch.equal(top_p_filter(probs, 0.6), torch.tensor([[0.0, 0.5, 0.3, 0.0]]))
    assert torch.equal(top_p_filter(probs, 1.0), probs)


def test_chunks_give_the_same_greedy_rollouts(lively, tokenizer):
    kwargs = dict(num_generations=3, max_new_tokens=20, temperature=0.0)
    whole = sample(lively, tokenizer, PROMPTS, batch_size=64, **kwargs)
    chunked = sample(lively, tokenizer, PROMPTS, batch_size=2, progress=True, **kwargs)
    assert torch.equal(whole.completion_ids, chunked.completion_ids)
    assert torch.equal(whole.prompt_ids, chunked.prompt_ids)
    assert whole.texts == chunked.texts


def test_training_mode_is_restored(tokenizer):
    model = create_model("tiny", tokenizer, seed=0).train()
    sample(model, tokenizer, ["hi"], num_generations=1, max_new_tokens=2)
    assert model.training
    model.eval()
    sample(model, tokenizer, ["hi"], num_generations=1, max_new_tokens=2)
    assert not model.training


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_generations=0), "num_generations must be an integer ≥ 1 \\(got 0\\)"),
        (dict(max_new_tokens=0), "max_new_tokens must be an integer ≥ 1 \\(got 0\\)"),
        (dict(batch_size=0), "batch_size must be an integer ≥ 1 \\(got 0\\)"),
        (dict(temperature=-0.5), "temperature must be a finite number ≥ 0 \\(got -0.5\\)"),
        (dict(top_p=0.0), "top_p must be in \\(0, 1\\] \\(got 0.0\\)"),
        (dict(top_p=1.5), "top_p must be in \\(0, 1\\] \\(got 1.5\\)"),
        (dict(seed=-1), "seed must be a non-negative integer \\(got -1\\)"),
        (dict(prompts=[]), "prompts is empty"),
        (dict(prompts="hi"), "list of strings or of chat-message lists \\(got str\\)"),
        (dict(prompts=[["hi"]]), "prompts\\[0\\] must be a string or a non-empty list"),
        (dict(prompts=["hi", "Use 9 8 7"]), "prompts\\[1\\]: .*outside the vocabulary.*'U'"),
        (dict(prompts=[[{"role": "user", "content": "café"}]]), "prompts\\[0\\]: .*'é'"),
    ],
)
def test_bad_arguments_are_explained(model, tokenizer, kwargs, message):
    kwargs = {"prompts": ["hi"], **kwargs}
    with pytest.raises(ValueError, match=message):
        sample(model, tokenizer, kwargs.pop("prompts"), **kwargs)


# ---------------------------------------------------------------------------- the lean decoder


def assert_same_rollouts(lean, reference):
    """Token for token the same completions; log-probs equal up to float rounding."""
    assert torch.equal(lean.completion_ids, reference.completion_ids)
    assert torch.equal(lean.completion_mask, reference.completion_mask)
    assert torch.equal(lean.truncated, reference.truncated)
    assert lean.texts == reference.texts
    assert torch.allclose(lean.logprobs, reference.logprobs, atol=1e-4, rtol=0)


@pytest.fixture(scope="module", params=[w.name for w in WORLDS.values()])
def shipped(request):
    """(model, tokenizer, prompts) of a world's shipped cold start, on the CPU. The prompts
    are held-out problems plus a shorter one, so the batch is left-padded."""
    world = WORLDS[request.param]
    model, tokenizer = load_shipped(world.sft_dir, device="cpu")
    prompts = [row["prompt"] for row in load_eval(world.eval_name, 5)]
    return model, tokenizer, [*prompts, "use 3 4 to make 7"]


def test_the_lean_decoder_covers_the_shipped_models(shipped):
    model = shipped[0]
    assert lean_unsupported(model) is None
    assert isinstance(make_decoder(model), LeanDecoder)
    assert isinstance(make_decoder(model, lean=False), TransformersDecoder)


@pytest.mark.parametrize(
    ("temperature", "top_p", "seed"), [(1.0, 1.0, 0), (1.0, 1.0, 3), (0.0, 1.0, 0), (0.8, 0.9, 1)]
)
def test_lean_sampling_gives_the_reference_tokens_on_the_shipped_models(
    shipped, temperature, top_p, seed
):
    model, tokenizer, prompts = shipped
    kwargs = dict(num_generations=4, max_new_tokens=40, temperature=temperature, top_p=top_p)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lean = sample(model, tokenizer, prompts, seed=seed, **kwargs)
    reference = sample(model, tokenizer, prompts, seed=seed, lean=False, **kwargs)
    assert_same_rollouts(lean, reference)
    # The comparison covers left padding and rows that leave the batch at different steps.
    assert (lean.prompt_mask == 0).any()
    assert len(set(lean.lengths.tolist())) > 1
    if temperature > 0:
        assert lean.truncated.any() and not lean.truncated.all()
    # The model is read, never changed.
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_lean_sampling_in_chunks_gives_the_reference_tokens(shipped):
    model, tokenizer, prompts = shipped
    kwargs = dict(num_generations=3, max_new_tokens=30, seed=2, batch_size=5)
    assert_same_rollouts(
        sample(model, tokenizer, prompts, **kwargs),
        sample(model, tokenizer, prompts, lean=False, **kwargs),
    )


@pytest.mark.parametrize("dead_share", [0.0, 0.5, 1.0])
def test_dropping_rows_at_once_or_lazily_gives_the_same_tokens(shipped, monkeypatch, dead_share):
    """0: the cache is compacted whenever a row stops (as DynamicCache does); 1: never, the
    stopped rows are computed to the end and ignored."""
    model, tokenizer, prompts = shipped
    kwargs = dict(num_generations=4, max_new_tokens=40, seed=0)
    reference = sample(model, tokenizer, prompts, lean=False, **kwargs)
    compactions = []
    compact = LeanDecoder._compact

    def counted(self, live):
        compactions.append(len(live))
        compact(self, live)

    monkeypatch.setattr(decoders, "COMPACT_WHEN_DEAD", dead_share)
    monkeypatch.setattr(LeanDecoder, "_compact", counted)
    assert_same_rollouts(sample(model, tokenizer, prompts, **kwargs), reference)
    if dead_share == 1.0:
        assert compactions == []
    if dead_share == 0.0:  # rows stop at several steps, each a compaction
        assert len(compactions) > 1 and compactions == sorted(compactions, reverse=True)


def test_lean_sampling_covers_grouped_query_attention(tokenizer):
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.normal_(0, 0.15)
    assert lean_unsupported(model) is None
    kwargs = dict(num_generations=3, max_new_tokens=24, seed=4)
    lean = sample(model, tokenizer, PROMPTS, **kwargs)
    assert_same_rollouts(lean, sample(model, tokenizer, PROMPTS, lean=False, **kwargs))
    assert len(set(lean.lengths.tolist())) > 1


def _biased_llama(tokenizer):
    config = create_model("tiny", tokenizer).config
    config.attention_bias = True
    return LlamaForCausalLM(config)


def _qwen2(tokenizer):
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return Qwen2ForCausalLM(config)


def _hooked_llama(tokenizer):
    model = create_model("tiny", tokenizer)
    model.model.layers[0].mlp.register_forward_hook(lambda module, args, out: out * 0.5)
    return model


def _eager_llama(tokenizer):
    model = create_model("tiny", tokenizer)
    model.config._attn_implementation = "eager"
    return model


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (_biased_llama, "attention_bias is True"),
        (_qwen2, "a Qwen2ForCausalLM, not a LlamaForCausalLM"),
        (_hooked_llama, "module model.layers.0.mlp has forward hooks"),
        (_eager_llama, "attention implementation is 'eager'"),
        (lambda tok: create_model("tiny", tok).to(torch.float64), "float64"),
    ],
)
def test_a_model_the_lean_decoder_does_not_cover_is_decoded_by_the_reference(
    tokenizer, build, reason
):
    torch.manual_seed(0)
    model = build(tokenizer).eval()
    assert reason in lean_unsupported(model)
    assert isinstance(make_decoder(model), TransformersDecoder)
    with pytest.raises(ValueError, match="cannot decode this model"):
        LeanDecoder(model)
    kwargs = dict(num_generations=2, max_new_tokens=12, seed=0)
    lean = sample(model, tokenizer, PROMPTS, **kwargs)
    reference = sample(model, tokenizer, PROMPTS, lean=False, **kwargs)
    assert torch.equal(lean.completion_ids, reference.completion_ids)
    assert torch.equal(lean.logprobs, reference.logprobs)  # the very same computation


def test_held_out_scores_of_the_search_cold_start_are_the_same_with_the_reference(monkeypatch):
    from r1lab.heldout import measure

    world = WORLDS["search"]
    model, tokenizer = load_shipped(world.sft_dir, device="cpu")
    rows = list(load_eval(world.eval_name, 3))
    options = dict(num_samples=4, max_new_tokens=160, search=True, truncated=True)
    lean = measure(model, tokenizer, rows, **options)
    monkeypatch.setattr("r1lab.rollouts.make_decoder", lambda m, lean: TransformersDecoder(m))
    assert measure(model, tokenizer, rows, **options) == lean


# ---------------------------------------------------------------------------- pass@k


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of the k-subsets of n samples (the first c correct) holding a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_pass_at_k_equals_enumeration_of_subsets():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(
                    brute_force_pass_at_k(n, c, k), abs=1e-12
                )


def test_pass_at_k_known_values_and_large_n():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 5, 1) == 1.0
    # Huge binomials never appear: C(1000, 500) overflows a float.
    assert pass_at_k(1000, 1, 500) == pytest.approx(0.5)
    assert 0.0 < pass_at_k(1000, 2, 10) < 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 0, 1), "n must be ≥ 1 \\(got 0\\)"),
        ((4, 5, 1), "c must be between 0 and n=4 \\(got 5\\)"),
        ((4, -1, 1), "c must be between 0 and n=4 \\(got -1\\)"),
        ((4, 1, 0), "k must be between 1 and n=4 \\(got 0\\)"),
        ((4, 1, 5), "k must be between 1 and n=4 \\(got 5\\)"),
        ((4.0, 1, 1), "n must be an integer \\(got 4.0\\)"),
        ((4, True, 1), "c must be an integer \\(got True\\)"),
    ],
)
def test_pass_at_k_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        pass_at_k(*args)


def test_pass_at_k_curve_is_the_mean_over_problems():
    curve = pass_at_k_curve([0, 1, 4], n=4, ks=(1, 2, 4))
    assert curve[1] == pytest.approx((0 + 0.25 + 1) / 3)
    assert curve[4] == pytest.approx((0 + 1 + 1) / 3)
    assert list(curve) == [1, 2, 4]
    with pytest.raises(ValueError, match="correct_counts is empty"):
        pass_at_k_curve([], n=4, ks=(1,))


# ---------------------------------------------------------------------------- evaluate


def test_evaluate_untrained_model_on_countdown(model, tokenizer):
    rows = load_eval("countdown", 4, chat=True)
    result = evaluate(model, tokenizer, rows, num_samples=8, max_new_tokens=24)
    assert isinstance(result, EvalResult)
    assert 0.0 <= result.format_rate <= 1.0
    assert list(result.pass_at) == [1, 2, 4, 8]
    values = [result.pass_at[k] for k in (1, 2, 4, 8)]
    assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values)
    assert result.pass1 == result.pass_at[1]
    assert result.num_problems == 4 and [len(t) for t in result.texts] == [8] * 4
    assert [len(r) for r in result.rewards] == [8] * 4
    assert 1 <= result.mean_length <= 24 and 0.0 <= result.truncated_rate <= 1.0
    summary = result.to_dict()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["pass@8"] == result.pass_at[8] and "texts" not in summary


def test_evaluate_scores_a_model_that_solves_one_countdown_problem(tokenizer):
    model = bigram_model(tokenizer, chain("<think>x</think><answer>2+5</answer>"))
    rows = [
        {"prompt": "use 2 5 to make 7", "numbers": [2, 5], "target": 7},
        {"prompt": "use 2 5 to make 10", "numbers": [2, 5], "target": 10},
    ]
    result = evaluate(model, tokenizer, rows, num_samples=4)
    assert result.format_rate == 1.0
    assert result.rewards == [[1.0] * 4, [0.0] * 4]
    assert result.pass_at == {1: 0.5, 2: 0.5, 4: 0.5}
    assert result.texts[0][0] == "<think>x</think><answer>2+5</answer>"
    assert result.mean_length == 8 and result.truncated_rate == 0.0
    assert greedy_accuracy(model, tokenizer, rows) == 0.5


def test_evaluate_with_arithmetic_reward(tokenizer):
    model = bigram_model(tokenizer, chain("<think>ok</think><answer>7</answer>"))
    rows = [
        {"prompt": [{"role": "user", "content": "compute 2+5"}], "answer": 7},
        {"prompt": "compute 1+1", "answer": 2},
        {"prompt": "compute 3+4", "answer": 7},
    ]
    result = evaluate(model, tokenizer, rows, num_samples=2, reward_fn=arithmetic_reward)
    assert result.rewards == [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]
    assert result.pass_at[1] == pytest.approx(2 / 3)
    acc = greedy_accuracy(model, tokenizer, rows, reward_fn=arithmetic_reward)
    assert acc == pytest.approx(2 / 3)
    # Rows from the held-out file work too (an untrained model scores 0).
    eval_rows = load_eval("arithmetic", 3, chat=True)
    result = evaluate(model, tokenizer, eval_rows, num_samples=2, reward_fn=arithmetic_reward)
    assert result.num_problems == 3 and 0.0 <= result.pass1 <= 1.0


def test_evaluate_rejects_bad_arguments(model, tokenizer):
    rows = load_eval("countdown", 2, chat=True)
    with pytest.raises(ValueError, match="each k must be between 1 and num_samples=4 \\(got 8\\)"):
        evaluate(model, tokenizer, rows, num_samples=4, ks=(1, 8))
    with pytest.raises(ValueError, match="num_samples must be an integer ≥ 1 \\(got 0\\)"):
        evaluate(model, tokenizer, rows, num_samples=0)
    with pytest.raises(ValueError, match="problems_or_rows is empty"):
        evaluate(model, tokenizer, [])
    with pytest.raises(ValueError, match="needs a 'prompt'"):
        evaluate(model, tokenizer, [{"numbers": [1, 2], "target": 3}])


def test_a_sliced_dataset_gets_a_clear_error(tokenizer):
    model = create_model("tiny", tokenizer, seed=0)
    rows = load_eval("countdown", 8)
    with pytest.raises(ValueError, match=r"rows.select\(range\(4\)\)"):
        evaluate(model, tokenizer, rows[:4], num_samples=2, max_new_tokens=4)


def test_user_text_reads_the_last_user_message():
    from r1lab.rollouts import user_text

    assert user_text("use 3 4 5 to make 17") == "use 3 4 5 to make 17"
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]  # fmt: skip
    assert user_text(chat) == "c"
    assert user_text([{"role": "system", "content": "only"}]) == "only"
