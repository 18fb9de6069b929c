from importlib import metadata

import pytest
import torch

from r1lab.config import DEFAULT_THREADS, set_threads
from r1lab.env import CORE_PACKAGES, check_versions, environment_report


def test_every_runtime_dependency_is_checked_and_installed_ones_pass():
    checks = {c.name: c for c in check_versions()}
    runtime = {"torch", "transformers", "trl", "datasets", "jupyterlab", "ipywidgets"}
    assert runtime <= set(checks)
    assert "pytest" not in checks, "dev extras are not runtime requirements"
    for name in runtime:
        assert checks[name].installed == metadata.version(name)
        assert checks[name].ok, f"{name} {checks[name].installed} not in {checks[name].required}"


def test_report_has_versions_device_and_resources():
    report = environment_report("cpu")
    assert report["device used"] == "cpu"
    assert int(report["cpu cores"]) >= 1
    assert "GiB total" in report["memory"]
    for name in CORE_PACKAGES:
        assert report[name] == metadata.version(name)


def test_report_without_versions_has_only_the_machine():
    report = environment_report("cpu", include_versions=False)
    assert "device used" in report and not set(CORE_PACKAGES) & set(report)


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("count", [1, 2])
def test_set_threads_applies_r1lab_threads(restore_threads, count):
    torch.set_num_threads(3 - count)
    assert set_threads({"R1LAB_THREADS": f" {count} "}) == count == torch.get_num_threads()


def test_set_threads_defaults_to_one_thread(restore_threads):
    torch.set_num_threads(2)
    assert set_threads({}) == set_threads({"R1LAB_THREADS": ""}) == DEFAULT_THREADS == 1
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5", "2 threads"])
def test_bad_thread_count_names_the_variable_value_and_range(restore_threads, raw):
    torch.set_num_threads(2)
    with pytest.raises(
        ValueError, match=rf"R1LAB_THREADS must be a positive integer \(got '{raw}'\)"
    ):
        set_threads({"R1LAB_THREADS": raw})
    assert torch.get_num_threads() == 2  # unchanged


def test_report_says_how_many_threads_and_how_to_change_them(restore_threads):
    torch.set_num_threads(1)
    threads = environment_report("cpu", include_versions=False)["torch threads"]
    assert threads.startswith("1 ") and "R1LAB_THREADS" in threads


def test_info_says_which_scale_up_extras_are_there_and_what_each_enables(monkeypatch):
    from importlib import metadata

    from r1lab.env import EXTRAS, extras_report

    real = metadata.version

    def version(name: str) -> str:
        if name == "peft":
            return "0.99.0"
        if name in EXTRAS:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    report = extras_report()
    assert set(report) == {"peft", "deepspeed", "vllm"}
    assert report["peft"].startswith("0.99.0: LoRA adapters")
    assert report["vllm"].startswith("not installed: pip install -e '.[gpu]' for fast generation")
    assert set(EXTRAS) <= set(environment_report("cpu"))
