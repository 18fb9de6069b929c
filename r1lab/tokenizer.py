"""A character-level tokenizer that is a real ``PreTrainedTokenizerFast``.

Every character of the vocabulary is one token; the four format tags are single tokens
so that "did the model open ``<answer>``" is one decision, not seven. Characters outside
the vocabulary become one ``<unk>`` token each (use :func:`check_text` to reject them
with a clear message instead). Saved with ``save_pretrained``, it loads with
``AutoTokenizer.from_pretrained`` in a process that never imports r1lab.
"""

from __future__ import annotations

import string
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK, *ROLE_TOKENS)
FORMAT_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
# Digits, arithmetic, space and newline, lower-case letters, and the punctuation traces use.
CHARACTERS = tuple(string.digits + "+-*/=()" + " \n" + string.ascii_lowercase + ".,:;!?'\"<>_%#")

_PUNCTUATION = "".join(c for c in CHARACTERS if not c.isalnum() and not c.isspace())

# Roles appear as single tokens; assistant turns end with EOS. The generation markers let
# TRL's SFTTrainer compute the loss on assistant turns only (assistant_only_loss).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('role must be system, user or assistant, got ' + message['role']) }}"
    "{% endif %}"
    "<|{{ message['role'] }}|>"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}"
    "{% else %}{{ message['content'] }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """The course tokenizer: ~70 tokens, one per character plus tags, roles and specials."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + CHARACTERS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # [\s\S] matches any one character, newline included.
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=list(ROLE_TOKENS),
        padding_side="left",  # left padding keeps prompts flush against their completions
        model_max_length=512,
        clean_up_tokenization_spaces=False,
    )
    # Format tags are ordinary (not special) tokens: decoding must keep them.
    tokenizer.add_tokens(list(FORMAT_TAGS))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def unknown_characters(text: str) -> list[str]:
    """Characters of ``text`` (outside tags and special tokens) the tokenizer maps to ``<unk>``."""
    known = set(CHARACTERS)
    for marker in SPECIAL_TOKENS + FORMAT_TAGS:
        text = text.replace(marker, "")
    return sorted({ch for ch in text if ch not in known})


def check_text(text: str) -> str:
    """Return ``text`` unchanged, or raise ``ValueError`` naming out-of-vocabulary characters."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str (got {type(text).__name__})")
    bad = unknown_characters(text)
    if bad:
        shown = ", ".join(repr(ch) for ch in bad[:10])
        raise ValueError(
            f"characters outside the vocabulary: {shown}. The tokenizer knows digits, "
            f"lower-case letters, space, newline and {_PUNCTUATION}"
        )
    return text


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, path: str | Path) -> Path:
    path = Path(path)
    tokenizer.save_pretrained(path)
    return path


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
