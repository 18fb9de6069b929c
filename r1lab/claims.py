"""The claims of the R1 story, each checked against what this course measured.

Learners arrive with claims from papers, posts and talks: "RL beats imitation", "RL makes
models think longer", "an aha moment emerges". Each function here states one claim, reads
the course's own shipped runs (the sweep of notebook 08, the two-world emergence study of
notebook 07) and returns a :class:`Claim`: the measured facts as sentences built from the
data, a verdict computed by a stated rule, never typed in, the **scope** of the evidence
(which world, runs, seeds and setting it covers: a verdict says nothing outside it) and the
**cost** (what the arm or intervention gave up: pass@1, pass@16, problems, tokens,
compute), both also built from the data.

Verdicts compare seeds, not means: a difference counts only when every seed of one side
lies beyond every seed of the other (three seeds cannot show anything finer).

- ``supported``: the course's data show it;
- ``contradicted``: the course's data show the opposite;
- ``depends``: true in one of the course's worlds and false in the other; the rule names
  the world and how it differs, not a cause (the two worlds differ in several ways at once);
- ``partly``: one half of the claim holds, the other does not;
- ``not shown``: the seeds overlap: these runs cannot tell.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1lab.config import RunConfig
from r1lab.display import CELL_STYLE
from r1lab.runlog import window_mean

VERDICTS = ("supported", "contradicted", "depends", "partly", "not shown")
WORLDS = ("world 1", "world 2")


@dataclass(frozen=True)
class Claim:
    key: str
    claim: str  # as learners bring it
    evidence: tuple[str, ...]  # measured facts, each sentence formatted from the data
    verdict: str  # one of VERDICTS
    because: str  # the rule's reading of the evidence
    where: str  # the notebook that measures it
    question: str  # for discussion
    scope: str  # which world(s), runs, seeds and setting the evidence covers
    cost: str  # what the arm or intervention gave up, from the same data

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS} (got {self.verdict!r})")
        for name in ("scope", "cost"):
            if not str(getattr(self, name)).strip():
                raise ValueError(
                    f"claim {self.key!r} states no {name}: a verdict needs the evidence's "
                    "scope and what the arm gave up"
                )


# ------------------------------------------------------------------ reading the runs


def load_evidence(root: str | Path | None = None) -> dict[str, Any]:
    """The shipped runs the claims read: ``{"sweep": load_sweep(...), "worlds": {world:
    {arm: [{"metrics": [...], "eval": {...}}, one per seed]}}, "cold_starts": {world: the
    card of its shipped cold-start model}}``."""
    from r1lab.experiments import emergence_dir, load_emergence
    from r1lab.models import shipped_card
    from r1lab.paths import SHIPPED_RUNS_DIR
    from r1lab.sweep import SWEEP_DIR, load_sweep
    from r1lab.worlds import COUNTDOWN, SEARCH

    root = Path(root) if root is not None else SHIPPED_RUNS_DIR
    pairs = tuple(zip(WORLDS, (COUNTDOWN, SEARCH), strict=True))
    worlds = {
        name: {
            arm: [{"metrics": r.metrics, "eval": r.summary} for r in runs]
            for arm, runs in load_emergence(world, root / emergence_dir(world)).items()
        }
        for name, world in pairs
    }
    cold_starts = {name: shipped_card(world.sft_dir) for name, world in pairs}
    return {"sweep": load_sweep(root / SWEEP_DIR), "worlds": worlds, "cold_starts": cold_starts}


def beyond(a: Sequence[float], b: Sequence[float]) -> int:
    """+1 when every value of ``a`` is above every value of ``b``, -1 when every one is
    below, 0 when the two ranges overlap (or one side is empty)."""
    if not a or not b:
        return 0
    if min(a) > max(b):
        return 1
    if max(a) < min(b):
        return -1
    return 0


def _num(values: Sequence[float], fmt: str = "{:.1f}", unit: str = "") -> str:
    """'41.2' for one value (or several that print the same), '40.1–43.0 (3 seeds)' for a
    range over seeds; a ``unit`` follows the numbers ('251–273 s (3 seeds)')."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{low}{unit}" if low == high else f"{low}–{high}{unit} ({len(values)} seeds)"


def _pct(values: Sequence[float]) -> str:
    return _num(values, "{:.1%}")


def _mean_pct(values: Sequence[float]) -> str:
    """'44.5% on average (42.6%–45.9% over 3 seeds)'."""
    low, high = f"{min(values):.1%}", f"{max(values):.1%}"
    spread = "" if low == high else f" ({low}–{high} over {len(values)} seeds)"
    return f"{_mean(values):.1%} on average{spread}"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _sweep(evidence: dict[str, Any], arm: str, key: str) -> list[float]:
    from r1lab.sweep import arm_values

    return arm_values(evidence["sweep"], arm, key)


def _runs(evidence: dict[str, Any], world: str, arm: str = "sft") -> list[dict[str, Any]]:
    return evidence["worlds"][world][arm]


def _before_after(evidence: dict[str, Any], world: str, key: str) -> tuple[list, list]:
    runs = _runs(evidence, world)
    return [r["eval"]["before"][key] for r in runs], [r["eval"]["after"][key] for r in runs]


def _join(values: Sequence[Any]) -> str:
    """'150' when every value is the same, '100 or 600' when they differ."""
    seen = sorted({f"{v:,}" if isinstance(v, int) else str(v) for v in values})
    return " or ".join(seen)


def _world_of(summary: dict[str, Any]) -> str:
    """The world a run trained in: its summary names the search world (world 2); a run
    that names none trained on the course's Countdown (world 1)."""
    return WORLDS[1] if summary.get("world") == "search" else WORLDS[0]


