"""The reward playground: a real widget tree whose output follows its controls."""

from __future__ import annotations

import re
from collections import Counter
from html import unescape

import ipywidgets as w
import pytest

from r1lab.display import html_hack_gallery, html_verdict
from r1lab.hacks import GALLERY, LenientResult
from r1lab.rewards import check_countdown
from r1lab.tasks.countdown import CountdownProblem
from r1lab.widgets import CONTROL, OUTPUT, PANEL, RUN, reward_playground, verdict_html

PROBLEMS = [CountdownProblem((3, 4, 5), 17), CountdownProblem((2, 5, 4), 10)]
GOOD = "<think>3*4=12,12+5=17 ok</think><answer>3*4+5</answer>"


def _find(widget, cls):
    found = [widget] if cls in widget._dom_classes else []
    for child in getattr(widget, "children", ()):
        found += _find(child, cls)
    return found


def test_playground_follows_text_problem_and_button():
    panel = reward_playground(PROBLEMS, GOOD)
    assert PANEL in panel._dom_classes
    text, picker = _find(panel, CONTROL)
    [button], [out] = _find(panel, RUN), _find(panel, OUTPUT)
    assert isinstance(text, w.Textarea) and isinstance(picker, w.Dropdown)
    assert "countdown_reward</code> = <b style='color:#1e7b34'>1" in out.value
    picker.value = 1  # the same completion is wrong for the other problem
    assert "countdown_reward</code> = <b style='color:#b03a2e'>0" in out.value
    text.value = "<answer>2.5*4</answer>"
    assert "&lt;think&gt; missing" in out.value
    out.value = ""
    button.click()
    assert "&lt;think&gt; missing" in out.value
    with pytest.raises(ValueError, match="at least one problem"):
        reward_playground([])
    with pytest.raises(ValueError, match="start must be between 0 and 1"):
        reward_playground(PROBLEMS, start=2)
    second = reward_playground(PROBLEMS, "<think>2.5*4</think><answer>5*4/2</answer>", 1)
    assert "countdown_reward</code> = <b style='color:#1e7b34'>1" in _find(second, OUTPUT)[0].value


def test_verdict_html_counts_attempts_and_escapes_model_text():
    html = verdict_html(
        "<think>3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok</think><answer>3*4+5</answer>", PROBLEMS[0]
    )
    assert "2 attempt(s), 1 retry(ies)" in html
    nasty = "<think><script>alert(1)</script></think><answer>1</answer>"
    assert "<script>" not in verdict_html(nasty, PROBLEMS[0])
    assert "<script>" not in html_verdict(check_countdown(nasty, [3, 4, 5], 17))


def test_gallery_table_marks_lenient_payouts():
    results = [LenientResult(1.0, 0.01, "scored"), LenientResult(None, 2.0, "timed out")]
    html = html_hack_gallery(GALLERY[:2], results)
    assert html.count("#f8d7da") == 2 and "timed out" in html


def _parts(panel):
    found = {}

    def walk(widget):
        for cls in (CONTROL, RUN, OUTPUT):
            if cls in widget._dom_classes:
                found.setdefault(cls, []).append(widget)
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(panel)
    return found


def test_sft_panel_runs_with_the_chosen_values_and_explains_bad_ones(capsys):
    from r1lab.widgets import sft_panel

    calls = []

    def run(examples, epochs):
        calls.append((examples, epochs))
        if examples > 1000:
            raise ValueError("too many")
        print(f"trained on {examples}")

    panel = sft_panel(run, examples=40, epochs=2)
    parts = _parts(panel)
    assert PANEL in panel._dom_classes and len(parts[CONTROL]) == 2
    parts[CONTROL][0].value = 100
    parts[RUN][0].click()
    assert calls == [(100, 2)]
    # Outside a kernel the Output widget cannot capture; what run printed reaches stdout.
    assert "trained on 100" in capsys.readouterr().out
    parts[CONTROL][0].value = 1500
    parts[RUN][0].click()
    assert "Cannot run with these settings: too many" in capsys.readouterr().out
    assert not parts[RUN][0].disabled
    with pytest.raises(ValueError, match="examples must be between"):
        sft_panel(run, examples=0)


