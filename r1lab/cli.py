"""The ``r1lab`` command."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from r1lab.config import ENV_PREFIX, PROFILES, RunConfig
from r1lab.course import LANGUAGES
from r1lab.paths import NOTEBOOKS_DIR

# Commands whose interrupted runs continue where they stopped when started again.
RESUMABLE = ("grpo", "emergence", "sweep", "scale")
# Flags whose RunConfig field has another name: an error names what the user typed.
FLAG_OF_FIELD = {"rl_steps": "--steps"}
OVERWRITE_HELP = (
    "replace a finished run with other settings in the output folder; without it such a "
    "run is refused"
)


def run_config(
    args: argparse.Namespace,
    default_profile: str,
    environ: Mapping[str, str] | None = None,
    **flags: Any,
) -> RunConfig:
    """A command's settings as notebooks read them (:meth:`RunConfig.from_env`): a flag given
    on the command line, else its ``R1LAB_<FIELD>`` variable, else the command's default
    (``default_profile``). ``flags`` adds fields from other flags (``None``: not given);
    an unknown ``R1LAB_*`` variable is an error naming it."""
    environ = os.environ if environ is None else environ
    given = {name: getattr(args, name, None) for name in ("seed", "device")}
    overrides = {name: value for name, value in {**given, **flags}.items() if value is not None}
    profile = (
        getattr(args, "profile", None)
        or environ.get(ENV_PREFIX + "PROFILE", "").strip()
        or default_profile
    )
    try:
        return RunConfig.from_env(environ, profile=profile, **overrides)
    except ValueError as err:
        message = str(err)
        for field in overrides:
            if message.startswith(field + " "):
                flag = FLAG_OF_FIELD.get(field, "--" + field.replace("_", "-"))
                raise ValueError(flag + message[len(field) :]) from None
        raise


def check_writable(path: str | Path) -> Path:
    """The output folder ``path``, created if needed: an error now, before any work, if it
    is a file or nothing can be written in it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder: choose a folder with --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create the output folder {path}: {err.strerror or err}") from err
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise OSError(f"cannot write into the output folder {path}: {err.strerror or err}") from err
    return path


def _info(args: argparse.Namespace) -> int:
    from r1lab.env import check_versions, environment_report

    cfg = run_config(args, "lesson")
    for key, value in environment_report(cfg.device).items():
        print(f"{key:14} {value}")
    bad = [c for c in check_versions() if not c.ok]
    for check in bad:
        print(
            f"warning: {check.name} {check.installed or 'missing'} is outside the tested "
            f"range {check.required}",
            file=sys.stderr,
        )
    return 1 if bad else 0


def _notebooks(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from r1lab.notebook_runner import course_notebooks, format_summary, run_notebook

    profile = run_config(args, "lesson").profile
    paths = [Path(p) for p in args.paths] or course_notebooks()
    runs = []
    for path in tqdm(paths, desc=f"notebooks ({profile})", unit="nb"):
        runs.append(run_notebook(path, profile=profile, timeout=args.timeout, save=args.save))
    print(format_summary(runs))
    if args.save:
        _rebuild_editions()
    return 0


def _rebuild_editions() -> None:
    """The other languages' notebooks take the new outputs (their code cells are copies)."""
    from r1lab.course import LANGUAGES
    from r1lab.edition import EditionError, build_edition

    for lang in LANGUAGES:
        try:
            build_edition(lang)
            print(f"the {lang} edition now carries these outputs")
        except EditionError as err:
            print(f"the {lang} edition was left as it was: {err}", file=sys.stderr)


def _edition(args: argparse.Namespace) -> int:
    from r1lab.edition import build_edition, edition_problems, readme_problems, write_todo

    folder = args.notebooks
    if args.todo:
        todo = write_todo(args.lang, folder)
        for name, n in todo.items():
            print(f"{name}: {n} cells to translate" if n else f"{name}: translated")
        return 0
    if args.check:
        problems = edition_problems(args.lang, folder) + readme_problems(args.lang, folder.parent)
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"the {args.lang} edition is in sync with the English notebooks")
        return 1 if problems else 0
    for path in build_edition(args.lang, folder):
        print(f"wrote {folder.name}/{args.lang}/{path.name}")
    return 0


