"""Agent configs that point the user's coding agent at `make serve`: exports/agents/, written with every export.

- opencode.json: an OpenAI-compatible provider (`@ai-sdk/openai-compatible`) whose models are the served names, each
  with the served context and reply length as `limit.context`/`limit.output`, and one primary agent per language
  (build-rust, build-ts, build-python, build-ruby, build-swift: the agent names the original extractor read its
  prompts from) with its specialist as model and its system prompt as prompt.
- codex/: Codex 0.171's layout, for $CODEX_HOME (~/.codex): config.toml (the model provider: the Responses bridge)
  and one <name>.config.toml per served name (`codex --profile <name>`).
- litellm-bridge.yaml: LiteLLM's proxy config that serves Codex's Responses API by bridging it to `make serve`'s
  chat completions (`make serve-bridge`).
- mini-swe-agent/<name>.yaml: one model config per served name (`mini -c mini.yaml -c <that file>`).
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

PROVIDER = "workbench"
BRIDGE_KEY_ENV = "WORKBENCH_BRIDGE_KEY"  # the bridge's key: LiteLLM's proxy refuses to start without one
SERVER_KEY_ENV = "WORKBENCH_API_KEY"  # the key `make serve` asks for (serve.api_key), as serve/api.py reads it
AGENT_NAMES = {"rust": "build-rust", "typescript": "build-ts", "python": "build-python", "ruby": "build-ruby",
               "swift": "build-swift"}


def server_url(serve_cfg: dict[str, Any]) -> str:
    """The OpenAI base URL `make serve` listens on, as a client on this machine reaches it."""
    host = str(serve_cfg.get("host") or "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{int(serve_cfg.get('port') or 8000)}/v1"


def bridge_url(serve_cfg: dict[str, Any]) -> str:
    """The OpenAI base URL of the Responses bridge (`make serve-bridge`): serve.host, serve.bridge_port."""
    url = server_url({**serve_cfg, "port": int(serve_cfg.get("bridge_port") or 8001)})
    return url


def served_context(cfg: dict[str, Any]) -> int | None:
    """The context `make serve` gives a model: serve.n_ctx, else the base's own (its config's
    max_position_embeddings, where the base is a local folder or in the Hugging Face cache); None when unknown."""
    n = int((cfg.get("serve") or {}).get("n_ctx") or 0)
    if n > 0:
        return n
    base = str(cfg["model"]["model_name_or_path"])
    from core import bases

    folder = bases.prepared(base) if bases.is_gguf(base) else None  # a GGUF base: its converted folder, if made
    path = (folder or Path(base).expanduser()) / "config.json"
    if not path.is_file() and not bases.is_gguf(base):
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(base, "config.json")
            path = Path(found) if isinstance(found, str) else path
        except Exception:  # noqa: BLE001 - no cache, no hub library: the context is unknown
            pass
    try:
        n = int(json.loads(path.read_text()).get("max_position_embeddings") or 0)
    except (OSError, ValueError, TypeError):
        return None
    return n or None


def served_limits(cfg: dict[str, Any]) -> dict[str, int] | None:
    """{"context", "output"} for the agent configs: the served context, and agent.max_tokens per reply (at most a
    quarter of the context, so that a prompt fits beside it); None when the context is unknown."""
    context = served_context(cfg)
    if not context:
        return None
    return {"context": context, "output": max(1, min(int(cfg["agent"]["max_tokens"]), context // 4))}


def agent_name(language: str) -> str:
    return AGENT_NAMES.get(language, f"build-{language}")


def opencode(url: str, specialists: list[dict[str, str]], base: str, limits: dict[str, int] | None = None
             ) -> dict[str, Any]:
    """limits: {"context", "output"} in tokens; opencode asks for `output` per reply (else 32,000) and compacts
    before `context` is reached."""
    extra = {"limit": dict(limits)} if limits else {}
    models = {"auto": {"name": "auto: the specialist for the conversation's language, else the base",
                       "tool_call": True, **extra},
              "base": {"name": f"base ({base})", "tool_call": True, **extra}}
    agents = {}
    for sp in specialists:
        models[sp["name"]] = {"name": f"{sp['name']} ({sp['language']} specialist)", "tool_call": True, **extra}
        agents[agent_name(sp["language"])] = {
            "description": f"Build agent for {sp['language']} work, answered by the {sp['name']} specialist",
            "mode": "primary", "model": f"{PROVIDER}/{sp['name']}", "prompt": sp["system_prompt"]}
    return {"$schema": "https://opencode.ai/config.json",
            "provider": {PROVIDER: {"npm": "@ai-sdk/openai-compatible", "name": "LoRA specialists (make serve)",
                                    "options": {"baseURL": url, "apiKey": f"{{env:{SERVER_KEY_ENV}}}"}, "models": models}},
            "agent": agents}


def _toml(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for everything we write


def codex(url: str, specialists: list[dict[str, str]], limits: dict[str, int] | None = None) -> dict[str, str]:
    """Codex 0.171's files for $CODEX_HOME: config.toml (the provider at the Responses bridge) and one
    <name>.config.toml per served name, which `codex --profile <name>` layers on top."""
    files = {"config.toml": "\n".join([
        "# Codex CLI (0.171): copy this folder's files into $CODEX_HOME (~/.codex), then `codex --profile serpent`.",
        "# Codex speaks only the Responses API: `make serve-bridge` serves it, bridging to `make serve` (LiteLLM's",
        f"# proxy). Set {BRIDGE_KEY_ENV} to the bridge's key (any value; the same for both).",
        f"[model_providers.{PROVIDER}]", f"name = {_toml('LoRA specialists (make serve, through make serve-bridge)')}",
        f"base_url = {_toml(url)}", 'wire_api = "responses"', f"env_key = {_toml(BRIDGE_KEY_ENV)}", ""])}
    for name in ["base", "auto", *[sp["name"] for sp in specialists]]:
        lines = [f"# codex --profile {name}", f"model_provider = {_toml(PROVIDER)}", f"model = {_toml(name)}"]
        if limits:
            lines.append(f"model_context_window = {int(limits['context'])}")
        files[f"{name}.config.toml"] = "\n".join(lines) + "\n"
    return files


def litellm_bridge(url: str, specialists: list[dict[str, str]]) -> str:
    """LiteLLM proxy's config: every served name, its Responses requests bridged to `make serve`'s chat completions
    (`custom_openai/` has no Responses API of its own, so LiteLLM translates: its maintained bridge, not ours)."""
    return litellm_config([(name, url) for name in ["base", "auto", *[sp["name"] for sp in specialists]]],
                          "LiteLLM proxy config for `make serve-bridge`: Codex's Responses API -> make serve's chat "
                          "completions.")


def litellm_config(models: list[tuple[str, str]], comment: str) -> str:
    """LiteLLM proxy's config bridging each (name, chat-completions base URL) pair; the proxy's key from
    WORKBENCH_BRIDGE_KEY, the server's from WORKBENCH_API_KEY, both read when the bridge starts."""
    lines = [f"# {comment}", "model_list:"]
    for name, url in models:
        lines += [f"  - model_name: {json.dumps(name)}", "    litellm_params:",
                  f"      model: {json.dumps('custom_openai/' + name)}", f"      api_base: {json.dumps(url)}",
                  f"      api_key: os.environ/{SERVER_KEY_ENV}"]  # make serve's key, read when the bridge starts
    lines += ["general_settings:", f"  master_key: os.environ/{BRIDGE_KEY_ENV}", "litellm_settings:",
              "  drop_params: true", ""]
    return "\n".join(lines)


