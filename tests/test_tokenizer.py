import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers import PreTrainedTokenizerFast

from r1lab.tokenizer import (
    CHARACTERS,
    FORMAT_TAGS,
    UNK,
    build_tokenizer,
    check_text,
    load_tokenizer,
    save_tokenizer,
    unknown_characters,
)

TRACE = "<think>try 3*4=12, 12+5=17, wait, not 20.\n5*4=20 ok</think><answer>(5-3)*4+12</answer>"
TOK = build_tokenizer()  # module-level: hypothesis tests cannot take function fixtures
in_vocab_text = st.lists(st.sampled_from(CHARACTERS + FORMAT_TAGS), max_size=200).map("".join)


def test_is_a_real_fast_tokenizer(tokenizer):
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert len(tokenizer) == len(set(tokenizer.get_vocab().values()))


@pytest.mark.parametrize("tag", FORMAT_TAGS)
def test_format_tags_are_single_tokens_kept_on_decode(tokenizer, tag):
    ids = tokenizer.encode(tag, add_special_tokens=False)
    assert len(ids) == 1
    assert tokenizer.decode(ids, skip_special_tokens=True) == tag


def test_every_character_is_one_token(tokenizer):
    for ch in CHARACTERS:
        ids = tokenizer.encode(ch, add_special_tokens=False)
        assert len(ids) == 1 and ids[0] != tokenizer.unk_token_id, repr(ch)


def test_trace_tokenizes_character_by_character(tokenizer):
    tokens = tokenizer.tokenize(TRACE)
    assert tokens[0] == "<think>" and tokens[-1] == "</answer>"
    assert len(tokens) == len(TRACE) - sum(len(t) - 1 for t in FORMAT_TAGS)


@given(in_vocab_text)
def test_encode_decode_round_trip_is_exact(text):
    tok = TOK
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


@given(in_vocab_text)
def test_batch_padding_is_left_and_masked(text):
    tok = TOK
    batch = tok([text, text + "1+1=2"], padding=True)
    short_ids, short_mask = batch["input_ids"][0], batch["attention_mask"][0]
    pad = len(short_ids) - sum(short_mask)
    assert pad == 5
    assert short_ids[:pad] == [tok.pad_token_id] * pad
    assert short_mask[:pad] == [0] * pad


def test_out_of_vocabulary_characters_become_one_unk_each(tokenizer):
    text = "Wait: 3×4 = ١٢"  # upper case, multiplication sign, Arabic-Indic digits
    tokens = tokenizer.tokenize(text)
    assert len(tokens) == len(text)
    assert tokens.count(UNK) == 4
    assert tokens[1:] == [UNK if ch not in CHARACTERS else ch for ch in text[1:]]
    assert unknown_characters(text) == sorted({"W", "×", "١", "٢"})
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == (
        "<unk>ait: 3<unk>4 = <unk><unk>"
    )


def test_check_text_explains_what_is_outside_the_vocabulary():
    assert check_text(TRACE) == TRACE
    with pytest.raises(ValueError, match=r"1 character\(s\).*'A' \(try text.lower\(\)\)"):
        check_text("A+1")
    with pytest.raises(ValueError, match=r"12 character\(s\).*, …\. The tokenizer knows"):
        check_text("×÷±§¶©®°µ¼½¾")


def test_unknown_characters_agrees_with_the_tokenizer(tokenizer):
    # '|' is not in the vocabulary, even though role tokens contain it.
    assert unknown_characters("<<s>|user|>") == ["|"]
    assert unknown_characters("<unk>") == ["<unk>"]
    assert unknown_characters(TRACE, tokenizer) == []
    with pytest.raises(TypeError, match="must be a str"):
        check_text(42)  # type: ignore[arg-type]


def test_chat_template_prompt_and_assistant_mask(tokenizer):
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "3 4 5 -> 20"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<s><|user|>3 4 5 -> 20<|assistant|>"
    out = tokenizer.apply_chat_template(
        [{"role": "user", "content": "1 2"}, {"role": "assistant", "content": TRACE}],
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    completion = [i for i, m in zip(ids, mask, strict=True) if m]
    assert tokenizer.decode(completion) == TRACE + "</s>"
    assert ids[-1] == tokenizer.eos_token_id


def test_chat_template_rejects_unknown_roles(tokenizer):
    with pytest.raises(Exception, match="role must be system, user or assistant"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_save_and_load_round_trip(tokenizer, tmp_path):
    save_tokenizer(tokenizer, tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded.encode(TRACE) == tokenizer.encode(TRACE)
    assert loaded.chat_template == tokenizer.chat_template
    assert (loaded.pad_token, loaded.bos_token, loaded.eos_token, loaded.unk_token) == (
        "<pad>",
        "<s>",
        "</s>",
        "<unk>",
    )
    assert loaded.padding_side == "left"
