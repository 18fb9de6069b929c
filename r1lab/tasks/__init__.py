"""The course's tasks: each has a spec of difficulty knobs, a seeded generator, a solver
and a trace writer, and problems that turn into dataset rows and prompts."""

from r1lab.tasks import arithmetic, countdown
from r1lab.tasks.splits import SPLITS, split_of

TASKS = {countdown.NAME: countdown, arithmetic.NAME: arithmetic}

__all__ = ["SPLITS", "TASKS", "arithmetic", "countdown", "split_of"]