def test_rollout_panel_passes_prompt_temperature_and_top_p():
    from r1lab.widgets import rollout_panel

    calls = []
    panel = rollout_panel(
        ["use 1 2 3 to make 6", "use 2 2 2 to make 8"], lambda **kw: calls.append(kw)
    )
    parts = _parts(panel)
    prompt, temperature, top_p = parts[CONTROL]
    prompt.value, temperature.value, top_p.value = 1, 0.5, 0.9
    parts[RUN][0].click()
    assert calls == [{"index": 1, "temperature": 0.5, "top_p": 0.9}]
    with pytest.raises(ValueError, match="at least one prompt"):
        rollout_panel([], print)


def test_grpo_panel_passes_every_knob_and_explains_a_bad_one(capsys):
    from r1lab.grpo_settings import GRPOSettings
    from r1lab.widgets import grpo_panel

    calls = []

    def run(**knobs):
        calls.append(knobs)
        GRPOSettings(
            num_generations=knobs["num_generations"],
            epsilon_low=knobs["epsilon"],
            prompts_per_step=1000 if knobs["steps"] == 7 else 16,
        )
        if knobs["steps"] == 7:
            raise ValueError("prompts_per_step=1000 is more than the dataset's 40 prompts")

    panel = grpo_panel(run, steps=20)
    parts = _parts(panel)
    g, beta, eps, lr, temperature, steps = parts[CONTROL]
    assert (g.value, beta.value, steps.value) == (8, 0.0, 20)
    g.value, beta.value, eps.value, lr.value, temperature.value = 4, 0.1, 0.3, 1e-3, 0.7
    parts[RUN][0].click()
    assert calls[-1] == {
        "num_generations": 4, "beta": 0.1, "epsilon": 0.3, "learning_rate": pytest.approx(1e-3),
        "temperature": 0.7, "steps": 20,
    }  # fmt: skip
    assert g.min == 2  # G = 1 cannot be chosen: GRPO needs a group
    steps.value = 7
    parts[RUN][0].click()
    assert "Cannot run with these settings: prompts_per_step=1000" in capsys.readouterr().out
    assert not parts[RUN][0].disabled


def _row(step, completion, prompt="use 3 4 5 to make 17"):
    return {"step": step, "prompt": prompt, "numbers": [3, 4, 5], "target": 17,
            "completion": completion, "reward": 0.0}  # fmt: skip


RETRY = "<think>3+4=7,7*5=35 no wait 3*4=12,12+5=17 ok</think><answer>3*4+5</answer>"
WRONG = "<think>3+4=7,7*5=35 ok</think><answer>(3+4)*5</answer>"


def test_trajectory_html_labels_attempts_retries_and_the_answer():
    from r1lab.display import html_trajectory

    page = html_trajectory(RETRY, [3, 4, 5], 17)
    assert "attempt 1: 3+4=7,7*5=35 no" in page and "<b>effective</b> retry" in page
    assert "✓ right" in page
    wrong = html_trajectory(WRONG, [3, 4, 5], 17)
    assert "(the check is wrong)" in wrong and "✗ wrong" in wrong
    assert "&lt;b&gt;" in html_trajectory("<think><b>1+1=2 ok</think>", [3, 4, 5], 17)
    # A search of three attempts that ends right: two retries, both "effective" for the
    # completion, but only the second leads to the right attempt.
    search = (
        "<think>3+4=7,7+5=12 vs 17 no wait 3+4=7,7*5=35 vs 17 no wait "
        "3*4=12,12+5=17 vs 17 ok</think><answer>3*4+5</answer>"
    )
    page = html_trajectory(search, [3, 4, 5], 17)
    assert page.count("<b>effective</b> retry: the next attempt is right") == 1
    assert page.count("the search goes on (the next attempt is wrong too)") == 1


def test_trajectory_viewer_shows_the_same_prompt_before_and_after():
    from r1lab.widgets import trajectory_viewer

    rows = [_row(0, WRONG), _row(25, RETRY), _row(0, WRONG, "use 2 5 4 to make 10")]
    panel = trajectory_viewer(rows)
    picker, step = _find(panel, CONTROL)
    [out] = _find(panel, OUTPUT)
    assert step.value == 25 and "step 0" in out.value and "step 25" in out.value
    assert "<b>effective</b> retry" in out.value
    picker.value = "use 2 5 4 to make 10"
    assert "No completion logged" in out.value  # that prompt was not logged at step 25
    step.value = 0
    assert "use 2 5 4 to make 10" in out.value
    with pytest.raises(ValueError, match="watch.jsonl"):
        trajectory_viewer([])