def _seconds(metrics: Sequence[dict[str, Any]]) -> float:
    """A run's training time: its updates' logged seconds, summed (a resumed run counts
    the updates of each part once)."""
    return sum(m.get("step_time_s") or 0.0 for m in metrics)


def _sweep_scope(evidence: dict[str, Any], arms: Sequence[str]) -> str:
    """Which world, runs, seeds and held-out measurement the sweep's ``arms`` cover."""
    from r1lab.sweep import label

    sweep = evidence["sweep"]
    runs = [r for a in arms for r in sweep["runs"].get(a, {}).values()]
    if not runs:
        return f"no finished run of {', '.join(label(a) for a in arms)}"
    worlds = sorted({_world_of(r) for r in runs})
    samples = max(int(k[5:]) for k in runs[0]["scores"] if k.startswith("pass@"))
    seeds = _join([len(sweep["runs"][a]) for a in arms if sweep["runs"].get(a)])
    names = [f"“{label(a)}”" for a in arms]
    names = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return (
        f"{' and '.join(worlds)}{' only' if len(worlds) == 1 else ''}: notebook 08's sweep, "
        f"one small model from one cold start; the arm{'s' if len(arms) > 1 else ''} {names}; "
        f"{_join([r['settings']['steps'] for r in runs])} updates per run, {seeds} seeds per "
        f"arm; {_join([r['eval_problems'] for r in runs])} held-out problems with {samples} "
        "samples each"
    )


# Said of every claim that compares the two worlds of notebook 07.
WORLDS_DIFFER = (
    "The two worlds differ in several ways at once (the task's size, how a check is "
    "written, what the base model read, what the cold start shows), so a difference between "
    "them says which world, not which of these causes it"
)


def _emergence_scope(
    evidence: dict[str, Any],
    worlds: Sequence[str] = WORLDS,
    arm: str = "sft",
    heldout: bool = True,
) -> str:
    """Which of notebook 07's runs of ``arm`` (per world: steps × seeds) the evidence
    covers, and on how many held-out problems it was measured (unless ``heldout`` is off)."""
    what = "GRPO from the cold start" if arm == "sft" else "GRPO from the base model (R1-Zero)"
    parts = [f"{w}, {_runs_covered(evidence, w, (arm,))}" for w in worlds]
    one = len(worlds) == 1
    text = (
        f"{' and '.join(worlds)}{' only' if one else ''}: notebook 07's {what}, one small model"
        f"{'' if one else ' per world'}; {'; '.join(parts)}"
    )
    if heldout:
        problems = _join([r["eval"]["eval_problems"] for w in worlds
                          for r in _runs(evidence, w, arm)])  # fmt: skip
        text += f"; {problems} held-out problems{'' if one else ' per world'}"
    return text


def _runs_covered(evidence: dict[str, Any], world: str, arms: Sequence[str]) -> str:
    """'600 steps × 3 seeds': notebook 07's runs of ``arms`` in ``world``."""
    runs = [r for a in arms for r in _runs(evidence, world, a)]
    steps = _join([r["eval"]["settings"]["steps"] for r in runs])
    return f"{steps} steps × {_join([len(_runs(evidence, world, a)) for a in arms])} seeds"


def _coverage_key(summary: dict[str, Any]) -> str:
    """The largest pass@k a held-out measurement holds: what the model can do, given tries."""
    return max((k for k in summary if k.startswith("pass@")), key=lambda k: int(k[5:]))


def _coverage_cost(evidence: dict[str, Any], worlds: Sequence[str] = WORLDS) -> str:
    """Per world, what GRPO from the cold start did to held-out coverage."""
    parts = []
    for w in worlds:
        runs = _runs(evidence, w)
        key = _coverage_key(runs[0]["eval"]["before"])
        before, after = _before_after(evidence, w, key)
        parts.append(f"{w}, held-out {key} {_pct(before)} before, {_pct(after)} after")
    return "What GRPO gave up in coverage: " + "; ".join(parts)


# ------------------------------------------------------------------ the claims