def _slides(args: argparse.Namespace) -> int:
    import nbformat

    from r1lab.edition import all_notebooks
    from r1lab.notebook_runner import course_notebooks
    from r1lab.paths import REPO_ROOT
    from r1lab.slides import SLIDES_DIR, build_slides, read_notebook, tag_slides

    if args.tag:
        for path in course_notebooks():
            nb = read_notebook(path)
            changed = tag_slides(nb)
            if changed:
                nbformat.write(nb, path)
            print(f"{path.name}: {changed} slide tags changed")
        _rebuild_editions()
        return 0
    notebooks = [Path(p) for p in args.paths] or all_notebooks()
    out = check_writable(args.out or SLIDES_DIR)
    for path in build_slides(notebooks, out, reveal_prefix=args.reveal_prefix):
        print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


def _references(args: argparse.Namespace) -> int:
    from r1lab.paths import REPO_ROOT
    from r1lab.references import references_markdown

    path = REPO_ROOT / "docs" / "teaching" / "references.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(references_markdown(), encoding="utf-8")
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from r1lab.pack import pack_problems, pack_report

    problems = pack_problems()
    print(pack_report(problems))
    return 1 if problems else 0


def _eval_sets(args: argparse.Namespace) -> int:
    import filecmp

    from r1lab.data import write_eval_sets
    from r1lab.paths import EVAL_DIR

    if not args.check:
        for path in write_eval_sets(check_writable(args.out or EVAL_DIR)):
            print(f"wrote {path} ({len(path.read_text().splitlines())} problems)")
        return 0
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for fresh in write_eval_sets(Path(tmp)):
            shipped = Path(args.out or EVAL_DIR) / fresh.name
            if not shipped.exists() or not filecmp.cmp(fresh, shipped, shallow=False):
                stale.append(shipped)
    for path in stale:
        print(f"out of date: {path} (run `r1lab eval-sets` to rebuild)", file=sys.stderr)
    if not stale:
        print("evaluation sets are up to date")
    return 1 if stale else 0


def _checkpoints(args: argparse.Namespace) -> int:
    from r1lab.build_models import BuildSettings, build, format_card
    from r1lab.paths import SHIPPED_MODELS_DIR

    cfg = run_config(args, "lesson")
    cards = build(
        check_writable(args.out or SHIPPED_MODELS_DIR),
        BuildSettings.with_seed(cfg.seed, args.world),
        only=args.only,
        device=cfg.device,
        progress=not args.quiet,
    )
    for card in cards.values():
        print(format_card(card))
    missed = [t for card in cards.values() for t in card["targets"] if not t["met"]]
    return 1 if missed else 0


def _grpo(args: argparse.Namespace) -> int:
    from r1lab.experiments import format_summary, grpo_from_sft
    from r1lab.paths import RUNS_DIR

    cfg = run_config(args, "lesson", rl_steps=args.steps)
    out = args.out or RUNS_DIR / "grpo" / f"{args.trainer}-{cfg.profile}-seed{cfg.seed}"
    check_writable(out)
    args.run_folder = out
    summary = grpo_from_sft(
        cfg, out, trainer=args.trainer, keep_checkpoint=args.keep_checkpoint,
        progress=not args.quiet, overwrite=args.overwrite,
    )  # fmt: skip
    print(format_summary(summary))
    print(f"run log: {out}")
    return 0


