"""Time and peak memory of every course notebook, per profile.

    python benchmarks/notebooks.py [--profile lesson] [--markdown FILE] [notebooks ...]

Prints one line per notebook: wall seconds and the kernel's peak resident memory (MB).
The course's targets: each notebook under 1.5 GB peak (Binder), and in the lesson profile
a few minutes per notebook (at most 12 for the training notebooks) on 2 CPU cores.
``--markdown docs/teaching/timings.md`` also writes the figures as the teaching pack's
table of timings, with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from r1lab.config import PROFILES
from r1lab.notebook_runner import course_notebooks, format_summary, run_notebook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--profile", choices=PROFILES, default="lesson")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args()
    paths = [Path(p) for p in args.paths] or course_notebooks()
    runs = [run_notebook(p, profile=args.profile, timeout=3600) for p in paths]
    print(f"profile: {args.profile}")
    print(format_summary(runs))
    worst = max(r.peak_rss_mb or 0 for r in runs)
    print(f"highest peak: {worst:.0f} MB (Binder budget: 1536 MB)")
    if args.markdown:
        args.markdown.write_text(markdown(runs, args.profile), encoding="utf-8")
        print(f"wrote {args.markdown}")


def markdown(runs, profile: str) -> str:
    """The runs as the teaching pack's timings page."""
    import torch

    threads = os.environ.get("R1LAB_THREADS", "torch's default")
    version = torch.__version__.split("+")[0]
    lines = [
        "# Timings",
        "",
        f"Each notebook executed top to bottom in the `{profile}` profile by "
        "`python benchmarks/notebooks.py --markdown docs/teaching/timings.md` (fresh kernel, "
        "shipped checkpoints and runs), on "
        f"{os.cpu_count()} CPU cores, {platform.system()}, torch {version}, "
        f"threads: {threads}. A laptop of the same kind should be close; a GPU is faster. "
        "Peak memory is the kernel's resident memory at its highest (Binder allows 1,536 MB).",
        "",
        "| notebook | minutes | peak memory (MB) |",
        "|---|---|---|",
    ]
    for run in runs:
        peak = f"{run.peak_rss_mb:.0f}" if run.peak_rss_mb is not None else "?"
        lines.append(f"| {run.path.stem} | {run.seconds / 60:.1f} | {peak} |")
    total = sum(run.seconds for run in runs) / 60
    lines += ["", f"All {len(runs)} notebooks: {total:.0f} minutes.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