def mini_swe_agent(url: str, name: str) -> str:
    return (f"# mini-swe-agent model config for `{name}` at `make serve`:\n"
            f"#   mini -c mini.yaml -c {name}.yaml -t \"<task>\"\n"
            "model:\n"
            f"  model_name: {json.dumps('openai/' + name)}\n"
            "  model_kwargs:\n"
            f"    api_base: {json.dumps(url)}\n"
            "    api_key: not-needed\n"
            "    temperature: 0.0\n"
            "  cost_tracking: ignore_errors\n")


def write_agent_configs(exports_root: Path, serve_cfg: dict[str, Any], base: str,
                        specialists: list[dict[str, str]], limits: dict[str, int] | None = None) -> Path:
    """Write exports/agents/ (replaced atomically) for the exported specialists: [{name, language, system_prompt}].
    limits: the served {"context", "output"} in tokens (None: unknown, the clients' defaults)."""
    url = server_url(serve_cfg)
    out = exports_root / "agents"
    staging = exports_root / f".agents-{uuid.uuid4().hex[:8]}"
    try:
        (staging / "mini-swe-agent").mkdir(parents=True)
        (staging / "opencode.json").write_text(json.dumps(opencode(url, specialists, base, limits), indent=2) + "\n")
        (staging / "codex").mkdir()
        for name, text in codex(bridge_url(serve_cfg), specialists, limits).items():
            (staging / "codex" / name).write_text(text)
        (staging / "litellm-bridge.yaml").write_text(litellm_bridge(url, specialists))
        for name in ["base", "auto", *[sp["name"] for sp in specialists]]:
            (staging / "mini-swe-agent" / f"{name}.yaml").write_text(mini_swe_agent(url, name))
        old = exports_root / f".agents-old-{uuid.uuid4().hex[:8]}"
        if out.exists():
            os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
