"""What this machine is, whether its packages are the tested ones, and how many threads
torch uses."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

import psutil
from packaging.requirements import Requirement
from packaging.version import Version

from r1lab.config import THREADS_VARIABLE

CORE_PACKAGES = (
    "torch",
    "transformers",
    "trl",
    "datasets",
    "accelerate",
    "jupyterlab",
    "ipywidgets",
    "matplotlib",
)


# One thread unless R1LAB_THREADS says otherwise. Measured on 2 cores shared with another
# job: torch's default (a thread per core, spin-waiting) made a smoke GRPO step 1.1 s and a
# lesson step 18-22 s, against 0.12 s and 2.2 s with one thread; two threads waiting
# passively were no faster than one. One thread is also how the shipped runs were made, so
# a re-run reproduces them (docs/ARCHITECTURE.md, "Threads: one unless asked").
DEFAULT_THREADS = 1
THREADS_ADVICE = (
    f"set {THREADS_VARIABLE}=N to change; with N > 1 on a busy machine also start with "
    "OMP_WAIT_POLICY=PASSIVE"
)


def threads_from_env(environ: Mapping[str, str] | None = None) -> int:
    """The thread count ``R1LAB_THREADS`` asks for (default :data:`DEFAULT_THREADS`)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(THREADS_VARIABLE, "")
    if raw.strip() == "":
        return DEFAULT_THREADS
    try:
        count = int(raw.strip())
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(
            f"{THREADS_VARIABLE} must be a positive integer (got {raw!r}): torch threads per "
            f"process, {DEFAULT_THREADS} unless set"
        )
    return count


def set_threads(environ: Mapping[str, str] | None = None) -> int:
    """Give torch the thread count ``R1LAB_THREADS`` asks for (default one); return it.

    Call it once at the start (the ``r1lab`` command does). Spin-waiting is chosen when
    torch loads, so ``OMP_WAIT_POLICY=PASSIVE`` must be in the environment before Python
    starts; it only matters with more than one thread."""
    import torch

    count = threads_from_env(environ)
    torch.set_num_threads(count)
    return count


@dataclass(frozen=True)
class PackageCheck:
    name: str
    installed: str | None
    required: str
    ok: bool


def check_versions() -> list[PackageCheck]:
    """Each of r1lab's dependencies against the range the course was tested with."""
    checks = []
    for line in metadata.requires("r1lab") or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # dev extras
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            installed = None
        ok = installed is not None and req.specifier.contains(
            Version(installed).base_version, prereleases=True
        )
        checks.append(PackageCheck(req.name, installed, str(req.specifier) or "any", ok))
    return checks


# The optional packages of `pip install -e ".[gpu]"` and what each one enables.
EXTRAS = {
    "peft": "LoRA adapters, to fine-tune a large model on a small GPU (r1lab scale --lora-rank N)",
    "deepspeed": "ZeRO-2/3 sharding over several GPUs (configs/accelerate/deepspeed_zero*.yaml)",
    "vllm": "fast generation on the training GPUs (r1lab scale --vllm, on by default with a GPU)",
}


def extras_report() -> dict[str, str]:
    """For each optional scale-up package: its version and what it enables, or how to get
    it."""
    report = {}
    for name, enables in EXTRAS.items():
        try:
            report[name] = f"{metadata.version(name)}: {enables}"
        except metadata.PackageNotFoundError:
            report[name] = f"not installed: pip install -e '.[gpu]' for {enables}"
    return report


def environment_report(device: str = "auto", include_versions: bool = True) -> dict[str, str]:
    """Device, cores, threads, memory and (optionally) package versions, as display-ready
    strings."""
    import torch

    from r1lab.models import available_devices, pick_device

    vm = psutil.virtual_memory()
    report = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu cores": str(os.cpu_count()),
        "torch threads": f"{torch.get_num_threads()} ({THREADS_ADVICE})",
        "memory": f"{vm.total / 2**30:.1f} GiB total, {vm.available / 2**30:.1f} GiB free",
        "devices here": ", ".join(available_devices()),
        "device used": str(pick_device(device)),
    }
    for name in CORE_PACKAGES if include_versions else ():
        try:
            report[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            report[name] = "not installed"
    if include_versions:
        report |= extras_report()
    return report
