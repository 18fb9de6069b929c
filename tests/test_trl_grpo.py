"""r1lab.trl_grpo: the GRPO experiment through trl.GRPOTrainer, and the same maths as ours."""

import dataclasses
import json
import re

import pytest
import torch

from r1lab import grpo, trl_grpo
from r1lab.data import countdown_dataset
from r1lab.grpo import group_advantages, zero_std_groups
from r1lab.grpo_settings import GRPOSettings
from r1lab.models import create_model, load, save
from r1lab.rewards import completion_text, countdown_reward
from r1lab.rollouts import ANSWER_CLOSE, completion_logprobs
from r1lab.runlog import load_run

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

SMOKE = dict(prompts_per_step=2, num_generations=4, max_new_tokens=16, warmup_steps=1)


def _batch(tokenizer, n: int = 8, prompt_width: int = 7, width: int = 12, seed: int = 0):
    """Left-padded prompts and right-padded completions of varied lengths, as a sampler
    returns them; the last two completions fill the whole width (truncated)."""
    g = torch.Generator().manual_seed(seed)
    pad, vocab = tokenizer.pad_token_id, len(tokenizer)
    prompt_lengths = torch.randint(3, prompt_width + 1, (n,), generator=g)
    prompt_mask = (torch.arange(prompt_width) >= prompt_width - prompt_lengths[:, None]).long()
    prompt_ids = torch.randint(4, vocab, (n, prompt_width), generator=g)
    prompt_ids = prompt_ids.masked_fill(prompt_mask == 0, pad)
    lengths = torch.randint(2, width, (n,), generator=g)
    lengths[-2:] = width
    completion_mask = (torch.arange(width) < lengths[:, None]).long()
    completion_ids = torch.randint(4, vocab, (n, width), generator=g)
    completion_ids = completion_ids.masked_fill(completion_mask == 0, pad)
    return prompt_ids, prompt_mask, completion_ids, completion_mask, lengths == width


