"""How much GPU memory and time a GRPO run on a real model needs: a calculator with its sums shown.

The laptop course trains a 1 M-parameter model; the scale-up runs ``trl.GRPOTrainer`` on hub
models of 0.1–8 B parameters. Before renting a GPU, a learner asks: does it fit, and how long
does a step take? This module answers from the model's shape alone (no download, no torch):

* :func:`estimate_memory` — the memory per device, part by part (weights, gradients, optimizer
  states, reference model, activations, logits, KV cache, vLLM's share);
* :func:`estimate_throughput` — rough tokens per second and seconds per GRPO step on a GPU;
* :func:`format_estimate` — both as a small table, with the GPUs that fit;
* :func:`assumptions` — every assumption behind the numbers, one line each;
* :func:`memory_plot` — stacked bars for several models, full fine-tuning vs LoRA.

Every number is an estimate, to within a few tens of percent of what
``torch.cuda.max_memory_allocated`` shows, not a guarantee. Every assumption is a named constant
below, and :func:`assumptions` prints them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib is imported inside memory_plot only
    from matplotlib.figure import Figure

GIB = 2**30

# ---------------------------------------------------------------------------------------------
# Assumptions, each a named constant (assumptions() prints them all)
# ---------------------------------------------------------------------------------------------

BYTES_PER_VALUE = {"bf16": 2, "fp16": 2, "fp32": 4}
# Mixed precision (bf16/fp16), the convention of the ZeRO paper (Rajbhandari et al. 2020):
# weights and gradients in 16 bit, and AdamW keeps an fp32 master copy plus fp32 m and v
# (4 + 4 + 4 = 12 bytes per trained parameter). In fp32 there is no master copy (8 bytes).
# Plain PyTorch with a bf16-loaded model keeps no master copy and bf16 states (4 bytes):
# cheaper, less precise; we count the safe figure.
MASTER_WEIGHT_BYTES = 4
ADAM_STATE_BYTES = {"adamw": 4 + 4, "adamw_8bit": 1 + 1}  # m and v; bitsandbytes' block scales ~0
# PEFT keeps LoRA adapters (and so their gradients and AdamW states) in fp32.
LORA_PARAM_BYTES = 4
# LoRA on every linear layer of the blocks (PEFT's target_modules="all-linear").
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# The loss needs a log-softmax over the vocabulary for every completion token of a micro-batch:
# one fp32 copy of the logits (TRL computes logits for completion tokens only). The bf16 output
# of lm_head and the gradient of the softmax can add as much again: a lower bound.
LOGIT_BYTES = 4
# TRL's default per_device_train_batch_size: completions per forward/backward pass.
DEFAULT_MICRO_BATCH = 8
# CUDA context, cuBLAS workspaces and allocator fragmentation, taken off every GPU's memory.
CUDA_RESERVED_GIB = 1.0
# Decoding is bound by memory bandwidth: each step reads the weights once (shared by the whole
# batch) and each sequence's KV cache. Share of the spec-sheet bandwidth reached, per engine:
DECODE_BANDWIDTH_EFFICIENCY = {"vllm": 0.7, "hf": 0.5}
# Fixed cost per decoding step: vLLM's scheduler and sampler (CUDA graphs hide kernel launches);
# HF generate's Python loop, logits processors and eager kernel launches (per layer).
DECODE_STEP_OVERHEAD_S = {"vllm": 0.002, "hf": 0.004}
HF_DECODE_OVERHEAD_PER_LAYER_S = 0.0007
# Share of the peak dense 16-bit tensor throughput reached by the prefill (and by large decode
# batches, when compute rather than bandwidth binds), and by training (model FLOPs utilisation).
PREFILL_MFU = 0.5
TRAIN_MFU = 0.35
# FLOPs per parameter and token (Kaplan et al. 2020): forward 2, backward 4. With LoRA the
# frozen weights need no weight gradients, only gradients of the activations: 2 + 2.
FLOPS_PER_PARAM_TOKEN = {"full": 6, "lora": 4}
FORWARD_FLOPS_PER_PARAM_TOKEN = 2

DTYPES = tuple(BYTES_PER_VALUE)
FINETUNES = ("full", "lora")
OPTIMIZERS = tuple(ADAM_STATE_BYTES)
SHARDINGS = ("none", "zero2", "zero3")
GENERATIONS = ("hf", "vllm")


# ---------------------------------------------------------------------------------------------
# Model shapes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a decoder-only transformer (Llama / Qwen2 / Qwen3 layout) that size it."""

    name: str
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    tie_embeddings: bool
    head_dim: int | None = None  # None: hidden_size // num_heads (Qwen3 sets it explicitly)
    qkv_bias: bool = False  # Qwen2 / Qwen2.5 have biases on q, k and v
    qk_norm: bool = False  # Qwen3 has an RMSNorm on each query and key head
    advertised_billions: float | None = None  # the size its model card gives

    def __post_init__(self) -> None:
        for name in (
            "num_layers",
            "hidden_size",
            "intermediate_size",
            "num_heads",
            "num_kv_heads",
            "vocab_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer (got {value!r})")
        if self.head_dim is None and self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_heads "
                f"({self.num_heads}) when head_dim is not given"
            )
        if self.head_dim is not None and (not isinstance(self.head_dim, int) or self.head_dim < 1):
            raise ValueError(f"head_dim must be a positive integer (got {self.head_dim!r})")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads "
                f"({self.num_kv_heads}): each key/value head serves a group of query heads"
            )

    @property
    def dim_per_head(self) -> int:
        return self.head_dim if self.head_dim is not None else self.hidden_size // self.num_heads

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.dim_per_head

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.dim_per_head

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer in one block, by its transformers name."""
        h, q, kv, i = self.hidden_size, self.q_dim, self.kv_dim, self.intermediate_size
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def layer_parameters(self) -> int:
        """Parameters of one transformer block."""
        linear = sum(n_in * n_out for n_in, n_out in self.linear_shapes().values())
        bias = self.q_dim + 2 * self.kv_dim if self.qkv_bias else 0
        qk_norm = 2 * self.dim_per_head if self.qk_norm else 0
        return linear + bias + qk_norm + 2 * self.hidden_size  # two RMSNorm weights

    def embedding_parameters(self) -> int:
        return self.vocab_size * self.hidden_size

    def num_parameters(self) -> int:
        """Distinct parameters, a tied output layer once (as ``model.num_parameters()``)."""
        heads = 1 if self.tie_embeddings else 2
        return (
            self.num_layers * self.layer_parameters()
            + heads * self.embedding_parameters()
            + self.hidden_size  # final RMSNorm
        )

    def matmul_parameters(self) -> int:
        """Parameters a token multiplies through (and decoding reads): all but an untied input
        embedding, which is a table look-up."""
        untied_input = 0 if self.tie_embeddings else self.embedding_parameters()
        return self.num_parameters() - untied_input

    def lora_parameters(self, rank: int) -> int:
        """LoRA adapter parameters for rank ``rank`` on :data:`LORA_TARGETS` of every block."""
        shapes = self.linear_shapes()
        per_layer = sum(rank * (shapes[t][0] + shapes[t][1]) for t in LORA_TARGETS)
        return self.num_layers * per_layer

    def kv_bytes_per_token(self, dtype: str = "bf16") -> int:
        """Keys and values of one token in every layer."""
        return 2 * self.num_layers * self.kv_dim * BYTES_PER_VALUE[dtype]


# Shapes from each model's config.json on the Hugging Face hub: num_hidden_layers, hidden_size,
# intermediate_size, num_attention_heads, num_key_value_heads, vocab_size, tie_word_embeddings
# (Qwen3 also sets head_dim = 128; Qwen2.5 has q/k/v biases, Qwen3 q/k norms). The last column
# is the size each model card advertises, in billions, which the counts are tested against.
_FAMILY = {
    "qwen2": dict(qkv_bias=True),
    "qwen3": dict(head_dim=128, qk_norm=True),
    "llama": {},  # SmolLM2
}
_TABLE = (
    # hub id                            layers hidden inter heads kv   vocab  tied family  B
    ("Qwen/Qwen2.5-0.5B-Instruct",          24,  896,  4864, 14,  2, 151936, True,  "qwen2", 0.49),
    ("Qwen/Qwen2.5-1.5B-Instruct",          28, 1536,  8960, 12,  2, 151936, True,  "qwen2", 1.54),
    ("Qwen/Qwen2.5-3B-Instruct",            36, 2048, 11008, 16,  2, 151936, True,  "qwen2", 3.09),
    ("Qwen/Qwen2.5-7B-Instruct",            28, 3584, 18944, 28,  4, 152064, False, "qwen2", 7.61),
    ("Qwen/Qwen3-0.6B",                     28, 1024,  3072, 16,  8, 151936, True,  "qwen3", 0.6),
    ("Qwen/Qwen3-1.7B",                     28, 2048,  6144, 16,  8, 151936, True,  "qwen3", 1.7),
    ("Qwen/Qwen3-4B",                       36, 2560,  9728, 32,  8, 151936, True,  "qwen3", 4.0),
    ("Qwen/Qwen3-8B",                       36, 4096, 12288, 32,  8, 151936, False, "qwen3", 8.2),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", 30,  576,  1536,  9,  3,  49152, True,  "llama", 0.135),
    ("HuggingFaceTB/SmolLM2-360M-Instruct", 32,  960,  2560, 15,  5,  49152, True,  "llama", 0.36),
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", 24, 2048,  8192, 32, 32,  49152, True,  "llama", 1.7),
)  # fmt: skip
MODELS: dict[str, ModelShape] = {
    name: ModelShape(name, *sizes, tied, **_FAMILY[family], advertised_billions=billions)
    for name, *sizes, tied, family, billions in _TABLE
}


def shape_from_config(config: Mapping[str, Any], name: str = "custom") -> ModelShape:
    """A :class:`ModelShape` from ``config.json`` keys (a dict, or ``PretrainedConfig.to_dict()``).

    ``num_key_value_heads`` defaults to ``num_attention_heads`` and ``tie_word_embeddings`` to
    False, as in ``transformers``; Qwen2 configs get their q/k/v biases and Qwen3 their q/k norms.
    """
    required = (
        "num_hidden_layers",
        "hidden_size",
        "intermediate_size",
        "num_attention_heads",
        "vocab_size",
    )
    missing = [key for key in required if config.get(key) is None]
    if missing:
        raise ValueError(f"config lacks {', '.join(missing)}: need all of {', '.join(required)}")
    model_type = config.get("model_type", "")
    return ModelShape(
        name=name,
        num_layers=config["num_hidden_layers"],
        hidden_size=config["hidden_size"],
        intermediate_size=config["intermediate_size"],
        num_heads=config["num_attention_heads"],
        num_kv_heads=config.get("num_key_value_heads") or config["num_attention_heads"],
        vocab_size=config["vocab_size"],
        tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        head_dim=config.get("head_dim"),
        qkv_bias=bool(config.get("attention_bias", False)) or model_type == "qwen2",
        qk_norm=model_type == "qwen3",
    )


def model_shape(model: str | ModelShape) -> ModelShape:
    """Look a model up by hub id (the organisation may be left out, any case), or pass a shape."""
    if isinstance(model, ModelShape):
        return model
    if isinstance(model, str):
        wanted = model.strip().lower()
        for name, shape in MODELS.items():
            if wanted in (name.lower(), name.split("/")[-1].lower()):
                return shape
    raise ValueError(
        f"unknown model {model!r}: choose one of {', '.join(MODELS)}, "
        "or describe it with ModelShape(...) or shape_from_config(config.json)"
    )


# ---------------------------------------------------------------------------------------------
# GPUs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPU:
    """Spec-sheet figures of one accelerator."""

    name: str
    memory_gb: float  # as sold; used as GiB, which is what the device reports (~80 GiB for 80 GB)
    bf16_tflops: float | None  # peak dense (no sparsity) tensor-core throughput; None: no bf16
    fp16_tflops: float
    fp32_tflops: float  # TF32 tensor cores where there are some, plain FP32 otherwise
    bandwidth_tbs: float  # memory bandwidth, TB/s
    note: str = ""

    @property
    def usable_gib(self) -> float:
        return self.memory_gb - CUDA_RESERVED_GIB

    def tflops(self, dtype: str) -> float:
        if dtype == "fp32":
            return self.fp32_tflops
        if dtype == "bf16" and self.bf16_tflops is not None:
            return self.bf16_tflops
        return self.fp16_tflops


# NVIDIA data sheets (dense figures: the sheets print "with sparsity" values at twice these).
# SXM versions of A100/H100/H200; an H100 PCIe card has 2.0 TB/s and 756 bf16 TFLOPs.
GPUS: dict[str, GPU] = {
    g.name: g
    for g in (
        GPU("T4", 16, None, 65, 8.1, 0.32,
            note="Turing: no bf16 (use fp16; bf16 falls back to slow non-tensor kernels)"),
        GPU("A10G", 24, 70, 70, 35, 0.6,
            note="AWS variant of the A10 (whose sheet gives 125 TFLOPs); no public NVIDIA sheet"),
        GPU("L4", 24, 121, 121, 60, 0.3),
        GPU("A100-40GB", 40, 312, 312, 156, 1.555),
        GPU("A100-80GB", 80, 312, 312, 156, 2.039),
        GPU("H100", 80, 989, 989, 495, 3.35),
        GPU("H200", 141, 989, 989, 495, 4.8),
    )
}  # fmt: skip


def gpu_spec(gpu: str | GPU) -> GPU:
    """Look a GPU up by name (any case), or pass a :class:`GPU`."""
    if isinstance(gpu, GPU):
        return gpu
    if isinstance(gpu, str):
        for name, spec in GPUS.items():
            if gpu.strip().lower() == name.lower():
                return spec
    raise ValueError(f"unknown GPU {gpu!r}: choose one of {', '.join(GPUS)}, or pass a GPU(...)")


# ---------------------------------------------------------------------------------------------
# The run's settings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EstimateSettings:
    """How a GRPO run is set up, as far as memory and time go. Defaults: r1lab's and TRL's."""

    dtype: str = "bf16"
    finetune: str = "full"
    lora_rank: int = 16
    optimizer: str = "adamw"
    reference_model: bool = False  # TRL and r1lab default to beta = 0: no KL, no reference model
    num_generations: int = 8  # G: completions per prompt
    prompts_per_device: int = 4
    prompt_tokens: int = 256
    completion_tokens: int = 1024
    micro_batch_size: int | None = None  # completions per forward/backward; None: TRL's 8
    gradient_checkpointing: bool = False
    num_gpus: int = 1
    sharding: str = "none"
    generation: str = "hf"
    vllm_gpu_memory_utilization: float = 0.3
    mu: int = 1  # optimisation passes over each batch of rollouts (GRPO's μ)

    def __post_init__(self) -> None:
        choices = {
            "dtype": DTYPES,
            "finetune": FINETUNES,
            "optimizer": OPTIMIZERS,
            "sharding": SHARDINGS,
            "generation": GENERATIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)} (got {getattr(self, name)!r})"
                )
        if not _is_int(self.num_generations) or self.num_generations < 2:
            raise ValueError(
                f"num_generations must be ≥ 2 (got {self.num_generations!r}): "
                "GRPO compares completions within a group"
            )
        for name in ("lora_rank", "prompts_per_device", "prompt_tokens", "completion_tokens"):
            _positive(name, getattr(self, name))
        _positive("num_gpus", self.num_gpus)
        _positive("mu", self.mu)
        if self.micro_batch_size is not None:
            _positive("micro_batch_size", self.micro_batch_size)
            if self.micro_batch_size > self.sequences:
                raise ValueError(
                    f"micro_batch_size must be between 1 and num_generations × "
                    f"prompts_per_device = {self.sequences} (got {self.micro_batch_size})"
                )
        util = self.vllm_gpu_memory_utilization
        if isinstance(util, bool) or not isinstance(util, int | float) or not 0 < util < 1:
            raise ValueError(
                f"vllm_gpu_memory_utilization must be a fraction between 0 and 1 (got {util!r})"
            )

    @property
    def sequences(self) -> int:
        """Completions each device generates per step."""
        return self.num_generations * self.prompts_per_device

    @property
    def micro_batch(self) -> int:
        if self.micro_batch_size is not None:
            return self.micro_batch_size
        return min(DEFAULT_MICRO_BATCH, self.sequences)

    @property
    def sequence_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def describe(self) -> str:
        tune = "full fine-tuning" if self.finetune == "full" else f"LoRA r={self.lora_rank}"
        optimizer = "AdamW" if self.optimizer == "adamw" else "8-bit AdamW"
        engine = "vLLM" if self.generation == "vllm" else "HF generate"
        if self.generation == "vllm":
            engine += f" ({self.vllm_gpu_memory_utilization:.0%} of the GPU)"
        shard = {"none": "no sharding", "zero2": "ZeRO-2", "zero3": "ZeRO-3"}[self.sharding]
        gpus = f"{self.num_gpus} GPU" + ("s" if self.num_gpus > 1 else "")
        return (
            f"{tune}, {self.dtype}, {optimizer}, "
            f"{'with' if self.reference_model else 'no'} reference model\n"
            f"G={self.num_generations} × {self.prompts_per_device} prompts/device = "
            f"{self.sequences} completions of {self.prompt_tokens}+{self.completion_tokens} "
            f"tokens; micro-batch {self.micro_batch}; "
            f"{'gradient checkpointing' if self.gradient_checkpointing else 'no checkpointing'}; "
            f"{engine}; {gpus}, {shard}"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(name: str, value: object) -> None:
    if not _is_int(value) or value < 1:  # type: ignore[operator]
        raise ValueError(f"{name} must be an integer ≥ 1 (got {value!r})")


_SETTING_NAMES = tuple(f.name for f in dataclasses.fields(EstimateSettings))


def _settings(settings: Mapping[str, Any]) -> EstimateSettings:
    unknown = sorted(set(settings) - set(_SETTING_NAMES))
    if unknown:
        raise ValueError(
            f"unknown setting {', '.join(unknown)}: the settings are {', '.join(_SETTING_NAMES)}"
        )
    return EstimateSettings(**settings)


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------

PART_LABELS = {
    "weights": "weights",
    "gradients": "gradients",
    "optimizer": "optimizer states",
    "reference": "reference model",
    "activations": "activations",
    "logits": "logits (loss)",
    "kv_cache": "KV cache",
    "vllm": "vLLM share",
}


@dataclass(frozen=True)
class MemoryEstimate:
    """GPU memory per device, in GiB, part by part.

    Two phases alternate: generation (HF generate holds the KV cache) and the backward pass
    (activations and logits). Weights, gradients, optimizer states and the reference model stay
    resident throughout (DeepSpeed keeps its gradient buffers; plain PyTorch frees gradients
    between steps, so it can do a little better). The peak is the resident parts plus the larger
    phase. With vLLM, its share (its own copy of the weights and the KV cache) stays reserved.
    """

    model: ModelShape
    settings: EstimateSettings
    weights: float
    gradients: float
    optimizer: float
    reference: float
    activations: float
    logits: float
    kv_cache: float
    vllm_weights: float  # vLLM's own copy of the weights (0 with HF generate)
    trainable_parameters: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def resident(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.reference

    @property
    def backward_phase(self) -> float:
        return self.activations + self.logits

    @property
    def vllm_need(self) -> float:
        """What vLLM's share must hold: its weights and the whole batch's KV cache."""
        return self.vllm_weights + self.kv_cache if self.settings.generation == "vllm" else 0.0

    def vllm_share(self, gpu: str | GPU | None = None) -> float:
        """vLLM reserves ``vllm_gpu_memory_utilization`` of the GPU, or at least what it needs."""
        if self.settings.generation != "vllm":
            return 0.0
        if gpu is None:
            return self.vllm_need
        reserved = self.settings.vllm_gpu_memory_utilization * gpu_spec(gpu).memory_gb
        return max(self.vllm_need, reserved)

    def parts(self, gpu: str | GPU | None = None) -> dict[str, float]:
        """The parts present at the peak, in GiB; they add up to :meth:`total`."""
        parts = {
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "reference": self.reference,
        }
        if self.settings.generation == "vllm":
            parts |= {"activations": self.activations, "logits": self.logits}
            parts["vllm"] = self.vllm_share(gpu)
        elif self.kv_cache > self.backward_phase:
            parts["kv_cache"] = self.kv_cache
        else:
            parts |= {"activations": self.activations, "logits": self.logits}
        return parts

    def total(self, gpu: str | GPU | None = None) -> float:
        """Peak GiB per device; on a given GPU, vLLM's reservation is sized to it."""
        return sum(self.parts(gpu).values())

    @property
    def peak_phase(self) -> str:
        if self.settings.generation == "hf" and self.kv_cache > self.backward_phase:
            return "generation"
        return "backward"

    def fits(self, gpu: str | GPU) -> bool:
        """Whether the run fits one device of this GPU (vLLM: also within its share)."""
        spec = gpu_spec(gpu)
        if self.settings.generation == "vllm":
            vllm_room = self.settings.vllm_gpu_memory_utilization * spec.memory_gb
            if self.vllm_need > vllm_room:
                return False
        return self.total(spec) <= spec.usable_gib

    def fitting_gpus(self) -> list[str]:
        return [name for name in GPUS if self.fits(name)]


