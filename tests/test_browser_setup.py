"""The set-up step of the UI tests (tests/ui/browser.py) finds a browser or installs one.

The real decision code runs against a PATH that holds only stub executables written here:
``apt-get``, ``sudo`` and a ``python`` that intercepts ``-m playwright install`` record their
arguments and, when told to succeed, create a fake browser where the real lookup finds it.
Playwright's own lookup runs for real, pointed at an empty folder. Nothing is installed.
"""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.ui.browser import BrowserMissing, ensure_browser, playwright_chromium

# The stubs' own commands (mkdir, chmod, env) come from the real system.
SYSTEM_PATH = "/usr/bin:/bin"


class Machine:
    """A temporary PATH with no browser on it, stub installers, and their call log."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.log"
        self.log.touch()
        self.env = {
            "PATH": str(self.bin),
            "HOME": str(root / "home"),
            "PLAYWRIGHT_BROWSERS_PATH": str(root / "playwright"),
        }
        self.python = str(self.bin / "python")
        self.playwright_target = playwright_chromium(self.env)
        assert self.playwright_target and not self.playwright_target.exists()

    def record(self, name: str) -> str:
        """The shell line that logs a call of ``name`` with its arguments."""
        return f'echo "{name} $*" >> {shlex.quote(str(self.log))}'

    def stub(self, name: str, body: str, record: bool = True) -> Path:
        path = self.bin / name
        path.write_text(
            f"#!/bin/sh\nPATH={SYSTEM_PATH}\n{self.record(name) if record else ''}\n{body}\n"
        )
        path.chmod(0o755)
        return path

    def fake_browser(self, path: Path) -> str:
        """Shell lines that put an executable where a browser would be."""
        quoted = shlex.quote(str(path))
        return f"mkdir -p $(dirname {quoted}) && touch {quoted} && chmod +x {quoted}"

    def apt_get(self, install_exit: int = 0) -> str:
        """apt-get whose ``install`` puts chromium on PATH, as Debian's package does."""
        path = self.stub(
            "apt-get",
            f'echo "env: DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> {shlex.quote(str(self.log))}\n'
            f'if [ "$1" = install ]; then\n'
            f"  [ {install_exit} = 0 ] || exit {install_exit}\n"
            f"  {self.fake_browser(self.bin / 'chromium')}\n"
            "fi",
        )
        return str(path)

    def sudo(self, password_less: bool) -> None:
        """sudo that answers ``-n true`` as configured and otherwise runs its command."""
        self.stub(
            "sudo",
            f'if [ "$2" = true ]; then exit {0 if password_less else 1}; fi\nshift\nexec "$@"',
        )

    def python_stub(self, install_exit: int = 0) -> None:
        """The real interpreter, except that ``-m playwright install`` is recorded instead."""
        create = self.fake_browser(self.playwright_target) if install_exit == 0 else ""
        self.stub(
            "python",
            'if [ "$1 $2 $3" = "-m playwright install" ]; then\n'
            f"  {self.record('python')}\n  {create}\n  exit {install_exit}\nfi\n"
            f'exec {shlex.quote(sys.executable)} "$@"',
            record=False,
        )

    def calls(self) -> list[str]:
        lines = self.log.read_text().splitlines()
        return [line for line in lines if not line.startswith("env: ")]

    def env_seen(self) -> set[str]:
        """The DEBIAN_FRONTEND values apt-get ran with."""
        lines = self.log.read_text().splitlines()
        return {line.removeprefix("env: ") for line in lines if line.startswith("env: ")}


@pytest.fixture
def machine(tmp_path) -> Machine:
    machine = Machine(tmp_path)
    machine.python_stub()
    return machine


@pytest.mark.parametrize("root", [True, False])
def test_a_browser_on_path_means_nothing_is_installed(machine, root):
    machine.apt_get()
    machine.sudo(password_less=True)
    chrome = machine.stub("google-chrome", "")

    browser = ensure_browser(machine.env, root=root, python=machine.python)

    assert (browser.path, browser.source) == (str(chrome), "google-chrome on PATH")
    assert machine.calls() == []


def test_chromium_bin_wins_and_a_wrong_one_stops_before_installing(machine, tmp_path):
    machine.apt_get()
    machine.stub("chromium", "")
    other = tmp_path / "other-chrome"
    other.write_text("")
    other.chmod(0o755)

    chosen = ensure_browser({**machine.env, "CHROMIUM_BIN": str(other)}, root=True)
    assert (chosen.path, chosen.source) == (str(other), "CHROMIUM_BIN")

    missing = tmp_path / "no-such-chrome"
    with pytest.raises(BrowserMissing, match=f"CHROMIUM_BIN='{missing}' is not an executable"):
        ensure_browser({**machine.env, "CHROMIUM_BIN": str(missing)}, root=True)
    assert machine.calls() == []


