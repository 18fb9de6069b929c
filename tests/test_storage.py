"""Nothing lost: finished runs are not replaced without being asked, a run folder has one
writer, workers die with their parent, and damaged files are refused by name."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from r1lab.config import RunConfig
from r1lab.experiments import (
    EMERGENCE_DIR,
    HELDOUT_FILE,
    WATCH_FILE,
    emergence_run,
    emergence_study,
    grpo_from_sft,
)
from r1lab.grpo import train
from r1lab.grpo_settings import GRPOSettings
from r1lab.models import load, load_shipped
from r1lab.paths import SHIPPED_MODELS_DIR, SHIPPED_RUNS_DIR
from r1lab.resume import CHECKPOINT_FILE
from r1lab.runlog import EVAL_FILE, load_run
from r1lab.storage import (
    LOCK_FILE,
    CorruptFileError,
    FinishedRunError,
    RunInUseError,
    append_jsonl,
    exclusive,
    load_state,
    read_json,
    read_jsonl,
    save_state,
    write_json,
)
from r1lab.sweep import SWEEP_DIR, load_sweep, run_sweep, sweep_run
from tests.processes import alive, children

REPO = Path(__file__).resolve().parents[1]


def _fingerprint(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _damage(path: Path, at: float = 0.5, n: int = 64) -> None:
    """Zero ``n`` bytes at ``at`` of the file (flipped instead where they were zero)."""
    data = bytearray(path.read_bytes())
    i = int(len(data) * at)
    data[i : i + n] = bytes(0 if b else 0xFF for b in data[i : i + n])
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------ files written whole


def test_json_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "eval.json"
    write_json(path, {"a": 1, "nan": float("nan")})
    assert read_json(path) == {"a": 1, "nan": None}

    def killed(*args):  # the process dies between writing and renaming
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"a": 2})
    monkeypatch.undo()
    assert read_json(path) == {"a": 1, "nan": None}  # the old file, whole


def test_a_damaged_json_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text('{\n  "a": 1,\n  "b": ')
    with pytest.raises(CorruptFileError, match=r"eval\.json, line 3: not valid JSON.*run again"):
        read_json(path, remedy="run again")


def test_json_lines_tolerate_a_torn_last_line_and_name_a_bad_one(tmp_path):
    path = tmp_path / "watch.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "compl')  # killed mid-line
    assert read_jsonl(path) == [{"step": 1}, {"step": 2}]
    append_jsonl(path, [{"step": 3}])  # the torn half is cut, not glued to the new row
    assert read_jsonl(path) == [{"step": 1}, {"step": 2}, {"step": 3}]
    path.write_text('{"step": 1}\n{"ste\n{"step": 3}\n')
    with pytest.raises(CorruptFileError, match=r"watch\.jsonl, line 2: not JSON"):
        read_jsonl(path)


def test_training_state_carries_a_checksum(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_state({"step": 3, "w": torch.arange(10_000.0)}, path)
    assert load_state(path, "rebuild")["step"] == 3
    _damage(path, 0.7)  # zeroed bytes inside the tensors: torch.load alone reads them
    with pytest.raises(CorruptFileError, match=r"checkpoint\.pt is corrupted.*delete it"):
        load_state(path, "delete it")
    legacy = tmp_path / "legacy.pt"  # written by an older r1lab: read as it is
    torch.save({"step": 1}, legacy)
    assert load_state(legacy, "rebuild") == {"step": 1}
    legacy.write_bytes(b"garbage")
    with pytest.raises(CorruptFileError, match="legacy.pt is not a training state"):
        load_state(legacy, "rebuild")


# ------------------------------------------------------------------ damaged weights


def test_a_shipped_model_with_changed_bytes_is_refused_by_name(tmp_path):
    copy = tmp_path / "sft"
    shutil.copytree(SHIPPED_MODELS_DIR / "sft", copy)
    load(copy)  # intact: loads
    _damage(copy / "model.safetensors", 0.6)
    with pytest.raises(
        CorruptFileError, match=r"model\.safetensors is corrupted.*r1lab checkpoints"
    ):
        load(copy)
    # A model without a card (a learner's own) is loaded as before.
    (copy / "card.json").unlink()
    load(copy)


def _two_steps(run_dir: Path, **settings):
    """The cold start trained for 2 tiny GRPO steps into ``run_dir``: (model, tokenizer,
    prompts, settings)."""
    model, tokenizer = load_shipped("sft")
    prompts = [{"prompt": "3 4 5 to 17", "numbers": [3, 4, 5], "target": 17}] * 4
    settings = GRPOSettings(steps=2, prompts_per_step=2, num_generations=2, max_new_tokens=8,
                            **settings)  # fmt: skip
    train(model, tokenizer, prompts, settings, run_dir=run_dir, progress=False)
    return model, tokenizer, prompts, settings


def test_a_damaged_resume_checkpoint_is_refused_by_name(tmp_path):
    model, tokenizer, prompts, settings = _two_steps(tmp_path, checkpoint_every=1)
    _damage(tmp_path / CHECKPOINT_FILE, 0.6)
    longer = GRPOSettings(**{**settings.to_dict(), "steps": 3})
    with pytest.raises(CorruptFileError, match=r"checkpoint\.pt is corrupted.*delete"):
        train(model, tokenizer, prompts, longer, run_dir=tmp_path, progress=False)


# ------------------------------------------------------------------ finished runs


def test_a_finished_run_is_never_replaced_without_overwrite(tmp_path):
    cfg = RunConfig.from_profile("smoke")
    run_dir = tmp_path / "sft-seed0"
    first = emergence_run(cfg, "sft", run_dir, progress=False, steps=2)
    before = _fingerprint(run_dir)
    # Same settings: returned as it is. Other settings: refused, nothing touched.
    assert emergence_run(cfg, "sft", run_dir, progress=False, steps=2) == first
    with pytest.raises(FinishedRunError, match=r"finished run \(other settings: steps: 2 → 3\)"):
        emergence_run(cfg, "sft", run_dir, progress=False, steps=3)
    with pytest.raises(FinishedRunError, match="another kind of run: arm 'sft'"):
        emergence_run(cfg, "r1zero", run_dir, progress=False, steps=2)
    assert _fingerprint(run_dir) == before
    # Asked for: replaced, from scratch.
    again = emergence_run(cfg, "sft", run_dir, progress=False, steps=3, overwrite=True)
    assert again["settings"]["steps"] == 3 and again["resumed_from"] == 0
    assert [m["step"] for m in load_run(run_dir).metrics] == [1, 2, 3]
    assert [r["step"] for r in read_jsonl(run_dir / HELDOUT_FILE)] == [0]


def test_grpo_and_the_sweep_refuse_to_replace_a_finished_run(tmp_path):
    cfg = RunConfig.from_profile("smoke")
    grpo_from_sft(cfg, tmp_path / "grpo", progress=False)
    before = _fingerprint(tmp_path / "grpo")
    with pytest.raises(FinishedRunError, match="steps: 2 → 1"):
        grpo_from_sft(cfg.replace(rl_steps=1), tmp_path / "grpo", progress=False)
    with pytest.raises(FinishedRunError, match="another kind of run: trainer 'r1lab'"):
        grpo_from_sft(cfg, tmp_path / "grpo", trainer="trl", progress=False)
    assert _fingerprint(tmp_path / "grpo") == before

    sweep_run(cfg, "rft", tmp_path / "rft-seed0", steps=1, progress=False)
    before = _fingerprint(tmp_path / "rft-seed0")
    with pytest.raises(FinishedRunError, match="steps: 1 → 2"):
        sweep_run(cfg, "rft", tmp_path / "rft-seed0", steps=2, progress=False)
    assert _fingerprint(tmp_path / "rft-seed0") == before


def test_the_shipped_runs_cannot_be_replaced_by_a_command(tmp_path):
    """The exact probe that used to rewrite data/runs/emergence/sft-seed0: refused before
    any training, every shipped byte unchanged (the sweep's start scores too)."""
    shipped = _fingerprint(SHIPPED_RUNS_DIR)
    cfg = RunConfig.from_profile("smoke")
    t0 = time.perf_counter()
    with pytest.raises(FinishedRunError, match="sft-seed0 holds a finished run"):
        emergence_study(cfg, SHIPPED_RUNS_DIR / EMERGENCE_DIR, seeds=[0], arms=["sft"], steps=3)
    with pytest.raises(FinishedRunError, match=r"start-sft\.json holds the scores of another"):
        run_sweep(cfg, SHIPPED_RUNS_DIR / SWEEP_DIR, arms=("grpo",), seeds=(0,), jobs=1,
                  progress=False)  # fmt: skip
    assert time.perf_counter() - t0 < 60  # refused up front, not after the runs
    assert _fingerprint(SHIPPED_RUNS_DIR) == shipped


def test_damaged_run_files_name_themselves(tmp_path):
    cfg = RunConfig.from_profile("smoke")
    run_dir = tmp_path / "sft-seed0"
    emergence_run(cfg, "sft", run_dir, progress=False, steps=2, samples_every=1,
                  keep_checkpoint=True)  # fmt: skip
    # A run killed while writing a log line: the resume reads past the torn line.
    for name in (WATCH_FILE, HELDOUT_FILE):
        with open(run_dir / name, "a") as f:
            f.write('{"step": 3, "completion": "<think>3+4')
    (run_dir / EVAL_FILE).unlink()  # as if killed before the end
    longer = emergence_run(cfg, "sft", run_dir, progress=False, steps=3, samples_every=1)
    assert longer["resumed_from"] == 2
    assert [r["step"] for r in read_jsonl(run_dir / WATCH_FILE)][-1] == 3
    # A truncated summary is named, by the run and by the reader.
    text = (run_dir / EVAL_FILE).read_text()
    (run_dir / EVAL_FILE).write_text(text[: len(text) // 2])
    with pytest.raises(CorruptFileError, match=r"sft-seed0/eval\.json, line \d+: not valid JSON"):
        emergence_run(cfg, "sft", run_dir, progress=False, steps=3)
    sweep_dir = tmp_path / "sweep"
    shutil.copytree(run_dir, sweep_dir / "sft-seed0")
    with pytest.raises(CorruptFileError, match=r"eval\.json, line \d+"):
        load_sweep(sweep_dir)


def test_resuming_with_other_steps_says_what_the_schedule_becomes(tmp_path):
    model, tokenizer, prompts, settings = _two_steps(tmp_path, warmup_steps=0)
    longer = GRPOSettings(**{**settings.to_dict(), "steps": 6})
    with pytest.warns(UserWarning, match=r"steps=2 as a run of steps=6.*goes from \S+ \(last"):
        train(model, tokenizer, prompts, longer, run_dir=tmp_path, progress=False)
    rates = [m["learning_rate"] for m in load_run(tmp_path).metrics]
    assert rates[1] < rates[0] and rates[2] > rates[1]  # the jump the warning announces


# ------------------------------------------------------------------ one writer


HOLD = (
    "import sys, time; from r1lab.storage import exclusive\n"
    "with exclusive(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)\n"
)
TAKE = (
    "import sys; from r1lab.storage import exclusive\n"
    "with exclusive(sys.argv[1]):\n    print('taken')\n"
)


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, **kwargs)  # fmt: skip


def test_a_run_folder_has_one_writer_and_a_dead_writer_frees_it(tmp_path):
    holder = _python(HOLD, str(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "held"
        second = _python(TAKE, str(tmp_path))
        _, err = second.communicate(timeout=60)
        assert second.returncode != 0
        assert f"is being written by process {holder.pid}" in err
        with pytest.raises(RunInUseError, match=str(holder.pid)), exclusive(tmp_path):
            pass  # this process is refused too
    finally:
        holder.kill()  # kill -9: the operating system drops the lock
        holder.wait()
    third = _python(TAKE, str(tmp_path))
    out, err = third.communicate(timeout=60)
    assert third.returncode == 0, err
    assert out.strip() == "taken"
    # Re-entrant within a process; the lock file goes when the last holder lets go.
    with exclusive(tmp_path), exclusive(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_second_sweep_on_the_same_folder_is_refused(tmp_path):
    holder = _python(HOLD, str(tmp_path / "rft-seed0"))
    try:
        assert holder.stdout.readline().strip() == "held"
        cfg = RunConfig.from_profile("smoke")
        with pytest.raises(
            RunInUseError, match=f"rft-seed0 is being written by process {holder.pid}"
        ):
            sweep_run(cfg, "rft", tmp_path / "rft-seed0", steps=1, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "rft-seed0" / "metrics.jsonl").exists()


# ------------------------------------------------------------------ workers die with the parent


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_sweep_leaves_no_workers(tmp_path, sig):
    command = [sys.executable, "-m", "r1lab", "sweep", "--profile", "smoke", "--arms", "rft",
               "grpo", "--seeds", "0", "1", "--steps", "200", "--jobs", "2", "--quiet",
               "--out", str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "log.txt", "w")  # noqa: SIM115
    sweep = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not list(tmp_path.glob(f"*-seed*/{LOCK_FILE}")):
            assert sweep.poll() is None, (tmp_path / "log.txt").read_text()
            time.sleep(0.5)  # until a worker is training
        workers = children(sweep.pid)
        assert len(workers) >= 2, "the sweep started no workers"
    finally:
        sweep.send_signal(sig)
        sweep.wait()
        log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(map(alive, workers)):
        time.sleep(0.5)
    assert not [pid for pid in workers if alive(pid)]
    # The sweep run again resumes alone: no second writer in any run folder.
    for lock in tmp_path.glob(f"*/{LOCK_FILE}"):
        with exclusive(lock.parent):
            pass


def test_study_workers_exit_with_their_parent():
    code = (
        "import os, sys, time\n"
        "from r1lab.storage import die_with_parent\n"
        "if os.fork() == 0:\n"
        "    die_with_parent(0.1)\n"
        "    print(os.getpid(), flush=True); time.sleep(60); sys.exit(0)\n"
        "time.sleep(60)\n"
    )
    parent = _python(code)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(child):
        time.sleep(0.1)
    assert not alive(child)


def test_overwrite_also_clears_the_folders_a_new_run_would_resume_from(tmp_path):
    from r1lab import scale, trl_grpo
    from r1lab.experiments import RUN_DIRS, finished_run

    assert set(RUN_DIRS) == {trl_grpo.TRL_DIR, trl_grpo.REFERENCE_DIR, scale.TRACE_DIR}
    write_json(tmp_path / EVAL_FILE, {"settings": GRPOSettings(steps=3).to_dict()})
    for name in RUN_DIRS:
        (tmp_path / name / "checkpoint-3").mkdir(parents=True)
    with pytest.raises(FinishedRunError, match="steps: 3 → 2"):
        finished_run(tmp_path, GRPOSettings(steps=2), lambda saved: True)
    assert all((tmp_path / name).is_dir() for name in RUN_DIRS)
    assert finished_run(tmp_path, GRPOSettings(steps=2), lambda saved: True, overwrite=True) is None
    assert not any((tmp_path / name).exists() for name in RUN_DIRS)
    assert not (tmp_path / EVAL_FILE).exists()
