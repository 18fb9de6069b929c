"""The course's tokenizer and models work with the pinned TRL trainers, on CPU.

Later chapters build on both trainers; these tests catch an incompatible TRL or
transformers release before a learner does.
"""

import pytest
import torch
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from r1lab.models import create_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _common(tmp_path):
    return dict(
        output_dir=str(tmp_path),
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
    )


def _grpo_config(tmp_path):
    # The settings the design measured as stable on CPU.
    return GRPOConfig(
        **_common(tmp_path),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=16,
        gradient_checkpointing=False,
        disable_dropout=True,
        beta=0.0,
        loss_type="dapo",
    )


def test_sft_trainer_trains_on_assistant_turns_only(tmp_path, tokenizer):
    model = create_model("tiny", tokenizer, seed=0)
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"numbers {a} {b}, target {a + b}"},
                {
                    "role": "assistant",
                    "content": f"<think>{a}+{b}={a + b}</think><answer>{a}+{b}</answer>",
                },
            ]
        }
        for a in range(1, 9)
        for b in range(1, 5)
    ]
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            **_common(tmp_path), per_device_train_batch_size=8, assistant_only_loss=True
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    trained = ids[labels != -100].tolist()
    text = tokenizer.decode(trained)
    assert text.startswith("<think>") and text.endswith("</answer></s>"), text
    before = model.model.embed_tokens.weight.detach().clone()
    result = trainer.train()
    assert torch.isfinite(torch.tensor(result.training_loss))
    assert not torch.equal(before, model.model.embed_tokens.weight.detach())


def test_grpo_trainer_takes_a_step_with_a_rule_based_reward(tmp_path, tokenizer):
    model = create_model("tiny", tokenizer, seed=0)
    prompts = [[{"role": "user", "content": f"numbers {a} {a + 1}"}] for a in range(8)]
    seen = []

    def reward_has_digit(completions, **kwargs):
        texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
        seen.extend(texts)
        return [float(any(ch.isdigit() for ch in t)) for t in texts]

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_has_digit,
        args=_grpo_config(tmp_path),
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
    )
    trainer.train()
    assert len(seen) >= 16 and all(isinstance(t, str) for t in seen)
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert logged and 0.0 <= logged[0]["reward"] <= 1.0
    assert "frac_reward_zero_std" in logged[0]


def test_grpo_trainer_uses_the_course_dataset_and_rewards(tmp_path, tokenizer):
    from r1lab.data import countdown_dataset
    from r1lab.rewards import countdown_reward, format_reward

    model = create_model("tiny", tokenizer, seed=0)
    calls = []

    def spy(completions, numbers, target, **kwargs):
        calls.append((completions, numbers, target))
        return countdown_reward(completions, numbers=numbers, target=target, **kwargs)

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[format_reward, spy],
        args=_grpo_config(tmp_path),
        train_dataset=countdown_dataset(16, seed=0),
        processing_class=tokenizer,
    )
    trainer.train()
    completions, numbers, target = calls[0]
    assert isinstance(completions[0], list) and completions[0][0]["role"] == "assistant"
    assert len(numbers) == len(target) == len(completions)
    assert all(
        isinstance(n, list) and isinstance(t, int) for n, t in zip(numbers, target, strict=True)
    )
    logged = next(h for h in trainer.state.log_history if "reward" in h)
    assert "rewards/format_reward/mean" in logged and "rewards/spy/mean" in logged


def test_sft_trainer_learns_from_cold_start_traces_only(tmp_path, tokenizer):
    from r1lab.data import countdown_trace_dataset

    dataset = countdown_trace_dataset(16, seed=0, retry_rate=0.5)
    trainer = SFTTrainer(
        model=create_model("tiny", tokenizer, seed=0),
        args=SFTConfig(**_common(tmp_path), per_device_train_batch_size=8),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    text = tokenizer.decode(ids[labels != -100].tolist())
    assert text.startswith("<think>") and text.endswith("</answer></s>"), text
    assert trainer.train().training_loss > 0