LOSS_CASES = {
    # on-policy shape of the default run: no KL, no std scaling, T = 1
    "plain": dict(beta=0.0, epsilon_low=0.2, epsilon_high=0.28, temperature=1.0),
    # everything on: KL to a reference, std scaling, T != 1, truncated rows masked out
    "full": dict(
        beta=0.04,
        epsilon_low=0.15,
        epsilon_high=0.3,
        temperature=0.7,
        scale_rewards=True,
        mask_truncated_completions=True,
    ),
}


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
def test_our_loss_equals_trl_loss_on_the_same_batch(tokenizer, tmp_path, loss_type, case):
    settings = GRPOSettings(
        steps=1, prompts_per_step=2, num_generations=4, max_new_tokens=16, loss_type=loss_type,
        **LOSS_CASES[case],
    )  # fmt: skip
    model = create_model("tiny", tokenizer, seed=0)
    trainer = trl_grpo.make_trainer(
        model, tokenizer, countdown_dataset(4, seed=0), settings, tmp_path, device="cpu"
    )
    reference = create_model("tiny", tokenizer, seed=1)  # another model: the KL is not 0
    prompt_ids, prompt_mask, completion_ids, completion_mask, truncated = _batch(tokenizer)
    ids = (prompt_ids, prompt_mask, completion_ids, completion_mask)
    t = settings.temperature
    loss_mask = completion_mask
    if settings.mask_truncated_completions:
        loss_mask = completion_mask * (~truncated).long()[:, None]
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    advantages = group_advantages(rewards, 4, settings.scale_rewards)
    with torch.no_grad():
        current = completion_logprobs(model, *ids, t)
        # Old log-probs from "before the last update": the ratio strays past both clips.
        noise = torch.randn(current.shape, generator=torch.Generator().manual_seed(1))
        old = (current + 0.3 * noise) * completion_mask
        ref = completion_logprobs(reference, *ids, t)

    model.train()
    ours, theirs, stats = trl_grpo.both_losses(
        model, trainer, ids, loss_mask, advantages, old, ref, settings
    )
    assert stats["clip_ratio"] > 0.1  # the clip is exercised, not just the ratio
    assert (stats["kl"] > 0) == (settings.beta > 0)

    assert abs(float(ours) - float(theirs)) < 1e-5, (float(ours), float(theirs))
    params = [p for p in model.parameters() if p.requires_grad]
    our_grads = torch.autograd.grad(ours, params)
    their_grads = torch.autograd.grad(theirs, params)
    for a, b in zip(our_grads, their_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    logged = trainer._metrics["train"]
    assert logged["clip_ratio/region_mean"][-1] == pytest.approx(stats["clip_ratio"], abs=1e-6)
    if settings.beta > 0:
        assert logged["kl"][-1] == pytest.approx(stats["kl"], rel=1e-4)
        # TRL's default multiplies the KL by the ratio: another loss, so grpo_config turns it off.
        trainer.args.use_bias_correction_kl = True
        again = trl_grpo.trl_loss(
            trainer, prompt_ids, prompt_mask, completion_ids, loss_mask, advantages, old, ref
        )
        assert abs(float(ours) - float(again)) > 1e-5


def _fixed_rewards(values):
    def fixed_reward(completions, **kwargs):
        assert len(completions) == len(values)
        return list(values)

    return fixed_reward


@pytest.mark.parametrize("scale_rewards", [False, True])
def test_group_advantages_equal_trl_advantages(tokenizer, tmp_path, scale_rewards):
    # Three groups of four: a lone success, a zero-std group, uneven rewards.
    rewards = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.5, 2.0, 0.0, 1.0]
    settings = GRPOSettings(
        steps=1, prompts_per_step=3, num_generations=4, max_new_tokens=24,
        scale_rewards=scale_rewards,
    )  # fmt: skip
    rows = list(countdown_dataset(3, seed=0))
    model = create_model("tiny", tokenizer, seed=0)
    trainer = trl_grpo.make_trainer(
        model, tokenizer, rows, settings, tmp_path, reward_funcs=[_fixed_rewards(rewards)]
    )
    model.train()  # TRL's "train" mode: groups of num_generations
    # What TRL's sampler hands the trainer: each prompt repeated G times in a row.
    out = trainer._generate_and_score_completions([row for row in rows for _ in range(4)])

    expected = group_advantages(torch.tensor(rewards), 4, scale_rewards)
    torch.testing.assert_close(out["advantages"], expected, rtol=0, atol=1e-6)
    assert expected[4:8].abs().max() == 0  # the zero-std group teaches nothing
    zero_std = float(zero_std_groups(torch.tensor(rewards), 4).float().mean())
    assert trainer._metrics["train"]["frac_reward_zero_std"][-1] == pytest.approx(zero_std)

    # TRL feeds the model the prompt tokens our sampler does.
    for row, ids, mask in zip(range(12), out["prompt_ids"], out["prompt_mask"], strict=True):
        text = tokenizer.apply_chat_template(
            rows[row // 4]["prompt"], tokenize=False, add_generation_prompt=True
        )
        assert ids[mask.bool()].tolist() == tokenizer(text, add_special_tokens=False)["input_ids"]

    # Completions stop at </s> or </answer>, and nothing after the stop token counts.
    stops = torch.tensor(trl_grpo.stop_ids(tokenizer))
    answer_id = tokenizer.convert_tokens_to_ids(ANSWER_CLOSE)
    ended_by = []
    for ids, mask in zip(out["completion_ids"], out["completion_mask"], strict=True):
        tokens = ids[mask.bool()]
        assert not torch.isin(tokens[:-1], stops).any()
        if len(tokens) < settings.max_new_tokens:
            assert int(tokens[-1]) in stops.tolist()
            ended_by.append(int(tokens[-1]))
    assert answer_id in ended_by, ended_by


def test_grpo_config_maps_every_field():
    settings = GRPOSettings(
        steps=7, prompts_per_step=3, num_generations=4, max_new_tokens=24, temperature=0.8,
        top_p=0.9, learning_rate=1e-3, warmup_steps=3, max_grad_norm=0.5, beta=0.05,
        epsilon_low=0.1, epsilon_high=0.3, loss_type="dr_grpo", scale_rewards=True, mu=2,
        mask_truncated_completions=True, seed=5, checkpoint_every=4,
    )  # fmt: skip
    config = trl_grpo.grpo_config(settings, "unused", device="cpu")
    expected = dict(
        max_steps=14,  # 7 steps of mu = 2 optimizer steps each
        per_device_train_batch_size=12,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        generation_batch_size=12,
        num_generations=4,
        max_completion_length=24,
        temperature=0.8,
        top_p=0.9,
        top_k=0,
        learning_rate=1e-3,
        warmup_steps=3,
        max_grad_norm=0.5,
        weight_decay=0.0,
        beta=0.05,
        use_bias_correction_kl=False,  # the plain k3 KL term, as ours
        epsilon=0.1,
        epsilon_high=0.3,
        loss_type="dr_grpo",
        scale_rewards="group",
        multi_objective_aggregation="sum_then_normalize",
        num_iterations=2,
        mask_truncated_completions=True,
        seed=5,
        save_steps=8,
        logging_steps=1,
        bf16=False,
        fp16=False,
        use_cpu=True,
        disable_dropout=True,
        report_to=[],
    )
    for name, value in expected.items():
        assert getattr(config, name) == value, name
    assert config.lr_scheduler_type.value == "linear"  # warm-up, then down to 0, as ours
    constant = trl_grpo.grpo_config(settings.replace(lr_schedule="constant"), "x")
    assert constant.lr_scheduler_type.value == "constant_with_warmup"
    assert not config.activation_checkpointing and not config.gradient_checkpointing
    assert trl_grpo.grpo_config(settings.replace(scale_rewards=False), "x").scale_rewards == "none"

    table = trl_grpo.config_table(settings)
    ours = {row[0] for row in table}
    assert {f.name for f in dataclasses.fields(GRPOSettings)} <= ours
    assert ("mu", "num_iterations", "2") in table and ("epsilon_low", "epsilon", "0.1") in table
    with pytest.raises(ValueError, match="not GRPOConfig fields: warmup"):
        trl_grpo.grpo_config(settings, "x", warmup=3)


def test_the_docstring_lists_every_name_that_differs_from_trl():
    """The table in r1lab.trl_grpo's docstring says what _mapping does: a row for every
    setting whose GRPOConfig field has another name or takes other values."""
    settings = GRPOSettings()
    differ = {
        (ours, trl)
        for ours, trl, value in trl_grpo._mapping(settings)
        if trl is not None and (ours != trl or value != getattr(settings, ours))
    }
    rule = re.search(r"^=+  =+  =+$", trl_grpo.__doc__, flags=re.M).group()
    _, heading, table, _ = trl_grpo.__doc__.split(rule)
    assert heading.split() == ["GRPOSettings", "GRPOConfig", "difference"]
    assert {tuple(line.split()[:2]) for line in table.strip().splitlines()} == differ


def test_both_trainers_record_their_steps_with_record_step(tokenizer, tmp_path, monkeypatch):
    """One function writes every step's record for both trainers: the same keys, in the
    same order, and what the run folder holds is what record_step recorded."""
    record_step, records = grpo.record_step, {}
    for name, module in (("ours", grpo), ("trl", trl_grpo)):
        calls = records[name] = []

        def spy(out, metrics, *args, calls=calls):
            record_step(out, metrics, *args)
            calls.append(metrics)

        monkeypatch.setattr(module, "record_step", spy)
        module.train(
            create_model("tiny", tokenizer, seed=0), tokenizer, countdown_dataset(8, seed=0),
            GRPOSettings(steps=2, **SMOKE), run_dir=tmp_path / name, progress=False,
        )  # fmt: skip
        assert [m["step"] for m in calls] == [1, 2]
        assert load_run(tmp_path / name).metrics == json.loads(json.dumps(calls))
    assert [list(m) for m in records["ours"]] == [list(m) for m in records["trl"]]


def short_reward(completions, **kwargs):
    """1 for a completion under 24 characters: a reward a random model sometimes earns."""
    return [float(len(completion_text(c)) < 24) for c in completions]


def test_trl_run_writes_what_our_run_writes_and_resumes(tokenizer, tmp_path):
    settings = GRPOSettings(steps=2, checkpoint_every=1, **SMOKE)
    data = countdown_dataset(8, seed=0)
    funcs, weights = (countdown_reward, short_reward), (1.0, 0.5)
    runs = {}
    for name, train in (("ours", grpo.train), ("trl", trl_grpo.train)):
        model = create_model("tiny", tokenizer, seed=0)
        before = model.model.embed_tokens.weight.detach().clone()
        seen = []
        result = train(
            model, tokenizer, data, settings, reward_funcs=funcs, reward_weights=weights,
            run_dir=tmp_path / name, on_step=seen.append, progress=False,
        )  # fmt: skip
        runs[name] = load_run(tmp_path / name)
        assert [m["step"] for m in runs[name].metrics] == [1, 2] == [m["step"] for m in seen]
        assert result.history == seen
        assert not torch.equal(before, model.model.embed_tokens.weight)
    ours, trl = runs["ours"], runs["trl"]
    for a, b in zip(ours.metrics, trl.metrics, strict=True):
        assert list(a) == list(b)  # same keys, same order
    assert {tuple(s) for s in ours.samples} == {tuple(s) for s in trl.samples}
    assert trl.config["trainer"] == "trl.GRPOTrainer"
    for row in trl.metrics:
        assert 0 <= row["accuracy"] <= row["format_rate"] <= 1
        assert 1 <= row["length"] <= row["length_max"] <= settings.max_new_tokens
        assert row["reward"] == pytest.approx(
            row["rewards/countdown_reward/mean"] + 0.5 * row["rewards/short_reward/mean"]
        )
    assert trl.metrics[1]["learning_rate"] == settings.learning_rate  # warm-up over

    # The model TRL trained computes what its saved copy computes: no autocast wrapper, no
    # patched forward, the eos ids as they were.
    assert "forward" not in model.__dict__
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    save(model, tokenizer, tmp_path / "saved")
    reloaded, _ = load(tmp_path / "saved", device="cpu")
    ids = torch.tensor([tokenizer("<s><|user|>use 1 2 3 to make 6<|assistant|>")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, reloaded(input_ids=ids).logits)

    # A longer run in the same folder continues from TRL's last checkpoint.
    result = trl_grpo.train(
        create_model("tiny", tokenizer, seed=0), tokenizer, data, settings.replace(steps=3),
        reward_funcs=funcs, reward_weights=weights, run_dir=tmp_path / "trl", progress=False,
    )  # fmt: skip
    assert result.resumed_from == 2
    assert [m["step"] for m in load_run(tmp_path / "trl").metrics] == [1, 2, 3]
    checkpoints = sorted(p.name for p in (tmp_path / "trl" / trl_grpo.TRL_DIR).glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-3"]
    state = json.loads((tmp_path / "trl/trl/checkpoint-3/trainer_state.json").read_text())
    assert state["global_step"] == 3
    with pytest.raises(ValueError, match="learning_rate"):
        trl_grpo.train(
            create_model("tiny", tokenizer, seed=0), tokenizer, data,
            settings.replace(steps=4, learning_rate=1e-3), reward_funcs=funcs,
            reward_weights=weights, run_dir=tmp_path / "trl", progress=False,
        )  # fmt: skip
    with pytest.raises(ValueError, match="r1lab.grpo.train"):
        trl_grpo.train(
            create_model("tiny", tokenizer, seed=0), tokenizer, data, settings,
            run_dir=tmp_path / "ours", progress=False,
        )  # fmt: skip


def test_a_step_is_mu_updates_on_one_batch_against_the_starting_model(tokenizer, tmp_path):
    settings = GRPOSettings(steps=2, mu=2, beta=0.1, **(SMOKE | dict(warmup_steps=0)))
    model = create_model("tiny", tokenizer, seed=0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = trl_grpo.train(
        model, tokenizer, countdown_dataset(8, seed=0), settings,
        reward_funcs=(countdown_reward, short_reward), run_dir=tmp_path, progress=False,
    )  # fmt: skip
    assert [m["step"] for m in result.history] == [1, 2]
    assert (tmp_path / "trl" / "checkpoint-4").is_dir()  # 2 steps x mu = 4 optimizer steps
    # The second update on a batch sees a moved policy: ratios leave 1 and the KL grows.
    assert result.history[0]["clip_ratio"] > 0 and result.history[0]["kl"] > 0
    # TRL's reference model is the policy as it was when training started.
    reference = type(model).from_pretrained(tmp_path / "trl" / trl_grpo.REFERENCE_DIR)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, start[name]), name
    assert not torch.equal(model.model.embed_tokens.weight, start["model.embed_tokens.weight"])
