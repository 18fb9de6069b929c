"""Worker processes that never outlive the command that started them.

A worker that only notes its parent once it has imported torch (seconds after it
started) can miss a parent killed in those seconds: it is then a child of init already,
and waits for a parent that never changes again. So the parent is known exactly:

* a worker of r1lab's own process pools is handed its parent's PID
  (:func:`die_with_parent` with ``parent=``);
* a worker of ``accelerate launch`` / ``torchrun`` (torch's elastic launcher sets
  ``TORCHELASTIC_RUN_ID``) checks, before any slow import, that its parent is that
  launcher (:func:`watch_launcher`, called first by ``python -m r1lab``).

Standard library only: this module is imported before torch.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

LAUNCHERS = ("accelerate", "torchrun", "torch.distributed", "deepspeed")
_watching: set[int] = set()


def die_with_parent(poll_s: float = 0.5, parent: int | None = None) -> None:
    """In a worker process: exit as soon as ``parent`` (default: the current parent) is
    gone, killed with ``kill -9`` or SIGTERM, so no orphan keeps training or holding a
    run folder. A worker whose ``parent`` is already gone exits at once."""
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:
        os._exit(1)
    if parent in _watching:
        return
    _watching.add(parent)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def launched_by() -> int | None:
    """The PID of the elastic launcher that started this process, or None when it was not
    started by one. A process whose launcher is already gone is told so and exits."""
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        return None
    parent = os.getppid()
    try:
        command = Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:  # no /proc (not Linux): take the parent as it is
        return parent
    if not any(name in command for name in LAUNCHERS):
        print(
            f"r1lab: this worker's launcher is gone (its parent is now process {parent}, "
            f"not an `accelerate launch` or `torchrun`): exiting",
            file=sys.stderr,
        )
        os._exit(1)
    return parent


def watch_launcher(poll_s: float = 0.2) -> None:
    """When started by an elastic launcher: exit with it (see the module's docstring)."""
    parent = launched_by()
    if parent is not None:
        die_with_parent(poll_s, parent)
