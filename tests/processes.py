"""Helpers for tests that start a server: a free local port, and stopping a process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(server: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True`` and all its children
    (``make`` and the server it runs): SIGTERM, then SIGKILL if it does not exit."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