def test_sample_browser_follows_run_and_step():
    from r1lab.widgets import sample_browser

    panel = sample_browser({"a": [_row(1, WRONG), _row(25, RETRY)], "b": [_row(50, RETRY)]})
    picker, step = _find(panel, CONTROL)
    [out] = _find(panel, OUTPUT)
    assert step.options == (1, 25) and "step 1" in out.value and "✗ wrong" in out.value
    step.value = 25
    assert "<b>effective</b> retry" in out.value
    picker.value = "b"
    assert step.options == (50,) and "step 50" in out.value
    with pytest.raises(ValueError, match="at least one run"):
        sample_browser({"a": []})


def _sweep_run(arm, seed, completion, pass1):
    scores = {"pass@1": pass1, "pass@16": 0.9, "greedy_accuracy": 0.5, "distinct_correct": 1.0,
              "retry_rate": 0.3, "mean_length": 30.0,
              "shown": [{"prompt": "use 3 4 5 to make 17", "numbers": [3, 4, 5], "target": 17,
                         "completions": [completion], "correct": [True]}]}  # fmt: skip
    return {"arm": arm, "seed": seed, "scores": scores,
            "samples": [_row(1, WRONG), _row(25, completion)]}  # fmt: skip


def test_sweep_browser_follows_arm_seed_and_step():
    from r1lab.widgets import sweep_browser

    sweep = {"starts": {}, "runs": {
        "grpo": {0: _sweep_run("grpo", 0, RETRY, 0.456), 2: _sweep_run("grpo", 2, RETRY, 0.4)},
        "rft": {1: _sweep_run("rft", 1, WRONG, 0.321)},
    }}  # fmt: skip
    panel = sweep_browser(sweep)
    arm, seed, step = _find(panel, CONTROL)
    [out] = _find(panel, OUTPUT)
    assert arm.value == "grpo" and seed.options == (0, 2) and step.value == 25
    assert "<th" in out.value and "held-out score</th>" in out.value
    assert ">pass@1</td>" in out.value  # a row of the table, not a header
    assert "45.6%" in out.value and "<b>effective</b> retry" in out.value
    seed.value = 2
    assert "40.0%" in out.value
    step.value = 1
    assert "step 1" in out.value and "✗ wrong" in out.value
    arm.value = "rft"
    assert seed.options == (1,) and "32.1%" in out.value
    with pytest.raises(ValueError, match="at least one finished run"):
        sweep_browser({"starts": {}, "runs": {}})


def test_arm_runner_passes_arm_and_seed_and_explains_a_bad_one(capsys):
    from r1lab.widgets import arm_runner

    calls = []

    def run(arm, seed):
        calls.append((arm, seed))
        if seed == 13:
            raise ValueError("no arm trains with seed 13")

    panel = arm_runner(run, {"grpo": "GRPO", "rft": "rejection sampling"})
    parts = _parts(panel)
    arm, seed = parts[CONTROL]
    assert arm.value == "grpo"
    arm.value, seed.value = "rft", 2
    parts[RUN][0].click()
    assert calls == [("rft", 2)]
    seed.value = 13
    parts[RUN][0].click()
    assert "Cannot run with these settings: no arm trains with seed 13" in capsys.readouterr().out
    with pytest.raises(ValueError, match="not one of grpo"):
        arm_runner(run, {"grpo": "GRPO"}, arm="ppo")


# --------------------------------------------------------------------------- broken input
# A panel never breaks: a bad pick is refused, a malformed row is explained by number, and
# an unexpected error in a callback becomes one line in the panel's output, not a traceback.


def test_playground_refuses_an_empty_problem_pick_and_keeps_working():
    panel = reward_playground(PROBLEMS, GOOD)
    text, picker = _find(panel, CONTROL)
    [out] = _find(panel, OUTPUT)
    picker.value = None  # what a cleared selection or a notebook cell can do
    assert picker.value == 0  # the last problem is kept...
    assert "No problem chosen" in out.value  # ...and the panel says so
    assert "countdown_reward</code> = <b style='color:#1e7b34'>1" in out.value
    text.value = "<answer>2.5*4</answer>"  # every later edit still scores
    assert "&lt;think&gt; missing" in out.value and "No problem chosen" not in out.value
    picker.value = 1
    assert "use 2 5 4 to make 10" in out.value


