"""Sampling completions in groups, and the log-probabilities the update needs.

:func:`sample` is the rollout step of GRPO written out: a left-padded prompt batch, one
forward pass over the prompts that fills a KV cache, then one token at a time with
temperature, nucleus (top-p) filtering, and per-row stopping at ``</s>`` or ``</answer>``.
It records the log-probability of every sampled token, which :func:`completion_logprobs`
recomputes in a single forward pass (what the GRPO update does with gradients on). The
forward passes live in :mod:`r1lab.decoders`.

Scoring is not here: the rewards are :mod:`r1lab.rewards`, and measuring a model on the
held-out problems (pass@k, greedy accuracy, format rate) is :mod:`r1lab.heldout`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.config import RunConfig
from r1lab.decoders import LeanDecoder, TransformersDecoder, make_decoder
from r1lab.tokenizer import check_text

ANSWER_CLOSE = "</answer>"
Prompt = str | Sequence[Mapping[str, str]]  # user text, or chat messages


# ---------------------------------------------------------------------------- rollouts


@dataclass
class Rollouts:
    """A batch of completions, ``group_size`` consecutive rows per prompt.

    Rows ``i*G .. i*G+G-1`` belong to ``prompts[i]``. Token tensors are on the CPU;
    ``completion_mask`` is 1 for every generated token up to and including the one that
    stopped the row (``</s>`` or ``</answer>``), 0 for the padding after it.
    """

    prompt_ids: torch.Tensor  # [N, P] long, left-padded
    prompt_mask: torch.Tensor  # [N, P] long
    completion_ids: torch.Tensor  # [N, C] long, right-padded with the pad id
    completion_mask: torch.Tensor  # [N, C] long
    logprobs: torch.Tensor  # [N, C] float: log p(token) under softmax(logits / T), 0 on padding
    texts: list[str]  # decoded completions, special tokens (</s>) dropped
    truncated: torch.Tensor  # [N] bool: hit max_new_tokens without stopping
    group_size: int
    prompts: list[str] = field(default_factory=list)  # the user text of each prompt

    def __len__(self) -> int:
        return self.completion_ids.shape[0]

    @property
    def num_prompts(self) -> int:
        return len(self) // self.group_size

    @property
    def lengths(self) -> torch.Tensor:
        """Completion lengths in tokens, stop token included: long [N]."""
        return self.completion_mask.sum(dim=1)

    def groups(self, values: torch.Tensor | Sequence[Any] | None = None) -> Any:
        """``values`` (one per row; default: ``texts``) arranged per prompt.

        A tensor of shape [N, ...] becomes [num_prompts, G, ...]; a list becomes a list
        of ``num_prompts`` lists of G items.
        """
        values = self.texts if values is None else values
        if len(values) != len(self):
            raise ValueError(f"values must have one entry per row ({len(self)}), got {len(values)}")
        g = self.group_size
        if isinstance(values, torch.Tensor):
            return values.reshape(self.num_prompts, g, *values.shape[1:])
        values = list(values)
        return [values[i : i + g] for i in range(0, len(values), g)]


def sample(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Prompt],
    *,
    num_generations: int = RunConfig.num_generations,
    max_new_tokens: int = RunConfig.max_new_tokens,
    temperature: float = RunConfig.temperature,
    top_p: float = RunConfig.top_p,
    seed: int = 0,
    stop_at_answer: bool = True,
    batch_size: int = 64,
    progress: bool = False,
    lean: bool = True,
) -> Rollouts:
    """``num_generations`` completions of each prompt (user text or chat messages).

    ``temperature=0`` is greedy decoding. The same seed gives the same completions for the
    same ``batch_size`` (rows are processed in chunks of that many). ``lean`` decodes the
    course's Llama with :class:`r1lab.decoders.LeanDecoder`: faster, and the same tokens;
    ``lean=False``, and any model it does not cover, decode through the model's own
    forward (:class:`r1lab.decoders.TransformersDecoder`).
    """
    check_positive_int("num_generations", num_generations)
    check_positive_int("max_new_tokens", max_new_tokens)
    check_positive_int("batch_size", batch_size)
    _check_decoding(temperature, top_p)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed!r})")
    user_texts, templated = _render_prompts(prompts, tokenizer)

    g = num_generations
    rows = [text for text in templated for _ in range(g)]
    batch = tokenizer(
        rows, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt"
    )
    prompt_ids, prompt_mask = batch["input_ids"], batch["attention_mask"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stop_ids = [tokenizer.eos_token_id]
    if stop_at_answer:
        answer_id = tokenizer.convert_tokens_to_ids(ANSWER_CLOSE)
        if answer_id is not None and answer_id != tokenizer.unk_token_id:
            stop_ids.append(answer_id)

    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    chunks = []
    was_training = model.training
    model.eval()
    decoder = make_decoder(model, lean)
    try:
        with (
            torch.no_grad(),
            tqdm(total=len(rows), desc="sampling", unit="completion", disable=not progress) as bar,
        ):
            for start in range(0, len(rows), batch_size):
                ids = prompt_ids[start : start + batch_size]
                mask = prompt_mask[start : start + batch_size]
                # Columns that are padding in every row of this chunk carry no information.
                first = int(mask.any(dim=0).long().argmax())
                chunk = _sample_chunk(
                    decoder,
                    ids[:, first:].to(device),
                    mask[:, first:].to(device),
                    max_new_tokens=max_new_tokens,
                    temperature=temperature,
                    top_p=top_p,
                    stop_ids=torch.tensor(stop_ids, device=device),
                    pad_id=pad_id,
                    generator=generator,
                )
                chunks.append(tuple(t.cpu() for t in chunk))
                bar.update(len(ids))
    finally:
        model.train(was_training)

    width = max(c[0].shape[1] for c in chunks)
    completion_ids = torch.cat([_pad_right(c[0], width, pad_id) for c in chunks])
    completion_mask = torch.cat([_pad_right(c[1], width, 0) for c in chunks])
    logprobs = torch.cat([_pad_right(c[2], width, 0.0) for c in chunks])
    truncated = torch.cat([c[3] for c in chunks])
    lengths = completion_mask.sum(dim=1).tolist()
    texts = tokenizer.batch_decode(
        [row[:n] for row, n in zip(completion_ids.tolist(), lengths, strict=True)],
        skip_special_tokens=True,
    )
    return Rollouts(
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        completion_ids=completion_ids,
        completion_mask=completion_mask,
        logprobs=logprobs,
        texts=texts,
        truncated=truncated,
        group_size=g,
        prompts=user_texts,
    )


def _sample_chunk(
    decoder: TransformersDecoder | LeanDecoder,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    stop_ids: torch.Tensor,
    pad_id: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decode one left-padded batch: tokens, mask, logprobs [n, steps] and truncated [n].

    Rows that stop leave the batch, so each step only samples the rows still running:
    ``active`` maps the batch back to the chunk's rows. The random numbers drawn at a step
    depend on the running rows and their order, so any decoder gives the same tokens for
    the same logits.
    """
    n = input_ids.shape[0]
    device = input_ids.device
    tokens = torch.full((n, max_new_tokens), pad_id, dtype=torch.long, device=device)
    logprobs = torch.zeros((n, max_new_tokens), dtype=torch.float32, device=device)
    lengths = torch.zeros(n, dtype=torch.long, device=device)
    stopped = torch.zeros(n, dtype=torch.bool, device=device)
    active = torch.arange(n, device=device)

    # The prompt pass fills the decoder's KV cache and gives the first token's logits.
    logits = decoder.start(input_ids, attention_mask, max_new_tokens)
    steps = max_new_tokens
    for step in range(max_new_tokens):
        token, logprob = _next_token(logits, temperature, top_p, generator)
        tokens[active, step] = token
        logprobs[active, step] = logprob
        lengths[active] += 1
        is_stop = torch.isin(token, stop_ids)
        stopped[active] = is_stop
        if step == max_new_tokens - 1:
            break
        if bool(is_stop.any()):
            keep = (~is_stop).nonzero().squeeze(1)
            if keep.numel() == 0:  # every row has stopped
                steps = step + 1
                break
            active, token = active[keep], token[keep]
            decoder.keep(keep)
        logits = decoder.step(token)
    mask = (torch.arange(steps, device=device) < lengths[:, None]).long()
    return tokens[:, :steps], mask, logprobs[:, :steps], ~stopped


