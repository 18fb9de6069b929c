"""Tiny causal language models that are real ``transformers`` models.

Presets build a ``LlamaForCausalLM`` from scratch; :func:`load` opens any saved directory
or, for learners with internet, a hub id such as ``Qwen/Qwen2.5-0.5B-Instruct``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers import set_seed as _hf_set_seed

from r1lab.paths import SHIPPED_MODELS_DIR
from r1lab.runlog import CONFIG_FILE as RUN_CONFIG_FILE
from r1lab.runlog import EVAL_FILE, METRICS_FILE
from r1lab.storage import CorruptFileError, read_json, sha256_file
from r1lab.tokenizer import build_tokenizer, check_text
from r1lab.worlds import WORLDS

# hidden size, MLP width, layers, heads. "tiny" is ~1 M parameters, "small" ~5 M.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
    ),
    "small": dict(
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=6,
        num_attention_heads=8,
    ),
}
DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
CARD_FILE = "card.json"  # what a shipped model was built with and its weights' SHA-256
# In data/checkpoints: each world's base model and cold start (base, sft, search-base, …).
SHIPPED_MODELS = tuple(name for w in WORLDS.values() for name in (w.base_dir, w.sft_dir))


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU) in one call."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed!r})")
    _hf_set_seed(seed)


def available_devices() -> list[str]:
    """Devices this machine can run on, fastest first."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; any other choice must be available here."""
    available = available_devices()
    if preference == "auto":
        return torch.device(available[0])
    kind = preference.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)} (got {preference!r})")
    if kind not in available:
        raise ValueError(
            f"device {preference!r} is not available on this machine; available: "
            f"{', '.join(available)} (or 'auto')"
        )
    return torch.device(preference)


def create_model(
    preset: str = "tiny",
    tokenizer: PreTrainedTokenizerBase | None = None,
    seed: int = 0,
    max_position_embeddings: int = 512,
) -> PreTrainedModel:
    """A freshly initialised (untrained) model of the given preset."""
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}: choose one of {', '.join(PRESETS)}")
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer()
    sizes = PRESETS[preset]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        num_key_value_heads=sizes["num_attention_heads"],
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **sizes,
    )
    set_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct trainable parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: str | Path) -> Path:
    """Write model (safetensors) and tokenizer into one directory."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def load(
    name_or_path: str | Path,
    device: str = "auto",
    dtype: torch.dtype | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a model and its tokenizer from a local directory or a hub id.

    A local directory is read without touching the network. A hub id (``owner/name``)
    needs internet, unless it is already in the local Hugging Face cache.
    """
    target = torch.device(device) if isinstance(device, torch.device) else pick_device(device)
    kwargs = {} if dtype is None else {"dtype": dtype}
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        _check_model_directory(path)
        check_files(path)
        # A local model of a few MB loads in a blink: no progress bar for it.
        with quiet_progress():
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    else:
        model, tokenizer = _load_from_hub(str(name_or_path), kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(target)
    model.eval()
    return model, tokenizer


def shipped_path(name: str) -> Path:
    """The folder of a shipped model (``"base"``, ``"sft"``, ``"search-base"``,
    ``"search-sft"``), built by ``r1lab checkpoints`` (:mod:`r1lab.build_models`)."""
    if name not in SHIPPED_MODELS:
        raise ValueError(
            f"no shipped model {name!r}: the shipped models are {', '.join(SHIPPED_MODELS)}"
        )
    return SHIPPED_MODELS_DIR / name


def load_shipped(
    name: str, device: str = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a shipped model and its tokenizer (:func:`load` on :func:`shipped_path`)."""
    return load(shipped_path(name), device=device)


def read_card(path: str | Path) -> dict:
    """The card (``card.json``) next to a saved model: how it was built and measured."""
    file = Path(path) / CARD_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no {CARD_FILE} in {path}: rebuild it with `r1lab checkpoints`")
    return read_json(file, remedy="rebuild it with `r1lab checkpoints`")


def shipped_card(name: str) -> dict:
    """The card of a shipped model (:func:`read_card` on :func:`shipped_path`)."""
    return read_card(shipped_path(name))


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """transformers' and datasets' own progress bars off for a moment, then as they were."""
    import datasets.utils.logging as ds_logging
    import transformers.utils.logging as hf_logging

    was = hf_logging.is_progress_bar_enabled(), ds_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            hf_logging.enable_progress_bar()
        if was[1]:
            ds_logging.enable_progress_bar()


def check_files(path: str | Path) -> None:
    """When ``path`` has a card (``card.json``, as r1lab's shipped models do), check that
    every file the card lists (``files_sha256``: config, tokenizer, weights) still has the
    SHA-256 it recorded, and, for cards written before that list existed,
    ``model.safetensors`` (``weights_sha256``). A few changed bytes of weights load
    without error in ``from_pretrained`` and give silently wrong results; a replaced
    ``config.json`` fails later with a message that does not say why."""
    path = Path(path)
    card_file = path / CARD_FILE
    if not card_file.is_file():
        return
    card = read_json(card_file, remedy="restore it, or rebuild the model with `r1lab checkpoints`")
    if not isinstance(card, dict):
        raise CorruptFileError(f"{card_file} is not a model card (not a JSON object)")
    want = dict(card.get("files_sha256") or {})
    if card.get("weights_sha256"):
        want.setdefault("model.safetensors", card["weights_sha256"])
    rebuild = card.get("built_by", "r1lab checkpoints")
    for name, digest in sorted(want.items()):
        file = path / name
        if not file.is_file():
            raise CorruptFileError(
                f"{file} is missing: {card_file} lists it. Restore it (`git checkout -- "
                f"{name}` inside {path.name}/ for a shipped model) or rebuild it with "
                f"`{rebuild}`"
            )
        if sha256_file(file) != digest:
            raise CorruptFileError(
                f"{file} is corrupted or was replaced: its SHA-256 differs from the one in "
                f"{card_file}. Restore it (`git checkout -- {name}` inside {path.name}/ for "
                f"a shipped model) or rebuild it with `{rebuild}`"
            )


def _is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds an r1lab run's log (:mod:`r1lab.runlog`), whose config.json
    holds training settings, not a model's architecture (every model config names its
    ``model_type``)."""
    if not any((path / f).is_file() for f in (METRICS_FILE, EVAL_FILE)):
        return False
    try:
        config = read_json(path / RUN_CONFIG_FILE)
    except (OSError, ValueError):
        return True
    return not (isinstance(config, dict) and "model_type" in config)


def _check_model_directory(path: Path) -> None:
    if _is_run_folder(path):
        raise FileNotFoundError(
            f"{path} is an r1lab run folder (a training run's log: {RUN_CONFIG_FILE} of its "
            f"settings, {METRICS_FILE}, {EVAL_FILE}), not a model: a run keeps what it measured, "
            "not its weights. Pass a model folder, such as data/checkpoints/sft (one written "
            "by r1lab.models.save), or a hub id such as Qwen/Qwen2.5-0.5B-Instruct"
        )
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path} is a directory but holds no config.json: save a model there with "
            "r1lab.models.save(model, tokenizer, path)"
        )
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        raise FileNotFoundError(
            f"{path} holds a model but no tokenizer: save both with "
            "r1lab.models.save(model, tokenizer, path), or call tokenizer.save_pretrained(path)"
        )


def _load_from_hub(name: str, kwargs: dict) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    local_note = f"there is no directory {name!r} under {Path.cwd()}"
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).exists():
        raise FileNotFoundError(f"{local_note}, and {name!r} is not a hub id like 'owner/model'")
    # Read at call time: huggingface_hub reads it only once, at import.
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        model = AutoModelForCausalLM.from_pretrained(name, local_files_only=offline, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=offline)
    except OSError as err:
        hint = (
            "HF_HUB_OFFLINE is set, so only the local cache was searched"
            if offline
            else "is there a network connection, and is the id spelled right?"
        )
        raise OSError(
            f"could not load {name!r}: {local_note}, and as a hub id it failed ({hint}). "
            f"For offline work pass a directory written by r1lab.models.save. Cause: {err}"
        ) from err
    return model, tokenizer