def activation_bytes_per_token_per_layer(model: ModelShape, dtype: str = "bf16") -> int:
    """What one block saves for the backward pass, per token, without recomputation.

    Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models")
    count 34·h + 5·a·s bytes per token for a GPT block in 16 bit. Adapted here to today's
    blocks: FlashAttention/SDPA (no s×s score matrix: the 5·a·s term goes), no dropout masks,
    RMSNorm, grouped-query attention and a SwiGLU MLP. Saved tensors, in values per token:
    the two norms' inputs and outputs (4·h); q, k, v and the attention output
    (2·q_dim + 2·kv_dim); gate, up, silu(gate) and their product (4·intermediate).
    Not counted: fp32 copies inside HF's RMSNorm and small per-head statistics.
    """
    values = (
        4 * model.hidden_size
        + 2 * model.q_dim
        + 2 * model.kv_dim
        + 4 * model.intermediate_size
    )  # fmt: skip
    return values * BYTES_PER_VALUE[dtype]


def estimate_memory(
    model: str | ModelShape,
    *,
    dtype: str = EstimateSettings.dtype,
    finetune: str = EstimateSettings.finetune,
    lora_rank: int = EstimateSettings.lora_rank,
    optimizer: str = EstimateSettings.optimizer,
    reference_model: bool = EstimateSettings.reference_model,
    num_generations: int = EstimateSettings.num_generations,
    prompts_per_device: int = EstimateSettings.prompts_per_device,
    prompt_tokens: int = EstimateSettings.prompt_tokens,
    completion_tokens: int = EstimateSettings.completion_tokens,
    micro_batch_size: int | None = EstimateSettings.micro_batch_size,
    gradient_checkpointing: bool = EstimateSettings.gradient_checkpointing,
    num_gpus: int = EstimateSettings.num_gpus,
    sharding: str = EstimateSettings.sharding,
    generation: str = EstimateSettings.generation,
    vllm_gpu_memory_utilization: float = EstimateSettings.vllm_gpu_memory_utilization,
    mu: int = EstimateSettings.mu,
) -> MemoryEstimate:
    """GPU memory per device for a GRPO run of ``model`` (a name from :data:`MODELS` or a shape)."""
    shape = model_shape(model)
    s = EstimateSettings(
        dtype=dtype,
        finetune=finetune,
        lora_rank=lora_rank,
        optimizer=optimizer,
        reference_model=reference_model,
        num_generations=num_generations,
        prompts_per_device=prompts_per_device,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        micro_batch_size=micro_batch_size,
        gradient_checkpointing=gradient_checkpointing,
        num_gpus=num_gpus,
        sharding=sharding,
        generation=generation,
        vllm_gpu_memory_utilization=vllm_gpu_memory_utilization,
        mu=mu,
    )
    return _memory(shape, s)


