import dataclasses

import matplotlib
import pytest
import torch

from r1lab import estimates
from r1lab.estimates import (
    GIB,
    GPU,
    GPUS,
    MODELS,
    EstimateSettings,
    ModelShape,
    assumptions,
    estimate_memory,
    estimate_throughput,
    format_estimate,
    gpu_spec,
    memory_plot,
    model_shape,
    shape_from_config,
)

matplotlib.use("Agg")

QWEN_05B = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"


# ------------------------------------------------------------------ parameter counts


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_counts_match_the_advertised_sizes(name):
    shape = MODELS[name]
    assert shape.advertised_billions is not None
    assert shape.num_parameters() / 1e9 == pytest.approx(shape.advertised_billions, rel=0.03)


def test_known_parameter_counts_by_hand():
    # Qwen2.5-0.5B: 24 blocks of q/k/v (with bias), o, gate/up/down and two norms; tied head.
    h, q, kv, i, v = 896, 896, 128, 4864, 151936
    block = h * q + q + 2 * (h * kv + kv) + q * h + 3 * h * i + 2 * h
    assert MODELS[QWEN_05B].num_parameters() == 24 * block + v * h + h == 494_032_768
    # Qwen2.5-7B's output layer is untied: the embedding counts twice.
    assert MODELS[QWEN_7B].num_parameters() == 7_615_616_512
    # SmolLM2-360M, a count published alongside its config.
    assert MODELS["HuggingFaceTB/SmolLM2-360M-Instruct"].num_parameters() == 361_821_120


def _transformers_config(name: str, shape: ModelShape):
    """The transformers config of the model's family (chosen by its name, not by the shape)."""
    from transformers import LlamaConfig, Qwen2Config, Qwen3Config

    common = dict(
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        vocab_size=shape.vocab_size,
        tie_word_embeddings=shape.tie_embeddings,
    )
    if name.startswith("Qwen/Qwen3-"):
        return Qwen3Config(head_dim=128, **common)
    if name.startswith("Qwen/Qwen2.5-"):
        return Qwen2Config(**common)
    assert name.startswith("HuggingFaceTB/SmolLM2-")
    return LlamaConfig(**common)


@pytest.mark.parametrize(
    "name",
    [QWEN_05B, QWEN_7B, "Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B", "HuggingFaceTB/SmolLM2-135M-Instruct"],
)
def test_counts_equal_the_real_architecture(name):
    """The formula agrees with transformers' own modules (built on the meta device: no memory)."""
    from transformers import AutoModelForCausalLM

    shape = MODELS[name]
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(_transformers_config(name, shape))
    assert model.num_parameters() == shape.num_parameters()
    lora = {
        f"{n}.weight": p.shape for n, p in model.named_parameters() if n.endswith("proj.weight")
    }
    # LoRA adds rank × (in + out) per adapted linear layer.
    assert sum(16 * (s[0] + s[1]) for s in lora.values()) == shape.lora_parameters(16)


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_r1lab_presets_described_by_their_shape(preset, tokenizer):
    from r1lab.models import PRESETS, count_parameters, create_model

    config = {**PRESETS[preset], "vocab_size": len(tokenizer), "tie_word_embeddings": True}
    shape = shape_from_config(config, name=f"r1lab {preset}")
    assert shape.num_kv_heads == shape.num_heads  # transformers' default, as create_model uses
    assert shape.num_parameters() == count_parameters(create_model(preset, tokenizer))
    memory = estimate_memory(shape, num_generations=8, prompts_per_device=16, prompt_tokens=32,
                             completion_tokens=96)  # fmt: skip
    assert memory.total() < 1  # GiB: the laptop course fits anywhere
    assert memory.fits("T4")