def _malformed_rows():
    missing = _row(1, RETRY)
    del missing["completion"]
    return [
        _row(1, WRONG),
        missing,  # row 2
        _row(1, None),  # row 3: not text
        "not a row",  # row 4
        _row("later", RETRY),  # row 5: a step that is not a number
        {**_row(25, RETRY), "numbers": "3 4 5"},  # row 6
        _row(25, RETRY),
    ]


def test_row_problem_names_what_is_wrong():
    from r1lab.widgets import row_problem

    good, missing, not_text, not_a_row, bad_step, bad_numbers, _ = _malformed_rows()
    assert row_problem(good) is None
    assert row_problem(missing) == "missing 'completion'"
    assert row_problem(not_text) == "completion is NoneType, not text"
    assert row_problem(not_a_row) == "not a dict of fields (got str)"
    assert row_problem(bad_step) == "step must be a whole number (got 'later')"
    assert row_problem(bad_numbers) == "numbers must be a list of non-negative ints (got '3 4 5')"
    assert row_problem({**good, "target": True}) == "target must be an int (got True)"


def test_sample_browser_explains_malformed_rows_instead_of_raising():
    from r1lab.widgets import sample_browser

    panel = sample_browser({"a": _malformed_rows(), "b": ["junk", {"step": 3}]})
    picker, step = _find(panel, CONTROL)
    [out] = _find(panel, OUTPUT)
    assert step.options == (1, 25) and "1 completions logged at step 1" in out.value
    assert "5 malformed rows of run a not shown" in out.value
    for note in ("row 2: missing 'completion'", "row 3: completion is NoneType, not text",
                 "row 4: not a dict of fields (got str)",
                 "row 5: step must be a whole number (got 'later')",
                 "row 6: numbers must be a list"):  # fmt: skip
        assert note in unescape(out.value)
    step.value = 25
    assert "<b>effective</b> retry" in out.value
    picker.value = "b"  # a run with no usable row at all
    assert "no well-formed rows" in out.value and "row 1: not a dict" in out.value
    assert "row 2: missing 'prompt'" in unescape(out.value)
    picker.value = "a"
    assert "1 completions logged at step 1" in out.value


def test_trajectory_viewer_explains_malformed_rows_instead_of_raising():
    from r1lab.widgets import trajectory_viewer

    panel = trajectory_viewer(_malformed_rows())
    picker, step = _find(panel, CONTROL)
    [out] = _find(panel, OUTPUT)
    assert step.options == (1, 25) and "step 1" in out.value and "step 25" in out.value
    assert "row 2: missing 'completion'" in unescape(out.value) and "row 4: not a dict" in out.value
    empty = trajectory_viewer(["junk"])
    [out] = _find(empty, OUTPUT)
    assert "no well-formed rows" in out.value and "row 1: not a dict" in out.value


def _boom(*_, **__):
    raise RuntimeError("boom\nsecond line")


def test_display_panels_show_an_unexpected_error_as_one_line(monkeypatch):
    import r1lab.display
    import r1lab.widgets
    from r1lab.widgets import sample_browser, sweep_browser, trajectory_viewer

    monkeypatch.setattr(r1lab.widgets, "verdict_html", _boom)
    panel = reward_playground(PROBLEMS, GOOD)  # building it draws once: no raise
    text, _ = _find(panel, CONTROL)
    [out] = _find(panel, OUTPUT)
    assert "RuntimeError: boom" in out.value and "second line" not in out.value
    out.value = ""
    text.value = "edited"
    assert "RuntimeError: boom" in out.value
    monkeypatch.setattr(r1lab.display, "html_trajectory", _boom)
    monkeypatch.setattr(r1lab.display, "html_before_after", _boom)
    rows = [_row(1, WRONG), _row(25, RETRY)]
    sweep = {"starts": {}, "runs": {"grpo": {0: _sweep_run("grpo", 0, RETRY, 0.5)}}}
    for panel in (sample_browser({"a": rows}), trajectory_viewer(rows), sweep_browser(sweep)):
        [out] = _find(panel, OUTPUT)
        assert "RuntimeError: boom" in out.value, out.value
        out.value = ""
        step = _find(panel, CONTROL)[-1]
        step.value = next(v for v in step.options if v != step.value)  # move the step slider
        assert "RuntimeError: boom" in out.value


