"""The CPU engine: llama-cpp-python's OpenAI server over the base GGUF, one model entry per specialist (its LoRA).

llama-cpp-python's multi-model config does the serving: every entry is the base GGUF plus that specialist's
adapter.gguf (`lora_path`), addressed by its alias; the engine keeps one loaded at a time and loads another when a
request names it (under a second on the demo base; a 1.5B base re-reads its GGUF from the page cache). What this
module adds is glue around that app (serve/router.py) and the reload hook.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from core.config import ConfigError

from .models import BASE, Served

GGML_TYPE_F32, GGML_TYPE_F16 = 0, 1


def model_settings(served: list[Served], base_gguf: Path, scfg: dict[str, Any]):
    """llama-cpp-python ModelSettings: the base first (the engine's default), then each specialist with its LoRA."""
    from llama_cpp.server.settings import ModelSettings
    from pydantic import ValidationError

    from . import chat  # registers the chat handler under chat.NAME

    kv = scfg.get("kv_cache") or "auto"
    if kv == "auto":
        kv = "f32" if base_gguf.name.endswith(".f32.gguf") else "f16"
    if kv not in ("f32", "f16"):
        raise ConfigError(f"serve.kv_cache: {kv!r} is not one of auto, f32, f16")
    kv_type = GGML_TYPE_F32 if kv == "f32" else GGML_TYPE_F16
    extra = dict(scfg.get("engine_args") or {})
    out = []
    for s in served:
        try:
            out.append(ModelSettings(
                model=str(base_gguf), model_alias=s.name, lora_path=str(s.adapter_gguf) if s.adapter_gguf else None,
                chat_format=chat.NAME, n_ctx=int(scfg.get("n_ctx") or 0), type_k=kv_type, type_v=kv_type,
                verbose=False, **extra))
        except ValidationError as e:
            err = e.errors()[0]
            raise ConfigError(f"serve.engine_args: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    return out


def create_app(served: list[Served], base_gguf: Path, scfg: dict[str, Any], *, host: str, port: int):
    """llama-cpp-python's FastAPI app with every served model (the base loaded now, so a broken GGUF fails here)."""
    from llama_cpp.server.app import create_app as engine_app
    from llama_cpp.server.settings import ServerSettings

    settings = model_settings(served, base_gguf, scfg)
    # interrupt_requests=False: the engine would otherwise cut a streaming reply short whenever another request
    # arrives, and a user's agent and `make serve-check` may well overlap.
    return engine_app(server_settings=ServerSettings(host=host, port=port, interrupt_requests=False),
                      model_settings=settings)


@contextlib.asynccontextmanager
async def engine_lock():
    """The engine's own lock around its loaded model: no request runs while it is held."""
    from llama_cpp.server import app as engine

    async with contextlib.asynccontextmanager(engine.get_llama_proxy)() as proxy:
        yield proxy


async def reload(served: list[Served], base_gguf: Path, scfg: dict[str, Any]) -> list[str]:
    """Swap in a new model list (new or re-exported adapters) without a restart; returns the names now served.

    Waits for the running request to finish, then drops the loaded model: an adapter is read when its model loads,
    so the next request that names a model loads it with the adapter file as it is now.
    """
    settings = {m.model_alias: m for m in model_settings(served, base_gguf, scfg)}
    async with engine_lock() as proxy:
        if proxy._current_model is not None:
            proxy._current_model.close()
        proxy._current_model, proxy._current_model_alias = None, None
        proxy._model_settings_dict = settings
        proxy._default_model_settings, proxy._default_model_alias = settings[BASE], BASE
    return list(settings)
