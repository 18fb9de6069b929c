"""The README's course command really starts JupyterLab serving the course."""

import json
import os
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import REPO_ROOT
from tests.processes import free_port, stop_group

TOKEN = "r1lab-test-token"


def _get(url: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.timeout(180)
def test_make_lab_serves_the_tour_on_localhost():
    port = free_port()
    env = {**os.environ, "JUPYTER_TOKEN": TOKEN, "LAB_ARGS": "--no-browser"}
    server = subprocess.Popen(
        ["make", "-s", "lab", f"PORT={port}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make and jupyter share a process group we can stop
    )
    try:
        deadline, listing, last_error = time.time() + 150, None, None
        while time.time() < deadline and server.poll() is None:
            try:
                listing = _get(f"http://127.0.0.1:{port}/api/contents/notebooks")
                break
            except OSError as err:
                last_error = err
                time.sleep(1)
        if listing is None:
            stop_group(server)
            log = server.stdout.read().decode(errors="replace")[-3000:]
            pytest.fail(f"JupyterLab did not answer on port {port} ({last_error}):\n{log}")
        names = {item["name"] for item in listing["content"]}
        assert "00_tour.ipynb" in names
        status = _get(f"http://127.0.0.1:{port}/api/status")
        assert "started" in status
        # The kernel the course uses must be available to the server.
        specs = _get(f"http://127.0.0.1:{port}/api/kernelspecs")
        assert "python3" in specs["kernelspecs"]
    finally:
        stop_group(server)