def test_run_panels_show_an_unexpected_error_as_one_line(capsys):
    from r1lab.widgets import ERROR, arm_runner, sft_panel

    for panel in (sft_panel(_boom, examples=40), arm_runner(_boom, {"grpo": "GRPO"})):
        parts = _parts(panel)
        parts[RUN][0].click()
        captured = capsys.readouterr()
        assert "RuntimeError: boom" in captured.out and "second line" not in captured.out
        assert "Traceback" not in captured.out + captured.err
        assert not parts[RUN][0].disabled
        assert ERROR in parts[OUTPUT][0]._dom_classes  # what the panel tests look for


def test_an_error_line_is_marked_until_the_panel_works_again(monkeypatch):
    import r1lab.widgets
    from r1lab.widgets import ERROR, PanelResult, sft_panel

    outcomes = iter([TypeError("measure() missing 2 required positional arguments"),
                     ValueError("too many"), "not a result", PanelResult({"x": 1})])  # fmt: skip

    def run(examples, epochs):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    parts = _parts(sft_panel(run, examples=40))
    marked = []
    for _ in range(4):
        parts[RUN][0].click()
        marked.append(ERROR in parts[OUTPUT][0]._dom_classes)
    assert marked == [True, True, True, False]
    panel = reward_playground(PROBLEMS, GOOD)
    text, _ = _find(panel, CONTROL)
    [out] = _find(panel, OUTPUT)
    assert ERROR not in out._dom_classes
    with monkeypatch.context() as patch:
        patch.setattr(r1lab.widgets, "verdict_html", _boom)
        text.value = "edited"
        assert ERROR in out._dom_classes and "RuntimeError: boom" in out.value
    text.value = GOOD
    assert ERROR not in out._dom_classes and "RuntimeError" not in out.value


# --------------------------------------------------------------------------- comparisons
# Each Run panel keeps the session's runs in a table (settings → result) and draws every
# run's curves over the earlier ones and the shipped baseline, in one SVG figure.


def _compared(panel):
    """The panel's table rows (header and cells, as text) and which curves its figure
    draws: ``{"baseline" or "run1", …: number of metric panels it is drawn in}``."""
    from r1lab.widgets import OVERLAY, RUNS

    [table], [figure] = _find(panel, RUNS), _find(panel, OVERLAY)
    rows = [
        [
            unescape(re.sub(r"<[^>]+>", "", cell))
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.value)
    ]
    curves = Counter(re.findall(r'<g id="r1lab-(run\d+|baseline)-\d+"', figure.value))
    return rows, dict(curves)


def _baseline(settings, curves, **summary):
    from r1lab.widgets import PanelResult, PanelRun

    return PanelRun("shipped", settings, PanelResult(summary, curves))


def test_sft_panel_tables_and_overlays_two_runs_on_the_baseline():
    from r1lab.widgets import PanelResult, sft_panel

    def run(examples, epochs):  # a stand-in for training: the loss falls faster with more data
        steps = examples * epochs // 16 + 1
        loss = [(s, 5.0 / (1 + s * examples / 800)) for s in range(1, steps + 1)]
        return PanelResult({"format": f"{min(examples / 800, 1):.0%}", "steps": steps},
                           {"training loss": loss})  # fmt: skip

    shipped = [(s, 5.0 / (1 + s)) for s in range(1, 501)]
    baseline = _baseline(
        {"examples": 800, "epochs": 10}, {"training loss": shipped}, format="96%", steps=500
    )
    panel = sft_panel(run, examples=20, epochs=10, baseline=baseline)
    rows, curves = _compared(panel)
    assert rows == [["run", "cold-start traces", "epochs", "format", "steps"],
                    ["shipped", "800", "10", "96%", "500"]]  # fmt: skip
    assert curves == {}  # nothing drawn before the first run
    examples, epochs = _parts(panel)[CONTROL]
    button = _parts(panel)[RUN][0]
    button.click()
    examples.value = 800
    button.click()
    rows, curves = _compared(panel)
    assert rows[2:] == [["run 1", "20", "10", "2%", "13"], ["run 2", "800", "10", "100%", "501"]]
    assert curves == {"baseline": 1, "run1": 1, "run2": 1}


