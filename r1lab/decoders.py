"""The forward passes behind :func:`r1lab.rollouts.sample`: one per new token, for a batch.

Sampling asks a decoder three things: ``start`` (the prompts' pass, which fills a KV cache and
gives the next-token logits), ``step`` (one new token per running row, the next logits) and
``keep`` (rows that stopped leave the batch). Two decoders answer them:

* :class:`TransformersDecoder` calls the model's own ``forward`` with transformers'
  ``DynamicCache``. It works for any causal LM and is the reference.
* :class:`LeanDecoder` does the same arithmetic over the same weights for the course's model
  class, a plain ``LlamaForCausalLM`` on the CPU, in far fewer operations per token. At these
  sizes (128 wide, a batch that shrinks to a few rows) a step costs what its Python, its
  dispatch and its memory traffic cost, not what its matmuls cost. It fuses the projections
  once per call (q, k and v in one matrix, gate and up in another), looks the rotary
  embedding up in a table, and writes keys and values in place into a cache allocated once
  (``DynamicCache`` concatenates the whole cache at every step). The prompts' pass runs once
  per distinct prompt, since a group's G rows share theirs. Rows that stop are dropped
  lazily: the cache, which compaction copies, is compacted once a quarter of its rows have
  stopped, and until then the stopped rows are computed and ignored.

The lean decoder's logits equal the reference's up to float rounding (its log-probs differ by
less than 1e-5 on the shipped models), so the sampled tokens are the same: tests compare them
on the shipped models. A model it does not cover (:func:`lean_unsupported` says why) is
decoded by the reference.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from transformers import DynamicCache, LlamaForCausalLM, PreTrainedModel

# Compact the lean cache once this share of its rows has stopped (0: at every stop, as
# DynamicCache does; 1: never). See docs/history.md, "The sampler".
COMPACT_WHEN_DEAD = 0.25


class TransformersDecoder:
    """Decoding through the model's own ``forward`` and a ``DynamicCache`` (the reference)."""

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model
        self.cache_argument = _cache_argument(model)

    def start(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int
    ) -> torch.Tensor:
        """Run the left-padded prompts; return the next-token logits, float [n, vocab]."""
        self.cache = DynamicCache(config=self.model.config)
        # Left padding: a row's first real token is position 0, whatever its padding.
        positions = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        self.attention_mask = attention_mask
        self.next_position = attention_mask.sum(dim=1, keepdim=True)  # [n, 1]
        return self._forward(input_ids, positions)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` (indices into the running rows, in order)."""
        self.attention_mask = self.attention_mask[rows]
        self.next_position = self.next_position[rows]
        self.cache.batch_select_indices(rows)

    def step(self, token: torch.Tensor) -> torch.Tensor:
        """Feed one token per running row; return the next-token logits."""
        ones = self.attention_mask.new_ones(len(token), 1)
        self.attention_mask = torch.cat([self.attention_mask, ones], dim=1)
        logits = self._forward(token[:, None], self.next_position)
        self.next_position = self.next_position + 1
        return logits

    def _forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        out = self.model(
            input_ids=input_ids,
            attention_mask=self.attention_mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_argument: self.cache},
        )
        return out.logits[:, -1, :].float()


def _cache_argument(model: PreTrainedModel) -> str:
    """The forward argument that takes the KV cache: transformers 5.24 renamed
    ``past_key_values`` to ``cache`` (the old name still works, with a warning)."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def lean_unsupported(model: PreTrainedModel) -> str | None:
    """Why :class:`LeanDecoder` cannot decode ``model`` exactly as its ``forward`` would, or
    None if it can: it covers a plain ``LlamaForCausalLM`` in float32 on the CPU with the
    default rotary embedding, SiLU, no biases, SDPA attention and no hooks."""
    if type(model) is not LlamaForCausalLM:
        return f"a {type(model).__name__}, not a LlamaForCausalLM"
    config = model.config
    rotary = model.model.rotary_emb
    checks = {
        "rotary embedding type": (getattr(rotary, "rope_type", None), "default"),
        "hidden_act": (config.hidden_act, "silu"),
        "attention_bias": (bool(config.attention_bias), False),
        "mlp_bias": (bool(getattr(config, "mlp_bias", False)), False),
        "pretraining_tp": (getattr(config, "pretraining_tp", 1) or 1, 1),
        "attention implementation": (config._attn_implementation, "sdpa"),
    }
    for name, (got, needed) in checks.items():
        if got != needed:
            return f"{name} is {got!r}, not {needed!r}"
    for name, p in model.named_parameters():
        if p.dtype != torch.float32 or p.device.type != "cpu":
            return f"parameter {name} is {p.dtype} on {p.device}, not float32 on the CPU"
    if "forward" in vars(model):
        return "its forward is wrapped"
    for name, module in model.named_modules():
        if module._forward_hooks or module._forward_pre_hooks:
            return f"module {name or 'model'} has forward hooks"
    return None


class LeanDecoder:
    """A plain ``LlamaForCausalLM``'s decode step with few operations per token.

    The weights are read (fused copies, no gradient) when the decoder is made; the model is
    never changed. Build one per :func:`r1lab.rollouts.sample` call, not across updates.
    """

    def __init__(self, model: LlamaForCausalLM) -> None:
        reason = lean_unsupported(model)
        if reason is not None:
            raise ValueError(f"the lean decoder cannot decode this model: {reason}")
        self.model = model
        config = model.config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.hidden = config.hidden_size
        self.intermediate = config.intermediate_size
        self.scaling = self.head_dim**-0.5
        self.prefix = TransformersDecoder(model)
        with torch.no_grad():
            self.embed = model.model.embed_tokens.weight.detach()
            self.layers = [self._fuse(layer) for layer in model.model.layers]
            self.final_norm = _norm_of(model.model.norm)
            self.lm_head = model.lm_head.weight.detach().t().contiguous()

    def _fuse(self, layer: torch.nn.Module) -> tuple:
        """One layer's weights as the lean step uses them, each matrix [in, out]."""
        attention, mlp = layer.self_attn, layer.mlp
        qkv = torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight])
        gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])
        return (
            _norm_of(layer.input_layernorm),
            qkv.t().contiguous(),
            attention.o_proj.weight.t().contiguous(),
            _norm_of(layer.post_attention_layernorm),
            gate_up.t().contiguous(),
            mlp.down_proj.weight.t().contiguous(),
        )

    # ------------------------------------------------------------------ the sampler's calls

    def start(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int
    ) -> torch.Tensor:
        """The prompts' pass (through the model's forward, as the reference does, once per
        distinct prompt: a group's G rows share theirs), then a cache of ``prompt +
        max_new_tokens`` positions holding its keys and values."""
        rows = torch.cat([input_ids, attention_mask], dim=1)
        distinct, copy_of = torch.unique(rows, dim=0, return_inverse=True)
        n, prompt_len = input_ids.shape
        logits = self.prefix.start(
            distinct[:, :prompt_len], distinct[:, prompt_len:], max_new_tokens
        ).index_select(0, copy_of)
        length = prompt_len + max_new_tokens
        # [layer][key/value, row, head, position, dim]; pages past the prompt are written
        # one column per step, so memory grows as the rows do.
        self.kv = []
        for layer in self.prefix.cache.layers:
            kv = torch.empty(2, n, self.kv_heads, length, self.head_dim)
            kv[0, :, :, :prompt_len] = layer.keys.index_select(0, copy_of)
            kv[1, :, :, :prompt_len] = layer.values.index_select(0, copy_of)
            self.kv.append(kv)
        del self.prefix.cache
        mask = torch.ones(n, length, dtype=torch.bool)
        mask[:, :prompt_len] = attention_mask.bool()
        self._set_mask(mask)
        self.position = attention_mask.sum(dim=1)  # [n]: each row's next position
        self.column = prompt_len  # the cache column the next token is written to
        self.rope = self._rope_table(length)
        self.ids = torch.zeros(n, dtype=torch.long)
        self.live: torch.Tensor | None = None  # running rows' cache rows; None: all, in order
        return logits

    def keep(self, rows: torch.Tensor) -> None:
        live = rows if self.live is None else self.live[rows]
        slots = self.kv[0].shape[1]
        if slots - len(live) >= max(1, COMPACT_WHEN_DEAD * slots):
            self._compact(live)
        else:
            self.live = live

    def step(self, token: torch.Tensor) -> torch.Tensor:
        if self.live is None:
            ids = token
        else:
            self.ids[self.live] = token
            ids = self.ids
        t = self.column
        self.column += 1
        rope = self.rope.index_select(0, self.position)  # [rows, (sin, cos), q+k width]
        self.position += 1
        x = self._layers(F.embedding(ids, self.embed), rope, self.bias[:, :, : t + 1], t)
        if self.live is not None:
            x = x.index_select(0, self.live)
        norm, eps = self.final_norm
        return torch.mm(F.rms_norm(x, (self.hidden,), norm, eps), self.lm_head)

    def _layers(
        self, x: torch.Tensor, rope: torch.Tensor, bias: torch.Tensor, t: int
    ) -> torch.Tensor:
        """The decoder layers for one new token per cache row; writes cache column ``t``."""
        n, d, kv_heads = x.shape[0], self.head_dim, self.kv_heads
        q_width = self.heads * d
        width = q_width + kv_heads * d  # q and k, the columns the rotary embedding turns
        inter = self.intermediate
        sin, cos = rope.unbind(1)
        for kv, (norm_in, w_qkv, w_o, norm_post, w_gate_up, w_down) in zip(
            self.kv, self.layers, strict=True
        ):
            h = torch.mm(F.rms_norm(x, (self.hidden,), *norm_in), w_qkv)  # q, k, v
            # The rotary embedding qk * cos + rotate_half(qk) * sin, in place: swapping
            # each head's halves is rotate_half up to the sign the sin table carries.
            qk = h[:, :width]
            swapped = qk.view(n, -1, 2, d // 2).flip(2).view(n, width)
            torch.addcmul(qk * cos, swapped, sin, out=qk)
            kv.select(3, t).copy_(h[:, q_width:].view(n, 2, kv_heads, d).transpose(0, 1))
            attention = self._attend(h[:, :q_width], kv, bias, t)
            x = torch.addmm(x, attention, w_o)
            h = torch.mm(F.rms_norm(x, (self.hidden,), *norm_post), w_gate_up)
            x = torch.addmm(x, F.silu(h[:, :inter]).mul_(h[:, inter:]), w_down)
        return x

    def _attend(
        self, q: torch.Tensor, kv: torch.Tensor, bias: torch.Tensor, t: int
    ) -> torch.Tensor:
        """Attention of one query per row over the row's cache columns ``0..t``, as batched
        matrix products: a group of query heads shares a key/value head. Returns [n, q width]."""
        n, d = q.shape[0], self.head_dim
        keys, values = kv[:, :, :, : t + 1].view(2, n * self.kv_heads, t + 1, d).unbind(0)
        q = q.reshape(n * self.kv_heads, self.heads // self.kv_heads, d)
        scores = torch.baddbmm(bias, q, keys.transpose(1, 2), alpha=self.scaling)
        return torch.bmm(scores.softmax(dim=-1), values).view(n, -1)

    # ------------------------------------------------------------------ helpers

    def _rope_table(self, length: int) -> torch.Tensor:
        """[position, (sin, cos), q+k width]: the model's own rotary embedding for every
        head, the sin negated on each head's first half (rotate_half's sign)."""
        positions = torch.arange(length)[None]
        cos, sin = self.model.model.rotary_emb(self.embed, positions)
        half = self.head_dim // 2
        sign = torch.cat([-torch.ones(half), torch.ones(half)])
        heads = self.heads + self.kv_heads
        return torch.stack([(sin[0] * sign).repeat(1, heads), cos[0].repeat(1, heads)], dim=1)

    def _set_mask(self, mask: torch.Tensor) -> None:
        """Which cache columns each row attends to, and that as an additive attention bias
        [row * key/value head, 1, column] (0 or -inf)."""
        self.mask = mask
        bias = torch.zeros(mask.shape).masked_fill_(~mask, float("-inf"))
        self.bias = bias.repeat_interleave(self.kv_heads, dim=0)[:, None, :]

    def _compact(self, live: torch.Tensor) -> None:
        """Move the running rows to the front of a smaller cache, in order."""
        t = self.column
        for i, kv in enumerate(self.kv):
            smaller = torch.empty((2, len(live), *kv.shape[2:]))
            smaller[:, :, :, :t] = kv[:, live, :, :t]
            self.kv[i] = smaller
        self._set_mask(self.mask[live])
        self.position = self.position[live]
        self.ids = self.ids[live]
        self.live = None


def _norm_of(norm: torch.nn.Module) -> tuple[torch.Tensor, float]:
    return norm.weight.detach(), norm.variance_epsilon


def make_decoder(model: PreTrainedModel, lean: bool = True) -> TransformersDecoder | LeanDecoder:
    """The lean decoder when asked and the model is one it covers, else the reference."""
    if lean and lean_unsupported(model) is None:
        return LeanDecoder(model)
    return TransformersDecoder(model)
