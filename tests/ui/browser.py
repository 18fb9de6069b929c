"""Which Chromium the UI tests drive, and the set-up step that installs one if none is found.

``find_browser`` is the one lookup: ``make test`` and ``make test-ui`` run this module first
(``python -m tests.ui.browser``), and ``tests/ui/conftest.py`` launches what it returns. In order:

1. ``CHROMIUM_BIN``, a path or a command name, when set (a wrong value is an error, never
   silently replaced by another browser);
2. ``chromium``, ``chromium-browser``, ``google-chrome-stable`` or ``google-chrome`` on PATH;
3. Playwright's own Chromium, if ``playwright install chromium`` has put it in place.

When none is found, ``ensure_browser`` installs one: Debian's ``chromium`` with apt-get as
root or through password-less sudo (a distribution package, updated with the system), else
Playwright's download (needs the internet), else it stops with the one command to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Not R1LAB_*: r1lab refuses R1LAB_ variables that name no RunConfig field, and the
# notebook kernels of the UI tests inherit this environment.
CHROMIUM_ENV = "CHROMIUM_BIN"
ON_PATH = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
# Asks Playwright where it keeps its Chromium: in a subprocess, so a given environment
# (PLAYWRIGHT_BROWSERS_PATH, HOME) applies. Only run when nothing else was found.
_PLAYWRIGHT_WHERE = (
    "from playwright.sync_api import sync_playwright\n"
    "with sync_playwright() as p:\n"
    "    print(p.chromium.executable_path)\n"
)


class BrowserMissing(RuntimeError):
    """No usable Chromium, and none could be installed; the message says what to run."""


@dataclass(frozen=True)
class Browser:
    path: str
    source: str  # how it was found: CHROMIUM_BIN, "<name> on PATH", Playwright's Chromium

    def __str__(self) -> str:
        return f"{self.path} ({self.source})"


def find_browser(
    env: Mapping[str, str] | None = None, python: str = sys.executable
) -> Browser | None:
    """The Chromium or Chrome the UI tests use, or None; installs nothing."""
    env = os.environ if env is None else env
    search_path = env.get("PATH", os.defpath)
    override = env.get(CHROMIUM_ENV)
    if override:
        path = shutil.which(override, path=search_path)
        if not path:
            raise BrowserMissing(
                f"{CHROMIUM_ENV}={override!r} is not an executable file: point it at a "
                "Chromium or Chrome binary, or unset it"
            )
        return Browser(path, CHROMIUM_ENV)
    for name in ON_PATH:
        path = shutil.which(name, path=search_path)
        if path:
            return Browser(path, f"{name} on PATH")
    path = playwright_chromium(env, python)
    if path and os.access(path, os.X_OK):
        return Browser(str(path), "Playwright's Chromium")
    return None


def playwright_chromium(env: Mapping[str, str], python: str = sys.executable) -> Path | None:
    """Where Playwright keeps (or would keep) its own Chromium; None without the package."""
    try:
        done = subprocess.run(
            [python, "-c", _PLAYWRIGHT_WHERE], env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    where = done.stdout.strip()
    return Path(where) if done.returncode == 0 and where else None


def ensure_browser(
    env: Mapping[str, str] | None = None,
    *,
    root: bool | None = None,
    python: str = sys.executable,
) -> Browser:
    """``find_browser``, installing a browser first if there is none (see the module doc)."""
    env = {**(os.environ if env is None else env), "DEBIAN_FRONTEND": "noninteractive"}
    root = _is_root() if root is None else root
    browser = find_browser(env, python)
    if browser:
        return browser
    failed = []
    apt_get = shutil.which("apt-get", path=env.get("PATH", os.defpath))
    sudo = None if root else _passwordless_sudo(env)
    if apt_get and (root or sudo):
        _say("No Chromium or Chrome found: installing Debian's chromium with apt-get.")
        # sudo resets the environment, so DEBIAN_FRONTEND goes through `env` on its line.
        run_as = [sudo, "-n", "env", "DEBIAN_FRONTEND=noninteractive"] if sudo else []
        code = _run([*run_as, apt_get, "update", "-qq"], env) or _run(
            [*run_as, apt_get, "install", "-y", "-qq", "chromium"], env
        )
        browser = find_browser(env, python)
        if browser:
            return browser
        failed.append(f"`apt-get install chromium` {_outcome(code)}")
    _say("No Chromium or Chrome found: installing Playwright's Chromium (a download).")
    code = _run([python, "-m", "playwright", "install", "chromium"], env)
    browser = find_browser(env, python)
    if browser:
        return browser
    failed.append(f"`playwright install chromium` {_outcome(code)}")
    # One command: apt where this is a Debian-like system we could not use it on ourselves.
    if apt_get and not (root or sudo):
        command = "sudo apt-get install chromium"
    else:
        command = f"{_shown(python)} -m playwright install chromium"
    raise BrowserMissing(
        f"The browser tests need Chromium or Chrome and found none: {'; '.join(failed)}. "
        f"Run `{command}`, then `make test` again."
    )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _passwordless_sudo(env: Mapping[str, str]) -> str | None:
    """The sudo command when it runs without asking for a password, else None."""
    sudo = shutil.which("sudo", path=env.get("PATH", os.defpath))
    return sudo if sudo and _run([sudo, "-n", "true"], env, quiet=True) == 0 else None


def _run(command: list[str], env: Mapping[str, str], quiet: bool = False) -> int:
    """Exit status of ``command`` (127 if it cannot start); its output goes to the terminal."""
    out = subprocess.DEVNULL if quiet else None
    try:
        return subprocess.run(command, env=env, stdout=out, stderr=out).returncode
    except OSError:
        return 127


def _outcome(code: int) -> str:
    return f"failed (exit {code})" if code else "left no browser to find"


def _shown(python: str) -> str:
    """``python`` as the learner would type it: relative inside the checkout (.venv/bin/python)."""
    relative = os.path.relpath(python)
    return python if relative.startswith("..") else relative


def _say(line: str) -> None:
    print(line, flush=True)


def main() -> int:
    try:
        browser = ensure_browser()
    except BrowserMissing as err:
        print(err, file=sys.stderr)
        return 1
    print(f"Browser for the UI tests: {browser}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
