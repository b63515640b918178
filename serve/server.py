"""Run the server in the foreground: llama.cpp on a CPU (with the router), vLLM's script on a CUDA machine."""
from __future__ import annotations

import os
import shutil
import socket
from typing import Any

from core.config import ConfigError

from .models import AUTO, Served, exports_root, served_models

ENGINES = ("auto", "llama.cpp", "vllm")


def pick_engine(wanted: str) -> str:
    """auto: vLLM where a CUDA GPU and the `vllm` command are, llama.cpp everywhere else."""
    if wanted not in ENGINES:
        raise ConfigError(f"serve.engine: {wanted!r} is not one of {', '.join(ENGINES)}")
    if wanted == "vllm" and not shutil.which("vllm"):
        raise ConfigError("serve.engine is vllm, but no `vllm` command is installed (pip install vllm, on CUDA)")
    if wanted != "auto":
        return wanted
    if shutil.which("vllm"):
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "llama.cpp"


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}; PORT=... picks another port") \
                from None


def url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def serve(*, overlay=None, names: list[str] | None = None, host: str | None = None, port: int | None = None,
          engine: str | None = None, log=print, overrides: list[str] = ()) -> int:
    cfg, served = served_models(overlay=overlay, names=names, log=log, overrides=overrides)
    scfg = cfg["serve"]
    host = host or scfg.get("host") or "127.0.0.1"
    port = int(port or scfg.get("port") or 8000)
    chosen = pick_engine(engine or scfg.get("engine") or "auto")
    check_port(host, port)
    if chosen == "vllm":
        return _vllm(cfg, served, host, port, log)
    return _llamacpp(cfg, served, host, port, overlay, names, log, overrides)


def _llamacpp(cfg: dict[str, Any], served: list[Served], host: str, port: int, overlay, names, log,
             overrides: list[str] = ()) -> int:
    import uvicorn
    from importlib.metadata import version

    from . import convert, llamacpp
    from .router import Router

    scfg = cfg["serve"]
    base = cfg["model"]["model_name_or_path"]
    gguf = convert.base_gguf(base, exports_root(cfg) / "serve", revision=cfg["model"].get("model_revision"),
                             outtype=scfg.get("gguf_type") or "auto",
                             chat_template_path=cfg["sft"].get("chat_template_path"), log=log)
    app = llamacpp.create_app(served, gguf, scfg, host=host, port=port)
    from llama_cpp.server import app as engine

    template = engine._llama_proxy().metadata.get("tokenizer.chat_template")
    if not template:
        raise ConfigError(f"{gguf}: the base has no chat template; a chat server needs one (tokenizer_config.json "
                          f"or chat_template.jinja in {base})")
    from .toolcalls import template_writes_tool_calls

    if not template_writes_tool_calls(template):
        log("serve: the chat template does not write <tool_call> blocks: tool calls come back as plain text")
    ex = cfg["extract"]

    def classify(messages):
        from extract.language import language_of

        return language_of(messages, min_score=float(ex.get("min_score", 3.0)),
                           margin=float(ex.get("margin", 2.0))).language

    async def reload():
        _, again = served_models(overlay=overlay, names=names, log=log, overrides=overrides)
        await llamacpp.reload(again, gguf, scfg)
        log(f"serve: reloaded: {', '.join(s.name for s in again)}")
        return {s.name: s.language for s in again}

    router = Router(app, languages={s.name: s.language for s in served}, classify=classify, reload=reload)
    log(f"serve: {', '.join(s.name for s in served)} and {AUTO} at {url(host, port)} "
        f"(llama.cpp, llama-cpp-python {version('llama-cpp-python')}, base {gguf.name}); Ctrl-C stops")
    uvicorn.run(router, host=host, port=port, log_level=os.environ.get("SERVE_LOG_LEVEL", "warning"))
    return 0


def _vllm(cfg: dict[str, Any], served: list[Served], host: str, port: int, log) -> int:
    """exports/serve_vllm.sh (written by export), with this server's address and the base named `base`."""
    script = exports_root(cfg) / "serve_vllm.sh"
    if not script.is_file():
        raise ConfigError(f"no {script}; run `make export-all` first (it writes the vLLM script)")
    args = ["sh", str(script), "--host", host, "--port", str(port), "--served-model-name", "base"]
    log(f"serve: {' '.join(args)}  (vLLM; `auto` routing is served by the llama.cpp engine only)")
    os.execvp("sh", args)
    return 0  # not reached
