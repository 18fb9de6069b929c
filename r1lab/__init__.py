"""r1lab: the DeepSeek-R1 recipe in miniature, for learning on a laptop CPU."""

from r1lab.config import PROFILES, RunConfig
from r1lab.models import create_model, load, pick_device, sample_text, save, set_seed
from r1lab.tokenizer import build_tokenizer

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "RunConfig",
    "build_tokenizer",
    "create_model",
    "load",
    "pick_device",
    "sample_text",
    "save",
    "set_seed",
]
