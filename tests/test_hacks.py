"""Every hack in the gallery fools the lenient verifier and not ours."""

from __future__ import annotations

import pytest

from r1lab.hacks import GALLERY, LENIENT_VERIFIER, run_lenient
from r1lab.rewards import countdown_reward, format_reward


@pytest.mark.parametrize("hack", GALLERY, ids=[h.name for h in GALLERY])
def test_lenient_verifier_pays_and_ours_does_not(hack):
    assert hack.ours() == 0.0
    assert countdown_reward([hack.completion], numbers=[hack.numbers], target=[hack.target]) == [
        0.0
    ]
    result = run_lenient(hack.completion, hack.numbers, hack.target)
    assert result.outcome in ("scored", "timed out")
    assert result.score is None or result.score > 0, result  # paid, or hung the run
    assert hack.why


def test_lenient_verifier_is_a_working_verifier_not_a_straw_man():
    good = "<think>3*4=12,12+5=17 ok</think><answer>3*4+5</answer>"
    assert run_lenient(good, [3, 4, 5], 17).score == 1.0
    assert run_lenient(good.replace("3*4+5", "3+4+5"), [3, 4, 5], 17).score == 0.1
    assert format_reward([good]) == [1.0]


def test_the_power_tower_hangs_the_lenient_verifier_only():
    tower = next(h for h in GALLERY if h.name == "power tower")
    result = run_lenient(tower.completion, tower.numbers, tower.target)
    assert result.outcome == "timed out" and result.seconds >= 1.9


def test_lenient_source_is_the_one_that_runs():
    assert "eval(equation" in LENIENT_VERIFIER
    assert len({h.name for h in GALLERY}) == len(GALLERY) >= 10


def test_mixed_batch_is_seeded_and_pays_only_for_correct_answers():
    from r1lab.hacks import MIXED_KINDS, mixed_batch

    completions, numbers, targets, kinds = mixed_batch(200, seed=0)
    assert mixed_batch(200, seed=0)[0] == completions
    assert len(completions) == len(numbers) == len(targets) == len(kinds) == 200
    assert {k: kinds.count(k) for k in MIXED_KINDS} == dict(
        zip(MIXED_KINDS, [100, 60, 20, 20], strict=True)
    )
    rewards = countdown_reward(completions, numbers=numbers, target=targets)
    for kind, reward in zip(kinds, rewards, strict=True):
        if kind == "correct trace":
            assert reward == 1.0
        if kind in ("gallery hack", "nasty input"):
            assert reward == 0.0
