"""The ``r1lab`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from r1lab.config import PROFILES


def _info(args: argparse.Namespace) -> int:
    from r1lab.env import check_versions, environment_report

    for key, value in environment_report(args.device).items():
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

    paths = [Path(p) for p in args.paths] or course_notebooks()
    runs = []
    for path in tqdm(paths, desc=f"notebooks ({args.profile})", unit="nb"):
        runs.append(run_notebook(path, profile=args.profile, timeout=args.timeout, save=args.save))
    print(format_summary(runs))
    return 0


def _eval_sets(args: argparse.Namespace) -> int:
    import filecmp
    import tempfile

    from r1lab.data import EVAL_DIR, write_eval_sets

    if not args.check:
        for path in write_eval_sets(args.out or EVAL_DIR):
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
    from r1lab.checkpoints import CHECKPOINTS_DIR, BuildSettings, build, format_card

    cards = build(
        args.out or CHECKPOINTS_DIR,
        BuildSettings.with_seed(args.seed, args.world),
        only=args.only,
        device=args.device,
        progress=not args.quiet,
    )
    for card in cards.values():
        print(format_card(card))
    missed = [t for card in cards.values() for t in card["targets"] if not t["met"]]
    return 1 if missed else 0


def _grpo(args: argparse.Namespace) -> int:
    from r1lab.config import RunConfig
    from r1lab.experiments import format_summary, grpo_from_sft
    from r1lab.runlog import RUNS_DIR

    overrides = {"seed": args.seed, "device": args.device}
    if args.steps is not None:
        overrides["rl_steps"] = args.steps
    cfg = RunConfig.from_profile(args.profile, **overrides)
    out = args.out or RUNS_DIR / "grpo" / f"{args.trainer}-{cfg.profile}-seed{cfg.seed}"
    summary = grpo_from_sft(
        cfg, out, trainer=args.trainer, keep_checkpoint=args.keep_checkpoint,
        progress=not args.quiet,
    )  # fmt: skip
    print(format_summary(summary))
    print(f"run log: {out}")
    return 0


def _emergence(args: argparse.Namespace) -> int:
    from r1lab.config import RunConfig
    from r1lab.experiments import SHIPPED_RUNS_DIR, emergence_dir, emergence_study

    cfg = RunConfig.from_profile(args.profile, device=args.device)
    out = args.out or SHIPPED_RUNS_DIR / emergence_dir(args.world)
    from r1lab.worlds import get_world

    steps = args.steps
    if steps is None and args.profile == "full":
        steps = get_world(args.world).study_steps  # the shipped study's budget (or None)
    overrides = {} if steps is None else {"steps": steps}
    summaries = emergence_study(
        cfg, out, seeds=args.seeds, arms=args.arms, progress=not args.quiet, world=args.world,
        jobs=args.jobs, **overrides,
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
    from r1lab.config import RunConfig
    from r1lab.experiments import SHIPPED_RUNS_DIR
    from r1lab.sweep import ARMS, SWEEP_DIR, run_sweep

    unknown = [arm for arm in args.arms or () if arm not in ARMS]
    if unknown:
        print(f"r1lab sweep: unknown arm {unknown[0]!r}: choose from {', '.join(ARMS)}",
              file=sys.stderr)  # fmt: skip
        return 2
    cfg = RunConfig.from_profile(args.profile, device=args.device)
    out = args.out or SHIPPED_RUNS_DIR / SWEEP_DIR
    results = run_sweep(
        cfg, out, arms=args.arms or tuple(ARMS), seeds=args.seeds, steps=args.steps, jobs=args.jobs,
        progress=not args.quiet,
    )  # fmt: skip
    print(f"{len(results)} runs finished: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="r1lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, device, cores, memory; warn on untested versions")
    info.add_argument("--device", default="auto")
    info.set_defaults(func=_info)

    nbs = sub.add_parser(
        "notebooks",
        help="execute course notebooks headless; print time and peak memory of each",
    )
    nbs.add_argument("paths", nargs="*", help="notebooks to run (default: all in notebooks/)")
    nbs.add_argument("--profile", choices=PROFILES, default="lesson")
    nbs.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell")
    nbs.add_argument(
        "--save", action="store_true", help="write the outputs back into the notebooks"
    )
    nbs.set_defaults(func=_notebooks)

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
    cks.add_argument("--seed", type=int, default=0)
    cks.add_argument("--only", choices=("base", "sft"), help="rebuild one of the two")
    cks.add_argument(
        "--world", choices=("countdown", "search"), default="countdown",
        help="which world's models: countdown (data/checkpoints/base, sft) or search "
        "(data/checkpoints/search-base, search-sft)",
    )  # fmt: skip
    cks.add_argument("--device", default="auto")
    cks.add_argument("--quiet", action="store_true", help="no progress bars")
    cks.set_defaults(func=_checkpoints)

    grpo = sub.add_parser(
        "grpo",
        help="GRPO from data/checkpoints/sft in a profile's budget, measured before and after",
    )
    grpo.add_argument("--profile", choices=PROFILES, default="lesson")
    grpo.add_argument("--seed", type=int, default=0)
    grpo.add_argument("--trainer", choices=("r1lab", "trl"), default="r1lab")
    grpo.add_argument("--steps", type=int, help="GRPO steps (default: the profile's rl_steps)")
    grpo.add_argument("--device", default="auto")
    grpo.add_argument(
        "--out", type=Path, help="run folder (default: runs/grpo/<trainer>-<profile>-seed<N>)"
    )
    grpo.add_argument(
        "--keep-checkpoint", action="store_true",
        help="keep the final training state (12 MB) so the run can be extended",
    )  # fmt: skip
    grpo.add_argument("--quiet", action="store_true", help="no progress bars")
    grpo.set_defaults(func=_grpo)

    emg = sub.add_parser(
        "emergence",
        help="the emergence study: GRPO from the cold start and from the base model (R1-Zero), "
        "per seed, with retries counted at every step (writes data/runs/emergence)",
    )
    emg.add_argument("--profile", choices=PROFILES, default="full")
    emg.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    emg.add_argument("--arms", nargs="+", choices=("sft", "r1zero"), default=["sft", "r1zero"])
    emg.add_argument("--steps", type=int, help="GRPO steps (default: the profile's rl_steps)")
    emg.add_argument("--jobs", type=int, default=1, help="runs at a time, one thread each")
    emg.add_argument(
        "--world", choices=("countdown", "search"), default="countdown",
        help="countdown (writes data/runs/emergence) or the search world "
        "(writes data/runs/emergence-search)",
    )  # fmt: skip
    emg.add_argument("--device", default="auto")
    emg.add_argument("--out", type=Path, help="folder for the runs (default: data/runs/emergence)")
    emg.add_argument("--quiet", action="store_true", help="no progress bars")
    emg.set_defaults(func=_emergence)

    swp = sub.add_parser(
        "sweep",
        help="why RL and not more SFT: every arm (SFT, rejection sampling, GRPO and its "
        "variants) per seed on the same update budget (writes data/runs/sweep)",
    )
    swp.add_argument("--profile", choices=PROFILES, default="full")
    swp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    # Arms are checked in _sweep: importing r1lab.sweep here would slow every command.
    swp.add_argument(
        "--arms", nargs="+", metavar="ARM",
        help="arms to run (default: all; r1lab.sweep.ARMS lists them, as does a wrong name)",
    )  # fmt: skip
    swp.add_argument("--steps", type=int, help="updates per run (default: the profile's)")
    swp.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    swp.add_argument("--device", default="auto")
    swp.add_argument("--out", type=Path, help="folder for the sweep (default: data/runs/sweep)")
    swp.add_argument("--quiet", action="store_true", help="no progress bar")
    swp.set_defaults(func=_sweep)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