def imitation_or_exploration(evidence: dict[str, Any]) -> Claim:
    from r1lab.sweep import ARMS

    sweep = evidence["sweep"]
    start = sweep["starts"]["sft"]
    own = ("rft", "grpo")  # the arms that learn from the model's own samples
    arms = (*own, "sft_more")
    p1 = {a: _sweep(evidence, a, "pass@1") for a in arms}
    p16 = {a: _sweep(evidence, a, "pass@16") for a in arms}
    below = beyond(p1["sft_more"], [start["pass@1"]]) == -1
    facts = (
        f"Held-out pass@1 after the same number of updates from the same cold start "
        f"({start['pass@1']:.1%} before): "
        + ", ".join(f"{ARMS[a].label} {_pct(p1[a])}" for a in arms)
        + (", below the cold start in every seed" if below else "")
        + ".",
        "The expert traces come from the generator the cold start was trained on: this arm "
        "is more of the same constructed data, not expert data of another kind.",
    )
    sides = {a: beyond(p1[a], p1["sft_more"]) for a in own}
    if all(side == 1 for side in sides.values()):
        verdict = "supported"
        because = (
            "every seed of rejection sampling and of GRPO beat every seed trained on more of "
            "the same expert traces: learning from its own samples won, by SFT on its own "
            "successes as much as by RL"
        )
    elif all(side == -1 for side in sides.values()):
        verdict = "contradicted"
        because = (
            "every seed trained on more expert traces beat every seed that learned from its "
            "own samples"
        )
    elif 1 in sides.values():
        verdict = "partly"
        because = (
            f"only {' and '.join(ARMS[a].label for a in own if sides[a] == 1)} beat every "
            "seed trained on more expert traces"
        )
    else:
        verdict = "not shown"
        because = (
            "the seeds of the arms that learn from their own samples and of more expert "
            "traces overlap"
        )
    because += (
        "; "
        + {
            1: "GRPO beat rejection sampling in every seed",
            0: "GRPO, with its negatives, did not beat rejection sampling (their seeds overlap)",
            -1: "GRPO, with its negatives, scored below rejection sampling in every seed",
        }[beyond(p1["grpo"], p1["rft"])]
    )
    seconds = {a: [_seconds(r["metrics"]) for r in sweep["runs"][a].values()] for a in arms}
    runs = list(sweep["runs"]["grpo"].values())
    per_update = _join([r["settings"]["prompts_per_step"] * r["settings"]["num_generations"]
                        for r in runs])  # fmt: skip
    times = _mean(seconds["grpo"]) / max(_mean(seconds["sft_more"]), 1e-9)
    cost = (
        "Learning from its own samples cost coverage: held-out pass@16 "
        + ", ".join(f"{ARMS[a].label} {_pct(p16[a])}" for a in arms)
        + f", the cold start {start['pass@16']:.1%}. And compute: the same number of updates "
        f"is not the same work, since {' and '.join(ARMS[a].label for a in own)} sample "
        f"{per_update} completions before each update and SFT samples none; a run's training "
        "took "
        + ", ".join(f"{ARMS[a].label} {_num(seconds[a], '{:.0f}', ' s')}" for a in arms)
        + f" on the sweep's machine ({_join([r['device'] for r in runs])}), GRPO "
        f"{times:.0f}× the time of SFT"
    )  # fmt: skip
    return Claim(
        "imitation",
        "Learning from its own samples (as RL does) beats imitating more expert solutions.",
        facts, verdict, because, "08_why_rl",
        "The expert traces are correct and the model's own samples are mostly wrong. What "
        "does a sample the model wrote itself carry that an expert trace does not?",
        scope=_sweep_scope(evidence, arms), cost=cost,
    )  # fmt: skip


def verification_is_cheaper(evidence: dict[str, Any], throughput: dict[str, Any]) -> Claim:
    verify, generate = throughput["verified_per_s"], throughput["sampled_per_s"]
    ratio = verify / generate
    honest = {w: [window_mean(r["metrics"], "honest_check_rate", True) for r in _runs(evidence, w)]
              for w in WORLDS}  # fmt: skip
    facts = (
        f"On this machine a Python program (the reward function) checked {verify:,.0f} "
        f"finished completions per second; the model wrote {generate:,.1f} per second: the "
        f"program checks a finished answer {ratio:,.0f}× faster than this model writes one.",
        f"Share of the model's own checks that told the truth, over the first 25 GRPO steps: "
        f"{_pct(honest['world 1'])} in world 1 (a bare ok/no), {_pct(honest['world 2'])} in "
        "world 2 (the result written beside the target).",
    )
    cheap = ratio >= 10
    own = min(honest["world 2"]) >= 0.95
    own_w1 = min(honest["world 1"]) >= 0.95
    program = "a program checks a finished answer far faster than this model writes one"
    if cheap and own and not own_w1:
        verdict, because = (
            "depends",
            (
                f"{program}; the model's own checks told the truth in world 2, where a check "
                "is a comparison written beside the target, not in world 1, where it judges "
                "its own chain"
            ),
        )
    elif cheap and own and own_w1:
        verdict, because = "supported", f"{program}, and the model's own checks were reliable"
    elif cheap:
        verdict, because = "partly", f"{program}, but the model's own checks failed"
    else:
        verdict, because = "contradicted", "the program was not much faster than the model"
    model = (
        f"a {throughput['parameters']:,}-parameter model (the world-1 cold start)"
        if "parameters" in throughput
        else "the world-1 cold-start model"
    )
    setting = ", ".join(
        f"{throughput[k]:,} {what}"
        for k, what in (("completions", "completions"), ("max_new_tokens", "new tokens at most"))
        if k in throughput
    )
    scope = (
        f"Speed: one measurement on this machine ({throughput.get('device', 'its device')}"
        f"), {model}, {setting}; the ratio is a program checking a finished answer against "
        "this model writing one, not a model checking against the same model generating, so "
        "it says nothing of whether the model can check itself. Honesty of the model's own checks, "
        + _emergence_scope(evidence)
    )
    searching = [
        w for w in WORLDS if all("attempts" in r["eval"]["after"] for r in _runs(evidence, w))
    ]
    parts = []
    for w in searching:
        runs = _runs(evidence, w)
        budget = _join([r["eval"]["settings"]["max_new_tokens"] for r in runs])
        lengths, attempts = (_before_after(evidence, w, k) for k in ("mean_length", "attempts"))
        line = (
            f"in {w}, GRPO took held-out completions from {_num(attempts[0], unit=' attempts')} "
            f"and {_num(lengths[0], unit=' tokens')} to {_num(attempts[1], unit=' attempts')} "
            f"and {_num(lengths[1], unit=' tokens')}"
        )
        if all("truncated_rate" in r["eval"]["after"] for r in runs):
            cut = _before_after(evidence, w, "truncated_rate")
            line += (
                f", and the share cut off by the {budget}-token budget (scored 0) from "
                f"{_pct(cut[0])} to {_pct(cut[1])}"
            )
        parts.append(line)
    cost = (
        "The program's speed is bought by reading only the final answer (the next card counts "
        "what that lets through). The model's own checks are paid in tokens: " + "; ".join(parts)
        if parts
        else "The program's speed is bought by reading only the final answer (the next card "
        "counts what that lets through)"
    )  # fmt: skip
    return Claim(
        "verification", "Verifying an answer is cheaper than generating it.", facts, verdict,
        because, "04_rewards, 07_emergence",
        "RL needs a cheap check twice: the reward, and the model's own checks inside its "
        "reasoning. Which of the two does the R1 story depend on for self-correction?",
        scope=scope, cost=cost,
    )  # fmt: skip


