"""What this machine is, and whether its packages are the tested ones."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib import metadata

import psutil
from packaging.requirements import Requirement
from packaging.version import Version

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


def environment_report(device: str = "auto", include_versions: bool = True) -> dict[str, str]:
    """Device, cores, memory and (optionally) package versions, as display-ready strings."""
    from r1lab.models import available_devices, pick_device

    vm = psutil.virtual_memory()
    report = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu cores": str(os.cpu_count()),
        "memory": f"{vm.total / 2**30:.1f} GiB total, {vm.available / 2**30:.1f} GiB free",
        "devices here": ", ".join(available_devices()),
        "device used": str(pick_device(device)),
    }
    for name in CORE_PACKAGES if include_versions else ():
        try:
            report[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            report[name] = "not installed"
    return report