def _memory(shape: ModelShape, s: EstimateSettings) -> MemoryEstimate:
    value_bytes = BYTES_PER_VALUE[s.dtype]
    n_params = shape.num_parameters()
    mixed = s.dtype != "fp32"
    notes: list[str] = []

    weights = n_params * value_bytes
    if s.finetune == "full":
        trainable = n_params
        gradients = trainable * value_bytes
        master = MASTER_WEIGHT_BYTES if mixed else 0
        optimizer = trainable * (master + ADAM_STATE_BYTES[s.optimizer])
        # The reference policy is a frozen copy of the starting weights.
        reference = n_params * value_bytes if s.reference_model else 0
    else:
        trainable = shape.lora_parameters(s.lora_rank)
        weights += trainable * LORA_PARAM_BYTES
        gradients = trainable * LORA_PARAM_BYTES
        optimizer = trainable * ADAM_STATE_BYTES[s.optimizer]
        # TRL computes the reference log-probs with the adapters switched off: no second copy.
        reference = 0
        if s.reference_model:
            notes.append("LoRA: the reference model is the base model with adapters disabled")

    # ZeRO-2 shards gradients and optimizer states over the GPUs; ZeRO-3 also the weights
    # (and the reference model). Plain data parallelism (DDP) keeps everything on every GPU.
    if s.sharding in ("zero2", "zero3"):
        gradients /= s.num_gpus
        optimizer /= s.num_gpus
    if s.sharding == "zero3":
        weights /= s.num_gpus
        reference /= s.num_gpus
        if s.num_gpus > 1:
            notes.append("ZeRO-3 also gathers one layer's full weights at a time (not counted)")

    micro_tokens = s.micro_batch * s.sequence_tokens
    per_layer = activation_bytes_per_token_per_layer(shape, s.dtype)
    if s.gradient_checkpointing:
        # Only each block's input is kept; one block at a time is recomputed in the backward.
        activations = (
            shape.num_layers * micro_tokens * shape.hidden_size * value_bytes
            + micro_tokens * per_layer
        )
    else:
        activations = shape.num_layers * micro_tokens * per_layer
    logits = shape.vocab_size * s.micro_batch * s.completion_tokens * LOGIT_BYTES

    # HF generate (and vLLM) keep keys and values of every position of every sequence.
    kv_cache = shape.kv_bytes_per_token(s.dtype) * s.sequences * s.sequence_tokens
    vllm_weights = n_params * value_bytes if s.generation == "vllm" else 0
    if s.generation == "vllm":
        notes.append("vLLM (colocate) loads its own copy of the weights, synced every step")

    return MemoryEstimate(
        model=shape,
        settings=s,
        weights=weights / GIB,
        gradients=gradients / GIB,
        optimizer=optimizer / GIB,
        reference=reference / GIB,
        activations=activations / GIB,
        logits=logits / GIB,
        kv_cache=kv_cache / GIB,
        vllm_weights=vllm_weights / GIB,
        trainable_parameters=trainable,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThroughputEstimate:
    """Rough time of one GRPO step on one device (all devices work in parallel)."""

    model: ModelShape
    gpu: GPU
    settings: EstimateSettings
    generation_s: float  # prefill + decoding of all completions
    scoring_s: float  # reference and old-policy forward passes
    training_s: float  # forward + backward (μ times), recomputation included
    generated_tokens: int  # per device per step
    trained_tokens: int  # per device per step (prompt + completion, each pass counted once)
    decode_bound: str  # "bandwidth" or "compute"
    notes: tuple[str, ...] = ()

    @property
    def step_s(self) -> float:
        return self.generation_s + self.scoring_s + self.training_s

    @property
    def generation_tokens_per_s(self) -> float:
        return self.generated_tokens / self.generation_s

    @property
    def training_tokens_per_s(self) -> float:
        return self.trained_tokens / (self.scoring_s + self.training_s)

    @property
    def cluster_tokens_per_s(self) -> float:
        """Completion tokens per second over all GPUs."""
        return self.settings.num_gpus * self.generated_tokens / self.step_s


def estimate_throughput(
    model: str | ModelShape, gpu: str | GPU, **settings: Any
) -> ThroughputEstimate:
    """Tokens per second and seconds per GRPO step; ``settings`` are those of estimate_memory."""
    return _throughput(model_shape(model), gpu_spec(gpu), _settings(settings))


def _throughput(shape: ModelShape, gpu: GPU, s: EstimateSettings) -> ThroughputEstimate:
    notes: list[str] = []
    value_bytes = BYTES_PER_VALUE[s.dtype]
    if s.dtype == "bf16" and gpu.bf16_tflops is None:
        notes.append(f"{gpu.name} has no bf16: timed at its fp16 rate (train in fp16)")
    flops = gpu.tflops(s.dtype) * 1e12
    bandwidth = gpu.bandwidth_tbs * 1e12
    p = shape.matmul_parameters()

    # Generation: a compute-bound prefill, then one decoding step per completion token. We take
    # every completion to run to completion_tokens: a batch waits for its longest member.
    prefill_s = FORWARD_FLOPS_PER_PARAM_TOKEN * p * s.sequences * s.prompt_tokens
    prefill_s /= flops * PREFILL_MFU
    mean_context = s.prompt_tokens + s.completion_tokens / 2
    read_bytes = p * value_bytes + s.sequences * mean_context * shape.kv_bytes_per_token(s.dtype)
    memory_s = read_bytes / (bandwidth * DECODE_BANDWIDTH_EFFICIENCY[s.generation])
    compute_s = FORWARD_FLOPS_PER_PARAM_TOKEN * p * s.sequences / (flops * PREFILL_MFU)
    overhead_s = DECODE_STEP_OVERHEAD_S[s.generation]
    if s.generation == "hf":
        overhead_s += HF_DECODE_OVERHEAD_PER_LAYER_S * shape.num_layers
        if s.sharding == "zero3" and s.num_gpus > 1:
            notes.append("HF generate under ZeRO-3 gathers the weights every token: far slower")
    decode_step_s = max(memory_s, compute_s) + overhead_s
    generation_s = prefill_s + s.completion_tokens * decode_step_s

    # Training: 6·N FLOPs per token (4·N with LoRA), plus a forward to recompute under
    # gradient checkpointing; the reference model and, when μ > 1, the old policy add a forward.
    tokens = s.sequences * s.sequence_tokens
    per_token = FLOPS_PER_PARAM_TOKEN[s.finetune]
    if s.gradient_checkpointing:
        per_token += FORWARD_FLOPS_PER_PARAM_TOKEN
    training_s = s.mu * per_token * p * tokens / (flops * TRAIN_MFU)
    forwards = int(s.reference_model) + int(s.mu > 1)
    scoring_s = forwards * FORWARD_FLOPS_PER_PARAM_TOKEN * p * tokens / (flops * TRAIN_MFU)

    return ThroughputEstimate(
        model=shape,
        gpu=gpu,
        settings=s,
        generation_s=generation_s,
        scoring_s=scoring_s,
        training_s=training_s,
        generated_tokens=s.sequences * s.completion_tokens,
        trained_tokens=tokens,
        decode_bound="bandwidth" if memory_s >= compute_s else "compute",
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# For the learner: assumptions, a table, a plot
# ---------------------------------------------------------------------------------------------


def assumptions() -> list[str]:
    """Every assumption behind the estimates, one line each."""
    return [
        "Memory is in GiB (2^30 bytes) per device; a GPU sold as N GB is taken as N GiB "
        f"(what it reports), less {CUDA_RESERVED_GIB:g} GiB for the CUDA context, "
        "cuBLAS workspaces and fragmentation.",
        "Parameters are counted from the shape in config.json (tied output layer counted once).",
        "Weights and gradients are in the training dtype (bf16/fp16: 2 bytes, fp32: 4).",
        f"AdamW (ZeRO paper convention): fp32 m and v ({ADAM_STATE_BYTES['adamw']} bytes) plus an "
        f"fp32 master copy ({MASTER_WEIGHT_BYTES} bytes) in bf16/fp16 mixed precision: 12 bytes "
        "per trained parameter; 8-bit AdamW: 1-byte m and v plus the master copy.",
        f"LoRA: adapters of rank r on {', '.join(LORA_TARGETS)} in fp32 "
        f"({LORA_PARAM_BYTES} bytes), with fp32 gradients and AdamW states and no master copy; "
        "the frozen base stays in the training dtype.",
        "Reference model (beta > 0): a frozen copy of the weights for full fine-tuning; "
        "nothing extra with LoRA (the base model with the adapters disabled).",
        "ZeRO-2 divides gradients and optimizer states by the number of GPUs, ZeRO-3 also the "
        "weights and the reference model; DDP ('none') divides nothing.",
        "Activations: Korthikanti et al. 2022's per-layer count adapted to FlashAttention, "
        "no dropout, GQA and SwiGLU: (4h + 2·q_dim + 2·kv_dim + 4·intermediate) values per token "
        "per layer; with gradient checkpointing, h values per token per layer plus one "
        "recomputed layer.",
        f"Micro-batch: {DEFAULT_MICRO_BATCH} completions per forward/backward unless set "
        "(TRL's per_device_train_batch_size); activations and logits scale with it.",
        f"Logits: vocab × micro-batch × completion tokens × {LOGIT_BYTES} bytes (an fp32 "
        "log-softmax for the loss) — about 0.6 MB per token with a 150k vocabulary, often more "
        "than the weights; a lower bound, the backward can hold twice that.",
        "KV cache: 2 × layers × kv_heads × head_dim × bytes × sequences × (prompt + completion), "
        "all G × prompts_per_device sequences at once.",
        "Peak: resident parts (weights, gradients, optimizer, reference) plus the larger of the "
        "backward pass (activations + logits) and HF generation (KV cache).",
        "vLLM (colocate): its own copy of the weights and the KV cache, inside a reservation of "
        "vllm_gpu_memory_utilization × GPU memory that must hold the whole batch.",
        "Decoding is memory-bound: each step reads the weights once for the whole batch plus "
        "every sequence's KV cache, at "
        + ", ".join(f"{e} {v:.0%}" for e, v in DECODE_BANDWIDTH_EFFICIENCY.items())
        + " of the spec-sheet bandwidth, plus a fixed cost per step (vLLM "
        f"{DECODE_STEP_OVERHEAD_S['vllm'] * 1e3:g} ms; HF "
        f"{DECODE_STEP_OVERHEAD_S['hf'] * 1e3:g} ms + "
        f"{HF_DECODE_OVERHEAD_PER_LAYER_S * 1e3:g} ms per layer).",
        "Every completion is taken to run to completion_tokens (a batch waits for its longest).",
        f"Prefill and large decode batches: 2 × params FLOPs per token at {PREFILL_MFU:.0%} of "
        "peak dense tensor throughput.",
        f"Training: {FLOPS_PER_PARAM_TOKEN['full']} × params × tokens FLOPs "
        f"({FLOPS_PER_PARAM_TOKEN['lora']} with LoRA), +2 with gradient checkpointing, "
        f"× μ; +2 per forward of the reference model and (μ > 1) the old policy; at "
        f"{TRAIN_MFU:.0%} MFU. 'params' leaves out an untied input embedding (a look-up). "
        "Attention FLOPs, rewards, vLLM weight syncs and inter-GPU communication are not counted.",
        "GPU figures: NVIDIA data sheets, dense (no sparsity); SXM versions of A100/H100/H200; "
        "T4 has no bf16 (timed at its fp16 rate).",
    ]


def _fmt_rate(value: float) -> str:
    return f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}"


def format_estimate(
    model: str | ModelShape, *, gpus: Sequence[str] | None = None, **settings: Any
) -> str:
    """A compact table for a learner: memory per part, total, which GPUs fit, tokens per second."""
    shape = model_shape(model)
    s = _settings(settings)
    memory = _memory(shape, s)
    names = list(gpus) if gpus is not None else list(GPUS)
    specs = [gpu_spec(name) for name in names]
    lines = [
        f"{shape.name} · {shape.num_parameters() / 1e9:.2f} B parameters"
        f" ({memory.trainable_parameters / 1e6:,.1f} M trained)",
        s.describe(),
        "",
        "memory per device           GiB",
    ]
    at_peak = memory.parts()
    rows = [(key, getattr(memory, key)) for key in ("weights", "gradients", "optimizer")]
    rows += [("reference", memory.reference), ("activations", memory.activations)]
    rows += [("logits", memory.logits), ("kv_cache", memory.kv_cache)]
    if s.generation == "vllm":
        rows.append(("vllm_weights", memory.vllm_weights))
    for key, value in rows:
        if key == "vllm_weights":
            label, remark = "vLLM's weights", "in vLLM's share"
        else:
            label = PART_LABELS[key]
            remark = "" if key in at_peak else "not at the peak"
            if key == "kv_cache" and s.generation == "vllm":
                remark = "in vLLM's share"
        lines.append(f"  {label:<22}{value:>8.2f}  {remark}".rstrip())
    lines.append(f"  {'total (peak, ' + memory.peak_phase + ')':<22}{memory.total():>8.2f}")
    if s.generation == "vllm":
        lines.append(
            f"  (vLLM reserves {s.vllm_gpu_memory_utilization:.0%} of each GPU: "
            "the totals below include it)"
        )
    lines += [
        "",
        f"{'GPU':<10}{'memory':>7}{'need':>7}  {'fits':<5}{'gen tok/s':>10}"
        f"{'train tok/s':>12}{'s/step':>8}",
    ]
    for spec in specs:
        speed = _throughput(shape, spec, s)
        lines.append(
            f"{spec.name:<10}{spec.memory_gb:>7g}{memory.total(spec):>7.1f}  "
            f"{'yes' if memory.fits(spec) else 'no':<5}"
            f"{_fmt_rate(speed.generation_tokens_per_s):>10}"
            f"{_fmt_rate(speed.training_tokens_per_s):>12}{speed.step_s:>8.1f}"
        )
    notes = list(memory.notes)
    if any(spec.bf16_tflops is None for spec in specs) and s.dtype == "bf16":
        notes.append("T4: no bf16 — train in fp16 (same memory; timed at the fp16 rate)")
    lines += [f"note: {n}" for n in notes]
    lines.append("rough figures; assumptions: r1lab.estimates.assumptions()")
    return "\n".join(lines)


PART_COLORS = {
    "weights": "#4a7ab5",
    "gradients": "#7fa7d6",
    "optimizer": "#e08e3c",
    "reference": "#9b6fb5",
    "activations": "#5aa469",
    "logits": "#c0392b",
    "kv_cache": "#8c8c8c",
    "vllm": "#d4b44a",
}
PLOT_MODELS = (
    "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen/Qwen2.5-3B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
)
PLOT_LINES_GB = {24: "24 GB (A10G, L4)", 40: "40 GB (A100 40GB)", 80: "80 GB (A100, H100)"}


def memory_plot(
    models: Sequence[str | ModelShape] = PLOT_MODELS,
    finetunes: Sequence[str] = FINETUNES,
    **settings: Any,
) -> Figure:
    """Stacked bars of the memory parts at the peak, one group per model, one bar per finetune."""
    import matplotlib.pyplot as plt

    if "finetune" in settings:
        raise ValueError("pass finetunes=(...) to memory_plot, not finetune")
    if not models:
        raise ValueError("models must name at least one model")
    for tune in finetunes:
        if tune not in FINETUNES:
            raise ValueError(f"finetunes must be among {', '.join(FINETUNES)} (got {tune!r})")
    shapes = [model_shape(m) for m in models]
    width = 0.8 / len(finetunes)
    fig, ax = plt.subplots(figsize=(3.2 + 1.6 * len(shapes), 4.2))
    seen: set[str] = set()
    for i, shape in enumerate(shapes):
        for j, tune in enumerate(finetunes):
            estimate = _memory(shape, _settings({**settings, "finetune": tune}))
            x = i + (j - (len(finetunes) - 1) / 2) * width
            bottom = 0.0
            for key, value in estimate.parts().items():
                if value == 0:
                    continue
                label = PART_LABELS[key] if key not in seen else None
                seen.add(key)
                ax.bar(x, value, width * 0.9, bottom=bottom, color=PART_COLORS[key], label=label)
                bottom += value
            ax.text(x, bottom, f"{'LoRA' if tune == 'lora' else tune}\n{bottom:.0f}",
                    ha="center", va="bottom", fontsize=7)  # fmt: skip
    for level, text in PLOT_LINES_GB.items():
        ax.axhline(level, color="#444", ls="--", lw=0.8)
        # Labelled just outside the right edge, where no bar can hide them.
        ax.text(1.01, level, text, fontsize=7, va="center", transform=ax.get_yaxis_transform())
    ax.set_xticks(range(len(shapes)), [shape.name.split("/")[-1] for shape in shapes])
    ax.set_ylabel("GiB per device at the peak")
    ax.margins(y=0.12)  # room for the labels above the bars
    s = _settings({k: v for k, v in settings.items() if k != "finetune"})
    ax.set_title(
        f"GRPO memory: G={s.num_generations} × {s.prompts_per_device} prompts, "
        f"{s.prompt_tokens}+{s.completion_tokens} tokens, {s.dtype}, micro-batch {s.micro_batch}"
        + (", checkpointing" if s.gradient_checkpointing else ""),
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    plt.close(fig)  # shown where it is displayed, not again by the inline backend
    return fig