def outcome_reward_and_reasons(evidence: dict[str, Any]) -> Claim:
    def unsupported(metrics: list[dict], first: bool) -> float:
        accuracy = window_mean(metrics, "accuracy", first) or 0.0
        supported = window_mean(metrics, "supported_rate", first) or 0.0
        return 1 - supported / accuracy if accuracy else 0.0

    def paid_unsupported(metrics: list[dict], first: bool) -> float:
        accuracy = window_mean(metrics, "accuracy", first) or 0.0
        return max(accuracy - (window_mean(metrics, "supported_rate", first) or 0.0), 0.0)

    runs = _runs(evidence, "world 1")
    start = [unsupported(r["metrics"], True) for r in runs]
    end = [unsupported(r["metrics"], False) for r in runs]
    facts = (
        "In world 1, of the completions the reward paid, the share whose shown work does not "
        f"lead to their answer: {_pct(start)} over the first 25 GRPO steps, {_pct(end)} over "
        "the last 25.",
    )
    side = beyond(end, start)
    verdict = "supported" if min(end) > 0 else "contradicted"
    because = (
        "an outcome reward pays a right answer whatever the work shown"
        + (", and RL made such answers more common" if side == 1 else "")
        if verdict == "supported"
        else "no rewarded completion had work that failed to support its answer"
    )
    paid = [paid_unsupported(r["metrics"], False) for r in runs]
    cost = (
        "What the cheap reward gave up is a look at the work: over the last 25 steps, "
        f"{_pct(paid)} of every training batch was paid for an answer its work does not "
        "reach, and pushed up as much as a sound chain"
    )
    scope = (
        _emergence_scope(evidence, ("world 1",), heldout=False)
        + "; measured on the training batches of the first and the last 25 steps"
    )
    return Claim(
        "reasons", "An outcome reward can pay answers that are right for the wrong reason.",
        facts, verdict, because, "04_rewards, 07_emergence",
        "Should a reward check the reasoning as well as the answer? What would a "
        "process reward need to check, and how could it be gamed?",
        scope=scope, cost=cost,
    )  # fmt: skip


def _lost_against_chance(evidence: dict[str, Any], arms: Sequence[str]) -> str:
    """Held-out problems each arm lost and gained against the cold start, beside what the
    cold start sampled again loses and gains by chance alone."""
    from r1lab.sweep import ARMS, coverage

    sweep = evidence["sweep"]
    counts = {a: coverage(sweep, a) for a in (*arms, "resampled")}
    shown = ", ".join(
        f"{ARMS[a].label} lost {_num(counts[a]['lost'], '{:.0f}')} and gained "
        f"{_num(counts[a]['gained'], '{:.0f}')}"
        for a in arms
    )
    chance = counts["resampled"]
    if chance["lost"]:
        shown += (
            f"; the cold start sampled again lost {_num(chance['lost'], '{:.0f}')} and gained "
            f"{_num(chance['gained'], '{:.0f}')} by chance alone"
        )
    return (
        "held-out problems the cold start solved and the run no longer did (lost), and the "
        f"reverse (gained): {shown}"
    )


def negatives_matter(evidence: dict[str, Any]) -> Claim:
    from r1lab.sweep import ARMS

    grpo1, pos1 = _sweep(evidence, "grpo", "pass@1"), _sweep(evidence, "grpo_pos", "pass@1")
    grpo16, pos16 = _sweep(evidence, "grpo", "pass@16"), _sweep(evidence, "grpo_pos", "pass@16")
    facts = (
        f"Held-out pass@1: {ARMS['grpo'].label} {_pct(grpo1)}, {ARMS['grpo_pos'].label} "
        f"{_pct(pos1)}; pass@16: {_pct(grpo16)} and {_pct(pos16)}.",
    )
    side1, side16 = beyond(grpo1, pos1), beyond(grpo16, pos16)
    if side1 == 1 or side16 == 1:
        verdict, because = "supported", "every seed with negatives beats every seed without"
    elif side1 == -1 or side16 == -1:
        verdict, because = (
            "contradicted",
            (
                "no seed with negatives beat the positives-only seeds, and on "
                + ("pass@1" if side1 == -1 else "pass@16")
                + " every positives-only seed scored higher"
            ),
        )
    else:
        verdict, because = "not shown", "the seeds with and without negatives overlap"
    cost = "What the negatives cost: " + _lost_against_chance(evidence, ("grpo", "grpo_pos"))
    return Claim(
        "negatives", "Negative samples (pushing wrong answers down) are what make RL work.",
        facts, verdict, because, "08_why_rl",
        "With positives only, GRPO is close to rejection sampling. When would pushing wrong "
        "answers down help most: early or late in training, on easy or hard problems?",
        scope=_sweep_scope(evidence, ("grpo", "grpo_pos")), cost=cost,
    )  # fmt: skip


