"""The claims of the R1 story, each checked against what this course measured.

Learners arrive with claims from papers, posts and talks: "RL beats imitation", "RL makes
models think longer", "an aha moment emerges". Each function here states one claim, reads
the course's own shipped runs (the sweep of notebook 08, the two-world emergence study of
notebook 07) and returns a :class:`Claim`: the measured facts as sentences built from the
data, and a verdict computed by a stated rule, never typed in.

Verdicts compare seeds, not means: a difference counts only when every seed of one side
lies beyond every seed of the other (three seeds cannot show anything finer).

- ``supported``: the course's data show it;
- ``contradicted``: the course's data show the opposite;
- ``depends``: true in one of the course's worlds and false in the other, and the rule
  names what decides it;
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

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS} (got {self.verdict!r})")


# ------------------------------------------------------------------ reading the runs


def load_evidence(root: str | Path | None = None) -> dict[str, Any]:
    """The shipped runs the claims read: ``{"sweep": load_sweep(...), "worlds": {world:
    {arm: [{"metrics": [...], "eval": {...}}, one per seed]}}}``."""
    from r1lab.experiments import emergence_dir, load_emergence
    from r1lab.paths import SHIPPED_RUNS_DIR
    from r1lab.sweep import SWEEP_DIR, load_sweep
    from r1lab.worlds import COUNTDOWN, SEARCH

    root = Path(root) if root is not None else SHIPPED_RUNS_DIR
    worlds = {
        name: {
            arm: [{"metrics": r.metrics, "eval": r.summary} for r in runs]
            for arm, runs in load_emergence(world, root / emergence_dir(world)).items()
        }
        for name, world in zip(WORLDS, (COUNTDOWN, SEARCH), strict=True)
    }
    return {"sweep": load_sweep(root / SWEEP_DIR), "worlds": worlds}


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


def _num(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """'41.2' for one value (or several that print the same), '40.1–43.0 (3 seeds)' for a
    range over seeds."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}–{high} ({len(values)} seeds)"


def _pct(values: Sequence[float]) -> str:
    return _num(values, "{:.1%}")


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


# ------------------------------------------------------------------ the claims


def imitation_or_exploration(evidence: dict[str, Any]) -> Claim:
    from r1lab.sweep import ARMS

    start = evidence["sweep"]["starts"]["sft"]["pass@1"]
    grpo, rft, more = (_sweep(evidence, a, "pass@1") for a in ("grpo", "rft", "sft_more"))
    facts = (
        f"Held-out pass@1 after the same number of updates from the same cold start "
        f"({start:.1%} before): {ARMS['grpo'].label} {_pct(grpo)}, {ARMS['rft'].label} "
        f"{_pct(rft)}, {ARMS['sft_more'].label} {_pct(more)}.",
    )
    side = beyond(grpo, more)
    verdict = {1: "supported", -1: "contradicted", 0: "not shown"}[side]
    because = {
        1: "every GRPO seed beats every seed trained on more expert traces",
        -1: "every seed trained on more expert traces beats every GRPO seed",
        0: "the seeds of GRPO and of more expert traces overlap",
    }[side]
    return Claim(
        "imitation", "Learning from its own samples (RL) beats imitating more expert solutions.",
        facts, verdict, because, "08_why_rl",
        "The expert traces are correct and the model's own samples are mostly wrong. What "
        "does a sample the model wrote itself carry that an expert trace does not?",
    )  # fmt: skip


