"""The claims of notebook 10: verdicts computed from the shipped runs by stated rules, and
rules that turn when the data do."""

import copy

import pytest

from r1lab.claims import (
    CLAIMS,
    VERDICTS,
    Claim,
    aha_moment,
    all_claims,
    beyond,
    imitation_or_exploration,
    kl_anchor,
    load_evidence,
    longer_responses,
    measure_throughput,
    negatives_matter,
    r1_zero,
    reflection,
    verification_is_cheaper,
)

FAST = {"verified_per_s": 20_000.0, "sampled_per_s": 40.0}


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


def test_beyond_compares_every_seed():
    assert beyond([3, 4], [1, 2]) == 1
    assert beyond([1, 2], [3, 4]) == -1
    assert beyond([1, 3], [2, 4]) == 0
    assert beyond([], [1]) == 0


def test_a_claim_refuses_an_unknown_verdict():
    with pytest.raises(ValueError, match="verdict must be one of"):
        Claim("k", "c", ("e",), "probably", "b", "00", "q")


def test_every_claim_reads_the_shipped_runs(evidence):
    claims = all_claims(evidence, FAST)
    assert [c.key for c in claims] == list(CLAIMS)
    for c in claims:
        assert c.verdict in VERDICTS and c.evidence and c.question.endswith("?")
        text = " ".join(c.evidence)
        assert "None" not in text and "nan" not in text, c.key
    # Both worlds of the emergence study and every arm the claims read have three seeds.
    for world in evidence["worlds"].values():
        assert [len(world[arm]) for arm in ("sft", "r1zero")] == [3, 3]


def _swap_arms(evidence, a, b):
    out = copy.deepcopy(evidence)
    runs = out["sweep"]["runs"]
    runs[a], runs[b] = runs[b], runs[a]
    return out


def test_the_imitation_verdict_turns_with_the_data(evidence):
    shipped = imitation_or_exploration(evidence).verdict
    swapped = imitation_or_exploration(_swap_arms(evidence, "grpo", "sft_more")).verdict
    assert {shipped, swapped} == {"supported", "contradicted"}
    same = copy.deepcopy(evidence)
    same["sweep"]["runs"]["sft_more"] = same["sweep"]["runs"]["grpo"]
    assert imitation_or_exploration(same).verdict == "not shown"


def test_the_negatives_verdict_turns_with_the_data(evidence):
    verdicts = {
        negatives_matter(evidence).verdict,
        negatives_matter(_swap_arms(evidence, "grpo", "grpo_pos")).verdict,
    }
    assert "supported" in verdicts or verdicts == {"not shown"}


def _same_worlds(evidence, world):
    out = copy.deepcopy(evidence)
    for name in out["worlds"]:
        out["worlds"][name] = copy.deepcopy(evidence["worlds"][world])
    return out


@pytest.mark.parametrize("claim", [reflection, longer_responses, aha_moment])
def test_a_two_world_claim_depends_only_when_the_worlds_differ(evidence, claim):
    shipped = claim(evidence).verdict
    both_1, both_2 = (
        claim(_same_worlds(evidence, "world 1")),
        claim(_same_worlds(evidence, "world 2")),
    )
    assert both_1.verdict != both_2.verdict
    assert {both_1.verdict, both_2.verdict} <= {"supported", "contradicted"}
    if {both_1.verdict, both_2.verdict} == {"supported", "contradicted"}:
        assert shipped == "depends"


def test_verification_needs_a_fast_verifier(evidence):
    assert verification_is_cheaper(evidence, FAST).verdict in ("depends", "supported", "partly")
    slow = {"verified_per_s": 50.0, "sampled_per_s": 40.0}
    assert verification_is_cheaper(evidence, slow).verdict == "contradicted"


def test_r1_zero_that_never_earns_a_reward_is_contradicted(evidence):
    never = copy.deepcopy(evidence)
    for world in never["worlds"].values():
        for run in world["r1zero"]:
            for m in run["metrics"]:
                m["reward"] = 0.0
    verdict = r1_zero(never)
    assert verdict.verdict == "contradicted"
    assert "first step with any reward never, never, never" in verdict.evidence[1]


def test_the_kl_claim_needs_the_anchor_to_hold_the_model_closer(evidence):
    swapped = kl_anchor(_swap_arms(evidence, "grpo", "kl_0.4"))
    assert swapped.verdict == "not shown"
    assert kl_anchor(evidence).verdict in ("supported", "partly")


def test_throughput_is_measured_on_a_real_model():
    from r1lab.data import load_eval
    from r1lab.models import load_shipped

    model, tokenizer = load_shipped("sft")
    rows = load_eval("countdown", n=4)
    measured = measure_throughput(model, tokenizer, rows, num_samples=2, max_new_tokens=16)
    assert measured["completions"] == 8
    assert measured["verified_per_s"] > measured["sampled_per_s"] > 0


# What the answer of notebook 10 says of the shipped runs, claim by claim: a change of
# data that turns one of these verdicts must also change that prose.
STATED_IN_THE_ANSWER = {
    "imitation": "supported",
    "diversity": "contradicted",
    "length": "depends",
    "reflection": "depends",
    "aha": "depends",
    "cold start": "supported",
    "R1-Zero": "partly",
}


def test_the_notebooks_answer_matches_the_shipped_verdicts(evidence):
    import nbformat

    from r1lab.paths import NOTEBOOKS_DIR

    claims = {c.key: c for c in all_claims(evidence, FAST)}
    assert {k: claims[k].verdict for k in STATED_IN_THE_ANSWER} == STATED_IN_THE_ANSWER
    nb = nbformat.read(NOTEBOOKS_DIR / "10_claims_and_evidence.ipynb", as_version=4)
    answer = [c for c in nb.cells if c.cell_type == "markdown"][-1].source
    assert "pass@1 rose, pass@16 did not" in answer
    assert "did not learn to search" in answer