def pass_at_k(evidence: dict[str, Any]) -> Claim:
    start = evidence["sweep"]["starts"]["sft"]
    again = [sum(c > 0 for c in counts) / len(counts) for counts in start.get("resampled", [])]
    noise = again or [start["pass@16"]]
    grpo1, grpo16 = _sweep(evidence, "grpo", "pass@1"), _sweep(evidence, "grpo", "pass@16")
    facts = (
        f"GRPO moved held-out pass@1 from {start['pass@1']:.1%} to {_pct(grpo1)}, and pass@16 "
        f"from {start['pass@16']:.1%} to {_pct(grpo16)}; the cold start sampled again with "
        f"other seeds gave pass@16 {_pct(noise)}.",
    )
    up1, up16 = beyond(grpo1, [start["pass@1"]]), beyond(grpo16, noise)
    if up16 == 1:
        verdict, because = "supported", "pass@16 rose beyond what resampling alone moves it"
    elif up1 == 1:
        verdict, because = (
            "contradicted",
            (
                "pass@1 rose while pass@16 stayed within (or fell below) resampling noise: RL "
                "made likelier what the model could already sample"
            ),
        )
    else:
        verdict, because = "not shown", "neither pass@1 nor pass@16 moved beyond the seeds"
    scope = _sweep_scope(evidence, ("grpo",)) + (
        f"; the cold start sampled again with {len(again)} other seeds" if again else ""
    )
    cost = "What the pass@1 gain cost: " + _lost_against_chance(evidence, ("grpo",))
    return Claim(
        "diversity", "RL teaches the model to solve problems it could not solve before.",
        facts, verdict, because, "03_rollouts, 08_why_rl",
        "If RL mostly re-weights what the model already samples, what limits how far it can "
        "go, and how would you give it more to re-weight?",
        scope=scope, cost=cost,
    )  # fmt: skip


def _growth_claim(
    evidence: dict[str, Any], key: str, factor: float
) -> tuple[dict[str, tuple[list, list]], dict[str, bool], dict[str, bool]]:
    """Per world: (before, after) per seed, and whether each world grew ≥ ``factor``×."""
    values = {w: _before_after(evidence, w, key) for w in WORLDS}
    grew = {w: all(a >= factor * max(b, 1e-9) for b, a in zip(*values[w], strict=True))
            for w in WORLDS}  # fmt: skip
    shrank = {w: all(a < b for b, a in zip(*values[w], strict=True)) for w in WORLDS}
    return values, grew, shrank


def _depends(grew: dict[str, bool], what: str) -> tuple[str, str]:
    if all(grew.values()):
        return "supported", f"{what} in both worlds"
    if not any(grew.values()):
        return "contradicted", f"{what} in neither world"
    return "depends", (
        f"{what} in world 2 (checking easy, guessing hard), not in world 1 (a good first "
        "guess pays)"
        if grew["world 2"]
        else f"{what} in world 1 (a good first guess pays), not in world 2 (checking easy, "
        "guessing hard)"
    )


def _two_world_scope(evidence: dict[str, Any]) -> str:
    return f"{_emergence_scope(evidence)}. {WORLDS_DIFFER}"


def reflection(evidence: dict[str, Any]) -> Claim:
    values, grew, _ = _growth_claim(evidence, "effective_retry_rate", 3.0)
    facts = tuple(
        f"{w}: held-out completions with an effective retry (a wrong attempt left, then the "
        f"right one found) {_pct(values[w][0])} before GRPO, {_pct(values[w][1])} after."
        for w in WORLDS
    )
    verdict, because = _depends(grew, "effective retries at least tripled")
    return Claim(
        "reflection", "RL teaches a model to check itself and backtrack when it is wrong.",
        facts, verdict, because, "07_emergence",
        "In world 1 the model also wrote 'wait' and retried, yet RL made it retry less. "
        "What made those retries worthless?",
        scope=_two_world_scope(evidence), cost=_coverage_cost(evidence),
    )  # fmt: skip


def longer_responses(evidence: dict[str, Any]) -> Claim:
    values, grew, shrank = _growth_claim(evidence, "mean_length", 1.5)
    facts = tuple(
        f"{w}: held-out mean completion length {_num(values[w][0])} tokens before GRPO, "
        f"{_num(values[w][1])} after."
        for w in WORLDS
    )
    verdict, because = _depends(grew, "length grew by at least half")
    if verdict == "depends" and any(shrank.values()):
        because += "; in " + " and ".join(w for w in WORLDS if shrank[w])
        because += ", completions got shorter"
    parts = []
    for w in WORLDS:
        runs = _runs(evidence, w)
        first = [window_mean(r["metrics"], "step_time_s", True) or 0.0 for r in runs]
        last = [window_mean(r["metrics"], "step_time_s", False) or 0.0 for r in runs]
        line = (
            f"{w}, a training step took {_num(first, unit=' s')} at the start, "
            f"{_num(last, unit=' s')} at the end"
        )
        if all("truncated_rate" in r["eval"]["after"] for r in runs):
            budget = _join([r["eval"]["settings"]["max_new_tokens"] for r in runs])
            cut = _before_after(evidence, w, "truncated_rate")
            line += (
                f", and the held-out completions cut off by the {budget}-token budget (scored "
                f"0) went from {_pct(cut[0])} to {_pct(cut[1])}"
            )
        parts.append(line)
    cost = "Length is paid in compute, 25-step means on the machine that ran them: " + "; ".join(
        parts
    )
    return Claim(
        "length", "RL makes responses longer.", facts, verdict, because, "07_emergence",
        "Is length a goal or a side effect? What would make RL shorten the reasoning of a "
        "model that searches?",
        scope=_two_world_scope(evidence), cost=cost,
    )  # fmt: skip


