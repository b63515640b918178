"""Run the server in the foreground: llama.cpp on a CPU (with the router), vLLM's script on a CUDA machine."""
from __future__ import annotations

import os
import shutil
import socket
from typing import Any

from core.config import ConfigError

from .models import AUTO, Served, exports_root, served_models

ENGINES = ("auto", "llama.cpp", "vllm")
KEY_ENV = "WORKBENCH_API_KEY"
# opencode 1.18.33 sends about 7,600-10,500 prompt tokens (its prompt, environment and 10 tool schemas) plus room
# for a reply: a context under this is too small for the agents the workbench serves
AGENT_CONTEXT = 16384


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
    """The port is free to listen on; SO_REUSEADDR as uvicorn binds, so a port in TIME_WAIT after a stop is free."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}; PORT=... picks another port") \
                from None


def loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def api_key(scfg: dict[str, Any]) -> str | None:
    """serve.api_key, else the WORKBENCH_API_KEY environment variable; None: no key."""
    return scfg.get("api_key") or os.environ.get(KEY_ENV) or None


def check_door(host: str, scfg: dict[str, Any]) -> str | None:
    """The key every request must carry; listening beyond loopback without one is refused (serve.allow_no_key)."""
    key = api_key(scfg)
    if key is not None and (not isinstance(key, str) or len(key) < 8):
        raise ConfigError("serve.api_key: use a string of at least 8 characters (or WORKBENCH_API_KEY)")
    if not key and not loopback(host) and not scfg.get("allow_no_key"):
        raise ConfigError(f"listening on {host} without a key would serve anyone on the network: set "
                          f"WORKBENCH_API_KEY (or serve.api_key), or serve.allow_no_key=true")
    return key


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
    key = check_door(host, scfg)
    check_port(host, port)
    if chosen == "vllm":
        return _vllm(cfg, served, host, port, log)
    return _llamacpp(cfg, served, host, port, overlay, names, log, overrides, key)


def _llamacpp(cfg: dict[str, Any], served: list[Served], host: str, port: int, overlay, names, log,
              overrides: list[str] = (), key: str | None = None) -> int:
    import signal

    import uvicorn
    from importlib.metadata import version

    from . import chat, convert
    from .app import EngineApp
    from .engine import Engine
    from .router import Router

    scfg = cfg["serve"]
    base = cfg["model"]["model_name_or_path"]
    gguf = convert.base_gguf(base, exports_root(cfg) / "serve", revision=cfg["model"].get("model_revision"),
                             outtype=scfg.get("gguf_type") or "auto",
                             chat_template_path=cfg["sft"].get("chat_template_path"), log=log)
    engine = Engine(served, gguf, scfg)
    template = chat.template_of(engine.llama)
    if not template:
        raise ConfigError(f"{gguf}: the base has no chat template; a chat server needs one (tokenizer_config.json "
                          f"or chat_template.jinja in {base})")
    from .toolcalls import template_writes_tool_calls

    if not template_writes_tool_calls(template):
        log("serve: the chat template does not write <tool_call> blocks: tool calls come back as plain text")
    log(context_line(engine.n_ctx, bool(scfg.get("n_ctx"))))
    ex = cfg["extract"]

    def classify(messages):
        from extract.language import language_of

        return language_of(messages, min_score=float(ex.get("min_score", 3.0)),
                           margin=float(ex.get("margin", 2.0))).language

    async def reload():
        _, again = served_models(overlay=overlay, names=names, log=log, overrides=overrides)
        ticket = await engine.turn()  # between requests: no generation uses an adapter being freed
        try:
            await engine.run(engine.load_adapters, again)
        finally:
            engine.done(ticket)
        log(f"serve: reloaded: {', '.join(s.name for s in again)}")
        return {s.name: s.language for s in again}

    grace = float(scfg.get("shutdown_grace") or 5)
    router = Router(EngineApp(engine), languages=dict(engine.languages), classify=classify, reload=reload,
                    api_key=key, max_body=int(float(scfg.get("max_body_mb") or 16) * (1 << 20)),
                    metrics=engine.metrics, log=log if scfg.get("log_requests", True) else None)
    log(f"serve: {', '.join(s.name for s in served)} and {AUTO} at {url(host, port)} "
        f"(llama.cpp, llama-cpp-python {version('llama-cpp-python')}, base {gguf.name}, every adapter loaded over "
        f"it{', API key required' if key else ''}); Ctrl-C stops")

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):  # SIGINT or SIGTERM: no new turns; running replies get `grace` seconds
            engine.shut_down(grace)
            super().handle_exit(sig, frame)

    def interrupted(*_):
        raise KeyboardInterrupt

    # uvicorn re-raises the signal it caught once it has shut down: SIGTERM then ends like Ctrl-C, exit 0
    signal.signal(signal.SIGTERM, interrupted)
    config = uvicorn.Config(router, host=host, port=port, log_level=os.environ.get("SERVE_LOG_LEVEL", "warning"),
                            timeout_graceful_shutdown=int(grace) + 2, access_log=False)
    Server(config).run()
    engine.thread.shutdown(wait=True, cancel_futures=True)
    return 0


def context_line(n_ctx: int, set_by_user: bool) -> str:
    """The served context in one line, and whether an agent's prompt fits it."""
    where = "serve.n_ctx" if set_by_user else "the model's own; serve.n_ctx sets it"
    if n_ctx < AGENT_CONTEXT:
        return (f"serve: warning: the context is {n_ctx} tokens ({where}): too small for coding agents (opencode "
                f"sends ~7,600-10,500 prompt tokens); set serve.n_ctx={AGENT_CONTEXT * 2} or more")
    return f"serve: context {n_ctx} tokens ({where})"


def _vllm(cfg: dict[str, Any], served: list[Served], host: str, port: int, log) -> int:
    """exports/serve_vllm.sh (written by export), with this server's address and the base named `base`."""
    script = exports_root(cfg) / "serve_vllm.sh"
    if not script.is_file():
        raise ConfigError(f"no {script}; run `make export-all` first (it writes the vLLM script)")
    args = ["sh", str(script), "--host", host, "--port", str(port), "--served-model-name", "base"]
    log(f"serve: {' '.join(args)}  (vLLM; `auto` routing is served by the llama.cpp engine only)")
    os.execvp("sh", args)
    return 0  # not reached
