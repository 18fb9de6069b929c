"""Time and peak memory of every course notebook, per profile.

    python benchmarks/notebooks.py [--profile lesson] [notebooks ...]

Prints one line per notebook: wall seconds and the kernel's peak resident memory (MB).
The course's targets: each notebook under 1.5 GB peak (Binder), and in the lesson profile
a few minutes per notebook (at most 12 for the training notebooks) on 2 CPU cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from r1lab.config import PROFILES
from r1lab.notebook_runner import course_notebooks, format_summary, run_notebook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--profile", choices=PROFILES, default="lesson")
    args = parser.parse_args()
    paths = [Path(p) for p in args.paths] or course_notebooks()
    runs = [run_notebook(p, profile=args.profile, timeout=3600) for p in paths]
    print(f"profile: {args.profile}")
    print(format_summary(runs))
    worst = max(r.peak_rss_mb or 0 for r in runs)
    print(f"highest peak: {worst:.0f} MB (Binder budget: 1536 MB)")


if __name__ == "__main__":
    main()
