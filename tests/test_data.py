"""Dataset builders and the fixed held-out evaluation files."""

from __future__ import annotations

import json

import pytest

from r1lab.cli import main
from r1lab.data import (
    EVAL_DIR,
    EVAL_SETS,
    arithmetic_dataset,
    countdown_dataset,
    countdown_trace_dataset,
    load_eval,
    write_eval_sets,
)
from r1lab.rewards import arithmetic_reward, countdown_reward
from r1lab.tasks import arithmetic, countdown
from r1lab.tasks.splits import split_of
from r1lab.tokenizer import check_text


def test_countdown_dataset_rows_are_chat_prompts_with_problem_columns(tokenizer):
    ds = countdown_dataset(20, seed=0)
    assert ds.column_names == ["prompt", "numbers", "target"]
    row = ds[0]
    assert row["prompt"] == [{"role": "user", "content": row["prompt"][0]["content"]}]
    assert isinstance(row["numbers"], list) and isinstance(row["target"], int)
    text = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    check_text(text, tokenizer)
    plain = countdown_dataset(20, seed=0, chat=False)
    assert plain[0]["prompt"] == row["prompt"][0]["content"]


def test_trace_dataset_completions_all_verify():
    ds = countdown_trace_dataset(50, seed=1, retry_rate=0.3)
    completions = [r["completion"] for r in ds]
    assert completions[0][0]["role"] == "assistant"
    rewards = countdown_reward(completions, numbers=ds["numbers"], target=ds["target"])
    assert rewards == [1.0] * 50
    assert ds["numbers"] == countdown_trace_dataset(50, seed=1, retry_rate=0.3)["numbers"]


def test_arithmetic_dataset_with_traces():
    ds = arithmetic_dataset(30, seed=0, traces=True)
    assert arithmetic_reward(ds["completion"], answer=ds["answer"]) == [1.0] * 30


def test_shipped_eval_files_are_exactly_what_the_command_writes(tmp_path):
    written = write_eval_sets(tmp_path)
    assert [p.name for p in written] == [s.filename for s in EVAL_SETS]
    for path in written:
        assert path.read_bytes() == (EVAL_DIR / path.name).read_bytes(), path.name
    assert main(["eval-sets", "--check"]) == 0
    (tmp_path / "countdown.jsonl").write_text("{}\n")
    assert main(["eval-sets", "--check", "--out", str(tmp_path)]) == 1


def test_eval_problems_never_appear_in_training_data():
    rows = [json.loads(line) for line in (EVAL_DIR / "countdown.jsonl").read_text().splitlines()]
    eval_keys = {countdown.CountdownProblem(tuple(r["numbers"]), r["target"]).key() for r in rows}
    assert len(eval_keys) == len(rows) == 200
    assert all(split_of(k) == "eval" for k in eval_keys)
    for seed in range(5):
        train = {p.key() for p in countdown.generate(300, seed)}
        assert not train & eval_keys
    traces = countdown_trace_dataset(300, seed=9)
    keys = {
        countdown.CountdownProblem(tuple(n), t).key()
        for n, t in zip(traces["numbers"], traces["target"], strict=True)
    }
    assert not keys & eval_keys
    arith = {json.loads(line)["expression"] for line in (EVAL_DIR / "arithmetic.jsonl").open()}
    assert not arith & {p.expression for p in arithmetic.generate(500, seed=0)}


def test_load_eval():
    ds = load_eval("countdown", n=10)
    assert len(ds) == 10 and ds[0]["id"] == "countdown-0000"
    assert ds[0]["prompt"][0]["role"] == "user"
    assert len(load_eval("arithmetic")) == 500
    with pytest.raises(ValueError, match="unknown evaluation set"):
        load_eval("gsm8k")
    with pytest.raises(FileNotFoundError, match="r1lab eval-sets"):
        load_eval("countdown", eval_dir=EVAL_DIR / "missing")
