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

from r1lab.paths import EVAL_DIR
from r1lab.tasks import arithmetic, countdown
from r1lab.tasks.splits import split_of
from r1lab.worlds import COUNTDOWN, World, get_world


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
    retry_rate: float = countdown.RETRY_RATE,
    max_attempts: int = 3,
    chat: bool = True,
    world: str | World | None = None,
) -> Dataset:
    """Cold-start examples for SFT: ``prompt`` and ``completion`` (a trace), plus the
    problem columns. Always from the training split.

    With a ``world`` whose trace style is ``search`` the traces are
    :func:`r1lab.tasks.countdown.write_search_trace` on that world's task (its
    ``search_rate`` and ``patience``); ``retry_rate`` and ``max_attempts`` then play no
    part."""
    world = get_world(world) if world is not None else None
    if world is not None:
        spec = world.spec
    spec = spec or countdown.CountdownSpec()
    problems = countdown.generate(n, seed, spec, "train")
    rng = random.Random(f"traces:{seed}")
    rows = []
    for p in problems:
        if world is not None and world.trace_style == "search":
            trace = countdown.write_search_trace(
                p, rng, spec=spec, search_rate=world.search_rate, patience=world.patience
            )
        else:
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
    label: str | None = None  # the file's name when it is not the task's (another world)

    @property
    def name(self) -> str:
        return self.label or self.task.NAME

    @property
    def filename(self) -> str:
        return f"{self.name}.jsonl"

    def problems(self) -> list:
        return self.task.generate(self.size, self.seed, self.spec, "eval")


