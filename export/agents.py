"""Agent configs that point the user's coding agent at `make serve`: exports/agents/, written with every export.

- opencode.json: an OpenAI-compatible provider (`@ai-sdk/openai-compatible`) whose models are the served names, and
  one primary agent per language (build-rust, build-ts, build-python, build-ruby, build-swift: the agent names the
  original extractor read its prompts from) with its specialist as model and its system prompt as prompt.
- codex-config.toml: a model provider and one profile per specialist, to append to ~/.codex/config.toml.
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
AGENT_NAMES = {"rust": "build-rust", "typescript": "build-ts", "python": "build-python", "ruby": "build-ruby",
               "swift": "build-swift"}


def server_url(serve_cfg: dict[str, Any]) -> str:
    """The OpenAI base URL `make serve` listens on, as a client on this machine reaches it."""
    host = str(serve_cfg.get("host") or "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{int(serve_cfg.get('port') or 8000)}/v1"


def agent_name(language: str) -> str:
    return AGENT_NAMES.get(language, f"build-{language}")


def opencode(url: str, specialists: list[dict[str, str]], base: str) -> dict[str, Any]:
    models = {"auto": {"name": "auto: the specialist for the conversation's language, else the base",
                       "tool_call": True},
              "base": {"name": f"base ({base})", "tool_call": True}}
    agents = {}
    for sp in specialists:
        models[sp["name"]] = {"name": f"{sp['name']} ({sp['language']} specialist)", "tool_call": True}
        agents[agent_name(sp["language"])] = {
            "description": f"Build agent for {sp['language']} work, answered by the {sp['name']} specialist",
            "mode": "primary", "model": f"{PROVIDER}/{sp['name']}", "prompt": sp["system_prompt"]}
    return {"$schema": "https://opencode.ai/config.json",
            "provider": {PROVIDER: {"npm": "@ai-sdk/openai-compatible", "name": "LoRA specialists (make serve)",
                                    "options": {"baseURL": url, "apiKey": "{env:WORKBENCH_API_KEY}"}, "models": models}},
            "agent": agents}


def _toml(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for everything we write


def codex(url: str, specialists: list[dict[str, str]]) -> str:
    lines = ["# Codex CLI: append to ~/.codex/config.toml, then `codex --profile <specialist>`.",
             "# Codex speaks only the Responses API (wire_api = \"responses\"): vLLM (`make serve` on a CUDA machine)",
             "# serves it; the CPU engine (llama-cpp-python) serves Chat Completions only. See the README.",
             f"[model_providers.{PROVIDER}]", f"name = {_toml('LoRA specialists (make serve)')}",
             f"base_url = {_toml(url)}", 'wire_api = "responses"',
             '# the key `make serve` asks for (serve.api_key); any value when it asks for none',
             'env_key = "WORKBENCH_API_KEY"', ""]
    for sp in [{"name": "base"}, {"name": "auto"}, *specialists]:
        lines += [f"[profiles.{sp['name']}]", f"model_provider = {_toml(PROVIDER)}", f"model = {_toml(sp['name'])}",
                  ""]
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
                        specialists: list[dict[str, str]]) -> Path:
    """Write exports/agents/ (replaced atomically) for the exported specialists: [{name, language, system_prompt}]."""
    url = server_url(serve_cfg)
    out = exports_root / "agents"
    staging = exports_root / f".agents-{uuid.uuid4().hex[:8]}"
    try:
        (staging / "mini-swe-agent").mkdir(parents=True)
        (staging / "opencode.json").write_text(json.dumps(opencode(url, specialists, base), indent=2) + "\n")
        (staging / "codex-config.toml").write_text(codex(url, specialists))
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