def verification_is_cheaper(evidence: dict[str, Any], throughput: dict[str, float]) -> Claim:
    verify, generate = throughput["verified_per_s"], throughput["sampled_per_s"]
    ratio = verify / generate
    honest = {w: [window_mean(r["metrics"], "honest_check_rate", True) for r in _runs(evidence, w)]
              for w in WORLDS}  # fmt: skip
    facts = (
        f"On this machine the program verifier scored {verify:,.0f} completions per second; "
        f"the model sampled {generate:,.1f} per second: checking was {ratio:,.0f}× faster "
        "than generating.",
        f"Share of the model's own checks that told the truth, over the first 25 GRPO steps: "
        f"{_pct(honest['world 1'])} in world 1 (a bare ok/no), {_pct(honest['world 2'])} in "
        "world 2 (the result written beside the target).",
    )
    cheap = ratio >= 10
    own = min(honest["world 2"]) >= 0.95
    own_w1 = min(honest["world 1"]) >= 0.95
    if cheap and own and not own_w1:
        verdict, because = (
            "depends",
            (
                "for the program, always; for the model itself, only where checking is a "
                "comparison it can do (world 2), not where it must judge its own chain (world 1)"
            ),
        )
    elif cheap and own and own_w1:
        verdict, because = "supported", "the program and the model both check reliably"
    elif cheap:
        verdict, because = "partly", "the program checks fast, the model's own checks fail"
    else:
        verdict, because = "contradicted", "the verifier was not much faster than sampling"
    return Claim(
        "verification", "Verifying an answer is cheaper than generating it.", facts, verdict,
        because, "04_rewards, 07_emergence",
        "RL needs a cheap check twice: the reward, and the model's own checks inside its "
        "reasoning. Which of the two does the R1 story depend on for self-correction?",
    )  # fmt: skip


