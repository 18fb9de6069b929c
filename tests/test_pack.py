"""The instructor pack quotes the course as it is committed: every number it gives is in a
notebook's output, a card or a setting (r1lab/pack.py)."""

from __future__ import annotations

import nbformat

from r1lab.pack import Evidence, pack_problems, page_problems


def test_the_instructor_pack_quotes_only_what_the_notebooks_show():
    problems = pack_problems()
    assert not problems, "\n".join(map(str, problems))


EVIDENCE = Evidence(
    outputs="400 steps, 6.9 min of training, 0 skipped updates pass@1 25.8% → 44.5% 1600/1600",
    other='{"pass@1": 0.258, "learning_rate": 0.0002} beta=0.04',
    prose="Predict first: at T = 0.3, will the group hold more distinct completions?",
)


def _found(text: str, page: str = "answers.md") -> list[tuple[str, str]]:
    return [(p.kind, p.text) for p in page_problems(page, text, EVIDENCE)]


def test_a_stale_quote_and_a_stale_number_are_caught():
    # The run printed 6.9 min; the pack still says 6.7 (a re-run changed the output).
    assert _found('The output reads "400 steps, 6.7 min of training, 0 skipped updates".') == [
        ("quote", "400 steps, 6.7 min of training, 0 skipped updates")
    ]
    assert _found("pass@1 rose to 52.7 % (notebook 05).") == [("number", "52.7")]
    assert _found("It sampled 18,486 per second.") == [("number", "18,486")]
    assert _found("Checking was 158× faster.") == [("number", "158")]  # a ratio
    # A number is matched whole: 5.8 is not in 25.8, nor 44 in 44.5.
    assert _found("A score of 5.8 %.") == [("number", "5.8")]
    assert _found("About 1,044 of them.") == [("number", "1,044")]


def test_what_the_course_shows_passes():
    assert _found('"400 steps, 6.9 min of training, 0 skipped updates"') == []
    assert _found("`pass@1 25.8% →  44.5%`") == []  # white space aside
    assert _found('"pass@1 25.8% →\n44.5%"') == []  # a quote that wraps onto the next line
    assert _found('"pass@1 25.8% →\n52.7%"') == [("quote", "pass@1 25.8% →\n52.7%")]
    assert _found('The prompt "at T = 0.3, will the group hold more distinct completions?"') == []
    assert _found("KL with β = 0.04, pass@1 44.5 %.") == []  # a setting, an output
    assert _found("1,600 completions sampled") == []  # the bar counts 1600/1600
    # Integers without a separator are not checked: 3 seeds, section 4, 16 samples.
    assert _found("3 seeds, section 4, 16 samples") == []


def test_quotes_on_the_pitfalls_page_are_what_learners_say_not_outputs():
    said = 'A learner says "T = 0.2 has the best pass@1, so train at 0.2".'
    assert _found(said, page="pitfalls.md") == [("number", "0.2"), ("number", "0.2")]
    assert _found('"the loss is 0, the code is broken"', page="pitfalls.md") == []


def test_the_evidence_is_what_a_reader_sees(tmp_path):
    from r1lab.pack import course_evidence

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(x)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="scored in 1.32 s"),
        nbformat.v4.new_output("display_data", data={"text/html": "<td>7,568</td> per s"}),
    ]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("the prose says 9.99")]
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "00_x.ipynb")
    (tmp_path / "data").mkdir()
    evidence = course_evidence(tmp_path / "nb", tmp_path / "data", tmp_path)
    assert "scored in 1.32 s" in evidence.outputs and "7,568 per s" in evidence.outputs
    # The notebook's prose is not evidence: its numbers must be printed too.
    assert "9.99" not in evidence.outputs + evidence.other


def test_r1lab_pack_lists_what_it_finds_and_fails_on_it(capsys):
    from r1lab.cli import main

    rc = main(["pack"])
    out = capsys.readouterr().out
    problems = pack_problems()
    assert rc == (1 if problems else 0)
    assert all(str(p) in out for p in problems)
    assert out.strip()  # says something either way
