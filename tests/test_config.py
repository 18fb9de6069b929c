import dataclasses

import pytest

from r1lab.config import DEFAULT_PROFILE, MODEL_PRESETS, PROFILES, RunConfig
from r1lab.models import PRESETS


def test_default_profile_is_lesson():
    assert RunConfig.from_env({}).profile == DEFAULT_PROFILE == "lesson"


@pytest.mark.parametrize("profile", PROFILES)
def test_env_selects_profile(profile):
    cfg = RunConfig.from_env({"R1LAB_PROFILE": profile})
    assert cfg.profile == profile


def test_profiles_grow_in_budget():
    smoke, lesson, full = (RunConfig.from_profile(p) for p in ("smoke", "lesson", "full"))
    for field in ("n_eval", "sft_examples", "rl_steps"):
        assert getattr(smoke, field) < getattr(lesson, field) <= getattr(full, field), field


def test_unknown_profile_names_the_allowed_ones():
    with pytest.raises(ValueError, match="smoke, lesson, full") as err:
        RunConfig.from_env({"R1LAB_PROFILE": "fast"})
    assert "'fast'" in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("num_generations", 1, "GRPO compares completions within a group"),
        ("temperature", -0.5, "[0, 5]"),
        ("top_p", 0.0, "(0, 1]"),
        ("seed", -1, "[0, 2**32)"),
        ("device", "tpu", "auto, cpu, cuda, mps"),
        ("model_preset", "huge", "tiny, small"),
        ("max_new_tokens", 0, "[1, 1024]"),
        ("learning_rate", 0.0, "(0, 1]"),
        ("seed", "3", "integer"),
        ("rl_steps", True, "integer"),
        ("beta", "high", "number"),
    ],
)
def test_bad_values_name_field_value_and_range(field, value, fragment):
    with pytest.raises(ValueError) as err:
        RunConfig(**{field: value})
    message = str(err.value)
    assert message.startswith(field) and repr(value) in message and fragment in message


def test_env_overrides_fields_with_types():
    cfg = RunConfig.from_env(
        {"R1LAB_PROFILE": "smoke", "R1LAB_SEED": "7", "R1LAB_BETA": "0.04", "R1LAB_DEVICE": "cpu"}
    )
    assert (cfg.profile, cfg.seed, cfg.beta, cfg.device) == ("smoke", 7, 0.04, "cpu")
    assert cfg.num_generations == RunConfig.from_profile("smoke").num_generations


@pytest.mark.parametrize(("name", "raw"), [("SEED", "seven"), ("SEED", "-1"), ("TOP_P", "2")])
def test_bad_env_value_names_the_variable(name, raw):
    with pytest.raises(ValueError, match=rf"R1LAB_{name} must be .*'{raw}'"):
        RunConfig.from_env({f"R1LAB_{name}": raw})


def test_unknown_env_variable_is_an_error_not_ignored():
    with pytest.raises(ValueError, match="unknown variable R1LAB_MODEL: .*R1LAB_MODEL_PRESET"):
        RunConfig.from_env({"R1LAB_MODEL": "small"})


def test_profile_can_be_passed_to_from_env():
    cfg = RunConfig.from_env({"R1LAB_PROFILE": "lesson"}, profile="smoke", seed=2)
    assert cfg == RunConfig.from_profile("smoke", seed=2)


def test_replace_validates_and_rejects_unknown_names():
    cfg = RunConfig()
    assert cfg.replace(seed=3).seed == 3
    with pytest.raises(ValueError, match="num_generations"):
        cfg.replace(num_generations=1)
    with pytest.raises(ValueError, match="unknown setting 'sede'"):
        cfg.replace(sede=1)
    with pytest.raises(ValueError, match="unknown setting 'steps'"):
        RunConfig.from_profile("lesson", steps=3)
    with pytest.raises(ValueError, match=r"from_profile\('smoke'\)"):
        cfg.replace(profile="smoke")
    assert cfg.replace(profile="lesson") == cfg


def test_config_is_frozen_and_int_promotes_to_float():
    cfg = RunConfig(learning_rate=1)
    assert isinstance(cfg.learning_rate, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


def test_cuda_index_is_a_valid_device_name():
    assert RunConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(ValueError):
        RunConfig(device="cuda:x")


def test_presets_known_to_config_match_models():
    assert set(MODEL_PRESETS) == set(PRESETS)


def test_summary_and_dict_round_trip():
    cfg = RunConfig.from_profile("smoke", seed=5)
    assert RunConfig(**cfg.to_dict()) == cfg
    assert "profile=smoke" in cfg.summary() and "seed=5" in cfg.summary()
    for pair in cfg.summary().split():
        name, value = pair.split("=")
        assert str(getattr(cfg, name)) == value


def test_process_variables_are_known_but_not_fields():
    # R1LAB_THREADS chooses torch's threads (r1lab.env.set_threads), not a run's budget.
    cfg = RunConfig.from_env({"R1LAB_THREADS": "2", "R1LAB_SEED": "4"})
    assert cfg == RunConfig.from_profile("lesson", seed=4)
    assert "threads" not in cfg.to_dict()
    with pytest.raises(ValueError, match="unknown variable R1LAB_TYPO: .*R1LAB_THREADS"):
        RunConfig.from_env({"R1LAB_TYPO": "1"})


def test_a_notebook_reading_its_settings_also_takes_the_thread_count_asked_for():
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        RunConfig.from_env({})  # not set: a kernel keeps its threads
        assert torch.get_num_threads() == 2
        RunConfig.from_env({"R1LAB_THREADS": "1"})
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="R1LAB_THREADS must be a positive integer"):
            RunConfig.from_env({"R1LAB_THREADS": "0"})
    finally:
        torch.set_num_threads(before)