def aha_moment(evidence: dict[str, Any]) -> Claim:
    from r1lab.behaviors import aha_step
    from r1lab.experiments import aha_threshold

    found = {}
    for w in WORLDS:
        found[w] = [
            aha_step([m["step"] for m in r["metrics"]],
                     [m["effective_retry_rate"] for m in r["metrics"]],
                     aha_threshold(r["metrics"]), window=25)
            for r in _runs(evidence, w)
        ]  # fmt: skip
    shown = {w: ", ".join("none" if s is None else f"step {s}" for s in found[w]) for w in WORLDS}
    facts = (
        "The first step from which the share with an effective retry (25-step average) stays "
        "at or above max(25 %, twice its start) to the end: "
        + "; ".join(f"{w}: {shown[w]}" for w in WORLDS) + ".",
    )  # fmt: skip
    every = {w: all(s is not None for s in found[w]) for w in WORLDS}
    verdict, because = _depends(every, "an aha step appeared in every seed")
    return Claim(
        "aha", "An 'aha moment' emerges: at some step the model starts to re-check itself.",
        facts, verdict, because, "07_emergence",
        "Look at notebook 07's curves: does the share jump at one step or bend over many? "
        "What would you need to see to call it a moment?",
        scope=_two_world_scope(evidence), cost=_coverage_cost(evidence),
    )  # fmt: skip


def _first_rewarded(metrics: Sequence[dict[str, Any]]) -> int | None:
    return next((m["step"] for m in metrics if m["reward"] > 0), None)


def cold_start(evidence: dict[str, Any]) -> Claim:
    from r1lab.sweep import ARMS, training_values

    sweep = evidence["sweep"]
    starts = ("grpo", "r1zero")
    zero_spread = {a: training_values(sweep, a, "frac_reward_zero_std") for a in starts}
    p1 = {a: _sweep(evidence, a, "pass@1") for a in starts}
    facts = [
        f"World 1, notebook 08's sweep: groups in which every completion got the same reward "
        f"(no learning signal): {ARMS['grpo'].label} {_pct(zero_spread['grpo'])}, "
        f"{ARMS['r1zero'].label} {_pct(zero_spread['r1zero'])}; held-out pass@1 after: "
        f"{_pct(p1['grpo'])} and {_pct(p1['r1zero'])}."
    ]
    began, behind, rose, wrote = {}, {}, {}, {}
    for w in WORLDS:
        zero, cold = _runs(evidence, w, "r1zero"), _runs(evidence, w)
        first = [_first_rewarded(r["metrics"]) for r in zero]
        began[w] = all(s is not None for s in first)
        formats = [r["eval"]["before"]["format_rate"] for r in zero]
        wrote[w] = max(formats) > 0
        zero_p1 = [r["eval"]["after"]["pass@1"] for r in zero]
        cold_p1 = [r["eval"]["after"]["pass@1"] for r in cold]
        behind[w] = beyond(cold_p1, zero_p1) == 1
        reward = {edge: [window_mean(r["metrics"], "reward", edge) or 0.0 for r in zero]
                  for edge in (True, False)}  # fmt: skip
        rose[w] = all(b > a for a, b in zip(reward[True], reward[False], strict=True))
        line = (
            f"{w.capitalize()}, notebook 07: the base model wrote the answer format in "
            f"{_pct(formats)} of its held-out samples; RL from it, first step with any reward: "
            + ", ".join("never" if s is None else f"step {s}" for s in first)
        )
        if began[w]:
            line += (
                f", and its mean reward went from {_pct(reward[True])} over the first 25 "
                f"steps to {_pct(reward[False])} over the last 25"
            )
        facts.append(
            f"{line}; held-out pass@1 after: {_pct(zero_p1)} from the base model, "
            f"{_pct(cold_p1)} from the cold start."
        )
    # World 1's sweep must agree with its emergence runs: the base model had no signal.
    sweep_agrees = beyond(zero_spread["r1zero"], zero_spread["grpo"]) == 1
    needed = {w: not began[w] and (w != WORLDS[0] or sweep_agrees) for w in WORLDS}
    yes = " and ".join(w for w in WORLDS if needed[w])
    no = " and ".join(w for w in WORLDS if not needed[w])
    if not no:
        verdict, because = (
            "supported",
            "in both worlds RL from the base model never earned a reward; the cold start is "
            "what let it begin",
        )
    elif not yes:
        verdict, because = (
            "contradicted",
            "in both worlds RL from the base model earned rewards without a cold start",
        )
    else:
        verdict = "depends"
        others = [w for w in WORLDS if not needed[w]]
        because = (
            f"in {yes} RL from the base model never earned a reward, so the cold start is what "
            f"let RL begin; in {no} it earned rewards without one"
            + (", and its reward rose" if all(rose[w] for w in others) else "")
            + (", though it ended below the cold start" if all(behind[w] for w in others) else "")
        )  # fmt: skip
        if all(not wrote[w] for w in WORLDS if needed[w]) and all(wrote[w] for w in others):
            because += (
                f". The base model of {yes} never wrote the answer format, that of {no} "
                "sometimes did"
            )
    sweep_runs = [r for a in starts for r in sweep["runs"].get(a, {}).values()]
    in_sweep = (
        f"notebook 08's sweep, {_join([r['settings']['steps'] for r in sweep_runs])} updates × "
        f"{_join([len(sweep['runs'].get(a, {})) for a in starts])} seeds per start, and "
    )
    scope = "; ".join(
        f"{w} ({'for' if needed[w] else 'against'} it): {in_sweep if w == WORLDS[0] else ''}"
        f"notebook 07's runs from each start, {_runs_covered(evidence, w, ('sft', 'r1zero'))}"
        for w in WORLDS
    )
    made = []
    for w in WORLDS:
        training = evidence.get("cold_starts", {}).get(w, {}).get("training", {})
        if "examples" in training:
            passes = len(training.get("passes", [])) or 1
            made.append(
                f"{w}, {training['examples']:,} constructed traces"
                + (f" in {passes} passes" if passes > 1 else "")
                + f" ({training.get('steps', 0):,} updates, "
                f"{training.get('wall_time_s', 0):,.1f} s of training)"
            )
    cost = "A cold start costs supervised data written for the task" + (
        ": " + "; ".join(made) if made else ""
    )
    return Claim(
        "cold start", "A cold start matters because RL needs a non-zero reward to begin.",
        tuple(facts), verdict, because, "01_base_model, 02_sft_cold_start, 07_emergence, 08_why_rl",
        "How few cold-start examples would do? What else than SFT could give RL its first "
        "rewards?",
        scope=f"{scope}. {WORLDS_DIFFER}", cost=cost,
    )  # fmt: skip


