"""The builder of the shipped models, ``data/checkpoints/base`` and ``sft`` (and the
search world's ``search-base`` and ``search-sft``).

``r1lab checkpoints`` runs :func:`build`: pretrain the base model, evaluate it, save it
with a card; then the SFT cold start from it, evaluate, save with a card. Everything is
seeded, so the same seed on the same software rebuilds the same weights. Each card
(``card.json``) records the settings, data sizes, wall time and the evaluation numbers
on the held-out file, and whether the course's targets hold.
"""

from __future__ import annotations

import dataclasses
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from r1lab.config import RunConfig
from r1lab.data import load_eval
from r1lab.heldout import EVAL_SAMPLES, EVAL_SEED, measure_with_samples
from r1lab.models import CARD_FILE, count_parameters, load, pick_device, save
from r1lab.paths import SHIPPED_MODELS_DIR
from r1lab.pretrain import PretrainConfig, pretrain
from r1lab.sft import SFTPhase, SFTSettings, cold_start
from r1lab.storage import sha256_file, write_json
from r1lab.worlds import SEARCH, World, get_world

NAMES = ("base", "sft")


@dataclass(frozen=True)
class EvalSettings:
    """How the cards' numbers are measured: on the held-out Countdown file."""

    n_problems: int = 200
    num_samples: int = EVAL_SAMPLES
    temperature: float = RunConfig.temperature
    max_new_tokens: int = RunConfig.max_new_tokens
    seed: int = EVAL_SEED
    probes: int = 200
    world: str = "countdown"  # whose held-out file, probes and grammar

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The search world's models: a longer context and corpus (4-number chains, dead ends,
# comparisons, formatted other tasks), a cold start on more traces (the search mode is
# only 20 % of them), and a completion budget for the long searches.
# Blocks of 1,024 tokens: attention learns every distance a long search needs (with 256,
# samples past ~250 tokens fell apart); 4 blocks a step keep the tokens per step of 8 × 512.
SEARCH_PRETRAIN = PretrainConfig(
    world="search", corpus_docs=160_000, steps=2500, batch_size=4, block_size=1024
)
# The cold start in three passes: 10,000 traces of the usual mix (15 % searches) teach the
# format and the two modes; 2,000 searches alone teach the model to carry a long search out
# (after the first pass alone it left the order at its first backtrack: 10 of 50 forced
# searches found the answer, 19 after this pass); 2,000 more traces of the usual mix set
# how often it starts a search back to a rare choice (99 % after the second pass).
SEARCH_SFT = SFTSettings(
    world="search",
    examples=10_000,
    epochs=3,
    learning_rate=1e-3,
    then=(
        SFTPhase(examples=2_000, search_rate=1.0, learning_rate=5e-4, group_by_length=True),
        SFTPhase(examples=2_000, search_rate=0.15, learning_rate=3e-4),
    ),
)
SEARCH_EVAL = EvalSettings(world="search", max_new_tokens=SEARCH.max_new_tokens)


@dataclass(frozen=True)
class BuildSettings:
    seed: int = 0
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    sft: SFTSettings = field(default_factory=SFTSettings)
    evaluation: EvalSettings = field(default_factory=EvalSettings)

    @property
    def world(self) -> World:
        return get_world(self.evaluation.world)

    @classmethod
    def with_seed(cls, seed: int, world: str = "countdown") -> BuildSettings:
        if get_world(world).name == "search":
            pretrain, sft, evaluation = SEARCH_PRETRAIN, SEARCH_SFT, SEARCH_EVAL
        else:
            pretrain, sft, evaluation = PretrainConfig(), SFTSettings(), EvalSettings()
        return cls(
            seed=seed,
            pretrain=dataclasses.replace(pretrain, seed=seed),
            sft=dataclasses.replace(sft, seed=seed),
            evaluation=evaluation,
        )