def test_shape_from_config_reads_a_qwen_config():
    config = {
        "model_type": "qwen3",
        "num_hidden_layers": 28,
        "hidden_size": 1024,
        "intermediate_size": 3072,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    }
    shape = shape_from_config(config, name="Qwen/Qwen3-0.6B")
    assert shape == MODELS["Qwen/Qwen3-0.6B"].__class__(
        **{**dataclasses.asdict(MODELS["Qwen/Qwen3-0.6B"]), "advertised_billions": None}
    )


def test_model_names_resolve_without_the_organisation():
    assert model_shape("qwen2.5-0.5b-instruct") is MODELS[QWEN_05B]
    assert model_shape(MODELS[QWEN_7B]) is MODELS[QWEN_7B]
    assert gpu_spec("h100") is GPUS["H100"]


# ------------------------------------------------------------------ memory


def test_hand_computed_case_qwen_05b_full_bf16_adamw():
    memory = estimate_memory(
        QWEN_05B, num_generations=8, prompts_per_device=4, prompt_tokens=256,
        completion_tokens=1024,
    )  # fmt: skip
    n = 494_032_768
    assert memory.weights == pytest.approx(n * 2 / GIB) == pytest.approx(0.920, abs=1e-3)
    assert memory.gradients == pytest.approx(n * 2 / GIB)
    assert memory.optimizer == pytest.approx(n * 12 / GIB) == pytest.approx(5.521, abs=1e-3)
    assert memory.reference == 0
    # 8 completions per micro-batch (TRL's default) × 1280 tokens, 24 layers.
    per_token_layer = 2 * (4 * 896 + 2 * 896 + 2 * 128 + 4 * 4864)
    assert memory.activations == pytest.approx(24 * 8 * 1280 * per_token_layer / GIB)
    assert memory.logits == pytest.approx(151936 * 8 * 1024 * 4 / GIB) == pytest.approx(4.637, 1e-3)
    # 2 (k and v) × 24 layers × 2 kv heads × 64 dims × 2 bytes × 32 sequences × 1280 positions.
    assert memory.kv_cache == pytest.approx(2 * 24 * 2 * 64 * 2 * 32 * 1280 / GIB) == 0.46875
    assert memory.peak_phase == "backward"
    assert memory.total() == pytest.approx(
        memory.weights + memory.gradients + memory.optimizer + memory.activations + memory.logits
    )


def test_reference_model_costs_a_copy_of_the_weights_only_in_full_fine_tuning():
    with_ref = estimate_memory(QWEN_05B, reference_model=True)
    assert with_ref.reference == pytest.approx(with_ref.weights)
    assert estimate_memory(QWEN_05B, reference_model=True, finetune="lora").reference == 0


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"finetune": "lora", "reference_model": True},
        {"completion_tokens": 8, "num_generations": 64, "prompts_per_device": 16},  # KV-heavy
        {"generation": "vllm", "gradient_checkpointing": True},
        {"sharding": "zero3", "num_gpus": 4, "optimizer": "adamw_8bit"},
    ],
)
def test_breakdown_adds_up_to_the_total(settings):
    memory = estimate_memory(QWEN_7B, **settings)
    assert sum(memory.parts().values()) == pytest.approx(memory.total())
    resident = memory.weights + memory.gradients + memory.optimizer + memory.reference
    backward = memory.activations + memory.logits
    if memory.settings.generation == "hf":
        assert memory.total() == pytest.approx(resident + max(backward, memory.kv_cache))
    else:
        need = memory.vllm_weights + memory.kv_cache
        assert memory.total() == pytest.approx(resident + backward + need)
        on_h100 = resident + backward + max(need, 0.3 * 80)
        assert memory.total("H100") == pytest.approx(on_h100)
        assert sum(memory.parts("H100").values()) == pytest.approx(on_h100)


def test_kv_heavy_runs_peak_while_generating():
    memory = estimate_memory(
        QWEN_7B, completion_tokens=8, num_generations=64, prompts_per_device=16
    )
    assert memory.peak_phase == "generation"
    assert "kv_cache" in memory.parts() and "activations" not in memory.parts()