def test_rollout_panel_compares_temperatures_on_one_prompt():
    from r1lab.widgets import PanelResult, PanelRun, rollout_panel

    def run(index, temperature, top_p):  # distinct completions among the first k of 8
        distinct = [(k, min(k, 1 + round(temperature * 5))) for k in range(1, 9)]
        return PanelResult({"distinct": distinct[-1][1]}, {"distinct in the first k": distinct})

    prompts = ["use 1 2 3 to make 6", "use 2 2 2 to make 8"]
    first = PanelRun("the group above", {"index": 0, "temperature": 1.0, "top_p": 1.0},
                     run(0, 1.0, 1.0))  # fmt: skip
    panel = rollout_panel(prompts, run, temperature=0.3, baseline=first)
    prompt, temperature, top_p = _parts(panel)[CONTROL]
    button = _parts(panel)[RUN][0]
    button.click()
    temperature.value = 1.5
    button.click()
    rows, curves = _compared(panel)
    assert rows[0] == ["run", "prompt", "temperature", "top-p", "distinct"]
    assert rows[1:] == [
        ["the group above", "use 1 2 3 to make 6", "1", "1", "6"],
        ["run 1", "use 1 2 3 to make 6", "0.3", "1", "3"],  # the prompt's text, not its index
        ["run 2", "use 1 2 3 to make 6", "1.5", "1", "8"],
    ]
    assert curves == {"baseline": 1, "run1": 1, "run2": 1}


def test_grpo_panel_puts_g2_and_g16_in_one_picture_over_the_shipped_run():
    from r1lab.widgets import PanelResult, grpo_panel, metric_curves

    def run(num_generations, beta, epsilon, learning_rate, temperature, steps):
        history = [
            {"step": s, "reward": 0.3 + s / 100, "length": 40.0, "zero": 1 / num_generations}
            for s in range(1, steps + 1)
        ]
        return PanelResult(
            {"held-out pass@1": f"{0.25 + num_generations / 100:.1%}"},
            metric_curves(history, ("reward", "length", "zero")),
        )

    shipped = run(8, 0.0, 0.2, 2e-4, 1.0, 400)
    panel = grpo_panel(run, num_generations=2, steps=40, baseline=_baseline(
        {"num_generations": 8, "steps": 400}, shipped.curves, **shipped.summary))  # fmt: skip
    g, beta, eps, lr, temperature, steps = _parts(panel)[CONTROL]
    button = _parts(panel)[RUN][0]
    button.click()
    g.value = 16
    button.click()
    rows, curves = _compared(panel)
    header = ["run", "G", "β (KL)", "ε", "lr", "temperature", "steps", "held-out pass@1"]
    assert rows[0] == header
    assert rows[1] == ["shipped", "8", "–", "–", "–", "–", "400", "33.0%"]
    assert rows[2] == ["run 1", "2", "0", "0.2", "0.0002", "1", "40", "27.0%"]
    assert rows[3][:2] == ["run 2", "16"] and rows[3][-1] == "41.0%"
    assert curves == {"baseline": 3, "run1": 3, "run2": 3}  # every run in each of 3 panels


def test_arm_runner_compares_arms_by_their_labels():
    from r1lab.widgets import PanelResult, arm_runner

    def run(arm, seed):
        curves = {"reward": [(1, 0.3), (2, 0.35)], "length": [(1, 40), (2, 38)]}
        return PanelResult({"pass@1": 0.4 if arm == "rft" else 0.26}, curves)

    panel = arm_runner(run, {"grpo": "GRPO", "rft": "rejection sampling"}, arm="rft")
    arm, seed = _parts(panel)[CONTROL]
    button = _parts(panel)[RUN][0]
    button.click()
    arm.value, seed.value = "grpo", 1
    button.click()
    rows, curves = _compared(panel)
    assert rows == [["run", "arm", "seed", "pass@1"], ["run 1", "rejection sampling", "0", "0.4"],
                    ["run 2", "GRPO", "1", "0.26"]]  # fmt: skip
    assert curves == {"run1": 2, "run2": 2}  # no baseline given: none drawn