# What the course needs from each checkpoint (checked and written in the cards).
TARGETS: dict[str, list[tuple[str, Callable[[dict], bool]]]] = {
    "base": [("format rate ≤ 5 %", lambda e: e["format_rate"] <= 0.05)],
    "sft": [
        ("format rate ≥ 95 %", lambda e: e["format_rate"] >= 0.95),
        ("pass@1 between 15 % and 50 %", lambda e: 0.15 <= e["pass@1"] <= 0.50),
        ("pass@8 ≥ pass@1 + 10 points", lambda e: e["pass@8"] >= e["pass@1"] + 0.10),
    ],
    # The search world's gates (before any RL).
    "search-base": [
        ("check probe ≥ 95 %", lambda e: e["probe_check"] >= 0.95),
        ("R1-Zero can start: pass@8 > 0", lambda e: e["pass@8"] > 0),
    ],
    "search-sft": [
        ("format rate ≥ 95 %", lambda e: e["format_rate"] >= 0.95),
        ("checks honest ≥ 95 %", lambda e: (e["honest_check_rate"] or 0) >= 0.95),
        ("steps computed right ≥ 98 %", lambda e: (e["step_accuracy"] or 0) >= 0.98),
        ("truncated < 2 %", lambda e: e["truncated_rate"] < 0.02),
        ("searches in 5–40 % of samples", lambda e: 0.05 <= e["search_rate"] <= 0.40),
    ],
}


def evaluate_checkpoint(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    settings: EvalSettings | None = None,
    progress: bool = False,
) -> dict:
    """The held-out scores (:func:`r1lab.heldout.measure`: sampled pass@k, format rate,
    length and cut-offs, greedy accuracy; the search world's rates) and the free-text
    probes."""
    from r1lab.probes import arithmetic_accuracy, check_accuracy, solve_accuracy

    settings = settings or EvalSettings()
    world = get_world(settings.world)
    rows = load_eval(world.eval_name, settings.n_problems, chat=True)
    spec, compare = world.spec, world.trace_style == "search"
    scores, sampled = measure_with_samples(
        model, tokenizer, rows, num_samples=settings.num_samples,
        temperature=settings.temperature, max_new_tokens=settings.max_new_tokens,
        seed=settings.seed, truncated=True, search=compare, progress=progress,
    )  # fmt: skip
    result = {**sampled.to_dict(), **scores}  # what was sampled, then every score
    result["probe_arithmetic"] = arithmetic_accuracy(
        model, tokenizer, settings.probes, spec=spec
    ).accuracy
    result["probe_check"] = check_accuracy(
        model, tokenizer, settings.probes, spec=spec, compare=compare
    ).accuracy
    result["probe_solve"] = solve_accuracy(model, tokenizer, settings.probes, spec=spec).accuracy
    result["settings"] = settings.to_dict()
    return result


def weights_digest(path: str | Path) -> str:
    """SHA-256 of a checkpoint's ``model.safetensors``: ties a card to its weights
    (:func:`r1lab.models.load` checks it)."""
    return sha256_file(Path(path) / "model.safetensors")


def files_digests(path: str | Path) -> dict[str, str]:
    """SHA-256 of every file of a saved model but its card: ties the card to the whole
    folder, config and tokenizer included (:func:`r1lab.models.check_files`)."""
    return {
        p.name: sha256_file(p)
        for p in sorted(Path(path).iterdir())
        if p.is_file() and p.name != CARD_FILE and not p.name.startswith(".")
    }


def check_targets(name: str, evaluation: dict) -> list[dict]:
    return [{"target": what, "met": bool(test(evaluation))} for what, test in TARGETS[name]]


def write_card(path: Path, card: dict) -> Path:
    return write_json(Path(path) / CARD_FILE, card)


def _card(
    name: str,
    model: PreTrainedModel,
    training: dict,
    evaluation: dict,
    world: World,
    only: str,
    **extra,
) -> dict:
    command = "r1lab checkpoints" + (f" --world {world.name}" if world.name != "countdown" else "")
    return {
        "name": name,
        "built_by": f"{command} --only {only}",
        "model": {
            "architecture": type(model).__name__,
            "parameters": count_parameters(model),
            "hidden_size": model.config.hidden_size,
            "layers": model.config.num_hidden_layers,
        },
        **extra,
        "training": training,
        "evaluation": evaluation,
        "targets": check_targets(name, evaluation),
        "software": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "trl": __import__("trl").__version__,
            "threads": torch.get_num_threads(),
        },
    }


def _evaluate_saved(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    out: Path,
    settings: BuildSettings,
    device: str,
    progress: bool,
) -> dict:
    """Save, then evaluate what was saved: the card describes the files a learner loads,
    not the trainer's in-memory model (whose settings a trainer may have changed)."""
    (Path(out) / CARD_FILE).unlink(missing_ok=True)  # it describes the weights being replaced
    save(model.to("cpu"), tokenizer, out)
    saved, saved_tokenizer = load(out, device=str(pick_device(device)))
    return evaluate_checkpoint(saved, saved_tokenizer, settings.evaluation, progress)


