"""The claims of notebook 10: verdicts computed from the shipped runs by stated rules, and
rules that turn when the data do."""

import copy

import pytest

from r1lab.claims import (
    CLAIMS,
    VERDICTS,
    WORLDS_DIFFER,
    Claim,
    aha_moment,
    all_claims,
    beyond,
    cold_start,
    html_claim,
    html_claims_board,
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

FAST = {
    "verified_per_s": 20_000.0,
    "sampled_per_s": 40.0,
    "completions": 200,
    "max_new_tokens": 96,
    "parameters": 1_000_000,
    "device": "cpu, 2 threads",
}


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
        Claim("k", "c", ("e",), "probably", "b", "00", "q", scope="s", cost="c")


@pytest.mark.parametrize("missing", ["scope", "cost"])
def test_a_claim_without_its_scope_or_cost_is_refused(missing):
    stated = {"scope": "world 1: 3 seeds", "cost": "pass@16 fell"}
    with pytest.raises(ValueError, match=f"states no {missing}"):
        Claim("k", "c", ("e",), "supported", "b", "00", "q", **{**stated, missing: " "})
    with pytest.raises(TypeError):
        Claim("k", "c", ("e",), "supported", "b", "00", "q")  # neither given


def test_every_claim_reads_the_shipped_runs(evidence):
    claims = all_claims(evidence, FAST)
    assert [c.key for c in claims] == list(CLAIMS)
    for c in claims:
        assert c.verdict in VERDICTS and c.evidence and c.question.endswith("?")
        text = " ".join((*c.evidence, c.because, c.scope, c.cost))
        assert "None" not in text and "nan" not in text, c.key
        # Every card says which world its evidence covers, and what the arm gave up.
        assert "world 1" in c.scope, c.key
        assert c.cost.strip(), c.key
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
    expert_wins = copy.deepcopy(evidence)
    runs = expert_wins["sweep"]["runs"]
    runs["sft_more"], runs["grpo"], runs["rft"] = runs["grpo"], runs["sft_more"], runs["sft_more"]
    assert {shipped, imitation_or_exploration(expert_wins).verdict} == {
        "supported",
        "contradicted",
    }
    same = copy.deepcopy(evidence)
    same["sweep"]["runs"]["sft_more"] = same["sweep"]["runs"]["rft"]
    assert imitation_or_exploration(same).verdict == "not shown"
    # Both arms that learn from the model's own samples must win, not GRPO alone.
    one = copy.deepcopy(evidence)
    one["sweep"]["runs"]["rft"] = one["sweep"]["runs"]["sft_more"]
    assert imitation_or_exploration(one).verdict == "partly"


def test_the_imitation_card_says_what_its_evidence_shows(evidence):
    from r1lab.sweep import ARMS

    card = imitation_or_exploration(evidence)
    # Rejection sampling (SFT on the model's own correct samples) is in the evidence and the
    # verdict, and so is how GRPO, with its negatives, fared against it.
    assert ARMS["rft"].label in card.evidence[0]
    assert "rejection sampling" in card.because and "GRPO" in card.because
    assert "did not beat rejection sampling" in card.because
    # The expert arm is more of the same constructed data, not expert data in general.
    assert "more of the same constructed data" in " ".join(card.evidence)
    assert "below the cold start" in card.evidence[0]
    assert card.scope.startswith("world 1 only") and "150 updates" in card.scope
    # Its cost: coverage lost, and the compute the same number of updates hid.
    assert "pass@16" in card.cost and "× the time of SFT" in card.cost


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


def test_r1_zero_card_says_the_search_it_started_with_faded(evidence):
    # World 2's base model computes and compares in most of its first completions, and RL
    # dropped that: the card must not read as if it had never searched.
    card = r1_zero(evidence)
    [world2] = [line for line in card.evidence if line.startswith("world 2")]
    assert "completions that search in the first 10 steps" in world2
    assert "the searching its base model started with faded" in card.because
    quiet = copy.deepcopy(evidence)
    for run in quiet["worlds"]["world 2"]["r1zero"]:
        for m in run["metrics"]:
            m["checked_rate"] = 0.0
    assert "faded" not in r1_zero(quiet).because


def test_the_kl_claim_needs_the_anchor_to_hold_the_model_closer(evidence):
    swapped = kl_anchor(_swap_arms(evidence, "grpo", "kl_0.4"))
    assert swapped.verdict == "not shown"
    assert kl_anchor(evidence).verdict in ("supported", "partly")


def test_the_kl_card_states_the_pass_at_1_it_cost(evidence):
    from r1lab.sweep import arm_values

    card = kl_anchor(evidence)
    anchored, free = (arm_values(evidence["sweep"], a, "pass@1") for a in ("kl_0.4", "grpo"))
    assert sum(anchored) / 3 < sum(free) / 3  # the shipped runs: the anchor cost pass@1
    assert "pass@1" in card.cost
    for values in (anchored, free):
        assert f"{sum(values) / len(values):.1%}" in card.cost
    gap = (sum(free) - sum(anchored)) / 3
    assert f"{gap * 100:.1f} points of pass@1" in card.because


def test_throughput_is_measured_on_a_real_model():
    from r1lab.data import load_eval
    from r1lab.models import load_shipped

    model, tokenizer = load_shipped("sft")
    rows = load_eval("countdown", n=4)
    measured = measure_throughput(model, tokenizer, rows, num_samples=2, max_new_tokens=16)
    assert measured["completions"] == 8
    assert measured["verified_per_s"] > measured["sampled_per_s"] > 0
    # What the figure covers, for the card's scope.
    assert measured["max_new_tokens"] == 16
    assert measured["parameters"] == sum(p.numel() for p in model.parameters())
    assert measured["device"].startswith(model.device.type)


# What the answer of notebook 10 says of the shipped runs, claim by claim: a change of
# data that turns one of these verdicts must also change that prose.
STATED_IN_THE_ANSWER = {
    "imitation": "supported",
    "diversity": "contradicted",
    "length": "depends",
    "reflection": "depends",
    "aha": "depends",
    "cold start": "depends",
    "KL": "supported",
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
    assert "rejection sampling" in answer and "more of the same constructed" in answer
    assert "In world 2, R1-Zero earned rewards" in answer
    assert "cost in pass@1" in answer
    assert "not a settled cause" in answer


def test_the_cold_start_card_is_scoped_to_world_1_and_names_world_2s_r1_zero(evidence):
    card = cold_start(evidence)
    # World 1's evidence is for the claim; world 2's R1-Zero, which earned rewards with no
    # cold start, is against it: not a plain "supported" across worlds.
    assert card.verdict == "depends"
    assert card.scope.startswith("world 1 (for it)")
    assert "world 2 (against it)" in card.scope
    world_2 = [fact for fact in card.evidence if fact.startswith("World 2")]
    assert world_2 and "first step with any reward: step" in world_2[0]
    assert "in world 2 it earned rewards" in card.because
    assert "constructed traces" in card.cost
    # If world 2's R1-Zero had never earned a reward either, the claim would hold in both.
    never = copy.deepcopy(evidence)
    for run in never["worlds"]["world 2"]["r1zero"]:
        for m in run["metrics"]:
            m["reward"] = 0.0
    assert cold_start(never).verdict == "supported"


def test_the_verification_card_says_what_its_ratio_measures(evidence):
    card = verification_is_cheaper(evidence, FAST)
    assert (
        "program checks a finished answer 500× faster than this model writes one"
        in (card.evidence[0])
    )
    assert "not a model checking against the same model generating" in card.scope
    assert "this machine (cpu, 2 threads)" in card.scope and "96 new tokens" in card.scope
    assert "for the program, always" not in card.because
    assert "tokens" in card.cost


@pytest.mark.parametrize("claim", [reflection, longer_responses, aha_moment])
def test_a_two_world_claim_says_the_worlds_differ_in_more_than_one_way(evidence, claim):
    card = claim(evidence)
    assert WORLDS_DIFFER in card.scope
    assert "world 1" in card.cost and "world 2" in card.cost
    assert "only where" not in card.because  # which world, not a proven cause


def test_a_card_and_the_board_show_the_scope_and_the_cost(evidence):
    import html

    claims = all_claims(evidence, FAST)
    for c in claims:
        card = html_claim(c)
        assert f"<b>Scope:</b> {html.escape(c.scope)}" in card
        assert f"<b>Cost:</b> {html.escape(c.cost)}" in card
    board = html_claims_board(claims)
    assert "<th style" in board and ">scope</th>" in board
    # The board shows each scope, the caveat the two-world scopes share once, under it.
    caveat = f". {WORLDS_DIFFER}"
    assert all(html.escape(c.scope.replace(caveat, "")) in board for c in claims)
    assert board.count(html.escape(WORLDS_DIFFER)) == 1