@torch.no_grad()
def sample_text(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    n: int = 4,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    seed: int = 0,
    skip_special_tokens: bool = True,
) -> list[str]:
    """``n`` completions of one user prompt (chat template applied).

    Each completion ends at the first end-of-sequence token. With
    ``skip_special_tokens=False`` that token and any other special token the model
    sampled (``<pad>``, ``<unk>``, role markers) stay visible.
    """
    if n < 1:
        raise ValueError(f"n must be ≥ 1 (got {n})")
    if temperature < 0:
        raise ValueError(f"temperature must be ≥ 0 (got {temperature}); 0 means greedy")
    check_text(prompt, tokenizer)
    device = next(model.parameters()).device
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    batch = tokenizer([text] * n, return_tensors="pt", add_special_tokens=False).to(device)
    set_seed(seed)
    if temperature > 0:
        decoding = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
    else:
        decoding = dict(do_sample=False)
    out = model.generate(
        **batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **decoding
    )
    completions = []
    for row in out[:, batch["input_ids"].shape[1] :].tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id) + 1]
        completions.append(tokenizer.decode(row, skip_special_tokens=skip_special_tokens))
    return completions


@torch.no_grad()
def next_token_distribution(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str
) -> tuple[list[str], torch.Tensor]:
    """The model's probability for every token right after the assistant turn opens."""
    device = next(model.parameters()).device
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"].to(device)
    logits = model(input_ids=ids).logits[0, -1].float()
    probs = torch.softmax(logits, dim=-1).cpu()
    # Hub models often have more embedding rows than tokenizer entries: name those by id.
    names = tokenizer.convert_ids_to_tokens(list(range(len(probs))))
    tokens = [t if t is not None else f"<id {i}>" for i, t in enumerate(names)]
    return tokens, probs
