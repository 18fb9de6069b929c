"""The SFT cold start, through ``trl.SFTTrainer``.

A few hundred ``<think>…</think><answer>…</answer>`` traces teach the base model the
format. The dataset is prompt–completion (``r1lab.data.countdown_trace_dataset``), so
TRL computes the loss on the completion only: the model is never trained to write the
user's prompt.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from datasets import Dataset, concatenate_datasets
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_callback import PrinterCallback

from r1lab.config import RunConfig
from r1lab.data import countdown_trace_dataset
from r1lab.models import pick_device, quiet_progress
from r1lab.tasks.countdown import RETRY_RATE, CountdownSpec
from r1lab.worlds import get_world

# Distinct training problems each world can supply (world 1's split holds about 1,840).
MAX_EXAMPLES = {"countdown": 1_800, "search": 14_000}
SPLIT_SIZES = {"countdown": "1,840", "search": "14,900"}


def _checkpointing_field() -> str:
    # transformers 5.24 renamed gradient_checkpointing (still accepted, with a warning).
    from transformers import TrainingArguments

    renamed = "activation_checkpointing" in TrainingArguments.__dataclass_fields__
    return "activation_checkpointing" if renamed else "gradient_checkpointing"


_CHECKPOINTING = _checkpointing_field()


@dataclass(frozen=True)
class SFTPhase:
    """A later pass of the cold start, on fresh traces with its own share of searches
    (search world only). A pass on searches alone teaches the model to carry a long
    search out; a short pass on the usual mix then sets how often it starts one."""

    examples: int
    search_rate: float
    epochs: int = 1
    learning_rate: float = 5e-4
    group_by_length: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.search_rate <= 1.0:
            raise ValueError(f"search_rate must be between 0 and 1 (got {self.search_rate})")


@dataclass(frozen=True)
class SFTSettings:
    """The cold start's budget and data. The defaults build the shipped SFT model (the
    lesson profile's budget, :class:`~r1lab.config.RunConfig`)."""

    examples: int = RunConfig.sft_examples
    epochs: int = RunConfig.sft_epochs
    retry_rate: float = RETRY_RATE  # share of traces that show a wrong attempt, "wait", a retry
    max_attempts: int = 3
    learning_rate: float = 1e-3
    batch_size: int = 16
    seed: int = 0
    world: str = "countdown"  # whose task and trace style (r1lab.worlds)
    # Batches of traces of about the same length (transformers' LengthGroupedSampler):
    # the search world's few long searches would otherwise pad nearly every batch.
    group_by_length: bool = False
    # Later passes on fresh traces, in order (search world only): see SFTPhase.
    then: tuple[SFTPhase, ...] = ()

    def __post_init__(self) -> None:
        # A card stores the later passes as a list of dicts: read them back as phases.
        phases = tuple(SFTPhase(**p) if isinstance(p, dict) else p for p in self.then)
        object.__setattr__(self, "then", phases)
        most = MAX_EXAMPLES[get_world(self.world).name]
        for what, phase in (("", self), *((f"then[{i}].", p) for i, p in enumerate(self.then))):
            if not isinstance(phase.examples, int) or not 1 <= phase.examples <= most:
                raise ValueError(
                    f"{what}examples must be an integer between 1 and {most} (got "
                    f"{phase.examples!r}): the {self.world} training split holds about "
                    f"{SPLIT_SIZES[self.world]} distinct problems"
                )
            if not isinstance(phase.epochs, int) or not 1 <= phase.epochs <= 100:
                raise ValueError(
                    f"{what}epochs must be an integer between 1 and 100 (got {phase.epochs!r})"
                )
            if not 0 < phase.learning_rate <= 1:
                raise ValueError(
                    f"{what}learning_rate must be in (0, 1] (got {phase.learning_rate})"
                )
        if self.then and get_world(self.world).trace_style != "search":
            raise ValueError(
                "later cold-start passes (then=...) set a share of searches: only the "
                f"search world writes searches, not {self.world!r}"
            )
        if not 0.0 <= self.retry_rate <= 1.0:
            raise ValueError(f"retry_rate must be between 0 and 1 (got {self.retry_rate})")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer (got {self.batch_size!r})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def cold_start_data(settings: SFTSettings, spec: CountdownSpec | None = None) -> Dataset:
    """The traces the cold start's first pass trains on (training split only)."""
    world = get_world(settings.world)
    return countdown_trace_dataset(
        settings.examples,
        settings.seed,
        spec,
        retry_rate=settings.retry_rate,
        max_attempts=settings.max_attempts,
        world=world if world.trace_style == "search" else None,
    )


def phase_data(settings: SFTSettings, index: int) -> Dataset:
    """The fresh traces of the later pass ``settings.then[index]`` (training split only;
    its own seed, so other problems than the first pass's, in another order)."""
    phase = settings.then[index]
    world = dataclasses.replace(get_world(settings.world), search_rate=phase.search_rate)
    return countdown_trace_dataset(phase.examples, settings.seed + 1 + index, world=world)