def test_lora_needs_far_less_optimizer_memory_than_full_fine_tuning():
    full = estimate_memory(QWEN_7B, finetune="full")
    lora = estimate_memory(QWEN_7B, finetune="lora", lora_rank=16)
    assert lora.optimizer < full.optimizer / 100
    assert lora.gradients < full.gradients / 50
    assert lora.total() < full.total()
    # 7 linear layers × rank 16 × (in + out), 28 blocks.
    assert lora.trainable_parameters == 28 * 16 * (
        2 * (3584 + 3584) + 2 * (3584 + 512) + 3 * (3584 + 18944)
    )


def test_8bit_adamw_shrinks_the_optimizer_states():
    full = estimate_memory(QWEN_7B)
    small = estimate_memory(QWEN_7B, optimizer="adamw_8bit")
    assert small.optimizer / full.optimizer == pytest.approx((4 + 2) / (4 + 8))


def test_zero3_over_8_gpus_divides_weights_by_8():
    one = estimate_memory(QWEN_7B, reference_model=True)
    zero3 = estimate_memory(QWEN_7B, reference_model=True, num_gpus=8, sharding="zero3")
    zero2 = estimate_memory(QWEN_7B, reference_model=True, num_gpus=8, sharding="zero2")
    ddp = estimate_memory(QWEN_7B, reference_model=True, num_gpus=8, sharding="none")
    for part in ("weights", "reference", "gradients", "optimizer"):
        assert getattr(zero3, part) == pytest.approx(getattr(one, part) / 8)
    assert zero2.weights == one.weights and zero2.reference == one.reference
    assert zero2.optimizer == pytest.approx(one.optimizer / 8)
    assert zero2.gradients == pytest.approx(one.gradients / 8)
    assert ddp.total() == pytest.approx(one.total())
    assert zero3.activations == one.activations  # sharding does not touch activations


def test_gradient_checkpointing_lowers_activations():
    plain = estimate_memory(QWEN_7B)
    checkpointed = estimate_memory(QWEN_7B, gradient_checkpointing=True)
    assert checkpointed.activations < plain.activations / 5
    assert checkpointed.logits == plain.logits  # the loss still needs the logits


def test_kv_cache_doubles_when_the_sequence_doubles():
    base = estimate_memory(QWEN_7B, prompt_tokens=256, completion_tokens=1024)
    longer = estimate_memory(QWEN_7B, prompt_tokens=256, completion_tokens=2048)
    assert estimate_memory(
        QWEN_7B, prompt_tokens=512, completion_tokens=2048
    ).kv_cache == pytest.approx(2 * base.kv_cache)
    # With the prompt fixed, the completion's share of the cache doubles.
    prompt_part = base.kv_cache * 256 / 1280
    assert longer.kv_cache - prompt_part == pytest.approx(2 * (base.kv_cache - prompt_part))


def test_micro_batch_scales_activations_and_logits_not_the_kv_cache():
    small = estimate_memory(QWEN_05B, micro_batch_size=4)
    large = estimate_memory(QWEN_05B, micro_batch_size=16)
    assert large.activations == pytest.approx(4 * small.activations)
    assert large.logits == pytest.approx(4 * small.logits)
    assert large.kv_cache == small.kv_cache


def test_fits_against_the_gpu_table():
    memory = estimate_memory(QWEN_05B, gradient_checkpointing=True, micro_batch_size=16)
    assert 15 < memory.total() < 23  # over a T4's 16 GB less the CUDA reserve, under 24 GB
    assert memory.fits("A10G") and memory.fits("H100") and not memory.fits("T4")
    assert memory.fitting_gpus() == [n for n in GPUS if n != "T4"]
    big = estimate_memory(QWEN_7B)
    assert big.fitting_gpus() == []  # full fine-tuning of 7B on one GPU: 16 bytes per parameter


