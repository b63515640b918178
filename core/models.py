"""Load the base model and tokenizer named in a config: a Hub id or a local folder, the same code path."""
from __future__ import annotations

import functools
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
    """A local folder as an absolute path (so the adapter records where its base is); a GGUF base (`gguf:smollm2`, a
    .gguf file) as its converted folder, converted the first time (core/bases.py); a Hub id unchanged."""
    from . import bases

    if bases.is_gguf(name):
        return str(bases.prepare(name))
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else name


HUB_PROBE_SECONDS = 3.0  # one TCP connect to the Hub; without it, huggingface_hub retries for about a minute


def _hub_host() -> tuple[str, int]:
    from urllib.parse import urlparse

    from huggingface_hub import constants

    u = urlparse(constants.ENDPOINT)
    return u.hostname or "huggingface.co", u.port or (443 if u.scheme == "https" else 80)


@functools.cache
def hub_reachable() -> bool:
    """Whether the Hugging Face Hub answers a TCP connect within HUB_PROBE_SECONDS (asked once per process)."""
    import socket

    try:
        socket.create_connection(_hub_host(), timeout=HUB_PROBE_SECONDS).close()
        return True
    except OSError:
        return False


def hub_options(name: str, probe_file: str = "config.json", key: str = "model.model_name_or_path") -> dict[str, Any]:
    """How to load `name` here: {} (a local folder, HF_HUB_OFFLINE=1, or the Hub answers); with no Hub, from the cache
    alone ({"local_files_only": True}) when it holds the model; else one ConfigError line, at once, not after
    huggingface_hub's minute of retries."""
    from huggingface_hub import constants

    if Path(name).expanduser().exists() or constants.HF_HUB_OFFLINE or hub_reachable():
        return {}
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, probe_file), str):
        return {"local_files_only": True}
    raise ConfigError(f"{key} {name!r}: not a local folder, not in the Hugging Face cache, and the Hub "
                      f"({_hub_host()[0]}) cannot be reached from here; set {key} to a local folder, or download "
                      f"it where the Hub is reachable and set HF_HUB_OFFLINE=1 to read it from the cache")


def _hub_hint(name: str, err: Exception) -> ConfigError:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    where = "not a local folder and the Hub is offline (HF_HUB_OFFLINE=1)" if offline else \
        "not a local folder, and it could not be loaded from the Hub or its cache"
    return ConfigError(f"base model {name!r}: {where}: {str(err).splitlines()[0]}")


def load_tokenizer(model_cfg: dict[str, Any], key: str = "model.model_name_or_path", *,
                   chat_template_path: str | None = None, log=None):
    """The base's tokenizer, its chat template the one every stage trains, evaluates and serves with
    (core/templates.py: the base's own when it trains tool calls, else `chat_template_path` or the family's format;
    `log` gets the one line that says when the base's own is replaced)."""
    from transformers import AutoTokenizer

    from .masking import TemplateError
    from .templates import apply

    name = model_cfg["model_name_or_path"]
    path = resolve_base(name)
    try:
        tok = AutoTokenizer.from_pretrained(path, revision=model_cfg.get("model_revision") or "main",
                                            **hub_options(path, "tokenizer_config.json", key))
    except (OSError, ValueError) as e:
        raise _hub_hint(name, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    try:
        apply(tok, chat_template_path, name=name, log=log)
    except TemplateError as e:
        raise ConfigError(str(e)) from None
    return tok


def config_tokenizer(config: dict[str, Any], who: str | None = None):
    """The tokenizer of a merged config's base with the chat template its stages share (`sft.chat_template_path`);
    when the base's own template is replaced, one line on stderr says so (prefixed with `who`)."""
    import sys

    def log(line: str) -> None:
        print(f"{who}: {line}" if who else line, file=sys.stderr, flush=True)

    try:
        return load_tokenizer(config["model"], chat_template_path=(config.get("sft") or {}).get("chat_template_path"),
                              log=log)
    except ConfigError as e:
        raise ConfigError(f"{who}: {e}" if who else str(e)) from None


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
    path = resolve_base(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs, **hub_options(path))
    except (OSError, ValueError) as e:
        raise _hub_hint(name, e) from None
    if for_training:
        model.config.use_cache = False
    return model