def test_a_failed_run_adds_no_row_and_a_run_without_result_adds_its_settings(capsys):
    from r1lab.widgets import PanelResult, sft_panel

    results = iter([PanelResult({"format": "50%"}, {"loss": [(1, 2.0), (2, 1.0)]}), None,
                    ValueError("too many"), "not a result"])  # fmt: skip

    def run(examples, epochs):
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    panel = sft_panel(run, examples=40, epochs=2)
    button = _parts(panel)[RUN][0]
    for _ in range(4):
        button.click()
    printed = capsys.readouterr().out
    assert "Cannot run with these settings: too many" in printed
    assert "The run returned a str, not a PanelResult: not added to the table." in printed
    rows, curves = _compared(panel)
    assert rows[1:] == [["run 1", "40", "2", "50%"], ["run 2", "40", "2", "–"]]
    assert curves == {"run1": 1}
    assert not button.disabled


def test_a_panel_figure_draws_the_latest_runs_and_keeps_their_numbers():
    import r1lab.widgets
    from r1lab.widgets import PanelResult, PanelRun, overlay_svg

    runs = [PanelRun(f"run {i}", {}, PanelResult({}, {"loss": [(1, i), (2, i / 2)]} if i != 2
            else None)) for i in range(1, r1lab.widgets.MAX_DRAWN + 3)]  # fmt: skip
    svg = overlay_svg(runs)
    drawn = sorted({int(n) for n in re.findall(r'id="r1lab-run(\d+)-0"', svg)})
    assert drawn == list(range(3, r1lab.widgets.MAX_DRAWN + 3))  # run 2 drew nothing; 1 is old
    assert "the table has them all" in svg
    assert overlay_svg(runs[1:2]) == ""  # nothing to draw


def test_runs_table_escapes_and_marks_missing_values():
    from r1lab.widgets import PanelResult, PanelRun, runs_table

    page = runs_table([PanelRun("<b>x</b>", {"a": 0.123456}, PanelResult({"r": "<i>"}))],
                      {"a": "A", "b": "B"})  # fmt: skip
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "&lt;i&gt;" in page and "<b>" not in page
    assert "0.123" in page and ">–<" in page


def test_metric_curves_skips_rows_without_the_metric():
    from r1lab.widgets import metric_curves

    rows = [{"step": 1, "kl": 0.1}, {"step": 2, "kl": None}, {"step": 3}, {"step": 4, "kl": 0.2}]
    assert metric_curves(rows, ("kl", "reward")) == {"kl": [(1, 0.1), (4, 0.2)], "reward": []}


def test_metric_curves_can_name_the_panels():
    from r1lab.widgets import metric_curves

    rows = [{"step": 1, "frac_reward_zero_std": 0.5}]
    named = metric_curves(rows, {"frac_reward_zero_std": "zero-advantage groups"})
    assert named == {"zero-advantage groups": [(1, 0.5)]}


def test_the_sweep_browser_lists_arms_in_the_courses_order():
    from r1lab.paths import SHIPPED_RUNS_DIR
    from r1lab.sweep import ARMS, SWEEP_DIR, load_sweep
    from r1lab.widgets import sweep_browser

    sweep = load_sweep(SHIPPED_RUNS_DIR / SWEEP_DIR)
    panel = sweep_browser(sweep)

    def dropdowns(widget):
        found = [widget] if isinstance(widget, w.Dropdown) else []
        for child in getattr(widget, "children", ()):
            found += dropdowns(child)
        return found

    shown = [value for _, value in dropdowns(panel)[0].options]
    assert shown == [a for a in ARMS if sweep["runs"].get(a)]
    assert shown != sorted(shown)  # alphabetical by key is what it used to be


# --------------------------------------------------------------------------- the GRPO panel
# What notebook 05's panel runs, called as the notebook calls it, on a tiny model.


