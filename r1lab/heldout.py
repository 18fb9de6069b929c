"""Held-out measurement: how well a model does on problems it never trained on.

Every number the course reports about a model (the shipped models' cards, ``r1lab grpo``'s
before and after, the emergence studies, the sweep, the notebooks) is measured here, under
one set of names:

=====================  ====================================================================
``pass@k``             unbiased pass@k (Chen et al. 2021) from ``num_samples`` samples per
                       problem at the sampling temperature; k = 1, 2, 4, … ``num_samples``
``greedy_accuracy``    the share of problems the single greedy completion solves
``format_rate``        the share of sampled completions in the answer format
``mean_length``        sampled completion tokens, stop token included
``truncated_rate``     the share of samples cut off at ``max_new_tokens``
``distinct_correct``   different correct answers per problem (``distinct_correct_solved``:
                       over the problems solved at least once)
``kl_to_start``        mean per-token KL (k3) of the samples to the model a run started from
behaviours             :func:`r1lab.behaviors.data_rates` (retries) and
                       :func:`r1lab.behaviors.search_rates` (the search world: how often
                       it searches, and how well, :func:`r1lab.behaviors.search_quality`)
=====================  ====================================================================

:func:`evaluate` samples and scores (an :class:`EvalResult`); :func:`measure` turns that,
the greedy accuracy and whatever else is asked for into one JSON-ready dict. A completion
is correct when its reward is at least 1. Every measurement samples with
:data:`EVAL_SEED`, so the same model gives the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.behaviors import data_rates, search_rates
from r1lab.config import RunConfig
from r1lab.grpo import CORRECT, k3_kl
from r1lab.rewards import countdown_reward, format_reward, parse_completion
from r1lab.rollouts import Rollouts, check_positive_int, completion_logprobs, sample

EVAL_SEED = 0  # the seed of every held-out measurement
EVAL_SAMPLES = 8  # samples per held-out problem: the cards, and r1lab grpo before and after
RewardFn = Callable[..., list[float]]


# ---------------------------------------------------------------------------- pass@k


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``c`` correct among ``n`` samples: 1 - C(n-c, k) / C(n, k).

    Computed as a product (Chen et al. 2021, "Evaluating Large Language Models Trained on
    Code"), so it never forms huge binomial coefficients.
    """
    for name, value in (("n", n), ("c", c), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer (got {value!r})")
    if n < 1:
        raise ValueError(f"n must be ≥ 1 (got {n}): the number of samples per problem")
    if not 0 <= c <= n:
        raise ValueError(f"c must be between 0 and n={n} (got {c}): the number correct")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n={n} (got {k})")
    if n - c < k:
        return 1.0  # every set of k samples holds a correct one
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def pass_at_k_curve(correct_counts: Sequence[int], n: int, ks: Iterable[int]) -> dict[int, float]:
    """Mean pass@k over problems, for each k: ``{k: mean}``."""
    counts = list(correct_counts)
    if not counts:
        raise ValueError("correct_counts is empty: need one count per problem")
    return {k: sum(pass_at_k(n, c, k) for c in counts) / len(counts) for k in ks}


def powers_of_two(n: int) -> list[int]:
    """1, 2, 4, … up to ``n``: the k of pass@k reported from ``n`` samples."""
    return [2**i for i in range(n.bit_length()) if 2**i <= n]


# ---------------------------------------------------------------------------- sampling and scoring


@dataclass
class EvalResult:
    """Scores of ``num_samples`` completions per problem. A completion is correct when its
    reward is at least 1."""

    format_rate: float  # share of completions with format_reward 1
    pass_at: dict[int, float]  # k -> unbiased pass@k, mean over problems
    mean_length: float  # completion tokens, stop token included
    truncated_rate: float  # share of completions that hit max_new_tokens
    texts: list[list[str]]  # per problem, num_samples completions
    rewards: list[list[float]]  # per problem, num_samples rewards
    num_samples: int
    temperature: float
    rollouts: Rollouts | None = field(default=None, repr=False)  # the tensors, for a KL

    @property
    def pass1(self) -> float:
        return self.pass_at[1]

    @property
    def num_problems(self) -> int:
        return len(self.texts)

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready numbers (no texts)."""
        return {
            "num_problems": self.num_problems,
            "num_samples": self.num_samples,
            "temperature": self.temperature,
            "format_rate": self.format_rate,
            **{f"pass@{k}": v for k, v in sorted(self.pass_at.items())},
            "mean_length": self.mean_length,
            "truncated_rate": self.truncated_rate,
        }


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    problems_or_rows: Iterable[Any],
    *,
    num_samples: int = EVAL_SAMPLES,
    temperature: float = RunConfig.temperature,
    top_p: float = RunConfig.top_p,
    max_new_tokens: int = RunConfig.max_new_tokens,
    seed: int = EVAL_SEED,
    ks: Sequence[int] | None = None,
    batch_size: int = 64,
    reward_fn: RewardFn = countdown_reward,
    progress: bool = False,
) -> EvalResult:
    """Sample ``num_samples`` completions per problem and score them.

    Rows are dicts with a ``prompt`` (text or chat messages) and the columns ``reward_fn``
    needs (``numbers``/``target`` for Countdown, ``answer`` for ``arithmetic_reward``), as
    :func:`r1lab.data.load_eval` returns; task problems (with ``prompt()`` and
    ``to_row()``) work too. ``ks`` defaults to 1, 2, 4, … up to ``num_samples``.
    """
    rows = _as_rows(problems_or_rows)
    check_positive_int("num_samples", num_samples)
    if ks is None:
        ks = powers_of_two(num_samples)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= num_samples:
            raise ValueError(f"each k must be between 1 and num_samples={num_samples} (got {k!r})")

    rollouts = sample(
        model,
        tokenizer,
        [row["prompt"] for row in rows],
        num_generations=num_samples,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
    )
    columns = {
        key: [row[key] for row in rows for _ in range(num_samples)]
        for key in rows[0]
        if key != "prompt"
    }
    rewards = [float(r) for r in reward_fn(rollouts.texts, **columns)]
    formats = format_reward(rollouts.texts)
    grouped = rollouts.groups(rewards)
    return EvalResult(
        format_rate=sum(formats) / len(formats),
        pass_at=pass_at_k_curve(correct_counts(grouped), num_samples, ks),
        mean_length=rollouts.lengths.float().mean().item(),
        truncated_rate=rollouts.truncated.float().mean().item(),
        texts=rollouts.groups(),
        rewards=grouped,
        num_samples=num_samples,
        temperature=float(temperature),
        rollouts=rollouts,
    )


def greedy_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    problems_or_rows: Iterable[Any],
    *,
    max_new_tokens: int = RunConfig.max_new_tokens,
    batch_size: int = 64,
    reward_fn: RewardFn = countdown_reward,
    progress: bool = False,
) -> float:
    """Share of problems solved by the single greedy (temperature 0) completion."""
    result = evaluate(
        model,
        tokenizer,
        problems_or_rows,
        num_samples=1,
        temperature=0.0,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        reward_fn=reward_fn,
        progress=progress,
    )
    return result.pass1


# ---------------------------------------------------------------------------- more than correctness


def _answer_key(completion: str) -> str:
    """An answer as written, spaces removed (so ``3+4`` and ``4+3`` are two answers)."""
    parsed = parse_completion(completion)
    return "".join((parsed.answer or "").split())


def distinct_answers(completions: Sequence[str], keep: Sequence[bool] | None = None) -> int:
    """How many different answers (as written, spaces ignored) the completions of one
    problem give: those in the answer format, or those ``keep`` marks."""
    if keep is None:
        keep = [parse_completion(t).ok for t in completions]
    return len({_answer_key(t) for t, ok in zip(completions, keep, strict=True) if ok})


def distinct_correct(completions: Sequence[str], correct: Sequence[bool]) -> int:
    """How many different correct answers the completions of one problem give."""
    return distinct_answers(completions, correct)


def kl_to(
    reference: PreTrainedModel, rollouts: Rollouts, temperature: float, batch_size: int
) -> float:
    """Mean per-token k3 KL(policy ‖ reference) over the sampled completions, from the
    log-probs recorded at sampling and one forward pass of ``reference``."""
    total, tokens = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(rollouts), batch_size):
            part = slice(i, i + batch_size)
            ref = completion_logprobs(
                reference, rollouts.prompt_ids[part], rollouts.prompt_mask[part],
                rollouts.completion_ids[part], rollouts.completion_mask[part], temperature,
            ).cpu()  # fmt: skip
            mask = rollouts.completion_mask[part].float()
            total += float((k3_kl(rollouts.logprobs[part], ref) * mask).sum())
            tokens += float(mask.sum())
    return total / max(tokens, 1.0)


# ---------------------------------------------------------------------------- one measurement


def measure_with_samples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict],
    *,
    num_samples: int = EVAL_SAMPLES,
    temperature: float = RunConfig.temperature,
    max_new_tokens: int = RunConfig.max_new_tokens,
    ks: Sequence[int] | None = None,
    seed: int = EVAL_SEED,
    batch_size: int = 64,
    truncated: bool = False,
    distinct: bool = False,
    behaviors: bool = False,
    search: bool = False,
    start_model: PreTrainedModel | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], EvalResult]:
    """The held-out scores of ``model`` on ``rows`` (names in the module docstring) and the
    samples they come from. Always ``pass@k`` (``ks``: default every power of two up to
    ``num_samples``), ``greedy_accuracy``, ``format_rate`` and ``mean_length``; the rest
    when asked: ``truncated`` (``truncated_rate``), ``distinct`` (the distinct correct
    answers), ``behaviors`` (retry rates), ``search`` (the search world's rates), and
    ``start_model`` (``kl_to_start``)."""
    sampled = evaluate(
        model, tokenizer, rows, num_samples=num_samples, temperature=temperature,
        max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, progress=progress,
    )  # fmt: skip
    ks = powers_of_two(num_samples) if ks is None else ks
    scores: dict[str, Any] = {f"pass@{k}": sampled.pass_at[k] for k in ks}
    scores["greedy_accuracy"] = greedy_accuracy(
        model, tokenizer, rows, max_new_tokens=max_new_tokens
    )
    scores["format_rate"] = sampled.format_rate
    scores["mean_length"] = sampled.mean_length
    if truncated:
        scores["truncated_rate"] = sampled.truncated_rate
    texts = [t for group in sampled.texts for t in group]
    per_text = [row for row in rows for _ in range(num_samples)]
    if distinct:
        found = [
            distinct_correct(group, [r >= CORRECT for r in rewards])
            for group, rewards in zip(sampled.texts, sampled.rewards, strict=True)
        ]
        solved = [d for d in found if d > 0]
        scores["distinct_correct"] = sum(found) / len(found)
        scores["distinct_correct_solved"] = sum(solved) / len(solved) if solved else 0.0
    if behaviors:
        scores.update(data_rates(texts, per_text))
    if search:
        scores.update(search_rates(texts, per_text))
    if start_model is not None:
        scores["kl_to_start"] = kl_to(start_model, sampled.rollouts, temperature, batch_size)
    return scores, sampled


def measure(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict], **options: Any
) -> dict[str, Any]:
    """:func:`measure_with_samples` without the samples: the scores alone."""
    return measure_with_samples(model, tokenizer, rows, **options)[0]


def correct_counts(rewards: Sequence[Sequence[float]]) -> list[int]:
    """Correct samples per problem, from each problem's rewards (``EvalResult.rewards``)."""
    return [sum(r >= CORRECT for r in group) for group in rewards]


# ---------------------------------------------------------------------------- rows


def _as_rows(items: Iterable[Any]) -> list[dict]:
    if isinstance(items, Mapping) and isinstance(items.get("prompt"), list):
        raise ValueError(
            "got a dict of columns, which is what slicing a Dataset gives (rows[:4]): "
            "pass rows.select(range(4)) or list(rows)[:4] instead"
        )
    rows = [_as_row(item) for item in items]
    if not rows:
        raise ValueError("problems_or_rows is empty: need at least one problem")
    return rows


def _as_row(item: Any) -> dict:
    """A dataset row as a dict; a task problem becomes ``{"prompt": ..., **to_row()}``."""
    if isinstance(item, Mapping):
        if "prompt" not in item:
            raise ValueError(f"each row needs a 'prompt' (got keys {sorted(item)})")
        return dict(item)
    if callable(getattr(item, "prompt", None)) and callable(getattr(item, "to_row", None)):
        return {"prompt": item.prompt(), **item.to_row()}
    raise ValueError(f"expected a row (dict with 'prompt') or a task problem (got {item!r})")