def test_vllm_share_must_hold_its_weights_and_the_kv_cache():
    memory = estimate_memory(
        QWEN_7B, finetune="lora", gradient_checkpointing=True, generation="vllm",
        vllm_gpu_memory_utilization=0.3,
    )  # fmt: skip
    assert memory.vllm_weights == pytest.approx(MODELS[QWEN_7B].num_parameters() * 2 / GIB)
    # 0.3 × 40 GB = 12 GiB cannot hold a 14 GiB copy of the weights.
    assert not memory.fits("A100-40GB")
    assert memory.fits("H100")
    assert memory.total("H200") > memory.total("H100")  # vLLM reserves a share of each GPU


# ------------------------------------------------------------------ time


def test_generation_throughput_grows_with_bandwidth():
    for engine in ("hf", "vllm"):
        by_bandwidth = sorted(GPUS.values(), key=lambda g: g.bandwidth_tbs)
        rates = [
            estimate_throughput(QWEN_7B, g, generation=engine).generation_tokens_per_s
            for g in by_bandwidth
        ]
        assert rates == sorted(rates) and rates[0] < rates[-1]
    h100 = GPUS["H100"]
    faster = dataclasses.replace(h100, name="H100x2", bandwidth_tbs=2 * h100.bandwidth_tbs)
    slow = estimate_throughput(QWEN_7B, h100, generation="vllm")
    fast = estimate_throughput(QWEN_7B, faster, generation="vllm")
    assert slow.decode_bound == "bandwidth"
    assert 1.2 < fast.generation_tokens_per_s / slow.generation_tokens_per_s < 2


def test_training_time_is_six_n_t_at_the_stated_mfu():
    shape = MODELS[QWEN_7B]
    speed = estimate_throughput(QWEN_7B, "A100-80GB")
    tokens = 32 * 1280
    n = shape.num_parameters() - shape.vocab_size * shape.hidden_size  # untied input: a look-up
    assert speed.trained_tokens == tokens
    assert speed.training_s == pytest.approx(6 * n * tokens / (312e12 * estimates.TRAIN_MFU))
    assert speed.scoring_s == 0
    with_ref = estimate_throughput(QWEN_7B, "A100-80GB", reference_model=True, mu=2)
    assert with_ref.scoring_s == pytest.approx(2 * speed.training_s * 2 / 6)
    assert with_ref.training_s == pytest.approx(2 * speed.training_s)
    lora = estimate_throughput(QWEN_7B, "A100-80GB", finetune="lora")
    assert lora.training_s == pytest.approx(speed.training_s * 4 / 6)
    assert speed.step_s == pytest.approx(speed.generation_s + speed.training_s)


def test_vllm_generates_faster_than_hf_generate():
    hf = estimate_throughput(QWEN_05B, "H100", generation="hf")
    vllm = estimate_throughput(QWEN_05B, "H100", generation="vllm")
    assert vllm.generation_tokens_per_s > 3 * hf.generation_tokens_per_s


