from r1lab.course import CHAPTERS
from r1lab.display import html_mapping, html_table, html_tokens, html_version_checks


def test_tables_escape_untrusted_text():
    out = html_table([["<script>alert(1)</script>", 3]], header=["a&b", "n"])
    assert "<script>" not in out and "&lt;script&gt;" in out and "a&amp;b" in out
    assert out.count("<tr>") == 2
    assert html_mapping({"k": "v"}).count("<td") == 2


def test_version_checks_mark_bad_rows_red():
    from r1lab.env import PackageCheck

    good = PackageCheck("trl", "1.16.0", ">=1.16,<1.17", True)
    bad = PackageCheck("transformers", "6.0.0", ">=5.23,<5.25", False)
    out = html_version_checks([good, bad])
    assert out.count("background:#f8d7da") == 1
    assert "OUTSIDE TESTED RANGE" in out and "Outside the tested ranges: transformers" in out
    assert "All dependencies" in html_version_checks([good])


def test_tokens_are_boxed_escaped_and_unknowns_marked():
    out = html_tokens(["<think>", " ", "\n", "<unk>"])
    assert out.count("<span") == 4
    assert "&lt;think&gt;" in out and "␣" in out and "⏎" in out
    assert out.count("#f8d7da") == 1  # only the unknown token is red


def test_course_chapters_are_numbered_in_order():
    stems = [c.stem for c in CHAPTERS]
    assert [int(s[:2]) for s in stems] == list(range(len(stems)))
    assert CHAPTERS[0].available and CHAPTERS[0].filename == "00_tour.ipynb"
    assert all(c.question.endswith("?") for c in CHAPTERS)