def _next_token(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row; return it and its log-prob under softmax(logits / T)."""
    if temperature == 0:
        token = logits.argmax(dim=-1)
        logp = logits.log_softmax(dim=-1)  # greedy: report the T=1 log-probs
    else:
        logp = (logits / temperature).log_softmax(dim=-1)
        probs = logp.exp()
        if top_p < 1.0:
            probs = top_p_filter(probs, top_p)
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return token, logp.gather(1, token[:, None]).squeeze(1)


def top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero every token outside the smallest set whose probability reaches ``top_p``.

    The most likely token always stays, so a tiny ``top_p`` is greedy decoding.
    """
    sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)


def completion_logprobs(
    model: PreTrainedModel,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs of the completions in one forward pass: float [N, C], 0 on padding.

    Runs with whatever gradient mode is on, so GRPO can call it inside its update.
    ``temperature=0`` (greedy sampling) uses the T=1 log-probs, like :func:`sample`.
    With ``with_entropy`` it also returns the entropy of each next-token distribution
    (float [N, C], no gradient, 0 on padding) from the same forward pass.
    """
    _check_decoding(temperature, 1.0)
    if prompt_ids.shape != prompt_mask.shape or completion_ids.shape != completion_mask.shape:
        raise ValueError(
            "ids and masks must have the same shapes (got prompt "
            f"{tuple(prompt_ids.shape)} vs {tuple(prompt_mask.shape)}, completion "
            f"{tuple(completion_ids.shape)} vs {tuple(completion_mask.shape)})"
        )
    device = next(model.parameters()).device
    width = completion_ids.shape[1]
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1).to(device)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1).to(device)
    positions = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    # Position P-1+j predicts completion token j: keep the last C+1 positions, drop the final.
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=positions,
        use_cache=False,
        logits_to_keep=width + 1,
    ).logits[:, :-1, :]
    scale = temperature if temperature > 0 else 1.0
    logp = (logits.float() / scale).log_softmax(dim=-1)
    token_logp = logp.gather(2, completion_ids.to(device)[:, :, None]).squeeze(2)
    mask = completion_mask.to(device)
    if not with_entropy:
        return token_logp * mask
    with torch.no_grad():
        entropy = -(logp.exp() * logp).sum(dim=-1) * mask
    return token_logp * mask, entropy


# ---------------------------------------------------------------------------- checks


def check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1 (got {value!r})")


def _check_decoding(temperature: float, top_p: float) -> None:
    if not isinstance(temperature, (int, float)) or not 0 <= temperature < math.inf:
        raise ValueError(
            f"temperature must be a finite number ≥ 0 (got {temperature!r}); 0 is greedy"
        )
    if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (got {top_p!r}); 1 keeps every token")


def user_text(prompt: Prompt) -> str:
    """The last user message of a chat prompt (or the prompt itself, if it is a string)."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    return users[-1] if users else prompt[-1]["content"]


def _render_prompts(
    prompts: Sequence[Prompt], tokenizer: PreTrainedTokenizerBase
) -> tuple[list[str], list[str]]:
    """(user text, chat-templated text ready for generation) of each prompt."""
    if isinstance(prompts, (str, dict)) or not isinstance(prompts, Sequence):
        raise ValueError(
            "prompts must be a list of strings or of chat-message lists "
            f"(got {type(prompts).__name__})"
        )
    if len(prompts) == 0:
        raise ValueError("prompts is empty: need at least one prompt")
    user_texts, templated = [], []
    for i, prompt in enumerate(prompts):
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        ok = isinstance(messages, Sequence) and len(messages) > 0
        ok = ok and all(
            isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in messages
        )
        if not ok:
            raise ValueError(
                f"prompts[{i}] must be a string or a non-empty list of messages like "
                f"{{'role': 'user', 'content': '...'}} (got {prompt!r})"
            )
        for message in messages:
            try:
                check_text(message["content"], tokenizer)
            except ValueError as err:
                raise ValueError(f"prompts[{i}]: {err}") from None
        user_texts.append(user_text(messages))
        templated.append(
            tokenizer.apply_chat_template(
                [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
            )
        )
    return user_texts, templated


def _pad_right(t: torch.Tensor, width: int, value: float) -> torch.Tensor:
    return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)