def test_t4_has_no_bf16_and_is_timed_at_fp16():
    t4 = GPUS["T4"]
    assert t4.bf16_tflops is None and t4.tflops("bf16") == t4.fp16_tflops == 65
    speed = estimate_throughput(QWEN_05B, "T4")
    assert any("no bf16" in note for note in speed.notes)


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_generations": 1}, r"num_generations must be ≥ 2 \(got 1\): GRPO compares"),
        ({"dtype": "int4"}, r"dtype must be one of bf16, fp16, fp32 \(got 'int4'\)"),
        ({"finetune": "qlora"}, r"finetune must be one of full, lora"),
        ({"sharding": "zero1"}, r"sharding must be one of none, zero2, zero3"),
        ({"generation": "sglang"}, r"generation must be one of hf, vllm"),
        ({"optimizer": "sgd"}, r"optimizer must be one of adamw, adamw_8bit"),
        ({"num_gpus": 0}, r"num_gpus must be an integer ≥ 1 \(got 0\)"),
        ({"lora_rank": 0}, r"lora_rank must be an integer ≥ 1"),
        ({"completion_tokens": 0}, r"completion_tokens must be an integer ≥ 1"),
        ({"micro_batch_size": 33}, r"between 1 and num_generations × prompts_per_device = 32"),
        ({"vllm_gpu_memory_utilization": 1.5}, r"between 0 and 1 \(got 1.5\)"),
    ],
)
def test_bad_settings_name_the_value_and_the_range(settings, message):
    with pytest.raises(ValueError, match=message):
        estimate_memory(QWEN_05B, **settings)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown model 'Llama-9B'.*Qwen/Qwen2.5-0.5B-Instruct"):
        estimate_memory("Llama-9B")
    with pytest.raises(ValueError, match=r"unknown GPU 'V100': choose one of T4, A10G"):
        estimate_throughput(QWEN_05B, "V100")
    with pytest.raises(ValueError, match=r"unknown setting batch: the settings are dtype"):
        estimate_throughput(QWEN_05B, "H100", batch=4)
    with pytest.raises(ValueError, match=r"num_heads \(14\) must be a multiple of num_kv_heads"):
        ModelShape("bad", 2, 896, 4864, 14, 3, 1000, True)
    with pytest.raises(ValueError, match=r"config lacks vocab_size"):
        shape_from_config({"num_hidden_layers": 2, "hidden_size": 8, "intermediate_size": 16,
                           "num_attention_heads": 2})  # fmt: skip


# ------------------------------------------------------------------ for the learner


def test_assumptions_state_the_constants():
    lines = assumptions()
    assert len(lines) >= 10 and all(isinstance(line, str) and line for line in lines)
    text = "\n".join(lines)
    assert f"{estimates.TRAIN_MFU:.0%} MFU" in text
    assert "Korthikanti" in text and "12 bytes" in text and "150k vocabulary" in text


def test_format_estimate_shows_parts_total_gpus_and_speed():
    text = format_estimate(QWEN_05B, gradient_checkpointing=True)
    memory = estimate_memory(QWEN_05B, gradient_checkpointing=True)
    assert f"{memory.total():.2f}" in text
    for label in ("weights", "optimizer states", "activations", "logits", "KV cache"):
        assert label in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.split()}
    for name in GPUS:
        assert rows[name][3] == ("yes" if memory.fits(name) else "no")
    assert "assumptions()" in text
    only = format_estimate(QWEN_7B, gpus=["H100"], finetune="lora", generation="vllm")
    assert "H100" in only and "A10G" not in only and "vLLM" in only


def test_memory_plot_has_one_bar_group_per_model():
    models = ["Qwen2.5-0.5B-Instruct", "Qwen2.5-1.5B-Instruct", "Qwen2.5-7B-Instruct"]
    fig = memory_plot(models, gradient_checkpointing=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == models
    heights = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2, 6)
        heights[x] = heights.get(x, 0.0) + patch.get_height()
    assert len(heights) == 2 * len(models)  # full and LoRA for each model
    expected = [
        estimate_memory(m, finetune=f, gradient_checkpointing=True).total()
        for m in models
        for f in ("full", "lora")
    ]
    assert [heights[x] for x in sorted(heights)] == pytest.approx(expected)
    assert sorted(round(line.get_ydata()[0]) for line in ax.lines) == [24, 40, 80]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_custom_gpu_and_settings_objects():
    gpu = GPU("toy", 8, 10, 10, 5, 0.1)
    assert gpu.usable_gib == 8 - estimates.CUDA_RESERVED_GIB
    assert estimate_throughput(QWEN_05B, gpu).step_s > estimate_throughput(QWEN_05B, "H100").step_s
    assert EstimateSettings().micro_batch == 8
    assert EstimateSettings(num_generations=2, prompts_per_device=1).micro_batch == 2