def test_as_root_debian_chromium_comes_from_apt(machine):
    machine.apt_get()
    machine.sudo(password_less=True)  # not needed as root, so never asked

    browser = ensure_browser(machine.env, root=True, python=machine.python)

    assert machine.calls() == ["apt-get update -qq", "apt-get install -y -qq chromium"]
    assert machine.env_seen() == {"DEBIAN_FRONTEND=noninteractive"}
    assert (browser.path, browser.source) == (str(machine.bin / "chromium"), "chromium on PATH")


def test_password_less_sudo_runs_apt(machine):
    apt_get = machine.apt_get()
    machine.sudo(password_less=True)

    browser = ensure_browser(machine.env, root=False, python=machine.python)

    as_root = f"sudo -n env DEBIAN_FRONTEND=noninteractive {apt_get}"
    assert machine.calls() == [
        "sudo -n true",
        f"{as_root} update -qq",
        "apt-get update -qq",
        f"{as_root} install -y -qq chromium",
        "apt-get install -y -qq chromium",
    ]
    assert machine.env_seen() == {"DEBIAN_FRONTEND=noninteractive"}
    assert browser.source == "chromium on PATH"


@pytest.mark.parametrize("sudo", ["asks for a password", "absent"])
def test_without_root_or_sudo_playwright_installs_its_chromium(machine, sudo):
    machine.apt_get()
    if sudo == "asks for a password":
        machine.sudo(password_less=False)

    browser = ensure_browser(machine.env, root=False, python=machine.python)

    asked = ["sudo -n true"] if sudo == "asks for a password" else []
    assert machine.calls() == [*asked, "python -m playwright install chromium"]
    assert (browser.path, browser.source) == (
        str(machine.playwright_target),
        "Playwright's Chromium",
    )


def test_a_failed_apt_install_falls_back_to_playwright(machine):
    machine.apt_get(install_exit=100)

    browser = ensure_browser(machine.env, root=True, python=machine.python)

    assert machine.calls() == [
        "apt-get update -qq",
        "apt-get install -y -qq chromium",
        "python -m playwright install chromium",
    ]
    assert browser.source == "Playwright's Chromium"


def test_a_browser_playwright_installed_earlier_is_used_as_is(machine):
    machine.apt_get()
    subprocess.run([machine.python, "-m", "playwright", "install", "chromium"], check=True)
    machine.log.write_text("")

    browser = ensure_browser(machine.env, root=True, python=machine.python)

    assert browser.source == "Playwright's Chromium"
    assert machine.calls() == []


@pytest.mark.parametrize(
    ("apt", "root", "command"),
    [
        # A Debian-like system we may not administer: the learner's one command is apt.
        (True, False, "sudo apt-get install chromium"),
        # apt tried and failed, or no apt at all: Playwright's download.
        (True, True, "{python} -m playwright install chromium"),
        (False, False, "{python} -m playwright install chromium"),
    ],
)
def test_when_everything_fails_the_message_names_one_command(machine, apt, root, command):
    if apt:
        machine.apt_get(install_exit=100)
    machine.python_stub(install_exit=1)

    with pytest.raises(BrowserMissing) as failure:
        ensure_browser(machine.env, root=root, python=machine.python)

    message = str(failure.value)
    assert message.count("Run `") == 1 and "\n" not in message, message
    assert f"Run `{command.format(python=machine.python)}`, then `make test` again." in message
    assert "`playwright install chromium` failed (exit 1)" in message
    assert machine.calls()[-1] == "python -m playwright install chromium"  # the message last


def _set_up(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.ui.browser"], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True,
    )  # fmt: skip


def test_the_step_prints_one_line_naming_the_browser(machine):
    chromium = machine.stub("chromium", "")
    done = _set_up(machine.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Browser for the UI tests: {chromium} (chromium on PATH)\n"


def test_the_step_fails_with_one_line(machine, tmp_path):
    done = _set_up({**machine.env, "CHROMIUM_BIN": str(tmp_path / "gone")})
    assert done.returncode == 1
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert machine.calls() == []


@pytest.mark.parametrize("target", ["test", "test-ui"])
def test_make_runs_the_step_before_pytest(target):
    done = subprocess.run(
        ["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    step = next(i for i, line in enumerate(lines) if "-m tests.ui.browser" in line)
    tests = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert step < tests
