"""``datasets.Dataset`` builders for the tasks, and the fixed held-out evaluation files.

Prompts are chat messages by default (``[{"role": "user", "content": ...}]``), the format
TRL's trainers apply the tokenizer's chat template to; ``chat=False`` gives plain strings.
Problem columns (``numbers``/``target`` for Countdown, ``answer`` for arithmetic) travel
with every row, so TRL hands them to the reward functions.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from datasets import Dataset

from r1lab.paths import DATA_DIR
from r1lab.tasks import arithmetic, countdown
from r1lab.tasks.splits import split_of

EVAL_DIR = DATA_DIR / "eval"


def _prompt(text: str, chat: bool) -> object:
    return [{"role": "user", "content": text}] if chat else text


def _completion(text: str, chat: bool) -> object:
    return [{"role": "assistant", "content": text}] if chat else text


def countdown_dataset(
    n: int,
    seed: int,
    spec: countdown.CountdownSpec | None = None,
    split: str = "train",
    chat: bool = True,
) -> Dataset:
    """Countdown prompts for RL: columns ``prompt``, ``numbers``, ``target``."""
    problems = countdown.generate(n, seed, spec, split)
    return Dataset.from_list(
        [{"prompt": _prompt(p.prompt(), chat), **p.to_row()} for p in problems]
    )


def countdown_trace_dataset(
    n: int,
    seed: int,
    spec: countdown.CountdownSpec | None = None,
    retry_rate: float = 0.1,
    max_attempts: int = 3,
    chat: bool = True,
) -> Dataset:
    """Cold-start examples for SFT: ``prompt`` and ``completion`` (a trace), plus the
    problem columns. Always from the training split."""
    spec = spec or countdown.CountdownSpec()
    problems = countdown.generate(n, seed, spec, "train")
    rng = random.Random(f"traces:{seed}")
    rows = []
    for p in problems:
        trace = countdown.write_trace(
            p, rng, retry_rate=retry_rate, max_attempts=max_attempts, ordered=spec.ordered
        )
        rows.append(
            {"prompt": _prompt(p.prompt(), chat), "completion": _completion(trace, chat)}
            | p.to_row()
        )
    return Dataset.from_list(rows)


def arithmetic_dataset(
    n: int,
    seed: int,
    spec: arithmetic.ArithmeticSpec | None = None,
    split: str = "train",
    chat: bool = True,
    traces: bool = False,
) -> Dataset:
    """Arithmetic prompts (``prompt``, ``expression``, ``answer``), with ``completion``
    traces when ``traces`` is true."""
    rows = []
    for p in arithmetic.generate(n, seed, spec, split):
        row = {"prompt": _prompt(p.prompt(), chat), **p.to_row()}
        if traces:
            row["completion"] = _completion(arithmetic.write_trace(p), chat)
        rows.append(row)
    return Dataset.from_list(rows)


# ---------------------------------------------------------------------------- held-out files


@dataclass(frozen=True)
class EvalSet:
    """A fixed held-out file and what generates it, so it can always be rebuilt exactly."""

    task: ModuleType  # r1lab.tasks.countdown or r1lab.tasks.arithmetic
    spec: object  # the task's spec (difficulty knobs)
    size: int
    seed: int

    @property
    def name(self) -> str:
        return self.task.NAME

    @property
    def filename(self) -> str:
        return f"{self.name}.jsonl"

    def problems(self) -> list:
        return self.task.generate(self.size, self.seed, self.spec, "eval")


EVAL_SETS = (
    EvalSet(countdown, countdown.CountdownSpec(), 200, 2026),
    EvalSet(arithmetic, arithmetic.ArithmeticSpec(), 500, 2026),
)


def eval_rows(eval_set: EvalSet) -> list[dict]:
    return [
        {"id": f"{eval_set.name}-{i:04d}", "prompt": p.prompt(), **p.to_row()}
        for i, p in enumerate(eval_set.problems())
    ]


def write_eval_sets(out_dir: Path = EVAL_DIR) -> list[Path]:
    """(Re)write every held-out file; the output is the same byte for byte on every run."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for eval_set in EVAL_SETS:
        path = out_dir / eval_set.filename
        lines = [json.dumps(row, separators=(",", ":")) for row in eval_rows(eval_set)]
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def load_eval(
    name: str, n: int | None = None, chat: bool = True, eval_dir: Path = EVAL_DIR
) -> Dataset:
    """The held-out set ``name`` (first ``n`` rows) as a Dataset with chat prompts."""
    sets = {s.name: s for s in EVAL_SETS}
    if name not in sets:
        raise ValueError(f"unknown evaluation set {name!r}: choose one of {list(sets)}")
    path = Path(eval_dir) / sets[name].filename
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: rebuild it with `r1lab eval-sets`")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be ≥ 1 (got {n})")
        rows = rows[:n]
    for row in rows:
        row["prompt"] = _prompt(row["prompt"], chat)
    return Dataset.from_list(rows)


