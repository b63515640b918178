"""Load the base model and tokenizer named in a config: a Hub id or a local folder, the same code path."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import ConfigError


def quiet_libraries() -> None:
    """One line per stage from us: no per-map and weight-loading bars, no deprecation noise we cannot act on."""
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    # peft calls transformers' deprecated is_gradient_checkpointing; nothing a user can change (stack-notes 7).
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def resolve_base(name: str) -> str:
    """A local folder as an absolute path (so the adapter records where its base is); a Hub id unchanged."""
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else name


def _hub_hint(name: str, err: Exception) -> ConfigError:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    where = "not a local folder and the Hub is offline (HF_HUB_OFFLINE=1)" if offline else \
        "not a local folder, and it could not be loaded from the Hub or its cache"
    return ConfigError(f"base model {name!r}: {where}: {str(err).splitlines()[0]}")


def load_tokenizer(model_cfg: dict[str, Any]):
    from transformers import AutoTokenizer

    name = model_cfg["model_name_or_path"]
    try:
        tok = AutoTokenizer.from_pretrained(resolve_base(name), revision=model_cfg.get("model_revision") or "main")
    except (OSError, ValueError) as e:
        raise _hub_hint(name, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def torch_dtype(name: str | None):
    import torch

    if name in (None, "auto"):
        return "auto"
    try:
        return getattr(torch, name)
    except AttributeError:
        raise ConfigError(f"model.dtype: {name!r} is not a torch dtype (auto, float32, bfloat16, float16)") from None


def load_model(model_cfg: dict[str, Any], *, for_training: bool = False):
    """AutoModelForCausalLM with the config's dtype, attention and (on a GPU) 4/8-bit quantization."""
    from transformers import AutoModelForCausalLM
    from trl import ModelConfig, get_quantization_config

    name = model_cfg["model_name_or_path"]
    mc = ModelConfig(**model_cfg)
    if (mc.load_in_4bit or mc.load_in_8bit) and mc.dtype in (None, "auto"):
        mc.dtype = "bfloat16"  # QLoRA computes in bf16 (it is also bitsandbytes' 4-bit compute dtype, which takes no "auto")
    kwargs: dict[str, Any] = {"revision": mc.model_revision, "dtype": torch_dtype(mc.dtype)}
    if mc.attn_implementation:
        kwargs["attn_implementation"] = mc.attn_implementation
    quant = get_quantization_config(mc)
    if quant is not None:
        kwargs["quantization_config"] = quant
        from accelerate import PartialState

        kwargs["device_map"] = {"": PartialState().local_process_index}  # each process's own GPU
    try:
        model = AutoModelForCausalLM.from_pretrained(resolve_base(name), **kwargs)
    except (OSError, ValueError) as e:
        raise _hub_hint(name, e) from None
    if for_training:
        model.config.use_cache = False
    return model
