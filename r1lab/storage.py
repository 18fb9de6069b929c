"""How r1lab writes and reads its files so that no command loses or silently corrupts work.

* JSON is written atomically (a temporary file, then a rename): a kill mid-write leaves
  the old file or the new one, never half of one. :func:`read_json` names the file and
  the line of a parse error.
* JSON-lines logs are appended one line at a time; :func:`read_jsonl` ignores a torn
  last line (a run killed mid-write) and names the file and line of any other bad one.
* Training state (a run's ``checkpoint.pt``) carries the SHA-256 of its bytes, checked on
  load: zeroed or truncated bytes are an error naming the file, not a silently wrong
  resume. It is read with ``weights_only=True``: tensors and plain data only, so a crafted
  file in a shared run folder cannot run code (the checksum alone would not stop that:
  anyone can compute one).
* A failed write (a full disk) names the file and leaves no temporary file behind.
* A run folder has one writer at a time (:func:`exclusive`): a lock the operating system
  releases when its holder dies, so a second writer is told who holds it.
* A finished run is never replaced without being asked (:class:`FinishedRunError`, raised
  by :func:`r1lab.experiments.finished_run`).
* Worker processes die with their parent (:func:`r1lab.lifeline.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCK_FILE = ".r1lab.lock"
STATE_MAGIC = b"r1lab-state sha256="  # the first line of a checksummed state file


class CorruptFileError(ValueError):
    """A file r1lab wrote that no longer reads back as written (the message names it)."""


class RunInUseError(ValueError):
    """Another process is writing to the run folder."""


class FinishedRunError(ValueError):
    """The run folder holds a finished run that the command would replace."""


class NotARunFolderError(ValueError):
    """The output folder holds something other than an r1lab run (a model, other files)."""


# ------------------------------------------------------------------------------ JSON


def clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()  # a full disk stays full while the half-written copy is there
        raise OSError(err.errno, f"cannot write {path}: {err.strerror or err}") from err
    return path


def write_json(path: str | Path, value: Any, indent: int | None = 2) -> Path:
    """``value`` as JSON in ``path``, atomically."""
    text = json.dumps(clean(value), indent=indent, ensure_ascii=False) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: str | Path, remedy: str = "") -> Any:
    """The JSON in ``path``; a file that does not parse is an error naming it."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptFileError(
            f"{path}, line {err.lineno}: not valid JSON ({err.msg})"
            + (f": {remedy}" if remedy else "")
        ) from None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file ([] when there is none). A torn last line (a writer
    killed mid-line) is left out; any other bad line is an error naming file and line."""
    path = Path(path)
    if not path.exists():
        return []
    rows, lines = [], path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):
                break
            raise CorruptFileError(f"{path}, line {number}: not JSON ({err.msg})") from None
    return rows


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Replace a JSON-lines file with ``rows``, atomically."""
    text = "".join(json.dumps(clean(row)) + "\n" for row in rows)
    return write_bytes_atomic(path, text.encode("utf-8"))


def append_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to a JSON-lines file. A torn last line left by a killed writer is
    cut off first, so the new rows never end up glued to half a line."""
    path = Path(path)
    if path.exists() and path.stat().st_size:
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                data = path.read_bytes()
                f.truncate(data.rfind(b"\n") + 1)
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(clean(row)) + "\n" for row in rows))


# ------------------------------------------------------------------ checksummed state


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_state(state: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` of ``state``, preceded by one line with the SHA-256 of its bytes,
    written atomically (a crash mid-write keeps the previous file)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = STATE_MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n"
    return write_bytes_atomic(path, header + payload)


def load_state(path: str | Path, remedy: str, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """What :func:`save_state` wrote, after checking its checksum. A file written before
    checksums existed (a plain ``torch.save`` archive) is read as it is. Only tensors and
    plain data are unpickled (``weights_only=True``): a file holding anything else is
    refused, since unpickling it could run code. ``keys`` must all be in the state."""
    import pickle

    import torch

    path = Path(path)
    data = path.read_bytes()
    if data.startswith(STATE_MAGIC):
        header, _, payload = data.partition(b"\n")
        want = header[len(STATE_MAGIC) :].decode("ascii", errors="replace")
        if hashlib.sha256(payload).hexdigest() != want:
            raise CorruptFileError(
                f"{path} is corrupted (its bytes no longer match the checksum written with "
                f"them): {remedy}"
            )
    elif data[:2] == b"PK":  # an unchecksummed archive from an older r1lab
        payload = data
    else:
        raise CorruptFileError(f"{path} is not a training state r1lab wrote: {remedy}")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CorruptFileError(
            f"{path} holds objects other than tensors and plain data, which r1lab never "
            f"writes; it was not loaded, since loading it could run code: {remedy}"
        ) from None
    except Exception as err:  # a damaged legacy archive
        raise CorruptFileError(f"{path} cannot be read ({err}): {remedy}") from None
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise CorruptFileError(
            f"{path} is not a training state r1lab wrote (no {', '.join(missing)}): {remedy}"
        )
    return state


# ------------------------------------------------------------------- one writer per run

_held: dict[Path, list] = {}  # folder -> [open lock file, depth], for this process
_held_guard = threading.Lock()


def _try_lock(f: Any) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def exclusive(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir`` as its only writer for the ``with`` block (re-entrant within a
    process). Another process holding it is a :class:`RunInUseError` naming its PID. The
    operating system drops the lock when the holder dies, even by ``kill -9``."""
    folder = Path(run_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with _held_guard:
        if folder in _held:
            _held[folder][1] += 1
            entry = _held[folder]
        else:
            entry = None
    if entry is None:
        lock = folder / LOCK_FILE
        for _ in range(20):  # the file may be removed by a holder finishing meanwhile
            f = open(lock, "a+", encoding="utf-8")  # noqa: SIM115 (held open with the lock)
            if not _try_lock(f):
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                raise RunInUseError(
                    f"{run_dir} is being written by process {holder}: wait for it to finish "
                    "(or stop it), or choose another output folder"
                )
            try:
                same = os.stat(lock).st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()
        else:  # pragma: no cover - a lock file replaced twenty times in a row
            raise RunInUseError(f"{run_dir}: could not take its lock")
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        with _held_guard:
            _held[folder] = [f, 1]
    try:
        yield folder
    finally:
        with _held_guard:
            _held[folder][1] -= 1
            last = _held[folder][1] == 0
            f = _held.pop(folder)[0] if last else None
        if f is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(folder / LOCK_FILE)  # unlinked while held: nobody else has it
            f.close()


# ------------------------------------------------------------------- finished runs


def settings_differ(saved: dict[str, Any], now: dict[str, Any]) -> str:
    """``key: old → new`` for the settings that differ, for error messages."""
    keys = sorted(k for k in now if saved.get(k) != now[k])
    return ", ".join(f"{k}: {saved.get(k)!r} → {now[k]!r}" for k in keys) or "none"