# ---------------------------------------------------------------------------- pretraining

CORPUS_KINDS = ("fact", "chain", "value", "check")
# Share of each kind of document in the pretraining corpus.
CORPUS_MIX = {"fact": 0.25, "chain": 0.15, "value": 0.1, "check": 0.5}


def corpus_document(kind: str, rng: random.Random, spec: countdown.CountdownSpec) -> str:
    """One plain-text pretraining document of the given kind (no tags, no chat roles).

    * ``fact``: one operation, ``63+6=69``
    * ``chain``: numbers, then a calculation that uses them in order, ``9 7 6: 9*7=63,63+6=69``
    * ``value``: a calculation and the expression it computes, ``9-7=2,2*6=12 is (9-7)*6``
    * ``check``: one attempt at a problem, checked against its target, half of them right:
      ``use 9 7 6 to make 12: 9-7=2,2*6=12 ok`` or ``… 9*7=63,63+6=69 no``
    """
    if kind not in CORPUS_KINDS:
        raise ValueError(f"kind must be one of {', '.join(CORPUS_KINDS)} (got {kind!r})")
    numbers = [rng.randint(spec.min_number, spec.max_number) for _ in range(spec.n_numbers)]
    candidates = countdown.chains(numbers)
    listed = " ".join(map(str, numbers))
    expr = rng.choice(candidates)  # never empty: adding every number is always a chain
    steps = ",".join(str(s) for s in expr.steps())
    if kind == "fact":
        return str(rng.choice(expr.steps()))
    if kind == "chain":
        return f"{listed}: {steps}"
    if kind == "value":
        return f"{steps} is {expr}"
    # check: half of the time the target is the attempt's value (ok), else another chain's.
    value = int(expr.value)
    others = sorted({int(e.value) for e in candidates} - {value})
    target = rng.choice(others) if others and rng.random() < 0.5 else value
    problem = countdown.CountdownProblem(tuple(numbers), target)
    if split_of(problem.key()) != "train":
        return f"{listed}: {steps}"  # never pair a held-out problem with its target
    return f"{problem.prompt()}: {steps} {'ok' if value == target else 'no'}"


def pretraining_corpus(n: int, seed: int, spec: countdown.CountdownSpec | None = None) -> Dataset:
    """``n`` plain-text documents (column ``text``) that teach the arithmetic of the task
    (step facts, chains, expression values, checks against a wanted number) but never the
    ``<think>/<answer>`` format or the chat turns. Columns: ``text``, ``kind``."""
    if n < 1:
        raise ValueError(f"n must be ≥ 1 (got {n})")
    spec = spec or countdown.CountdownSpec()
    rng = random.Random(f"corpus:{seed}")
    kinds = rng.choices(CORPUS_KINDS, weights=[CORPUS_MIX[k] for k in CORPUS_KINDS], k=n)
    texts = [corpus_document(kind, rng, spec) for kind in kinds]
    return Dataset.from_dict({"text": texts, "kind": kinds})
