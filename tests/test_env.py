from importlib import metadata

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