EVAL_SETS = (
    EvalSet(countdown, countdown.CountdownSpec(), 200, 2026),
    EvalSet(arithmetic, arithmetic.ArithmeticSpec(), 500, 2026),
    EvalSet(countdown, get_world("search").spec, 200, 2026, label=get_world("search").eval_name),
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

CORPUS_KINDS = (
    "fact",
    "chain",
    "value",
    "check",
    "compare",
    "chat_arithmetic",
    "chat_numbers",
)
# Share of each kind of document in world 1's pretraining corpus (each world has its own).
CORPUS_MIX = COUNTDOWN.corpus_mix


def _compare_pair(rng: random.Random) -> tuple[int, int]:
    """Two numbers to compare: equal half of the time, otherwise close in the ways a
    careless reader confuses them (digits swapped, one apart, same tens)."""
    a = rng.randint(0, 99)
    if rng.random() < 0.5:
        return a, a
    tens, ones = divmod(a, 10)
    choices = [a + 1, a - 1, ones * 10 + tens, tens * 10 + rng.randint(0, 9), rng.randint(0, 99)]
    b = rng.choice([c for c in choices if c >= 0 and c != a] or [a + 1])
    return a, b


def corpus_document(
    kind: str, rng: random.Random, spec: countdown.CountdownSpec, world: World = COUNTDOWN
) -> str:
    """One plain-text pretraining document of the given kind (no tags, no chat roles,
    except in the ``chat_`` kinds).

    * ``fact``: one operation, ``63+6=69``; in the search world also a forbidden one
      (``3/2=x``, ``13*8=x``: not a whole number from 0 to 99)
    * ``chain``: numbers, then a calculation that uses them in order, ``9 7 6: 9*7=63,63+6=69``;
      in the search world any item of the search, dead ends included (``9 3 2: 9-6=3,3/2=x``)
    * ``value``: a calculation and the expression it computes, ``9-7=2,2*6=12 is (9-7)*6``
    * ``check``: one attempt at a problem, checked against its target, half of them right:
      ``use 9 7 6 to make 12: 9-7=2,2*6=12 ok`` or ``… 9*7=63,63+6=69 no``; in the search
      world the result is written beside the target first: ``… 63+6=69 vs 12 no``
    * ``compare``: two numbers compared, ``69 vs 12 no``, ``12 vs 12 ok`` (search world)
    * ``chat_arithmetic``: the warm-up task as a formatted chat turn, the way real base
      models have seen formatted text: ``<|user|>compute 4+5*2<|assistant|><think>5*2=10,
      4+10=14</think><answer>14</answer>``
    * ``chat_numbers``: another formatted task, any expression over numbers in the given
      order (no target): ``<|user|>use 9 7 6 in order<|assistant|><think>9-7=2,2*6=12
      </think><answer>(9-7)*6</answer>``
    """
    if kind not in CORPUS_KINDS:
        raise ValueError(f"kind must be one of {', '.join(CORPUS_KINDS)} (got {kind!r})")
    if kind == "compare":
        a, b = _compare_pair(rng)
        return f"{a} vs {b} {'ok' if a == b else 'no'}"
    if kind == "chat_arithmetic":
        operands = [rng.randint(1, 20) for _ in range(rng.randint(2, 3))]
        problem = arithmetic.random_problem(operands, rng)
        if problem is None:
            return str(operands[0])
        trace = arithmetic.write_trace(problem)
        if split_of(problem.key()) != "train":  # a held-out problem: its steps, untagged
            return trace.removeprefix("<think>").split("</think>", 1)[0]
        return f"<|user|>{problem.prompt()}<|assistant|>{trace}"
    numbers = [rng.randint(spec.min_number, spec.max_number) for _ in range(spec.n_numbers)]
    candidates = countdown.candidates(numbers, spec) or countdown.chains(numbers)
    listed = " ".join(map(str, numbers))
    expr = rng.choice(candidates)  # never empty: adding every number is always a chain
    steps = ",".join(str(s) for s in expr.steps())
    if world.trace_style == "search" and kind in ("fact", "chain"):
        # The search's items, dead ends among them: a forbidden step is a fact too (3/2=x).
        item = rng.choice(countdown.search_items(numbers, spec))
        written = countdown.search_item_text(item, 0, spec).split(" vs ", 1)[0]
        return rng.choice(written.split(",")) if kind == "fact" else f"{listed}: {written}"
    if kind == "fact":
        return str(rng.choice(expr.steps()))
    if kind == "chain":
        return f"{listed}: {steps}"
    if kind == "value":
        return f"{steps} is {expr}"
    if kind == "chat_numbers":
        turn = f"<think>{steps}</think><answer>{expr}</answer>"
        return f"<|user|>use {listed} in order<|assistant|>{turn}"
    # check: half of the time the target is the attempt's value (ok), else another chain's.
    value = int(expr.value)
    others = sorted({int(e.value) for e in candidates} - {value})
    target = rng.choice(others) if others and rng.random() < 0.5 else value
    problem = countdown.CountdownProblem(tuple(numbers), target)
    if split_of(problem.key()) != "train":
        return f"{listed}: {steps}"  # never pair a held-out problem with its target
    if world.trace_style == "search":
        return f"{problem.prompt()}: {countdown.checked_attempt(expr, target)}"
    return f"{problem.prompt()}: {steps} {'ok' if value == target else 'no'}"


def pretraining_corpus(
    n: int,
    seed: int,
    spec: countdown.CountdownSpec | None = None,
    world: str | World = COUNTDOWN,
) -> Dataset:
    """``n`` plain-text documents (column ``text``) that teach the arithmetic of the task
    (step facts, chains, expression values, checks against a wanted number) but never the
    task in the ``<think>/<answer>`` format. World 1's corpus holds no tags and no chat
    turns at all; the search world's also holds bare comparisons and two *other* tasks in
    the chat format (so that RL from the base model can start). Columns: ``text``,
    ``kind``."""
    if n < 1:
        raise ValueError(f"n must be ≥ 1 (got {n})")
    world = get_world(world)
    spec = spec or world.spec
    rng = random.Random(f"corpus:{seed}")
    kinds_here = tuple(k for k in CORPUS_KINDS if k in world.corpus_mix)
    weights = [world.corpus_mix[k] for k in kinds_here]
    kinds = rng.choices(kinds_here, weights=weights, k=n)
    texts = [corpus_document(kind, rng, spec, world) for kind in kinds]
    return Dataset.from_dict({"text": texts, "kind": kinds})