def kl_anchor(evidence: dict[str, Any]) -> Claim:
    from r1lab.sweep import ARMS, coverage

    arms = ("grpo", "kl_0.4")
    kl = {a: _sweep(evidence, a, "kl_to_start") for a in arms}
    p1 = {a: _sweep(evidence, a, "pass@1") for a in arms}
    p16 = {a: _sweep(evidence, a, "pass@16") for a in arms}
    lost = {a: coverage(evidence["sweep"], a)["lost"] for a in arms}
    facts = (
        f"Per-token KL to the cold start after training: {ARMS['grpo'].label} "
        f"{_num(kl['grpo'], '{:.3f}')}, {ARMS['kl_0.4'].label} {_num(kl['kl_0.4'], '{:.3f}')}.",
        f"Held-out pass@16: {_pct(p16['grpo'])} and {_pct(p16['kl_0.4'])}; problems the cold "
        f"start solved and the trained model no longer did: {_num(lost['grpo'], '{:.0f}')} and "
        f"{_num(lost['kl_0.4'], '{:.0f}')}.",
    )
    closer = beyond(kl["grpo"], kl["kl_0.4"]) == 1
    keeps = beyond(p16["kl_0.4"], p16["grpo"]) == 1 or beyond(lost["grpo"], lost["kl_0.4"]) == 1
    gap = _mean(p1["grpo"]) - _mean(p1["kl_0.4"])
    price = {
        1: f", at a price of {gap * 100:.1f} points of pass@1 (means)",
        0: "",
        -1: f", and it scored {-gap * 100:.1f} points more pass@1 (means)",
    }[beyond(p1["grpo"], p1["kl_0.4"])]
    if closer and keeps:
        verdict, because = "supported", f"the anchor kept the model closer and kept more{price}"
    elif closer:
        verdict, because = (
            "partly",
            (
                "the anchor kept the model closer to its start, but no seed shows it kept more "
                f"of what the start could do{price}"
            ),
        )
    else:
        verdict, because = "not shown", "the KL of the two arms' seeds overlap"
    cost = (
        f"What the anchor gave up: held-out pass@1, {_mean_pct(p1['kl_0.4'])} with "
        f"“{ARMS['kl_0.4'].label}”, against {_mean_pct(p1['grpo'])} with “{ARMS['grpo'].label}” "
        f"and {evidence['sweep']['starts']['sft']['pass@1']:.1%} for the cold start"
    )
    return Claim(
        "KL", "A KL penalty keeps the model near its start and so protects what it knew.",
        facts, verdict, because, "05_grpo_from_scratch, 08_why_rl",
        "Many recent recipes (DAPO, Dr. GRPO) drop the KL term. What do they give up, and "
        "when would you put it back?",
        scope=_sweep_scope(evidence, arms), cost=cost,
    )  # fmt: skip


def r1_zero(evidence: dict[str, Any]) -> Claim:
    facts, starts, searches, costs = [], {}, {}, []
    began_searching: dict[str, list[float]] = {}
    for w in WORLDS:
        runs = _runs(evidence, w, "r1zero")
        first = [_first_rewarded(r["metrics"]) for r in runs]
        starts[w] = first
        after = [r["eval"]["after"] for r in runs]
        shown = ", ".join("never" if s is None else f"step {s}" for s in first)
        line = f"{w}, RL from the base model: first step with any reward {shown}"
        line += f"; held-out pass@1 after {_pct([a['pass@1'] for a in after])}"
        if all("search_rate" in a for a in after):
            searches[w] = [a["search_rate"] for a in after]
            early = [window_mean(r["metrics"], "checked_rate", first=True, n=10) for r in runs]
            if all(e is not None for e in early):
                line += f"; completions that search in the first 10 steps {_pct(early)}"
                began_searching[w] = early
            line += f"; completions that search after {_pct(searches[w])}"
        facts.append(line + ".")
        cold = [r["eval"]["after"]["pass@1"] for r in _runs(evidence, w)]
        costs.append(f"{w}, {_pct([a['pass@1'] for a in after])} against {_pct(cold)}")
    began = {w: all(s is not None for s in starts[w]) for w in WORLDS}
    searched = any(min(v) >= 0.25 for v in searches.values())
    if not any(began.values()):
        verdict, because = "contradicted", "RL from the base model never earned a reward"
    elif not searched:
        verdict, because = (
            "partly",
            (
                "RL from the base model started only where the base had seen the answer format "
                "(world 2), and then it sharpened short answers; it never learned to search"
                + (
                    ", and the searching its base model started with faded"
                    if any(min(v) >= 0.25 for v in began_searching.values())
                    else ""
                )
            ),
        )
    else:
        verdict, because = "supported", "RL from the base model learned to search"
    cost = (
        "What going without a cold start gave up: held-out pass@1 after the same GRPO from the "
        "base model and from the cold start: " + "; ".join(costs)
    )
    return Claim(
        "R1-Zero", "RL alone, from a base model with no examples (R1-Zero), discovers reasoning.",
        tuple(facts), verdict, because, "07_emergence, 08_why_rl",
        "DeepSeek's base model had read a vast amount of text, some of it reasoning. What did "
        "ours lack, and what does that say about where R1-Zero's behaviours come from?",
        scope=f"{_emergence_scope(evidence, WORLDS, 'r1zero')}. {WORLDS_DIFFER}", cost=cost,
    )  # fmt: skip