def cold_start_traces(settings: SFTSettings, spec: CountdownSpec | None = None) -> Dataset:
    """Every trace the cold start trains on: the first pass's, then each later pass's."""
    parts = [cold_start_data(settings, spec)]
    parts += [phase_data(settings, i) for i in range(len(settings.then))]
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def phase_settings(settings: SFTSettings, index: int) -> SFTSettings:
    """The trainer settings of the later pass ``settings.then[index]``."""
    phase = settings.then[index]
    return dataclasses.replace(
        settings,
        examples=phase.examples,
        epochs=phase.epochs,
        learning_rate=phase.learning_rate,
        group_by_length=phase.group_by_length,
        then=(),
    )


class _Progress(TrainerCallback):
    """One tqdm bar (a widget in notebooks) instead of transformers' table of losses."""

    def on_train_begin(self, args, state, control, **kwargs):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.max_steps, desc="SFT", unit="step")

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.3f}")

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()


class _Relay(TrainerCallback):
    """Passes the trainer's logs to a plain ``on_step(metrics)`` function."""

    def __init__(self, on_step: Callable[[dict], None]):
        self.on_step = on_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.on_step({"step": state.global_step, "max_steps": state.max_steps, **logs})


def make_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    settings: SFTSettings,
    dataset: Dataset,
    output_dir: str,
    *,
    device: str = "auto",
    on_step: Callable[[dict], None] | None = None,
    progress: bool = True,
):
    """The ``trl.SFTTrainer`` the cold start runs: loss on the completion only."""
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=output_dir,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,  # a fraction of all steps
        weight_decay=0.0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=pick_device(device).type == "cpu",
        dataloader_num_workers=0,
        completion_only_loss=True,
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        max_length=None,  # nothing is cut: a longer example is refused below
        disable_tqdm=True,  # our own bar below, not transformers' table of every loss
        # TRL turns activation checkpointing on by default; a 1 M model only gets slower.
        **{_CHECKPOINTING: False},
    )
    callbacks = [_Progress()] if progress else []
    if on_step is not None:
        callbacks.append(_Relay(on_step))
    with quiet_progress():  # four dataset-preparation bars would each flash by
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=callbacks,
        )
    # Without its own bars, transformers prints every log line instead: keep it quiet.
    trainer.remove_callback(PrinterCallback)
    lengths = (len(ids) for ids in trainer.train_dataset["input_ids"])
    _check_lengths(lengths, get_world(settings.world).max_positions)
    return trainer


def _check_lengths(lengths: Iterable[int], limit: int) -> None:
    """Refuse examples longer than the world's context (the trainer's tokenized lengths):
    a model that never sees how a long trace ends does not learn to end it, so cutting
    them is not an option."""
    for i, n in enumerate(lengths):
        if n > limit:
            raise ValueError(
                f"cold-start example {i} is {n} tokens long, more than the world's "
                f"{limit} positions: it would be cut; shorten the traces or raise "
                "World.max_positions"
            )


def cold_start(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    settings: SFTSettings | None = None,
    *,
    dataset: Dataset | None = None,
    device: str = "auto",
    on_step: Callable[[dict], None] | None = None,
    output_dir: str | None = None,
    progress: bool = True,
) -> dict:
    """Fine-tune ``model`` in place on cold-start traces; returns a summary (steps, final
    loss, wall time). ``dataset`` defaults to :func:`cold_start_data`. The later passes in
    ``settings.then`` follow, each on its own fresh traces (:func:`phase_data`); the
    summary then lists every pass under ``passes``."""
    settings = settings or SFTSettings()
    dataset = dataset if dataset is not None else cold_start_data(settings)
    first = _train_pass(model, tokenizer, settings, dataset, device, on_step, output_dir, progress)
    passes = [first]
    for i in range(len(settings.then)):
        relay = on_step
        if on_step is not None:  # steps count on across the passes
            done = sum(p["steps"] for p in passes)
            relay = lambda m, done=done: on_step({**m, "step": m["step"] + done})  # noqa: E731
        passes.append(
            _train_pass(
                model,
                tokenizer,
                phase_settings(settings, i),
                phase_data(settings, i),
                device,
                relay,
                output_dir,
                progress,
            )
        )
    if len(passes) == 1:
        return passes[0]
    last = passes[-1]
    return {
        "examples": sum(p["examples"] for p in passes),
        "steps": sum(p["steps"] for p in passes),
        "train_loss": last["train_loss"],
        "final_loss": last["final_loss"],
        "wall_time_s": round(sum(p["wall_time_s"] for p in passes), 1),
        "loss_curve": [loss for p in passes for loss in p["loss_curve"]],
        "passes": [{k: v for k, v in p.items() if k != "loss_curve"} for p in passes],
    }


def _train_pass(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    settings: SFTSettings,
    dataset: Dataset,
    device: str,
    on_step: Callable[[dict], None] | None,
    output_dir: str | None,
    progress: bool,
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(
            model,
            tokenizer,
            settings,
            dataset,
            output_dir or tmp,
            device=device,
            on_step=on_step,
            progress=progress,
        )
        t0 = time.perf_counter()
        result = trainer.train()
        wall = time.perf_counter() - t0
        # TRL trains in bf16 autocast by default, and accelerate leaves that autocast
        # wrapped around model.forward. Unwrap it, so the model in memory computes exactly
        # what the same weights compute once saved and loaded.
        trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    model.eval()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "examples": len(dataset),
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "final_loss": sum(losses[-5:]) / max(1, len(losses[-5:])),
        "wall_time_s": round(wall, 1),
        "loss_curve": losses,
    }
