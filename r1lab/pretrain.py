"""Pretraining the "base model": next-token prediction on the arithmetic corpus.

The corpus (:func:`r1lab.data.pretraining_corpus`) holds calculations and checks but never
the ``<think>/<answer>`` format or a chat turn, so the result computes well in free text
and ignores the task's format: a small stand-in for a pretrained base model.

Documents are wrapped in ``<s>…</s>``, concatenated and cut into blocks of
``block_size`` tokens; every token is a training target. The loop is plain PyTorch
(AdamW, linear warm-up, cosine decay). With ``work_dir`` it saves its full state every
``checkpoint_every`` steps and an interrupted run resumes from there.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.data import pretraining_corpus
from r1lab.models import PRESETS, create_model, pick_device, set_seed
from r1lab.storage import load_state, save_state, write_json
from r1lab.tokenizer import build_tokenizer
from r1lab.worlds import get_world

STATE_FILE = "pretrain-state.pt"


@dataclass(frozen=True)
class PretrainConfig:
    """The pretraining budget. The defaults build the shipped base model."""

    preset: str = "tiny"
    seed: int = 0
    corpus_docs: int = 120_000
    steps: int = 1500
    batch_size: int = 32
    block_size: int = 128
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    checkpoint_every: int = 250
    world: str = "countdown"  # whose corpus and context length (r1lab.worlds)

    def __post_init__(self) -> None:
        get_world(self.world)  # a clear error for an unknown world
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)} (got {self.preset!r})")
        for name in ("corpus_docs", "steps", "batch_size", "block_size", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer (got {value!r})")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1] (got {self.learning_rate})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def pack_corpus(
    texts: list[str], tokenizer: PreTrainedTokenizerBase, block_size: int
) -> torch.Tensor:
    """``<s>doc</s>`` for every document, concatenated and cut into rows of ``block_size``
    token ids (the incomplete last row is dropped)."""
    ids: list[int] = []
    for text in texts:
        ids.append(tokenizer.bos_token_id)
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    n_blocks = len(ids) // block_size
    if n_blocks == 0:
        raise ValueError(
            f"the corpus has {len(ids)} tokens, fewer than one block of {block_size}: "
            "use more documents or a smaller block_size"
        )
    return torch.tensor(ids[: n_blocks * block_size]).view(n_blocks, block_size)


def learning_rate_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up to ``learning_rate``, then cosine decay to a tenth of it."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def pretrain(
    cfg: PretrainConfig | None = None,
    *,
    device: str = "auto",
    work_dir: str | Path | None = None,
    on_step: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict]:
    """Train a fresh model of ``cfg.preset`` on the corpus; returns model, tokenizer and
    a summary (tokens seen, final loss, wall time, steps resumed)."""
    from tqdm.auto import tqdm

    cfg = cfg or PretrainConfig()
    target = pick_device(device)
    tokenizer = build_tokenizer()
    world = get_world(cfg.world)
    corpus = pretraining_corpus(cfg.corpus_docs, cfg.seed, world=world)
    blocks = pack_corpus(corpus["text"], tokenizer, cfg.block_size)
    model = create_model(
        cfg.preset, tokenizer, seed=cfg.seed, max_position_embeddings=world.max_positions
    ).to(target)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, betas=(0.9, 0.95)
    )
    # Which blocks each step reads is a function of the seed and the step alone, so a
    # resumed run reads exactly what an uninterrupted one would have.
    order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(cfg.seed))

    start, elapsed, losses = 0, 0.0, []
    state_path = Path(work_dir) / STATE_FILE if work_dir is not None else None
    if state_path is not None and state_path.exists():
        state = load_state(
            state_path,
            f"delete {state_path.name} to start pretraining over",
            keys=("config", "model", "optimizer", "step", "elapsed", "losses", "python_rng"),
        )
        if state["config"] != cfg.to_dict():
            raise ValueError(
                f"{state_path} belongs to a run with different settings; delete it to start over"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, elapsed, losses = state["step"], state["elapsed"], state["losses"]
        random.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])
    set_seed(cfg.seed + start)

    model.train()
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=start, desc="pretraining", disable=not progress)
    for step in range(start, cfg.steps):
        rows = [order[(step * cfg.batch_size + i) % len(blocks)] for i in range(cfg.batch_size)]
        batch = blocks[torch.stack(rows)].to(target)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, cfg)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(round(loss.item(), 4))
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if on_step is not None:
            on_step(
                {
                    "step": step + 1,
                    "loss": loss.item(),
                    "grad_norm": float(grad_norm),
                    "lr": learning_rate_at(step, cfg),
                }
            )
        done = step + 1
        if state_path is not None and (done % cfg.checkpoint_every == 0 or done == cfg.steps):
            state_path.parent.mkdir(parents=True, exist_ok=True)
            save_state(  # atomic and checksummed: never a half-written or damaged state
                {
                    "config": cfg.to_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": done,
                    "elapsed": elapsed + time.perf_counter() - t0,
                    "losses": losses,
                    "python_rng": random.getstate(),
                    "torch_rng": torch.get_rng_state(),
                },
                state_path,
            )
    bar.close()
    model.eval()
    summary = {
        "steps": cfg.steps,
        "resumed_from_step": start,
        "tokens_seen": cfg.steps * cfg.batch_size * cfg.block_size,
        "corpus_tokens": blocks.numel(),
        "final_loss": sum(losses[-50:]) / max(1, len(losses[-50:])),
        "wall_time_s": round(elapsed + time.perf_counter() - t0, 1),
        "loss_curve": losses[:: max(1, len(losses) // 100)],
    }
    return model, tokenizer, summary


def save_summary(summary: dict, path: str | Path) -> None:
    write_json(path, summary)