CLAIMS: dict[str, Callable[..., Claim]] = {
    "imitation": imitation_or_exploration,
    "verification": verification_is_cheaper,
    "reasons": outcome_reward_and_reasons,
    "negatives": negatives_matter,
    "diversity": pass_at_k,
    "reflection": reflection,
    "length": longer_responses,
    "aha": aha_moment,
    "cold start": cold_start,
    "KL": kl_anchor,
    "R1-Zero": r1_zero,
}


def all_claims(evidence: dict[str, Any], throughput: dict[str, Any]) -> list[Claim]:
    return [
        fn(evidence, throughput) if key == "verification" else fn(evidence)
        for key, fn in CLAIMS.items()
    ]


# ------------------------------------------------------------------ the one live measurement


def measure_throughput(
    model,
    tokenizer,
    rows: Sequence[dict],
    num_samples: int = 4,
    max_new_tokens: int = RunConfig.max_new_tokens,
) -> dict[str, Any]:
    """Completions per second of sampling ``num_samples`` per problem with ``model``, and
    of scoring the same completions with the program verifier (repeated until it has run
    for at least half a second, so the figure is not a timer's rounding), with what the
    figure covers: the number of completions, their token budget, the model's size and the
    device."""
    import torch

    from r1lab.rewards import countdown_reward
    from r1lab.rollouts import sample

    rows = list(rows)  # a Dataset gives its rows as dicts
    prompts = [r["prompt"] for r in rows]
    t = time.perf_counter()
    out = sample(model, tokenizer, prompts, num_generations=num_samples,
                 max_new_tokens=max_new_tokens, seed=0)  # fmt: skip
    sampled_s = time.perf_counter() - t
    numbers = [r["numbers"] for r in rows for _ in range(num_samples)]
    targets = [r["target"] for r in rows for _ in range(num_samples)]
    scored, t = 0, time.perf_counter()
    while time.perf_counter() - t < 0.5:
        countdown_reward(out.texts, numbers=numbers, target=targets)
        scored += len(out.texts)
    verify_s = time.perf_counter() - t
    device, threads = model.device.type, torch.get_num_threads()
    if device == "cpu":
        device += f", {threads} thread{'s' if threads != 1 else ''}"
    return {
        "sampled_per_s": len(out.texts) / sampled_s,
        "verified_per_s": scored / verify_s,
        "completions": len(out.texts),
        "max_new_tokens": max_new_tokens,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": device,
    }


# ---------------------------------------------------------------------------- as HTML

_VERDICT_COLOURS = {
    "supported": "#1e7b34",
    "contradicted": "#b03a2e",
    "depends": "#2874a6",
    "partly": "#b9770e",
    "not shown": "#7f8c8d",
}


def html_verdict_badge(verdict: str) -> str:
    colour = _VERDICT_COLOURS.get(verdict, "#555")
    return (
        f"<span style='background:{colour};color:white;padding:1px 8px;border-radius:8px;"
        f"font-weight:bold'>{html.escape(verdict)}</span>"
    )


def html_claim(claim: Claim) -> str:
    """One claim as a card: the claim, its verdict, the measured facts, the rule's reading,
    the scope of the evidence, what the arm gave up, where the course measures it, and a
    question to discuss."""
    facts = "".join(f"<li>{html.escape(fact)}</li>" for fact in claim.evidence)
    where = ", ".join(
        f"<a href='{html.escape(n.strip())}.ipynb'>{html.escape(n.strip())}</a>"
        for n in claim.where.split(",")
    )
    return (
        "<div style='border-left:4px solid "
        f"{_VERDICT_COLOURS.get(claim.verdict, '#555')};padding:4px 12px;margin:10px 0'>"
        f"<p><b>“{html.escape(claim.claim)}”</b> {html_verdict_badge(claim.verdict)}</p>"
        f"<ul>{facts}</ul>"
        f"<p><b>Verdict:</b> {html.escape(claim.verdict)}: {html.escape(claim.because)}.</p>"
        f"<p><b>Scope:</b> {html.escape(claim.scope)}.</p>"
        f"<p><b>Cost:</b> {html.escape(claim.cost)}.</p>"
        f"<p style='color:#555'>Measured in {where}. <i>To discuss:</i> "
        f"{html.escape(claim.question)}</p></div>"
    )


def html_claims_board(claims: Sequence[Claim]) -> str:
    """Every claim in one table: the claim, its verdict badge, the rule's reading, and the
    scope of its evidence (the caveat every two-world scope shares once, under the table)."""
    small = f"{CELL_STYLE};font-size:0.85em;color:#444"
    caveat = f". {WORLDS_DIFFER}"

    def scope(claim: Claim) -> str:
        shown = html.escape(claim.scope.replace(caveat, ""))
        return shown + (" *" if caveat in claim.scope else "")

    rows = "".join(
        f"<tr><td style='{CELL_STYLE}'>{html.escape(c.claim)}</td>"
        f"<td style='{CELL_STYLE}'>{html_verdict_badge(c.verdict)}</td>"
        f"<td style='{CELL_STYLE}'>{html.escape(c.because)}</td>"
        f"<td style='{small}'>{scope(c)}</td></tr>"
        for c in claims
    )
    header = "".join(
        f"<th style='{CELL_STYLE}'>{h}</th>" for h in ("claim", "verdict", "why", "scope")
    )
    note = (
        f"<p style='font-size:0.85em;color:#444'>* {html.escape(WORLDS_DIFFER)}.</p>"
        if any(caveat in c.scope for c in claims)
        else ""
    )
    return f"<table style='border-collapse:collapse'><tr>{header}</tr>{rows}</table>{note}"
