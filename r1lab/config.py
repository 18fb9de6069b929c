"""Run configuration: one dataclass, three profiles chosen by ``R1LAB_PROFILE``.

``smoke`` runs every notebook in seconds (CI), ``lesson`` fits a learner's laptop (the
default), ``full`` is for the long runs that produce the shipped results.
Any field can also be overridden from the environment as ``R1LAB_<FIELD>``
(``R1LAB_SEED=3``, ``R1LAB_DEVICE=cpu``); notebooks and the ``r1lab`` command read them the
same way. ``R1LAB_THREADS`` is the one ``R1LAB_`` variable that is not a field: it sets the
process's torch threads (:func:`r1lab.config.set_threads`), not a run's budget.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PROFILES = ("smoke", "lesson", "full")
DEFAULT_PROFILE = "lesson"
DEVICES = ("auto", "cpu", "cuda", "mps")
MODEL_PRESETS = ("tiny", "small")
ENV_PREFIX = "R1LAB_"
THREADS_VARIABLE = ENV_PREFIX + "THREADS"
# R1LAB_ variables that are no RunConfig field: settings of the process, read where they apply.
PROCESS_VARIABLES = (THREADS_VARIABLE,)


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
class RunConfig:
    """Everything a notebook or a training run needs to know about its budget."""

    profile: str = DEFAULT_PROFILE
    seed: int = 0
    device: str = "auto"
    model_preset: str = "tiny"
    # sampling
    max_new_tokens: int = 96
    temperature: float = 1.0
    top_p: float = 1.0
    num_generations: int = 8
    # budgets
    n_eval: int = 200
    sft_examples: int = 800
    sft_epochs: int = 10
    rl_steps: int = 400  # GRPO steps in the Countdown world (r1lab grpo, notebooks 05-06)
    search_steps: int = 30  # GRPO steps in the search world (notebook 07, r1lab emergence)
    sweep_steps: int = 60  # updates per arm of the sweep (r1lab sweep, notebook 08)
    sweep_samples: int = 16  # samples per held-out problem when the sweep measures
    prompts_per_step: int = 16
    learning_rate: float = 2e-4
    beta: float = 0.0

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            check, allowed = _RULES[name]
            expected = _FIELD_TYPES[name]
            type_ok = isinstance(value, expected) and not isinstance(value, bool)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
                value, type_ok = float(value), True
            if not type_ok or not check(value):
                raise ValueError(f"{name} must be {allowed} (got {value!r})")

    @classmethod
    def from_profile(cls, profile: str = DEFAULT_PROFILE, **overrides: Any) -> RunConfig:
        """The settings of a named profile, with optional overrides."""
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
        values = {**_PROFILE_VALUES[profile], **overrides, "profile": profile}
        _check_names(values)
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RunConfig:
        """The profile named by ``R1LAB_PROFILE`` (default ``lesson``), then ``R1LAB_<FIELD>``
        variables, then ``overrides`` (which may name a ``profile`` too). ``R1LAB_THREADS``,
        when set, also sets torch's thread count (:func:`r1lab.config.set_threads`)."""
        environ = os.environ if environ is None else environ
        unknown = sorted(
            key
            for key in environ
            if key.startswith(ENV_PREFIX)
            and key[len(ENV_PREFIX) :].lower() not in _FIELD_TYPES
            and key not in PROCESS_VARIABLES
        )
        if unknown:
            known = ", ".join(
                [*(ENV_PREFIX + name.upper() for name in _FIELD_TYPES), *PROCESS_VARIABLES]
            )
            raise ValueError(f"unknown variable {unknown[0]}: the known ones are {known}")
        profile = environ.get(ENV_PREFIX + "PROFILE", "").strip() or DEFAULT_PROFILE
        profile = overrides.pop("profile", profile)
        from_env = {}
        for name, kind in _FIELD_TYPES.items():
            raw = environ.get(ENV_PREFIX + name.upper())
            if name == "profile" or raw is None or raw.strip() == "":
                continue
            check, allowed = _RULES[name]
            try:
                value = kind(raw.strip())
            except ValueError:
                value = None
            if value is None or not check(value):
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be {allowed} (got {raw!r})")
            from_env[name] = value
        cfg = cls.from_profile(profile, **{**from_env, **overrides})
        if environ.get(THREADS_VARIABLE, "").strip():
            # Notebooks read their settings here: R1LAB_THREADS gives their kernel a chosen
            # thread count too (unset, a kernel keeps torch's default of one per core).
            set_threads(environ)
        return cfg

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated like a new config)."""
        _check_names(changes)
        if changes.get("profile", self.profile) != self.profile:
            raise ValueError(
                "a profile sets many budgets at once: use "
                f"RunConfig.from_profile({changes['profile']!r}) instead of replace(profile=...)"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """The fields a learner most often checks, as ``name=value`` pairs."""
        shown = (
            "profile",
            "seed",
            "device",
            "model_preset",
            "n_eval",
            "num_generations",
            "max_new_tokens",
            "sft_examples",
            "sft_epochs",
            "rl_steps",
        )
        return " ".join(f"{name}={getattr(self, name)}" for name in shown)


def _check_names(values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - set(_FIELD_TYPES))
    if unknown:
        raise ValueError(
            f"unknown setting {unknown[0]!r}: RunConfig fields are {', '.join(_FIELD_TYPES)}"
        )


def _is_device(value: str) -> bool:
    if value in DEVICES:
        return True
    head, _, index = value.partition(":")
    return head == "cuda" and index.isdigit()


_FIELD_TYPES: dict[str, type] = {
    f.name: {"str": str, "int": int, "float": float}[f.type] for f in dataclasses.fields(RunConfig)
}

_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "profile": (lambda v: v in PROFILES, f"one of {', '.join(PROFILES)}"),
    "seed": (lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)"),
    "device": (_is_device, f"one of {', '.join(DEVICES)} or cuda:N"),
    "model_preset": (lambda v: v in MODEL_PRESETS, f"one of {', '.join(MODEL_PRESETS)}"),
    "max_new_tokens": (lambda v: 1 <= v <= 1024, "an integer in [1, 1024]"),
    "temperature": (lambda v: 0.0 <= v <= 5.0, "a number in [0, 5] (0 means greedy)"),
    "top_p": (lambda v: 0.0 < v <= 1.0, "a number in (0, 1]"),
    "num_generations": (
        lambda v: 2 <= v <= 256,
        "an integer in [2, 256]: GRPO compares completions within a group",
    ),
    "n_eval": (lambda v: 1 <= v <= 100_000, "an integer in [1, 100000]"),
    "sft_examples": (lambda v: 1 <= v <= 1_000_000, "an integer in [1, 1000000]"),
    "sft_epochs": (lambda v: 1 <= v <= 100, "an integer in [1, 100]"),
    "rl_steps": (lambda v: 0 <= v <= 100_000, "an integer in [0, 100000]"),
    "search_steps": (lambda v: 0 <= v <= 100_000, "an integer in [0, 100000]"),
    "sweep_steps": (lambda v: 1 <= v <= 100_000, "an integer in [1, 100000]"),
    "sweep_samples": (lambda v: 1 <= v <= 1024, "an integer in [1, 1024]"),
    "prompts_per_step": (lambda v: 1 <= v <= 4096, "an integer in [1, 4096]"),
    "learning_rate": (lambda v: 0.0 < v <= 1.0, "a number in (0, 1]"),
    "beta": (lambda v: 0.0 <= v <= 10.0, "a number in [0, 10]"),
}

# What each profile changes from the defaults above.
_PROFILE_VALUES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        max_new_tokens=32,
        num_generations=4,
        n_eval=16,
        sft_examples=32,
        sft_epochs=1,
        rl_steps=2,
        search_steps=2,
        sweep_steps=2,
        sweep_samples=4,
        prompts_per_step=2,
    ),
    "lesson": {},
    # search_steps: the shipped search-world study (data/runs/emergence-search)
    "full": dict(rl_steps=600, search_steps=100, sweep_steps=150),
}
