"""What a model knows outside the task format: arithmetic and checks in free text.

The base model never saw ``<think>`` or a chat turn, so its Countdown reward is 0; these
probes show what it *does* know, by letting it continue plain text the way it was
pretrained (``<s>`` then a calculation), greedily:

* :func:`arithmetic_accuracy`: ``9*7=`` → does it write ``63``?
* :func:`check_accuracy`: ``use 9 7 6 to make 12: 9-7=2,2*6=12`` → does it write ``ok``
  (or ``no`` when the result misses)?
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.tasks import countdown
from r1lab.tasks.countdown import CountdownSpec


@dataclass(frozen=True)
class ProbeResult:
    name: str
    accuracy: float
    n: int
    examples: list[tuple[str, str, str]]  # the first few: (prompt, expected, model wrote)

    def __str__(self) -> str:
        return f"{self.name}: {self.accuracy:.1%} right of {self.n} held-out probes"


@torch.no_grad()
def continue_text(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_new_tokens: int = 6,
    batch_size: int = 128,
) -> list[str]:
    """Greedy continuations of plain texts, each started with ``<s>`` (no chat template)."""
    device = next(model.parameters()).device
    out: list[str] = []
    for i in range(0, len(texts), batch_size):
        chunk = [tokenizer.bos_token + t for t in texts[i : i + batch_size]]
        batch = tokenizer(chunk, return_tensors="pt", add_special_tokens=False, padding=True)
        batch = batch.to(device)
        ids = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        new = ids[:, batch["input_ids"].shape[1] :]
        out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    return out


def _problems(n: int, seed: int, spec: CountdownSpec) -> list[countdown.CountdownProblem]:
    # Held-out problems: the probe measures skill, not memory of the corpus.
    return countdown.generate(n, seed, spec, split="eval")


def arithmetic_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    n: int = 200,
    seed: int = 0,
    spec: CountdownSpec | None = None,
) -> ProbeResult:
    """Share of single steps (``a op b=``) the model completes with the right number."""
    spec = spec or CountdownSpec()
    rng = random.Random(f"probe-arithmetic:{seed}")
    steps = []
    for p in _problems(n, seed, spec):
        candidates = countdown.candidates(p.numbers, spec)
        expr = rng.choice(candidates)
        steps.append(rng.choice(expr.steps()))
    prompts = [f"{s.left}{s.op}{s.right}=" for s in steps]
    expected = [str(s.result) for s in steps]
    written = continue_text(model, tokenizer, prompts)
    got = [_leading_number(w) for w in written]
    correct = sum(g == e for g, e in zip(got, expected, strict=True))
    examples = list(zip(prompts, expected, written, strict=True))
    return ProbeResult("arithmetic", correct / len(prompts), len(prompts), examples[:20])


def check_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    n: int = 200,
    seed: int = 0,
    spec: CountdownSpec | None = None,
    compare: bool = False,
) -> ProbeResult:
    """Share of calculations the model judges right: ``ok`` when the result is the wanted
    number, ``no`` otherwise (half of the probes each). With ``compare`` (the search
    world's grammar) the prompt ends with the result written beside the target,
    ``… 63+6=69 vs 12 ``, and the model only has to compare the two."""
    spec = spec or CountdownSpec()
    rng = random.Random(f"probe-check:{seed}")
    prompts, expected = [], []
    for i, p in enumerate(_problems(n, seed, spec)):
        candidates = countdown.candidates(p.numbers, spec)
        hits = [e for e in candidates if e.value == p.target]
        misses = [e for e in candidates if e.value != p.target]
        expr = rng.choice(misses) if i % 2 and misses else rng.choice(hits)
        steps = ",".join(str(s) for s in expr.steps())
        prompts.append(f"{p.prompt()}: {steps} " + (f"vs {p.target} " if compare else ""))
        expected.append("ok" if expr.value == p.target else "no")
    written = continue_text(model, tokenizer, prompts, max_new_tokens=2)
    correct = sum(w[:2] == e for w, e in zip(written, expected, strict=True))
    examples = list(zip(prompts, expected, written, strict=True))
    return ProbeResult("check", correct / len(prompts), len(prompts), examples[:20])


def _leading_number(text: str) -> str:
    digits = ""
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    return digits


def first_attempt(text: str) -> countdown.Attempt | None:
    """The first attempt on the first line of a free-text continuation, if there is one."""
    attempts = countdown.parse_think(text.split("\n", 1)[0])
    return attempts[0] if attempts else None


def solve_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    n: int = 200,
    seed: int = 0,
    spec: CountdownSpec | None = None,
) -> ProbeResult:
    """Share of held-out problems, written as plain text (``use 9 7 6 to make 12:``), whose
    greedy continuation is one attempt with right arithmetic that reaches the target and
    says ``ok``: the task, solved in free text, with no format."""
    spec = spec or CountdownSpec()
    problems = _problems(n, seed, spec)
    prompts = [f"{p.prompt()}:" for p in problems]
    written = continue_text(model, tokenizer, prompts, max_new_tokens=32)
    correct = 0
    for p, text in zip(problems, written, strict=True):
        first = first_attempt(text)
        if first and first.arithmetic_ok() and first.value == p.target and first.verdict == "ok":
            leaves = [first.steps[0][0], first.steps[0][2], *(s[2] for s in first.steps[1:])]
            correct += sorted(leaves) == sorted(p.numbers)
    wanted = "an attempt that reaches the target"
    examples = [(q, wanted, w) for q, w in zip(prompts, written, strict=True)]
    return ProbeResult("solve", correct / len(prompts), len(prompts), examples[:20])
