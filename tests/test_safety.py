"""Safe by default, probed as an attacker or an accident would: crafted files in a shared
run folder, commands aimed at a model, a full disk, killed launchers, Ctrl-C pressed twice.
Real processes, real signals and real files throughout."""

from __future__ import annotations

import hashlib
import io
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
from r1lab.experiments import RUN_MARKER, claim_run_folder, grpo_from_sft
from r1lab.models import load
from r1lab.paths import SHIPPED_MODELS_DIR
from r1lab.resume import CHECKPOINT_FILE
from r1lab.storage import (
    STATE_MAGIC,
    CorruptFileError,
    NotARunFolderError,
    load_state,
    read_jsonl,
    save_state,
)
from tests.processes import alive, children, free_port

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
LINUX = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")


def _r1lab(*argv: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "r1lab", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def _fingerprint(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------- a run folder cannot run code


class _Payload:
    """Unpickling this runs code: it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def _crafted_state(path: Path, marker: Path, checksum: bool) -> None:
    """A ``checkpoint.pt`` whose unpickling would run code: with r1lab's checksum header
    (anyone can compute one) or as a plain ``torch.save`` zip (an older r1lab's)."""
    buffer = io.BytesIO()
    torch.save({"step": 1, "settings": {}, "payload": _Payload(marker)}, buffer)
    payload = buffer.getvalue()
    header = STATE_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + payload if checksum else payload)


@pytest.mark.parametrize("checksum", [True, False], ids=["checksummed", "plain-zip"])
def test_a_crafted_resume_state_is_refused_without_running_it(tmp_path, checksum):
    marker = tmp_path / "code-ran"
    state = tmp_path / "run" / CHECKPOINT_FILE
    _crafted_state(state, marker, checksum)
    with pytest.raises(CorruptFileError, match=r"checkpoint\.pt holds objects other than"):
        load_state(state, "delete it")
    assert not marker.exists()
    # The command a learner runs on a folder they were sent.
    done = _r1lab("grpo", "--profile", "smoke", "--out", str(tmp_path / "run"), "--quiet")
    assert done.returncode == 2
    assert f"{state} holds objects other than tensors and plain data" in done.stderr
    assert "could run code" in done.stderr and not marker.exists()


def test_the_sweep_refuses_a_crafted_state_before_training(tmp_path):
    marker = tmp_path / "code-ran"
    _crafted_state(tmp_path / "sweep" / "grpo-seed0" / CHECKPOINT_FILE, marker, checksum=True)
    done = _r1lab("sweep", "--profile", "smoke", "--arms", "grpo", "--seeds", "0", "--jobs",
                  "1", "--quiet", "--out", str(tmp_path / "sweep"))  # fmt: skip
    assert done.returncode == 2 and "holds objects other than tensors" in done.stderr
    assert not marker.exists()


def test_real_states_still_load_and_name_a_missing_part(tmp_path):
    path = tmp_path / "state.pt"
    rng = torch.get_rng_state()
    save_state({"step": 3, "rng": {"torch": rng, "python": (3, (1, 2), None)}}, path)
    state = load_state(path, "x", keys=("step", "rng"))
    assert state["step"] == 3 and torch.equal(state["rng"]["torch"], rng)
    with pytest.raises(CorruptFileError, match=r"state\.pt is not a training state .*no model"):
        load_state(path, "x", keys=("step", "model"))


# ------------------------------------------------- commands train only into run folders


def test_a_command_aimed_at_a_shipped_model_writes_nothing_into_it(tmp_path):
    model = tmp_path / "sft"
    shutil.copytree(SHIPPED_MODELS_DIR / "sft", model)
    before = _fingerprint(model)
    done = _r1lab("grpo", "--profile", "smoke", "--out", str(model), "--quiet")
    assert done.returncode == 2
    assert f"{model} holds a saved model (card.json), not a run" in done.stderr
    assert _fingerprint(model) == before
    load(model)  # still the model it was


def test_every_file_of_a_shipped_model_is_checked_against_its_card(tmp_path):
    model = tmp_path / "sft"
    shutil.copytree(SHIPPED_MODELS_DIR / "sft", model)
    config = (model / "config.json").read_text()
    # What `r1lab grpo --out data/checkpoints/sft` used to write there: its settings.
    (model / "config.json").write_text('{"steps": 2, "num_generations": 4}\n')
    with pytest.raises(CorruptFileError, match=r"config\.json is corrupted or was replaced"):
        load(model)
    (model / "config.json").write_text(config)
    tokenizer = model / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text().replace('"<answer>"', '"<answre>"'))
    with pytest.raises(CorruptFileError, match=r"tokenizer\.json is corrupted"):
        load(model)
    shutil.copy(SHIPPED_MODELS_DIR / "sft" / "tokenizer.json", tokenizer)
    (model / "chat_template.jinja").unlink()
    with pytest.raises(CorruptFileError, match=r"chat_template\.jinja is missing"):
        load(model)


def test_overwrite_never_deletes_what_r1lab_did_not_write(tmp_path):
    # A folder that is not a run, with folders named like a run's: nothing is deleted.
    folder = tmp_path / "thesis"
    for name in ("reference", "processes"):
        (folder / name).mkdir(parents=True)
        (folder / name / "notes.txt").write_text("a year of work")
    done = _r1lab("grpo", "--profile", "smoke", "--out", str(folder), "--overwrite", "--quiet")
    assert done.returncode == 2 and "is not an r1lab run folder" in done.stderr
    assert (folder / "reference" / "notes.txt").read_text() == "a year of work"
    assert (folder / "processes" / "notes.txt").exists()
    # A folder with files of the learner's: refused by name, untouched.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "essay.md").write_text("draft")
    with pytest.raises(NotARunFolderError, match="it holds essay.md, which r1lab did not write"):
        claim_run_folder(tmp_path / "mine")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["essay.md"]


def test_overwrite_of_a_run_replaces_only_the_runs_files(tmp_path):
    run = tmp_path / "run"
    cfg = RunConfig.from_profile("smoke")
    grpo_from_sft(cfg, run, progress=False)
    assert (run / RUN_MARKER).is_file()  # r1lab marked the folder as its run
    (run / "my-notes.md").write_text("what I saw")
    grpo_from_sft(cfg.replace(rl_steps=1), run, progress=False, overwrite=True)
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl")] == [1]
    assert (run / "my-notes.md").read_text() == "what I saw"


def test_the_evaluation_budget_is_part_of_a_runs_identity(tmp_path):
    run = tmp_path / "run"
    grpo_from_sft(RunConfig.from_profile("smoke"), run, progress=False)
    done = _r1lab("grpo", "--profile", "smoke", "--out", str(run), "--quiet",
                  env={**ENV, "R1LAB_N_EVAL": "8"})  # fmt: skip
    assert done.returncode == 2
    assert "another held-out measurement: eval_problems: 16 → 8" in done.stderr


# ------------------------------------------------------------------ a full disk


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare")
def test_a_full_disk_names_the_file_and_leaves_no_temporary_file(tmp_path):
    """A real full disk: a 1 MB tmpfs, mounted in a mount namespace of the test's own
    (``unshare``), too small for the 3 MB training state."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {disk} && "
        f"{{ {sys.executable} -m r1lab grpo --profile smoke --keep-checkpoint --quiet "
        f"--out {disk}/run; echo rc=$?; ls -a {disk}/run; }}"
    )
    namespace = ["unshare", "--map-root-user", "--mount", "sh", "-c", script]
    done = subprocess.run(namespace, cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert "rc=2" in done.stdout, done.stdout + done.stderr
    assert f"cannot write {disk}/run/{CHECKPOINT_FILE}: No space left on device" in done.stderr
    listed = done.stdout.split()
    assert "metrics.jsonl" in listed and not [n for n in listed if n.endswith(".tmp")]


# ------------------------------------------------------- workers die with their launcher


def _kill_soon_after_workers_start(command: list[str], after_s: float = 1.5) -> list[int]:
    """Start ``command``, ``kill -9`` it ``after_s`` seconds after its first worker appears
    (while the workers are still importing torch), and return the workers' PIDs."""
    process = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    seen: set[int] = set()
    first = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and (first is None or time.monotonic() < first + after_s):
            for child in children(process.pid):
                seen.add(child)
                seen.update(children(child))
            if seen and first is None:
                first = time.monotonic()
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    assert seen, "no worker started"
    return sorted(seen)


def _none_left(pids: list[int], within_s: float = 30) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(map(alive, pids)):
        time.sleep(0.2)
    left = [pid for pid in pids if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@LINUX
def test_study_workers_exit_when_the_study_dies_in_their_first_seconds(tmp_path):
    workers = _kill_soon_after_workers_start(
        [sys.executable, "-m", "r1lab", "emergence", "--profile", "smoke", "--world", "search",
         "--arms", "sft", "--seeds", "0", "1", "--jobs", "2", "--quiet", "--out", str(tmp_path)]
    )  # fmt: skip
    assert _none_left(workers) == []


@LINUX
def test_launched_workers_exit_when_the_launcher_dies_in_their_first_seconds(tmp_path):
    workers = _kill_soon_after_workers_start(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(REPO / "configs" / "accelerate" / "cpu_ddp.yaml"), "--main_process_port",
         str(free_port()), "-m", "r1lab", "scale", "--model", str(SHIPPED_MODELS_DIR / "sft"),
         "--steps", "20", "--train-prompts", "100", "--quiet", "--out", str(tmp_path / "run")]
    )  # fmt: skip
    assert _none_left(workers) == []


@LINUX
def test_a_launched_worker_whose_launcher_is_gone_exits_at_once():
    # Started by this test, not by a launcher: as if its launcher died and it was adopted.
    done = _r1lab("info", env={**ENV, "TORCHELASTIC_RUN_ID": "probe"})
    assert done.returncode == 1 and "this worker's launcher is gone" in done.stderr


# ------------------------------------------------------------------------ Ctrl-C


def _interrupt(out: Path, *argv: str, signals: int = 1, gap_s: float = 0.0) -> tuple[int, str]:
    """``r1lab grpo`` into ``out``, sent ``signals`` SIGINTs ``gap_s`` apart once it has
    logged a step; its exit status and what it printed on stderr."""
    command = [sys.executable, "-m", "r1lab", "grpo", "--profile", "smoke", "--steps", "500",
               "--quiet", "--out", str(out), *argv]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    start = len(read_jsonl(out / "metrics.jsonl"))
    while len(read_jsonl(out / "metrics.jsonl")) <= start:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.01)
    for i in range(signals):
        if i:
            time.sleep(gap_s)
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def test_ctrl_c_promises_a_resume_only_when_a_checkpoint_exists(tmp_path):
    rc, err = _interrupt(tmp_path / "fresh")
    assert rc == 130 and "no checkpoint was written yet" in err and "resume" not in err
    # A run that kept its checkpoint, extended, then interrupted: it resumes.
    assert _r1lab("grpo", "--profile", "smoke", "--keep-checkpoint", "--quiet", "--out",
                  str(tmp_path / "kept")).returncode == 0  # fmt: skip
    rc, err = _interrupt(tmp_path / "kept")
    assert rc == 130 and "resume from the last checkpoint" in err


@pytest.mark.parametrize("gap_s", [0.0, 0.003, 0.01])
def test_ctrl_c_twice_exits_cleanly(tmp_path, gap_s):
    rc, err = _interrupt(tmp_path / "run", signals=2, gap_s=gap_s)
    assert rc == 130, err
    assert "Traceback" not in err and "Error" not in err
    assert [line for line in err.splitlines() if line.strip()] == [
        "r1lab grpo: interrupted; no checkpoint was written yet: running the same command "
        "again starts over"
    ]


def test_a_bad_steps_flag_names_the_flag_not_the_field():
    done = _r1lab("grpo", "--steps", "-1")
    assert done.returncode == 2
    assert "--steps must be an integer in [0, 100000] (got -1)" in done.stderr
    assert "rl_steps" not in done.stderr
