"""The set-up files agree with each other: pyproject, conda, Binder, CI and the README."""

import os
import re

import tomllib
import yaml
from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT

CONDA_TO_PYPI = {"pytorch-cpu": "torch", "matplotlib-base": "matplotlib"}


def _env(path):
    return yaml.safe_load((REPO_ROOT / path).read_text())


def _split(env):
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep["pip"])
        else:
            conda.append(dep)
    return conda, pip


def _pyproject_requirements():
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return {Requirement(r).name: Requirement(r) for r in data["project"]["dependencies"]}


def test_binder_environment_matches_the_root_one():
    root, binder = _env("environment.yml"), _env("binder/environment.yml")
    assert root["channels"] == binder["channels"] == ["conda-forge"]
    root_conda, root_pip = _split(root)
    binder_conda, binder_pip = _split(binder)
    assert root_conda == binder_conda
    # The root file installs the package itself; Binder does it in postBuild.
    assert [p for p in root_pip if p != "-e ."] == binder_pip
    assert "-e ." in root_pip


def test_environment_pins_match_pyproject():
    wanted = _pyproject_requirements()
    conda, pip = _split(_env("environment.yml"))
    seen = set()
    for spec in conda:
        name = re.split(r"[<>=! ]", spec, maxsplit=1)[0]
        if name in ("python", "pip"):
            continue
        req = Requirement(CONDA_TO_PYPI.get(name, name) + spec[len(name) :])
        assert req.specifier == wanted[req.name].specifier, spec
        seen.add(req.name)
    for spec in pip:
        if spec == "-e .":
            continue
        req = Requirement(spec)
        assert req.specifier == wanted[req.name].specifier, spec
        seen.add(req.name)
    assert seen == set(wanted), f"missing from environment.yml: {set(wanted) - seen}"


def test_conda_route_uses_cpu_pytorch():
    conda, _ = _split(_env("environment.yml"))
    assert any(spec.startswith("pytorch-cpu") for spec in conda)


def test_hugging_face_stack_has_tight_upper_bounds():
    reqs = _pyproject_requirements()
    for name in ("transformers", "trl"):
        upper = [s for s in reqs[name].specifier if s.operator == "<"]
        assert upper, f"{name} needs an upper bound: its API changes between minor releases"


def test_binder_scripts():
    post_build = (REPO_ROOT / "binder/postBuild").read_text().splitlines()
    assert post_build[0].startswith("#!") and post_build[1] == "set -e"
    assert any("pip install" in line and "-e ." in line for line in post_build)
    start = (REPO_ROOT / "binder/start").read_text()
    assert "R1LAB_PROFILE" in start and 'exec "$@"' in start
    for script in ("binder/postBuild", "binder/start", ".ci/run"):
        assert os.access(REPO_ROOT / script, os.X_OK), f"{script} must be executable"


def _readme_commands():
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]


def test_ci_runs_exactly_the_readme_test_command():
    commands = _readme_commands()
    assert "make test" in commands and "make lab" in commands
    ci_lines = [
        line.strip()
        for line in (REPO_ROOT / ".ci/run").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert ci_lines[-1] == "make test"
    assert "set -euo pipefail" in ci_lines


def test_readme_lists_every_chapter_and_links_every_notebook():
    from r1lab.course import CHAPTERS

    readme = (REPO_ROOT / "README.md").read_text()
    for chapter in CHAPTERS:
        assert f"`{chapter.stem}`" in readme, chapter.stem
        linked = f"(notebooks/{chapter.filename})" in readme
        assert linked == chapter.available, f"{chapter.filename}: README link out of date"
    on_disk = {p.stem for p in (REPO_ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk <= {c.stem for c in CHAPTERS}, "a notebook is missing from r1lab.course"


def test_data_folder_stays_small():
    total = sum(p.stat().st_size for p in (REPO_ROOT / "data").rglob("*") if p.is_file())
    assert total < 50 * 2**20, f"data/ is {total / 2**20:.1f} MB; keep it under 50 MB"