def outcome_reward_and_reasons(evidence: dict[str, Any]) -> Claim:
    def unsupported(metrics: list[dict], first: bool) -> float:
        accuracy = window_mean(metrics, "accuracy", first) or 0.0
        supported = window_mean(metrics, "supported_rate", first) or 0.0
        return 1 - supported / accuracy if accuracy else 0.0

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
    return Claim(
        "reasons", "An outcome reward can pay answers that are right for the wrong reason.",
        facts, verdict, because, "04_rewards, 07_emergence",
        "Should a reward check the reasoning as well as the answer? What would a "
        "process reward need to check, and how could it be gamed?",
    )  # fmt: skip


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
    return Claim(
        "negatives", "Negative samples (pushing wrong answers down) are what make RL work.",
        facts, verdict, because, "08_why_rl",
        "With positives only, GRPO is close to rejection sampling. When would pushing wrong "
        "answers down help most: early or late in training, on easy or hard problems?",
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
    return Claim(
        "diversity", "RL teaches the model to solve problems it could not solve before.",
        facts, verdict, because, "03_rollouts, 08_why_rl",
        "If RL mostly re-weights what the model already samples, what limits how far it can "
        "go, and how would you give it more to re-weight?",
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
        f"{what} only where checking is easy and guessing hard (world 2), not where a good "
        "first guess pays (world 1)"
    )


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
        because += "; where guessing pays, completions got shorter"
    return Claim(
        "length", "RL makes responses longer.", facts, verdict, because, "07_emergence",
        "Is length a goal or a side effect? What would make RL shorten the reasoning of a "
        "model that searches?",
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
    )  # fmt: skip


def cold_start(evidence: dict[str, Any]) -> Claim:
    from r1lab.sweep import ARMS, training_values

    sweep = evidence["sweep"]
    zero_spread = {a: training_values(sweep, a, "frac_reward_zero_std") for a in ("grpo", "r1zero")}
    p1 = {a: _sweep(evidence, a, "pass@1") for a in ("grpo", "r1zero")}
    facts = (
        f"Groups in which every completion got the same reward (no learning signal): "
        f"{ARMS['grpo'].label} {_pct(zero_spread['grpo'])}, {ARMS['r1zero'].label} "
        f"{_pct(zero_spread['r1zero'])}; held-out pass@1 after: {_pct(p1['grpo'])} and "
        f"{_pct(p1['r1zero'])}.",
    )
    if (
        beyond(zero_spread["r1zero"], zero_spread["grpo"]) == 1
        and beyond(p1["grpo"], p1["r1zero"]) == 1
    ):
        verdict, because = (
            "supported",
            (
                "from the base model almost every group had no reward spread, and it ended far "
                "below the cold start"
            ),
        )
    else:
        verdict, because = "not shown", "the two starts' seeds overlap"
    return Claim(
        "cold start", "A cold start matters because RL needs a non-zero reward to begin.",
        facts, verdict, because, "01_base_model, 02_sft_cold_start, 08_why_rl",
        "How few cold-start examples would do? What else than SFT could give RL its first "
        "rewards?",
    )  # fmt: skip


def kl_anchor(evidence: dict[str, Any]) -> Claim:
    from r1lab.sweep import ARMS, coverage

    kl = {a: _sweep(evidence, a, "kl_to_start") for a in ("grpo", "kl_0.4")}
    p16 = {a: _sweep(evidence, a, "pass@16") for a in ("grpo", "kl_0.4")}
    lost = {a: coverage(evidence["sweep"], a)["lost"] for a in ("grpo", "kl_0.4")}
    facts = (
        f"Per-token KL to the cold start after training: {ARMS['grpo'].label} "
        f"{_num(kl['grpo'], '{:.3f}')}, {ARMS['kl_0.4'].label} {_num(kl['kl_0.4'], '{:.3f}')}.",
        f"Held-out pass@16: {_pct(p16['grpo'])} and {_pct(p16['kl_0.4'])}; problems the cold "
        f"start solved and the trained model no longer did: {_num(lost['grpo'], '{:.0f}')} and "
        f"{_num(lost['kl_0.4'], '{:.0f}')}.",
    )
    closer = beyond(kl["grpo"], kl["kl_0.4"]) == 1
    keeps = beyond(p16["kl_0.4"], p16["grpo"]) == 1 or beyond(lost["grpo"], lost["kl_0.4"]) == 1
    if closer and keeps:
        verdict, because = "supported", "the anchor kept the model closer and kept more"
    elif closer:
        verdict, because = (
            "partly",
            (
                "the anchor kept the model closer to its start, but no seed shows it kept more "
                "of what the start could do"
            ),
        )
    else:
        verdict, because = "not shown", "the KL of the two arms' seeds overlap"
    return Claim(
        "KL", "A KL penalty keeps the model near its start and so protects what it knew.",
        facts, verdict, because, "05_grpo_from_scratch, 08_why_rl",
        "Many recent recipes (DAPO, Dr. GRPO) drop the KL term. What do they give up, and "
        "when would you put it back?",
    )  # fmt: skip


def r1_zero(evidence: dict[str, Any]) -> Claim:
    facts, starts, searches = [], {}, {}
    for w in WORLDS:
        runs = _runs(evidence, w, "r1zero")
        first = [next((m["step"] for m in r["metrics"] if m["reward"] > 0), None) for r in runs]
        starts[w] = first
        after = [r["eval"]["after"] for r in runs]
        shown = ", ".join("never" if s is None else f"step {s}" for s in first)
        line = f"{w}, RL from the base model: first step with any reward {shown}"
        line += f"; held-out pass@1 after {_pct([a['pass@1'] for a in after])}"
        if all("search_rate" in a for a in after):
            searches[w] = [a["search_rate"] for a in after]
            line += f"; completions that search after {_pct(searches[w])}"
        facts.append(line + ".")
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
            ),
        )
    else:
        verdict, because = "supported", "RL from the base model learned to search"
    return Claim(
        "R1-Zero", "RL alone, from a base model with no examples (R1-Zero), discovers reasoning.",
        tuple(facts), verdict, because, "07_emergence, 08_why_rl",
        "DeepSeek's base model had read a vast amount of text, some of it reasoning. What did "
        "ours lack, and what does that say about where R1-Zero's behaviours come from?",
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


def all_claims(evidence: dict[str, Any], throughput: dict[str, float]) -> list[Claim]:
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
) -> dict[str, float]:
    """Completions per second of sampling ``num_samples`` per problem with ``model``, and
    of scoring the same completions with the program verifier (repeated until it has run
    for at least half a second, so the figure is not a timer's rounding)."""
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
    return {
        "sampled_per_s": len(out.texts) / sampled_s,
        "verified_per_s": scored / verify_s,
        "completions": len(out.texts),
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
    where the course measures it, and a question to discuss."""
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
        f"<p style='color:#555'>Measured in {where}. <i>To discuss:</i> "
        f"{html.escape(claim.question)}</p></div>"
    )


def html_claims_board(claims: Sequence[Claim]) -> str:
    """Every claim in one table: the claim, its verdict badge, the rule's reading."""
    rows = "".join(
        f"<tr><td style='{CELL_STYLE}'>{html.escape(c.claim)}</td>"
        f"<td style='{CELL_STYLE}'>{html_verdict_badge(c.verdict)}</td>"
        f"<td style='{CELL_STYLE}'>{html.escape(c.because)}</td></tr>"
        for c in claims
    )
    header = "".join(f"<th style='{CELL_STYLE}'>{h}</th>" for h in ("claim", "verdict", "why"))
    return f"<table style='border-collapse:collapse'><tr>{header}</tr>{rows}</table>"