def _emergence(args: argparse.Namespace) -> int:
    from r1lab.experiments import emergence_dir, emergence_study
    from r1lab.paths import RUNS_DIR

    cfg = run_config(args, "full")
    out = check_writable(args.out or RUNS_DIR / emergence_dir(args.world))
    args.run_folder = out
    overrides = {} if args.steps is None else {"steps": args.steps}
    summaries = emergence_study(
        cfg, out, seeds=args.seeds, arms=args.arms, progress=not args.quiet, world=args.world,
        jobs=args.jobs, overwrite=args.overwrite, **overrides,
    )  # fmt: skip
    for name, s in summaries.items():
        b, a = s["before"], s["after"]
        print(
            f"{name}: pass@1 {b['pass@1']:.1%} → {a['pass@1']:.1%}, length "
            f"{b['mean_length']:.1f} → {a['mean_length']:.1f}, effective retries "
            f"{b['effective_retry_rate']:.1%} → {a['effective_retry_rate']:.1%}"
        )
    print(f"runs: {out}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from r1lab.paths import RUNS_DIR
    from r1lab.sweep import ARMS, SWEEP_DIR, run_sweep

    unknown = [arm for arm in args.arms or () if arm not in ARMS]
    if unknown:
        raise ValueError(f"unknown arm {unknown[0]!r}: choose from {', '.join(ARMS)}")
    cfg = run_config(args, "full")
    out = check_writable(args.out or RUNS_DIR / SWEEP_DIR)
    args.run_folder = out
    results = run_sweep(
        cfg, out, arms=args.arms or tuple(ARMS), seeds=args.seeds, steps=args.steps, jobs=args.jobs,
        progress=not args.quiet, overwrite=args.overwrite,
    )  # fmt: skip
    print(f"{len(results)} runs finished: {out}")
    return 0


def _scale(args: argparse.Namespace) -> int:
    from r1lab import scale
    from r1lab.paths import RUNS_DIR

    # --steps is checked against RunConfig's bound on rl_steps, as `r1lab grpo` checks it.
    cfg = run_config(args, "lesson", rl_steps=args.steps)
    given = {
        "steps": args.steps, "prompts_per_step": args.prompts_per_step,
        "num_generations": args.num_generations, "max_new_tokens": args.max_new_tokens,
        "learning_rate": args.learning_rate, "beta": args.beta,
        "micro_batch_size": args.micro_batch_size, "checkpoint_every": args.checkpoint_every,
    }  # fmt: skip
    settings = scale.SCALE_GRPO.replace(
        seed=cfg.seed, **{k: v for k, v in given.items() if v is not None}
    )
    settings = type(settings)(**settings.to_dict())  # validated like any GRPOSettings
    setup = scale.ScaleSettings(
        model=args.model, numbers=tuple(args.numbers), train_prompts=args.train_prompts,
        prompt_style=args.prompt_style, lora_rank=args.lora_rank, bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing, vllm=args.vllm, device=cfg.device,
        trace_processes=args.trace_processes,
    )  # fmt: skip
    out = args.out or RUNS_DIR / "scale" / Path(args.model.rstrip("/")).name
    args.run_folder = out
    if scale.rank() == 0:
        check_writable(out)
    try:
        summary = scale.run(setup, settings, out, overwrite=args.overwrite, progress=not args.quiet)
    finally:
        scale.close()
    if scale.rank() == 0:
        final = summary.get("final") or {}
        print(
            f"{summary.get('processes', 1)} process(es) on {summary.get('device')}: "
            f"{settings.steps} steps, last batch reward {final.get('reward', float('nan')):.2f}, "
            f"length {final.get('length', float('nan')):.0f} tokens"
        )
        print(f"run log: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``r1lab`` with ``argv``; return the exit status (2: an error, 130: interrupted)."""
    import torch

    from r1lab.config import set_threads

    args = _parser().parse_args(argv)
    threads = torch.get_num_threads()
    handler = _catch_one_interrupt()
    try:
        set_threads()
        return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        note = _resume_note(args)
        print(f"r1lab {args.command}: interrupted; {note}", file=sys.stderr)
        return 130
    except (ValueError, OSError, TypeError) as err:  # FileNotFoundError is an OSError
        if args.debug:
            raise
        print(f"r1lab {args.command}: error: {err or type(err).__name__}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)  # a caller in Python keeps its own setting
        if handler is not None and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, handler)  # after a Ctrl-C it stays ignored: exiting


def _catch_one_interrupt() -> Any:
    """Turn the first Ctrl-C into KeyboardInterrupt and ignore the ones after it, so a
    second Ctrl-C cannot break the clean-up the first one started (locks, temporary
    files) or the interpreter's exit into a traceback. Returns the handler it replaced
    (None outside the main thread, where signals cannot be handled); :func:`main` puts it
    back unless a Ctrl-C came."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, interrupt)


def _resume_note(args: argparse.Namespace) -> str:
    """What running an interrupted command again does: resume only when a checkpoint was
    written (the command's run folder, ``args.run_folder``, holds one)."""
    if args.command not in RESUMABLE:
        return "nothing to resume"
    folder = getattr(args, "run_folder", None)
    if folder is not None and _has_checkpoint(Path(folder)):
        return "run the same command again to resume from the last checkpoint"
    if args.command in ("emergence", "sweep"):
        return (
            "runs that finished are kept; the others wrote no checkpoint yet, so running the "
            "same command again starts them from their beginning"
        )
    return "no checkpoint was written yet: running the same command again starts over"


def _has_checkpoint(folder: Path) -> bool:
    """Whether a run folder, or a study's run folders, hold a resume checkpoint (r1lab's
    ``checkpoint.pt`` or a TRL ``checkpoint-N`` folder)."""
    from r1lab.resume import CHECKPOINT_FILE

    patterns = (CHECKPOINT_FILE, "trl/checkpoint-*", f"*/{CHECKPOINT_FILE}", "*/trl/checkpoint-*")
    return any(next(folder.glob(p), None) is not None for p in patterns)


def _parser() -> argparse.ArgumentParser:
    # Flags that a R1LAB_<FIELD> variable can also set default to None: a flag given on
    # the command line wins, then the variable, then the command's own default.
    parser = argparse.ArgumentParser(
        prog="r1lab",
        description=__doc__,
        epilog="Settings also come from R1LAB_<FIELD> variables (R1LAB_SEED=3, "
        "R1LAB_LEARNING_RATE=1e-4; see r1lab.config.RunConfig), below the flags given; "
        "R1LAB_THREADS sets torch's threads (default 1).",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not only its message"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    profile_help = "budget (default: {}, or R1LAB_PROFILE)"
    device_help = "auto, cpu, cuda, cuda:N or mps (default: auto, or R1LAB_DEVICE)"

    info = sub.add_parser(
        "info", help="versions, device, cores, threads, memory; warn on untested versions"
    )
    info.add_argument("--device", help=device_help)
    info.set_defaults(func=_info)

    nbs = sub.add_parser(
        "notebooks",
        help="execute course notebooks headless; print time and peak memory of each",
    )
    nbs.add_argument("paths", nargs="*", help="notebooks to run (default: all in notebooks/)")
    nbs.add_argument("--profile", choices=PROFILES, help=profile_help.format("lesson"))
    nbs.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell")
    nbs.add_argument(
        "--save", action="store_true", help="write the outputs back into the notebooks"
    )
    nbs.set_defaults(func=_notebooks)

    refs = sub.add_parser(
        "references", help="write docs/teaching/references.md from r1lab/references.py"
    )
    refs.set_defaults(func=_references)

    pack = sub.add_parser(
        "pack",
        help="check that every number docs/teaching/ quotes is in the notebooks' committed "
        "outputs, a card or a setting (exit 1 and list each one that is not)",
    )
    pack.set_defaults(func=_pack)

    sld = sub.add_parser(
        "slides",
        help="build reveal.js slides of the notebooks (slides/), from their cells' slide tags",
    )
    sld.add_argument("paths", nargs="*", help="notebooks (default: all, both languages)")
    sld.add_argument("--out", type=Path, help="folder for the decks (default: slides/)")
    sld.add_argument(
        "--reveal-prefix",
        help="where the decks load reveal.js from (default: its CDN); a local copy's folder "
        "makes them work offline",
    )
    sld.add_argument(
        "--tag",
        action="store_true",
        help="instead, rewrite the notebooks' slide tags from their headings",
    )
    sld.set_defaults(func=_slides)

    edi = sub.add_parser(
        "edition",
        help="build the notebooks of another language from the English ones and the "
        "translations of their markdown (notebooks/<lang>/translations/)",
    )
    edi.add_argument("lang", choices=sorted(LANGUAGES), help="the edition's language")
    edi.add_argument(
        "--notebooks",
        type=Path,
        default=NOTEBOOKS_DIR,
        help="the folder of the English notebooks (default: notebooks/; its parent holds "
        "the READMEs)",
    )
    what = edi.add_mutually_exclusive_group()
    what.add_argument(
        "--check", action="store_true", help="only report cells missing, stale or out of sync"
    )
    what.add_argument(
        "--todo",
        action="store_true",
        help="write each untranslated or changed cell's English text into its translation file",
    )
    edi.set_defaults(func=_edition)

    evs = sub.add_parser(
        "eval-sets", help="write the held-out evaluation files (data/eval/*.jsonl)"
    )
    evs.add_argument("--out", type=Path, help="folder to write to (default: data/eval)")
    evs.add_argument(
        "--check", action="store_true", help="only check the files match what would be written"
    )
    evs.set_defaults(func=_eval_sets)

    cks = sub.add_parser(
        "checkpoints",
        help="rebuild data/checkpoints/base and sft (pretraining, SFT cold start, cards)",
    )
    cks.add_argument("--out", type=Path, help="folder to write to (default: data/checkpoints)")
    cks.add_argument("--seed", type=int, help="default: 0, or R1LAB_SEED")
    cks.add_argument("--only", choices=("base", "sft"), help="rebuild one of the two")
    cks.add_argument(
        "--world", choices=("countdown", "search"), default="countdown",
        help="which world's models: countdown (data/checkpoints/base, sft) or search "
        "(data/checkpoints/search-base, search-sft)",
    )  # fmt: skip
    cks.add_argument("--device", help=device_help)
    cks.add_argument("--quiet", action="store_true", help="no progress bars")
    cks.set_defaults(func=_checkpoints)

    grpo = sub.add_parser(
        "grpo",
        help="GRPO from data/checkpoints/sft in a profile's budget, measured before and after",
    )
    grpo.add_argument("--profile", choices=PROFILES, help=profile_help.format("lesson"))
    grpo.add_argument("--seed", type=int, help="default: 0, or R1LAB_SEED")
    grpo.add_argument("--trainer", choices=("r1lab", "trl"), default="r1lab")
    grpo.add_argument(
        "--steps", type=int, help="GRPO steps (default: the profile's rl_steps, or R1LAB_RL_STEPS)"
    )
    grpo.add_argument("--device", help=device_help)
    grpo.add_argument(
        "--out", type=Path, help="run folder (default: runs/grpo/<trainer>-<profile>-seed<N>)"
    )
    grpo.add_argument(
        "--keep-checkpoint", action="store_true",
        help="keep the final training state (12 MB) so the run can be extended",
    )  # fmt: skip
    grpo.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    grpo.add_argument("--quiet", action="store_true", help="no progress bars")
    grpo.set_defaults(func=_grpo)

    emg = sub.add_parser(
        "emergence",
        help="the emergence study: GRPO from the cold start and from the base model (R1-Zero), "
        "per seed, with retries counted at every step (writes runs/emergence; the shipped "
        "study is regenerated with --out data/runs/emergence)",
    )
    emg.add_argument("--profile", choices=PROFILES, help=profile_help.format("full"))
    emg.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    emg.add_argument("--arms", nargs="+", choices=("sft", "r1zero"), default=["sft", "r1zero"])
    emg.add_argument(
        "--steps", type=int,
        help="GRPO steps (default: the profile's rl_steps, or R1LAB_RL_STEPS; in the search "
        "world its search_steps, or R1LAB_SEARCH_STEPS)",
    )  # fmt: skip
    emg.add_argument("--jobs", type=int, default=1, help="runs at a time, one thread each")
    emg.add_argument(
        "--world", choices=("countdown", "search"), default="countdown",
        help="countdown (writes runs/emergence) or the search world (writes "
        "runs/emergence-search)",
    )  # fmt: skip
    emg.add_argument("--device", help=device_help)
    emg.add_argument(
        "--out", type=Path,
        help="folder for the runs (default: runs/emergence, or runs/emergence-search for the "
        "search world)",
    )  # fmt: skip
    emg.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    emg.add_argument("--quiet", action="store_true", help="no progress bars")
    emg.set_defaults(func=_emergence)

    swp = sub.add_parser(
        "sweep",
        help="why RL and not more SFT: every arm (SFT, rejection sampling, GRPO and its "
        "variants) per seed on the same update budget (writes runs/sweep; the shipped "
        "sweep is regenerated with --out data/runs/sweep)",
    )
    swp.add_argument("--profile", choices=PROFILES, help=profile_help.format("full"))
    swp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    # Arms are checked in _sweep: importing r1lab.sweep here would slow every command.
    swp.add_argument(
        "--arms", nargs="+", metavar="ARM",
        help="arms to run (default: all; r1lab.sweep.ARMS lists them, as does a wrong name)",
    )  # fmt: skip
    swp.add_argument("--steps", type=int, help="updates per run (default: the profile's)")
    swp.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    swp.add_argument("--device", help=device_help)
    swp.add_argument("--out", type=Path, help="folder for the sweep (default: runs/sweep)")
    swp.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    swp.add_argument("--quiet", action="store_true", help="no progress bar")
    swp.set_defaults(func=_sweep)

    scl = sub.add_parser(
        "scale",
        help="GRPO on a real model through TRL; under `accelerate launch -m r1lab scale` in "
        "as many processes as devices (configs/accelerate/)",
    )
    scl.add_argument(
        "--model",
        default="Qwen/Qwen2.5-0.5B-Instruct",
        help="hub id or local folder (default: Qwen/Qwen2.5-0.5B-Instruct)",
    )
    scl.add_argument("--out", type=Path, help="run folder (default: runs/scale/<model>)")
    scl.add_argument("--steps", type=int, help="GRPO steps (default 200)")
    scl.add_argument(
        "--prompts-per-step", type=int, help="prompts per step over all processes (default 16)"
    )
    scl.add_argument("--num-generations", type=int, help="G, completions per prompt (default 8)")
    scl.add_argument("--max-new-tokens", type=int, help="completion budget (default 1024)")
    scl.add_argument("--learning-rate", type=float, help="peak learning rate (default 1e-6)")
    scl.add_argument("--beta", type=float, help="KL weight (default 0)")
    scl.add_argument(
        "--micro-batch-size",
        type=int,
        help="completions per forward/backward pass per process (default 8)",
    )
    scl.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 25)")
    scl.add_argument(
        "--numbers",
        type=int,
        nargs="+",
        default=[3, 4],
        help="Countdown problem sizes, mixed evenly (default: 3 4)",
    )
    scl.add_argument("--train-prompts", type=int, default=4000)
    scl.add_argument(
        "--prompt-style",
        choices=("auto", "instruct", "r1lab"),
        default="auto",
        help="instruct: the model's chat template with instructions; r1lab: the "
        "course's prompt (auto: r1lab for the course's own checkpoints)",
    )
    scl.add_argument("--lora-rank", type=int, default=0, help="LoRA rank (0: full fine-tuning)")
    for flag in ("bf16", "gradient-checkpointing", "vllm"):
        scl.add_argument(
            f"--{flag}",
            choices=("auto", "on", "off"),
            default="auto",
            help="auto: on with a GPU" + (" and vllm installed" if flag == "vllm" else ""),
        )
    scl.add_argument("--seed", type=int)
    scl.add_argument("--device", help=device_help)
    scl.add_argument(
        "--trace-processes",
        action="store_true",
        help="log each process's prompts and weights digest (processes/)",
    )
    scl.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    scl.add_argument("--quiet", action="store_true", help="no progress bar")
    scl.set_defaults(func=_scale)
    return parser


if __name__ == "__main__":
    sys.exit(main())
