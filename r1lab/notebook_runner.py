"""Execute course notebooks headless: tests, output regeneration and memory benchmarks share it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from r1lab.paths import NOTEBOOKS_DIR

ALLOWED_ERROR_TAG = "raises-exception"

_PEAK_RSS_CODE = (
    "import resource as _r, sys as _s\n"
    "print(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss / (2**20 if _s.platform == 'darwin' else 2**10))"
)


@dataclass
class NotebookRun:
    path: Path
    seconds: float
    peak_rss_mb: float | None
    notebook: nbformat.NotebookNode


def course_notebooks() -> list[Path]:
    """Every ``NN_topic.ipynb`` in reading order."""
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def unexpected_errors(nb: nbformat.NotebookNode) -> list[str]:
    """Errors in cells that are not tagged ``raises-exception``, as readable lines."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and ALLOWED_ERROR_TAG not in tags:
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
    return found


def run_notebook(
    path: str | Path,
    profile: str = "smoke",
    timeout: int = 600,
    save: bool = False,
) -> NotebookRun:
    """Run every cell in a fresh kernel under ``R1LAB_PROFILE=profile``.

    Raises ``CellExecutionError`` on the first error in a cell not tagged
    ``raises-exception``. With ``save`` the executed notebook replaces the file.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "R1LAB_PROFILE": profile, "HF_HUB_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)  # let the kernel choose its inline backend
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        allow_errors=False,
    )
    start = time.perf_counter()
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        peak = _kernel_peak_rss(client)
    client.set_widgets_metadata()
    if save:
        nbformat.write(nb, path)
    return NotebookRun(path, seconds, peak, nb)


def _kernel_peak_rss(client: NotebookClient) -> float | None:
    """Peak resident memory of the kernel process so far, in MB."""
    probe = nbformat.v4.new_code_cell(_PEAK_RSS_CODE)
    client.nb.cells.append(probe)
    try:
        client.execute_cell(probe, len(client.nb.cells) - 1)
    except CellExecutionError:
        return None
    finally:
        client.nb.cells.pop()
    for output in probe.outputs:
        if output.get("name") == "stdout":
            try:
                return float(output["text"].strip().splitlines()[-1])
            except (ValueError, IndexError):
                return None
    return None


def format_summary(runs: list[NotebookRun]) -> str:
    lines = [f"{'notebook':32} {'seconds':>8} {'peak MB':>8}"]
    for run in runs:
        peak = f"{run.peak_rss_mb:8.0f}" if run.peak_rss_mb is not None else "       ?"
        lines.append(f"{run.path.name:32} {run.seconds:8.1f} {peak}")
    return "\n".join(lines)
