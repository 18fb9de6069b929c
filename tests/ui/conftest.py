"""One JupyterLab server and one headless Chromium for the whole UI test session."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.processes import free_port, stop_group
from tests.ui.browser import CHROMIUM_ENV, BrowserMissing, find_browser
from tests.ui.harness import check_notebook, save_screenshot, shutdown_kernels

SCREENSHOTS = REPO_ROOT / "screenshots" / "ui"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# What `make test` runs before pytest: it installs a browser when none is found.
INSTALL_HINT = (
    "run `.venv/bin/python -m tests.ui.browser`, which installs one (`make test` runs it "
    f"first), or set {CHROMIUM_ENV} to a Chromium or Chrome binary"
)
# JupyterLab settings for the test server only: a run longer than the autosave interval
# must never write smoke-profile outputs over the committed notebooks.
TEST_SETTINGS = {"@jupyterlab/docmanager-extension/plugin": {"autosave": False}}

_screenshots_written: list[Path] = []


@dataclass
class Lab:
    url: str
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser binary (see tests/ui/browser.py); a missing one fails the UI tests, it
    never skips them."""
    try:
        browser = find_browser()
    except BrowserMissing as err:
        pytest.fail(f"The UI tests cannot start a browser: {err}.")
    if browser is None:
        pytest.fail(f"The UI tests need Chromium or Chrome, which was not found: {INSTALL_HINT}.")
    return browser.path


@pytest.fixture(scope="session")
def browser(chromium: str):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The UI tests need the playwright package: pip install -e '.[dev]'.")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        except Exception as err:
            pytest.fail(f"Chromium at {chromium} did not start ({err}); {INSTALL_HINT}.")
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """``make lab`` as the README gives it, on a free port, without a token."""
    home = tmp_path_factory.mktemp("jupyter")
    for name, values in TEST_SETTINGS.items():
        settings = home / "config" / "lab" / "user-settings" / f"{name}.jupyterlab-settings"
        settings.parent.mkdir(parents=True)
        settings.write_text(json.dumps(values))
    port, log = free_port(), home / "server.log"
    env = {
        **os.environ,
        "R1LAB_PROFILE": "smoke",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        # No token: the server listens on 127.0.0.1 only, for as long as the tests run,
        # and the browser needs no login step. The app is exposed so the harness can read
        # the live notebook model (see harness.check_cells).
        "LAB_ARGS": "--no-browser --IdentityProvider.token= --LabApp.expose_app_in_browser=True",
        # The learner's own Jupyter settings and workspaces neither leak in nor get touched.
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    for name in ("JUPYTER_TOKEN", "MPLBACKEND", CHROMIUM_ENV):
        env.pop(name, None)
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["make", "-s", "lab", f"PORT={port}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and jupyter share a process group we can stop
        )
    lab = Lab(f"http://127.0.0.1:{port}", log)
    try:
        _wait_for_server(server, lab)
        yield lab
    finally:
        stop_group(server)


def _wait_for_server(server: subprocess.Popen, lab: Lab, timeout: float = 150) -> None:
    deadline, last_error = time.monotonic() + timeout, None
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status", timeout=5) as response:
                json.loads(response.read())
                return
        except OSError as err:
            last_error = err
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer at {lab.url} ({last_error}):\n{lab.log_tail()}")


@pytest.fixture
def page(browser):
    """A fresh browser page; console errors collected for failure messages."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda err: page.console_errors.append(f"page error: {err}"))
    page.on(
        "console",
        lambda msg: msg.type == "error" and page.console_errors.append(f"console: {msg.text}"),
    )
    yield page
    context.close()


@dataclass
class Inspection:
    problems: list[str]
    screenshot: Path | None
    console: list[str]

    def report(self) -> str:
        lines = ["What a learner would see go wrong:", *(f"  - {p}" for p in self.problems)]
        if self.screenshot:
            lines.append(f"Screenshot: {self.screenshot}")
        if self.console:
            lines.append("Browser console errors (context):")
            lines += [f"  {line[:300]}" for line in self.console[-10:]]
        return "\n".join(lines)


@pytest.fixture
def inspect_notebook(page, lab):
    """Run ``check_notebook`` on a path under the repository; always leave a screenshot."""

    def inspect_notebook(path: Path, **kwargs) -> Inspection:
        relative = path.relative_to(REPO_ROOT).as_posix()
        # notebooks/zh/00_tour.ipynb → zh-00_tour.png, beside the English 00_tour.png
        edition = "" if path.parent.name == "notebooks" else f"{path.parent.name}-"
        screenshot = SCREENSHOTS / f"{edition}{path.stem}.png"
        try:
            problems = check_notebook(page, lab.url, relative, **kwargs)
        finally:
            try:
                save_screenshot(page, screenshot)
                _screenshots_written.append(screenshot)
            except Exception as err:  # a broken page must not hide the real failure
                print(f"no screenshot of {relative}: {err}")
                screenshot = None
            try:
                shutdown_kernels(page)
            except Exception as err:
                print(f"kernels of {relative} not shut down: {err}")
        return Inspection(problems, screenshot, page.console_errors)

    return inspect_notebook


def pytest_terminal_summary(terminalreporter) -> None:
    if _screenshots_written:
        folder = _screenshots_written[0].parent
        terminalreporter.write_line(
            f"UI screenshots ({len(_screenshots_written)}): {folder.relative_to(REPO_ROOT)}/"
        )