def test_grpo_panel_run_trains_measures_and_adds_a_row(tokenizer, capsys):
    from functools import partial

    from r1lab.data import countdown_dataset, load_eval
    from r1lab.experiments import heldout_settings
    from r1lab.grpo_settings import GRPOSettings
    from r1lab.models import create_model
    from r1lab.widgets import ERROR, GRPO_PANEL_CURVES, grpo_panel, grpo_panel_run

    settings = GRPOSettings(steps=400, prompts_per_step=2, num_generations=8, max_new_tokens=12)
    started = []

    def start():
        started.append(create_model("tiny", tokenizer, seed=0))
        return started[-1]

    run = partial(
        grpo_panel_run,
        settings=settings,
        start=start,
        tokenizer=tokenizer,
        train_rows=list(countdown_dataset(8, seed=0)),
        eval_rows=list(load_eval("countdown", 3, chat=True)),
        measure_options=heldout_settings(settings.replace(num_generations=2)),
    )
    panel = grpo_panel(run, num_generations=2, steps=2)
    parts = _parts(panel)
    parts[RUN][0].click()
    printed = capsys.readouterr().out
    assert "held-out pass@1" in printed and "unexpected error" not in printed, printed
    assert ERROR not in parts[OUTPUT][0]._dom_classes
    rows, curves = _compared(panel)
    assert rows[1][:7] == ["run 1", "2", "0", "0.2", "0.0002", "1", "2"]
    assert rows[0][7:] == ["reward, first fifth", "reward, last fifth",
                           "zero-advantage groups, last fifth", "held-out pass@1",
                           "held-out greedy"]  # fmt: skip
    assert set(curves) == {"run1"} and curves["run1"] >= 3  # reward, length, zero-advantage
    assert len(started) == 1, "each run trains a fresh model"
    result = run(num_generations=2, beta=0.0, epsilon=0.3, learning_rate=1e-4,
                 temperature=1.0, steps=1)  # fmt: skip
    assert set(result.curves) == set(GRPO_PANEL_CURVES.values())
    assert [x for x, _ in result.curves["reward (training batch)"]] == [1]
    with pytest.raises(TypeError, match="unknown GRPO panel knobs"):
        run(num_generations=2, beta=0.0, epsilon=0.2, learning_rate=1e-4, temperature=1.0,
            steps=1, mu=4)  # fmt: skip


def test_grpo_panel_settings_take_the_knobs_and_reuse_each_batch():
    from r1lab.grpo_settings import GRPOSettings
    from r1lab.widgets import grpo_panel_settings

    main = GRPOSettings(steps=400, warmup_steps=10, mu=1, max_new_tokens=96)
    chosen = grpo_panel_settings(main, num_generations=16, beta=0.1, epsilon=0.3,
                                 learning_rate=1e-3, temperature=0.5, steps=40)  # fmt: skip
    assert (chosen.num_generations, chosen.beta, chosen.learning_rate) == (16, 0.1, 1e-3)
    assert (chosen.epsilon_low, chosen.epsilon_high, chosen.temperature) == (0.3, 0.3, 0.5)
    assert (chosen.steps, chosen.warmup_steps, chosen.mu) == (40, 0, 2)
    assert chosen.max_new_tokens == 96  # the rest is the main run's
    with pytest.raises(ValueError, match="num_generations"):
        grpo_panel_settings(main, num_generations=1, beta=0.0, epsilon=0.2,
                            learning_rate=1e-4, temperature=1.0, steps=1)  # fmt: skip


def test_grpo_panel_baseline_reads_a_shipped_run():
    from r1lab.experiments import load_shipped_run
    from r1lab.widgets import grpo_panel_baseline, grpo_panel_row

    run, summary = load_shipped_run("r1lab", seed=0)
    baseline = grpo_panel_baseline("shipped run, seed 0", run.history, summary)
    ran = summary["settings"]
    assert baseline.settings == {
        "num_generations": ran["num_generations"], "beta": ran["beta"],
        "epsilon": ran["epsilon_low"], "learning_rate": ran["learning_rate"],
        "temperature": ran["temperature"], "steps": ran["steps"],
    }  # fmt: skip
    row = baseline.result.summary
    assert row["held-out pass@1"] == f"{summary['after']['pass@1']:.1%}"
    assert row["held-out greedy"] == f"{summary['after']['greedy_accuracy']:.1%}"
    assert len(baseline.result.curves["reward (training batch)"]) == len(run.history)
    with pytest.raises(ValueError, match="at least one training step"):
        grpo_panel_row([], summary["after"])
