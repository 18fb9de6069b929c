import json
import math
import time

import pytest
import torch
from tqdm.auto import tqdm

from r1lab.config import RunConfig
from r1lab.data import countdown_dataset
from r1lab.grpo import (
    GRPOSettings,
    StepOutputs,
    group_advantages,
    grpo_loss,
    k3_kl,
    load_checkpoint,
    micro_batches,
    prompt_batch,
    record_step,
    train,
    zero_std_groups,
)
from r1lab.models import load_shipped
from r1lab.rewards import countdown_reward, format_reward
from r1lab.runlog import RunLog, load_run

SMOKE = GRPOSettings(
    steps=3,
    prompts_per_step=4,
    num_generations=4,
    max_new_tokens=32,
    learning_rate=1e-3,
    warmup_steps=0,
    checkpoint_every=2,
    samples_every=1,
    samples_per_log=2,
)


@pytest.fixture(scope="module")
def dataset():
    return countdown_dataset(40, seed=0)


def sft():
    return load_shipped("sft")


# ---------------------------------------------------------------------------- advantages


def test_advantages_are_centred_per_group_and_optionally_scaled():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    plain = group_advantages(rewards, 4)
    assert torch.allclose(plain, torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]))
    scaled = group_advantages(rewards, 4, scale_rewards=True)
    std = torch.tensor([1.0, 0.0, 0.0, 0.0]).std()  # sample std, 0.5
    assert torch.allclose(scaled[:4], plain[:4] / (std + 1e-4))
    assert torch.equal(scaled[4:], torch.zeros(4))  # a zero-std group stays at 0, not NaN
    assert torch.equal(zero_std_groups(rewards, 4), torch.tensor([False, True]))


def test_advantages_reject_a_batch_that_is_not_whole_groups():
    with pytest.raises(ValueError, match="multiple of group_size=4"):
        group_advantages(torch.zeros(6), 4)


# ---------------------------------------------------------------------------- KL and loss


def test_k3_kl_is_non_negative_and_zero_only_where_policy_equals_reference():
    logp = torch.log(torch.tensor([0.5, 0.25, 0.1]))
    assert torch.equal(k3_kl(logp, logp), torch.zeros(3))
    ref = torch.log(torch.tensor([0.25, 0.5, 0.1]))
    kl = k3_kl(logp, ref)
    assert (kl[:2] > 0).all() and kl[2] == 0
    assert kl[0].item() == pytest.approx(0.5 - math.log(0.5) - 1)  # exp(d) - d - 1, d = ln ½


def test_k3_kl_is_an_unbiased_estimate_of_the_true_kl():
    p = torch.tensor([0.6, 0.3, 0.1])
    q = torch.tensor([0.3, 0.3, 0.4])
    exact = (p * (p / q).log()).sum()
    expected_k3 = (p * k3_kl(p.log(), q.log())).sum()  # E over tokens sampled from p
    assert expected_k3.item() == pytest.approx(exact.item(), rel=1e-6)


def _batch():
    """Two completions of 3 and 2 tokens, ratios chosen to hit both clips."""
    old = torch.zeros(2, 3)
    new = torch.log(torch.tensor([[1.5, 1.0, 0.5], [1.1, 0.7, 1.0]]))
    adv = torch.tensor([1.0, -2.0])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    return new, old, adv, mask


