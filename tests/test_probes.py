"""Free-text probes: what a model knows outside the task's format."""

import pytest

from r1lab.models import create_model, load_shipped
from r1lab.probes import arithmetic_accuracy, check_accuracy, continue_text, solve_accuracy


@pytest.fixture(scope="module")
def base():
    return load_shipped("base", device="cpu")


def test_continuations_leave_out_the_prompt(base):
    model, tokenizer = base
    out = continue_text(model, tokenizer, ["8*9=", "9-7="], max_new_tokens=2)
    assert out == ["72", "2,"] or (out[0] == "72" and out[1].startswith("2"))


def test_the_shipped_base_computes_and_judges_but_an_untrained_model_does_not(base, tokenizer):
    model, tok = base
    untrained = create_model("tiny", tokenizer, seed=0)
    assert arithmetic_accuracy(model, tok, n=60).accuracy >= 0.8
    assert arithmetic_accuracy(untrained, tokenizer, n=60).accuracy <= 0.1
    assert check_accuracy(model, tok, n=60).accuracy >= 0.75
    # An untrained model cannot beat the coin: half the probes expect "ok", half "no".
    untrained_check = check_accuracy(untrained, tokenizer, n=60)
    assert untrained_check.accuracy <= 0.55
    assert sum(e == "ok" for _, e, _ in untrained_check.examples) == 10


def test_solve_probe_reads_the_first_attempt(base, tokenizer):
    model, tok = base
    result = solve_accuracy(model, tok, n=60)
    assert result.n == 60 and 0.1 <= result.accuracy <= 1.0
    assert all(p.startswith("use ") and p.endswith(":") for p, _, _ in result.examples)
    assert solve_accuracy(create_model("tiny", tokenizer, seed=0), tokenizer, n=30).accuracy == 0


def test_first_attempt_reads_the_first_line_only():
    from r1lab.probes import first_attempt

    first = first_attempt(" 3*4=12,12+5=17 ok\n2+2=4 no")
    assert first.steps == [(3, "*", 4, 12), (12, "+", 5, 17)] and first.verdict == "ok"
    assert first_attempt("3*4=12 no wait 1+1=2 ok").verdict == "no"
    assert first_attempt("nothing to read").steps == [] and first_attempt("x").value is None
    assert first_attempt("") is None
