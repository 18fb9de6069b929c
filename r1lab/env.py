"""What this machine is, whether its packages are the tested ones, and how many threads
torch uses."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib import metadata

import psutil
from packaging.requirements import Requirement
from packaging.version import Version

from r1lab.config import THREADS_ADVICE

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
