"""A training cell re-run after an interrupt starts from what it says it starts from.

Notebook 05's training cell writes a run folder and resumes from its last checkpoint. A
learner who stops the cell before the first checkpoint and runs it again must get the run
the notebook promises (the cold start, trained from step 0), not a continuation of the
weights the interrupted run had already changed in memory while its log says "fresh".
"""

from __future__ import annotations

import json

import nbformat

from r1lab.notebook_runner import ALLOWED_ERROR_TAG, run_notebook
from r1lab.paths import NOTEBOOKS_DIR

NOTEBOOK = NOTEBOOKS_DIR / "05_grpo_from_scratch.ipynb"

# Replaces `train` in the kernel: the wrapped run stops after its first step, as a
# KeyboardInterrupt (the stop button) does; the smoke run's first checkpoint is at step 2.
INTERRUPT_AFTER_STEP_1 = """
_train = train


def train(*args, on_step=None, **kwargs):
    def stop_after_step_1(metrics):
        if on_step is not None:
            on_step(metrics)
        if metrics["step"] == 1:
            raise KeyboardInterrupt

    return _train(*args, on_step=stop_after_step_1, **kwargs)
"""

# What the re-run produced, against the same settings trained once from a fresh load.
REPORT = """
import json as _json

_lines = (run_dir / "metrics.jsonl").read_text().splitlines()
_logged = [_json.loads(line)["step"] for line in _lines]
_fresh, _ = load_shipped("sft", device=str(device))
_reference = train(_fresh, tokenizer, train_rows, settings, progress=False)
_pairs = list(zip(trained.state_dict().values(), _fresh.state_dict().values()))
print(_json.dumps({
    "resumed_from": result.resumed_from,
    "logged_steps": _logged,
    "rewards": [m["reward"] for m in result.history],
    "reference_rewards": [m["reward"] for m in _reference.history],
    "max_weight_difference": max((a.float() - b.float()).abs().max().item() for a, b in _pairs),
}))
"""


def test_rerunning_the_training_cell_after_an_interrupt_trains_the_cold_start(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    at = next(i for i, c in enumerate(cells) if "run_dir=run_dir" in c.source)
    training = cells[at]
    interrupted = nbformat.v4.new_code_cell(training.source)
    interrupted.metadata["tags"] = [ALLOWED_ERROR_TAG]  # it stops with KeyboardInterrupt
    nb.cells = [
        *cells[:at],
        nbformat.v4.new_code_cell(f"from pathlib import Path\nRUNS_DIR = Path({str(tmp_path)!r})"),
        nbformat.v4.new_code_cell(INTERRUPT_AFTER_STEP_1),
        interrupted,
        nbformat.v4.new_code_cell("train = _train  # the real one again"),
        nbformat.v4.new_code_cell(training.source),  # the learner runs the cell again
        nbformat.v4.new_code_cell(REPORT),
    ]
    path = tmp_path / "rerun.ipynb"
    nbformat.write(nb, path)
    run = run_notebook(path, profile="smoke", timeout=600)

    stopped = run.notebook.cells[at + 2].outputs
    assert any(o.get("ename") == "KeyboardInterrupt" for o in stopped), stopped
    printed = "".join(
        o["text"] for o in run.notebook.cells[-1].outputs if o.get("name") == "stdout"
    )
    report = json.loads(printed.strip().splitlines()[-1])
    assert report["resumed_from"] == 0 and report["logged_steps"] == [1, 2]
    assert report["rewards"] == report["reference_rewards"]
    # The weights are those of the cold start trained for the run's steps, not of the
    # interrupted run's first update followed by a whole run.
    assert report["max_weight_difference"] < 1e-6, report