def test_clipped_loss_by_hand_for_each_aggregation():
    new, old, adv, mask = _batch()
    # Per token -min(r·A, clip(r, 0.8, 1.2)·A):
    # row 0 (A=1):  r=1.5 → -1.2; r=1.0 → -1.0; r=0.5 → -0.5 (min keeps the unclipped)
    # row 1 (A=-2): r=1.1 → 2.2;  r=0.7 → 1.6 (clip at 0.8 is larger: -min(-1.4,-1.6))
    row0, row1 = [-1.2, -1.0, -0.5], [2.2, 1.6]
    expected = {
        "grpo": (sum(row0) / 3 + sum(row1) / 2) / 2,
        "dapo": (sum(row0) + sum(row1)) / 5,
        "dr_grpo": (sum(row0) + sum(row1)) / (2 * 8),
    }
    for loss_type, want in expected.items():
        loss, stats = grpo_loss(new, old, adv, mask, loss_type=loss_type, max_completion_length=8)
        assert loss.item() == pytest.approx(want, abs=1e-6), loss_type
    # clipped tokens: row 0 r=1.5 (A>0, above 1.2) and row 1 r=0.7 (A<0, below 0.8)
    assert stats["clip_ratio"] == pytest.approx(2 / 5)


def test_kl_term_adds_beta_times_k3_on_counted_tokens():
    new, old, adv, mask = _batch()
    ref = new.detach() + 0.3
    plain, _ = grpo_loss(new, old, adv, mask)
    with_kl, stats = grpo_loss(new, old, adv, mask, ref_logprobs=ref, beta=0.5)
    kl = k3_kl(new, ref)
    assert with_kl.item() == pytest.approx(plain.item() + 0.5 * (kl * mask).sum().item() / 5)
    assert stats["kl"] == pytest.approx((kl * mask).sum().item() / 5)
    with pytest.raises(ValueError, match="needs ref_logprobs"):
        grpo_loss(new, old, adv, mask, beta=0.1)
    with pytest.raises(ValueError, match="loss_type must be one of grpo, dr_grpo, dapo"):
        grpo_loss(new, old, adv, mask, loss_type="ppo")


