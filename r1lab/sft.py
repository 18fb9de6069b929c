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
from collections.abc import Callable
from dataclasses import dataclass

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_callback import PrinterCallback

from r1lab.data import countdown_trace_dataset
from r1lab.models import pick_device
from r1lab.tasks.countdown import CountdownSpec


@dataclass(frozen=True)
class SFTSettings:
    """The cold start's budget and data. The defaults build the shipped SFT model."""

    examples: int = 800
    epochs: int = 10
    retry_rate: float = 0.1  # share of traces that show a wrong attempt, "wait", a retry
    max_attempts: int = 3
    learning_rate: float = 1e-3
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.examples, int) or not 1 <= self.examples <= 1_800:
            raise ValueError(
                f"examples must be an integer between 1 and 1800 (got {self.examples!r}): "
                "the Countdown training split holds about 1,840 distinct problems"
            )
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= 100:
            raise ValueError(f"epochs must be an integer between 1 and 100 (got {self.epochs!r})")
        if not 0.0 <= self.retry_rate <= 1.0:
            raise ValueError(f"retry_rate must be between 0 and 1 (got {self.retry_rate})")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1] (got {self.learning_rate})")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer (got {self.batch_size!r})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def cold_start_data(settings: SFTSettings, spec: CountdownSpec | None = None) -> Dataset:
    """The traces the cold start trains on (training split only)."""
    return countdown_trace_dataset(
        settings.examples,
        settings.seed,
        spec,
        retry_rate=settings.retry_rate,
        max_attempts=settings.max_attempts,
    )


class _Relay(TrainerCallback):
    """Passes the trainer's logs to a plain ``on_step(metrics)`` function."""

    def __init__(self, on_step: Callable[[dict], None]):
        self.on_step = on_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.on_step({"step": state.global_step, "max_steps": state.max_steps, **logs})


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
    loss, wall time). ``dataset`` defaults to :func:`cold_start_data`."""
    from trl import SFTConfig, SFTTrainer

    settings = settings or SFTSettings()
    dataset = dataset if dataset is not None else cold_start_data(settings)
    target = pick_device(device)
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(
            output_dir=output_dir or tmp,
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
            use_cpu=target.type == "cpu",
            dataloader_num_workers=0,
            completion_only_loss=True,
            max_length=256,
            disable_tqdm=not progress,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[_Relay(on_step)] if on_step is not None else None,
        )
        # Without progress bars, transformers prints every log line instead: keep it quiet.
        trainer.remove_callback(PrinterCallback)
        t0 = time.perf_counter()
        result = trainer.train()
        wall = time.perf_counter() - t0
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
