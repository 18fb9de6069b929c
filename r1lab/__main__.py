"""``python -m r1lab``: the ``r1lab`` command."""

import sys

from r1lab.lifeline import watch_launcher

watch_launcher()  # a worker of `accelerate launch`: before the slow imports, see its launcher

from r1lab.cli import main  # noqa: E402

sys.exit(main())