def test_on_policy_gradient_is_the_advantage_weighted_score_function():
    """With ratio 1 (mu = 1), the gradient of the dapo loss is -Σ A·∇log p / tokens."""
    logits = torch.randn(2, 3, 5, requires_grad=True)
    tokens = torch.tensor([[0, 1, 2], [3, 4, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv = torch.tensor([0.5, -1.0])
    logp = logits.log_softmax(-1).gather(2, tokens[:, :, None]).squeeze(2)
    loss, _ = grpo_loss(logp, logp.detach(), adv, mask)
    assert loss.item() == pytest.approx(-(adv[:, None] * mask).sum().item() / 5)
    (grad,) = torch.autograd.grad(loss, logits, retain_graph=True)
    surrogate = -(adv[:, None] * logp * mask).sum() / 5
    (want,) = torch.autograd.grad(surrogate, logits)
    assert torch.allclose(grad, want, atol=1e-7)


# ---------------------------------------------------------------------------- settings


def test_settings_follow_the_profile_and_explain_bad_values():
    cfg = RunConfig.from_profile("smoke")
    s = GRPOSettings.from_run_config(cfg)
    assert (s.steps, s.prompts_per_step, s.num_generations) == (
        cfg.rl_steps,
        cfg.prompts_per_step,
        cfg.num_generations,
    )
    assert GRPOSettings.from_run_config(cfg, beta=0.05).beta == 0.05
    with pytest.raises(ValueError, match="num_generations must be ≥ 2"):
        GRPOSettings(num_generations=1)
    with pytest.raises(ValueError, match="temperature must be in"):
        GRPOSettings(temperature=0.0)
    with pytest.raises(ValueError, match="loss_type must be one of"):
        GRPOSettings(loss_type="bnpo")
    assert not GRPOSettings().needs_reference and GRPOSettings(beta=0.04).needs_reference


def test_prompt_batches_cover_the_dataset_each_epoch_and_depend_only_on_seed_and_step():
    s = GRPOSettings(prompts_per_step=4, seed=3)
    epoch = [i for step in range(10) for i in prompt_batch(40, s, step)]
    assert sorted(epoch) == list(range(40))
    assert prompt_batch(40, s, 12) == prompt_batch(40, s, 12)
    assert prompt_batch(40, s, 10) != prompt_batch(40, s, 0)  # a new shuffle
    with pytest.raises(ValueError, match="more than the dataset's 3 prompts"):
        prompt_batch(3, s, 0)


# ---------------------------------------------------------------------------- the loop


def test_a_short_run_logs_every_metric_and_moves_the_weights(dataset, tmp_path):
    model, tok = sft()
    before = [p.detach().clone() for p in model.parameters()]
    seen = []
    result = train(
        model,
        tok,
        dataset,
        SMOKE,
        reward_funcs=(countdown_reward, format_reward),
        reward_weights=(1.0, 0.5),
        run_dir=tmp_path / "run",
        on_step=seen.append,
        progress=False,
    )
    assert [m["step"] for m in seen] == [1, 2, 3]
    keys = {
        "loss", "reward", "reward_std", "accuracy", "format_rate", "frac_reward_zero_std",
        "length", "length_max", "truncated_rate", "clip_ratio", "kl", "entropy",
        "grad_norm", "step_time_s", "rewards/countdown_reward/mean",
        "rewards/format_reward/std",
    }  # fmt: skip
    assert keys <= set(seen[0])
    for m in seen:
        assert 0 <= m["frac_reward_zero_std"] <= 1 and 0 <= m["accuracy"] <= 1
        want = m["rewards/countdown_reward/mean"] + 0.5 * m["rewards/format_reward/mean"]
        assert m["reward"] == pytest.approx(want, abs=1e-6)
        assert m["kl"] == 0.0 and m["clip_ratio"] == 0.0  # beta 0, on-policy
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))

    run = load_run(tmp_path / "run")
    assert run.metrics == json.loads(json.dumps(seen))
    assert run.config["loss_type"] == "dapo"
    assert run.config["reward_funcs"] == ["countdown_reward", "format_reward"]
    assert {s["step"] for s in run.samples} == {1, 2, 3} and len(run.samples) == 6
    assert {"prompt", "completion", "reward", "numbers", "target"} <= set(run.samples[0])
    for sample in run.samples:  # the run's own weighted reward, not one function's
        text, columns = (
            [sample["completion"]],
            {"numbers": [sample["numbers"]], "target": [sample["target"]]},
        )
        want = countdown_reward(text, **columns)[0] + 0.5 * format_reward(text)[0]
        assert sample["reward"] == pytest.approx(want)
    assert result.resumed_from == 0 and result.skipped_steps == 0


def test_record_step_completes_writes_and_reports_each_step(tmp_path, capsys):
    seen, built = [], []

    def samples():
        built.append(1)
        return [{"prompt": "p", "completion": "c", "reward": 0.0}]

    out = StepOutputs(
        SMOKE.replace(samples_every=2), [], RunLog(tmp_path), tqdm(disable=True), seen.append
    )
    for step in (1, 2, 3):
        metrics = {"reward": 0.0, "frac_reward_zero_std": 1.0, "active_rate": 0.0, "length": 5}
        record_step(out, metrics, step, 1, time.perf_counter(), samples)
    assert [list(m) for m in seen] == [
        ["reward", "frac_reward_zero_std", "active_rate", "length", "step", "skipped_steps",
         "step_time_s"]
    ] * 3  # fmt: skip
    assert out.history == seen and load_run(tmp_path).metrics == seen
    assert [s["step"] for s in load_run(tmp_path).samples] == [1, 2] and len(built) == 2
    assert capsys.readouterr().out.count("every advantage is 0") == 1  # said once


def test_resume_continues_exactly_as_an_uninterrupted_run(dataset, tmp_path):
    """N+1 steps straight equals N steps, checkpoint, a fresh process's load, 1 step."""
    straight, tok = sft()
    a = train(straight, tok, dataset, SMOKE, run_dir=tmp_path / "a", progress=False)

    class Crash(Exception):
        pass

    def crash_after_step_2(metrics):
        if metrics["step"] == 2:
            raise Crash  # the process dies right after the checkpoint of step 2

    first, tok = sft()
    with pytest.raises(Crash):
        train(first, tok, dataset, SMOKE, run_dir=tmp_path / "b", on_step=crash_after_step_2,
              progress=False)  # fmt: skip
    assert load_checkpoint(tmp_path / "b", SMOKE)["step"] == 2
    del first
    resumed, tok = sft()  # a fresh model, as after a restart: the checkpoint restores it
    b = train(resumed, tok, dataset, SMOKE, run_dir=tmp_path / "b", progress=False)

    assert b.resumed_from == 2 and len(b.history) == 3
    assert torch.equal(a.last_rollouts.completion_ids, b.last_rollouts.completion_ids)
    assert b.history[-1]["loss"] == pytest.approx(a.history[-1]["loss"], abs=1e-7)
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    assert [m["step"] for m in load_run(tmp_path / "b").metrics] == [1, 2, 3]


def test_a_checkpoint_from_other_settings_is_refused(dataset, tmp_path):
    model, tok = sft()
    train(model, tok, dataset, SMOKE.replace(steps=2), run_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"other settings \(learning_rate: 0.001 → 0.01\)"):
        train(model, tok, dataset, SMOKE.replace(learning_rate=1e-2), run_dir=tmp_path)


def test_all_equal_rewards_give_zero_loss_and_an_explanation(dataset, capsys):
    model, tok = sft()
    before = [p.detach().clone() for p in model.parameters()]
    result = train(
        model,
        tok,
        dataset,
        SMOKE.replace(steps=2),
        reward_funcs=(lambda completions, **_: [1.0] * len(completions),),
        progress=False,
    )
    assert all(m["frac_reward_zero_std"] == 1.0 and m["loss"] == 0.0 for m in result.history)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    out = capsys.readouterr().out
    assert out.count("every advantage is 0") == 1  # said once, not every step


def test_a_non_finite_loss_skips_the_update_and_is_counted(dataset, tmp_path, capsys):
    model, tok = sft()
    before = [p.detach().clone() for p in model.parameters()]

    def broken(completions, **_):
        return [float("nan")] + [1.0] * (len(completions) - 1)

    result = train(
        model, tok, dataset, SMOKE.replace(steps=2), reward_funcs=(broken,), run_dir=tmp_path,
        progress=False,
    )  # fmt: skip
    assert result.skipped_steps == 2 and result.history[-1]["skipped_steps"] == 2
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert "was skipped (1 so far)" in capsys.readouterr().out
    assert load_run(tmp_path).metrics[0]["loss"] is None  # NaN is written as JSON null


def test_masking_truncated_completions_removes_them_from_the_loss(dataset):
    """With 3 new tokens every completion is cut off; masked, nothing is learned."""
    short = SMOKE.replace(steps=1, max_new_tokens=3, mask_truncated_completions=True)
    model, tok = sft()
    before = [p.detach().clone() for p in model.parameters()]
    result = train(
        model, tok, dataset, short, reward_funcs=(lambda c, **_: [float(len(x)) for x in c],),
        progress=False,
    )  # fmt: skip
    assert result.history[0]["truncated_rate"] == 1.0
    assert result.history[0]["loss"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_beta_makes_a_frozen_reference_and_logs_kl(dataset):
    model, tok = sft()
    result = train(
        model, tok, dataset, SMOKE.replace(beta=0.1, mu=2), progress=False
    )  # two updates per batch: the second one sees a ratio ≠ 1 and a KL > 0
    assert result.history[-1]["kl"] > 0
    assert all(m["kl"] >= 0 for m in result.history)


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
def test_chunks_add_up_to_the_whole_batch(loss_type):
    """Gradient accumulation over micro-batches gives the loss and gradient of one pass."""
    from r1lab.grpo import chunk_weight

    torch.manual_seed(0)
    logits = torch.randn(6, 5, 7, requires_grad=True)
    tokens = torch.randint(0, 7, (6, 5))
    mask = torch.tensor([[1] * n + [0] * (5 - n) for n in (5, 3, 0, 4, 1, 2)])
    adv, old = torch.randn(6), torch.randn(6, 5) * 0.1 - 2.0
    ref = torch.randn(6, 5) * 0.1 - 2.0

    def loss_of(rows):
        logp = logits[rows].log_softmax(-1).gather(2, tokens[rows, :, None]).squeeze(2)
        loss, _ = grpo_loss(
            logp, old[rows], adv[rows], mask[rows], ref_logprobs=ref[rows], beta=0.1,
            loss_type=loss_type, max_completion_length=8,
        )  # fmt: skip
        return loss

    whole = loss_of(slice(0, 6))
    (want,) = torch.autograd.grad(whole, logits)
    total = sum(
        loss_of(p) * chunk_weight(loss_type, mask[p], mask) for p in (slice(0, 4), slice(4, 6))
    )
    (got,) = torch.autograd.grad(total, logits)
    assert total.item() == pytest.approx(whole.item(), abs=1e-6)
    assert torch.allclose(got, want, atol=1e-7)


def test_length_buckets_cover_every_row_once_and_cut_the_padding():
    lengths = torch.tensor([90, 3, 5, 480, 4, 7, 60, 2])
    chunks = micro_batches(lengths, 3, by_length=True)
    rows = torch.cat([r for r, _ in chunks])
    assert sorted(rows.tolist()) == list(range(8))
    assert [w for _, w in chunks] == [4, 60, 480]  # each chunk as wide as its longest
    for r, w in chunks:
        assert int(lengths[r].max()) == w and len(r) <= 3
    plain = micro_batches(lengths, 3)
    assert [(p.start, p.stop, w) for p, w in plain] == [(0, 3, None), (3, 6, None), (6, 9, None)]
    padded = sum(len(lengths[p]) * int(lengths.max()) for p, _ in plain)
    assert sum(len(r) * w for r, w in chunks) < padded / 2


def test_length_buckets_give_the_same_update(dataset):
    """Micro-batches sorted by length and cut to their longest completion give the same
    loss and weights as the batch in its order, padded to its longest."""
    settings = SMOKE.replace(steps=1, micro_batch_size=5, max_new_tokens=48)
    results = []
    for buckets in (False, True):
        model, tok = sft()
        result = train(
            model, tok, dataset, settings.replace(length_buckets=buckets), progress=False
        )
        results.append((result.history[0], [p.detach().clone() for p in model.parameters()]))
    (plain, w_plain), (bucketed, w_bucketed) = results
    assert plain["length_max"] > plain["length"] + 5  # lengths differ: buckets matter
    assert bucketed["loss"] == pytest.approx(plain["loss"], abs=1e-6)
    assert bucketed["entropy"] == pytest.approx(plain["entropy"], rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(w_plain, w_bucketed, strict=True))
    start = [p.detach() for p in sft()[0].parameters()]
    assert any(not torch.allclose(a, b) for a, b in zip(start, w_bucketed, strict=True))


def test_learning_rate_warms_up_then_stays_or_decays_to_zero():
    from r1lab.grpo_settings import learning_rate_factor

    constant = GRPOSettings(steps=10, warmup_steps=2, lr_schedule="constant")
    assert [learning_rate_factor(i, constant) for i in range(4)] == [0.5, 1.0, 1.0, 1.0]
    linear = constant.replace(lr_schedule="linear")
    factors = [learning_rate_factor(i, linear) for i in range(10)]
    assert factors[:2] == [0.5, 1.0] and factors[2] == 1.0 and factors[-1] == pytest.approx(0.125)
    assert all(a >= b for a, b in zip(factors[1:], factors[2:], strict=False))  # never rises
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, linear"):
        GRPOSettings(lr_schedule="cosine")