def build_base(
    out: str | Path,
    settings: BuildSettings,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Pretrain, evaluate and save the base model with its card; returns the card."""
    out = Path(out)
    world = settings.world
    work = out.parent / ".work" / f"{world.base_dir}-seed{settings.pretrain.seed}"
    t0 = time.perf_counter()
    model, tokenizer, summary = pretrain(
        settings.pretrain, device=device, work_dir=work, progress=progress
    )
    log(f"base: pretrained in {summary['wall_time_s']} s, final loss {summary['final_loss']:.3f}")
    evaluation = _evaluate_saved(model, tokenizer, out, settings, device, progress)
    card = _card(
        world.base_dir,
        model,
        {**summary, "config": settings.pretrain.to_dict()},
        evaluation,
        world,
        "base",
        seed=settings.seed,
        data={"pretraining_documents": settings.pretrain.corpus_docs},
        wall_time_s=round(time.perf_counter() - t0, 1),
        weights_sha256=weights_digest(out),
        files_sha256=files_digests(out),
    )
    write_card(out, card)
    # The state only serves an interrupted run; the next build starts from nothing.
    shutil.rmtree(work, ignore_errors=True)
    return card


def build_sft(
    base: str | Path,
    out: str | Path,
    settings: BuildSettings,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """The cold start from the base checkpoint, evaluated and saved with its card."""
    out = Path(out)
    t0 = time.perf_counter()
    model, tokenizer = load(base, device=str(pick_device(device)))
    summary = cold_start(model, tokenizer, settings.sft, device=device, progress=progress)
    log(f"sft: {summary['steps']} steps in {summary['wall_time_s']} s")
    evaluation = _evaluate_saved(model, tokenizer, out, settings, device, progress)
    world = settings.world
    card = _card(
        world.sft_dir,
        model,
        {**summary, "settings": settings.sft.to_dict()},
        evaluation,
        world,
        "sft",
        seed=settings.seed,
        data={"cold_start_traces": summary["examples"], "retry_rate": settings.sft.retry_rate},
        base=Path(base).name,  # the sibling directory it was fine-tuned from
        wall_time_s=round(time.perf_counter() - t0, 1),
        weights_sha256=weights_digest(out),
        files_sha256=files_digests(out),
    )
    write_card(out, card)
    return card


def build(
    out_dir: str | Path = SHIPPED_MODELS_DIR,
    settings: BuildSettings | None = None,
    only: str | None = None,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, dict]:
    """Rebuild the base model then the cold start (or ``only`` one of them) under
    ``out_dir``, in the folders of the settings' world (``base`` and ``sft`` for world 1,
    ``search-base`` and ``search-sft`` for the search world)."""
    if only is not None and only not in NAMES:
        raise ValueError(f"only must be one of {', '.join(NAMES)} (got {only!r})")
    settings = settings or BuildSettings()
    out_dir = Path(out_dir)
    base, sft = out_dir / settings.world.base_dir, out_dir / settings.world.sft_dir
    cards = {}
    if only in (None, "base"):
        cards["base"] = build_base(base, settings, device, progress, log)
    if only in (None, "sft"):
        cards["sft"] = build_sft(base, sft, settings, device, progress, log)
    return cards


def format_card(card: dict) -> str:
    """A few lines for the terminal: the evaluation numbers and the targets."""
    e = card["evaluation"]
    lines = [
        f"{card['name']}: {card['model']['parameters']:,} parameters, built in "
        f"{card['wall_time_s']} s",
        f"  format rate {e['format_rate']:.1%}  pass@1 {e['pass@1']:.1%}  "
        f"pass@8 {e['pass@8']:.1%}  greedy {e['greedy_accuracy']:.1%}  "
        f"mean length {e['mean_length']:.1f} tokens",
        f"  free text: arithmetic {e['probe_arithmetic']:.1%}  checks {e['probe_check']:.1%}  "
        f"solved {e['probe_solve']:.1%}",
    ]
    if "search_rate" in e:
        honest = e["honest_check_rate"]
        lines.append(
            f"  search: {e['search_rate']:.1%} of samples check and search, checks honest "
            f"{'–' if honest is None else format(honest, '.1%')}, steps right "
            f"{'–' if e['step_accuracy'] is None else format(e['step_accuracy'], '.1%')}, "
            f"{e['attempts']:.2f} attempts "
            f"each, effective retries {e['effective_retry_rate']:.1%}, truncated "
            f"{e['truncated_rate']:.1%}"
        )
    lines += [f"  {'✓' if t['met'] else '✗'} {t['target']}" for t in card["targets"]]
    return "\n".join(lines)
