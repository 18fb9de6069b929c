"""A character-level tokenizer that is a real ``PreTrainedTokenizerFast``.

Every character of the vocabulary is one token; the four format tags are single tokens
so that "did the model open ``<answer>``" is one decision, not seven. Characters outside
the vocabulary become one ``<unk>`` token each (use :func:`check_text` to reject them
with a clear message instead). Saved with ``save_pretrained``, it loads with
``AutoTokenizer.from_pretrained`` in a process that never imports r1lab.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

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


@functools.lru_cache(maxsize=1)
def _course_tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer()


def unknown_characters(text: str, tokenizer: PreTrainedTokenizerBase | None = None) -> list[str]:
    """The pieces of ``text`` that ``tokenizer`` (default: the course's) encodes as ``<unk>``."""
    tokenizer = tokenizer if tokenizer is not None else _course_tokenizer()
    if tokenizer.unk_token_id is None:
        return []
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    pairs = zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)
    return sorted({text[a:b] for i, (a, b) in pairs if i == tokenizer.unk_token_id})


def check_text(text: str, tokenizer: PreTrainedTokenizerBase | None = None) -> str:
    """Return ``text`` unchanged, or raise ``ValueError`` naming what would become ``<unk>``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str (got {type(text).__name__})")
    bad = unknown_characters(text, tokenizer)
    if bad:
        shown = ", ".join(repr(ch) for ch in bad[:10]) + (", …" if len(bad) > 10 else "")
        hint = " (try text.lower())" if any(ch.isupper() for ch in bad) else ""
        raise ValueError(
            f"{len(bad)} character(s) outside the vocabulary would become <unk>: {shown}{hint}. "
            f"The tokenizer knows digits, lower-case letters, space, newline and {_PUNCTUATION}"
        )
    return text


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, path: str | Path) -> Path:
    path = Path(path)
    tokenizer.save_pretrained(path)
    return path


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
