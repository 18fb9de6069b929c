"""The UI checks catch what they claim to catch: run them against notebooks broken on purpose.

The fixtures live outside notebooks/, so the course tests never pick them up.
"""

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def test_working_panels_pass_and_broken_panels_are_reported(inspect_notebook):
    # Panels 0-2 work (slider + Run + plot, dropdown + HTML on change, text area + button +
    # print); panel 3's callback raises inside its Output, panel 4's raises outside any.
    # Panel 5 is r1lab's GRPO panel broken as notebook 05's was, panel 6 r1lab's SFT panel
    # working, panel 7 a hand-made panel that prints its error as one line.
    result = inspect_notebook(FIXTURES / "panels.ipynb", idle_grace=5)
    problems = result.problems
    assert problems, "the broken panels went unnoticed"
    broken = ("panel 3 ", "panel 4 ", "panel 5 ", "panel 7 ")
    assert all(p.startswith(broken) for p in problems), result.report()
    # A warning on stderr is no error, and the plot and widgets rendered (no cell problems).
    panel_3 = [p for p in problems if p.startswith("panel 3 ")]
    assert any("RuntimeError: broken panel: cannot train 3 steps" in p for p in panel_3), panel_3
    panel_4 = [p for p in problems if p.startswith("panel 4 ")]
    assert any("the output did not change" in p for p in panel_4), panel_4
    assert any("log console" in p and "TypeError: str.upper()" in p for p in panel_4), panel_4


def test_a_panel_that_shows_one_error_line_fails(inspect_notebook):
    """An error turned into one line of text changes the output, and is still a failure:
    a Run panel must add a run to its table, and no panel may show an error line."""
    result = inspect_notebook(FIXTURES / "panels.ipynb", idle_grace=5)
    panel_5 = [p for p in result.problems if p.startswith("panel 5 ")]
    assert any(
        "shows an error line" in p
        and "The run stopped on an unexpected error: TypeError: measure() missing 2" in p
        for p in panel_5
    ), result.report()
    assert any("0 runs in the panel's table, not 1" in p for p in panel_5), result.report()
    assert not any(p.startswith("panel 6 ") for p in result.problems), result.report()
    panel_7 = [p for p in result.problems if p.startswith("panel 7 ")]
    assert panel_7 and all("shows an error line: \"KeyError: 'pass@4'\"" in p for p in panel_7), (
        result.report()
    )


def test_cell_errors_are_reported_unless_tagged(inspect_notebook):
    result = inspect_notebook(FIXTURES / "errors.ipynb")
    assert result.problems == [
        "cell 3: ValueError: an untagged error",
        "cell 4 did not run (no execution count)",
    ], result.report()
