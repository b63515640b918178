"""Agent configs written with the export: opencode, Codex and mini-swe-agent, all pointing at `make serve`."""
from __future__ import annotations

import json
import tomllib

import yaml

from export.agents import write_agent_configs

SPECIALISTS = [{"name": "oxidizer", "language": "rust", "system_prompt": "You are oxidizer."},
               {"name": "prism", "language": "typescript", "system_prompt": "You are prism."},
               {"name": "serpent", "language": "python", "system_prompt": "You are serpent."}]
URL = "http://127.0.0.1:8123/v1"


LIMITS = {"context": 32768, "output": 1024}


def written(tmp_path, host="127.0.0.1", limits=LIMITS):
    return write_agent_configs(tmp_path, {"host": host, "port": 8123}, "Qwen/Qwen2.5-Coder-1.5B-Instruct",
                               SPECIALISTS, limits)


def test_opencode_has_a_provider_at_the_server_with_every_model(tmp_path):
    cfg = json.loads((written(tmp_path) / "opencode.json").read_text())
    assert cfg["$schema"] == "https://opencode.ai/config.json"
    provider = cfg["provider"]["workbench"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"]["baseURL"] == URL
    assert set(provider["models"]) == {"auto", "base", "oxidizer", "prism", "serpent"}


def test_opencode_has_one_build_agent_per_language_with_its_specialist_and_prompt(tmp_path):
    agents = json.loads((written(tmp_path) / "opencode.json").read_text())["agent"]
    assert set(agents) == {"build-rust", "build-ts", "build-python"}
    assert agents["build-ts"]["model"] == "workbench/prism" and agents["build-ts"]["prompt"] == "You are prism."
    assert all(a["mode"] == "primary" for a in agents.values())


def test_opencode_models_carry_the_served_context_and_reply_length(tmp_path):
    models = json.loads((written(tmp_path) / "opencode.json").read_text())["provider"]["workbench"]["models"]
    assert all(m["limit"] == {"context": 32768, "output": 1024} for m in models.values())
    unknown = json.loads((written(tmp_path / "u", limits=None) / "opencode.json").read_text())
    assert not any("limit" in m for m in unknown["provider"]["workbench"]["models"].values())


def test_codex_has_the_provider_at_the_bridge_and_one_config_per_served_name(tmp_path):
    folder = written(tmp_path) / "codex"
    cfg = tomllib.loads((folder / "config.toml").read_text())
    provider = cfg["model_providers"]["workbench"]
    assert provider["base_url"] == "http://127.0.0.1:8001/v1" and provider["wire_api"] == "responses"
    assert provider["env_key"] == "WORKBENCH_BRIDGE_KEY" and "profiles" not in cfg  # 0.171 refuses [profiles.*]
    assert sorted(p.name for p in folder.glob("*.config.toml")) == [
        f"{n}.config.toml" for n in ("auto", "base", "oxidizer", "prism", "serpent")]
    assert tomllib.loads((folder / "serpent.config.toml").read_text()) == {
        "model_provider": "workbench", "model": "serpent", "model_context_window": 32768}


def test_the_bridge_config_sends_every_served_name_to_the_server_through_litellms_translation(tmp_path):
    cfg = yaml.safe_load((written(tmp_path) / "litellm-bridge.yaml").read_text())
    names = {m["model_name"]: m["litellm_params"] for m in cfg["model_list"]}
    assert set(names) == {"auto", "base", "oxidizer", "prism", "serpent"}
    assert names["serpent"] == {"model": "custom_openai/serpent", "api_base": URL,
                                "api_key": "os.environ/WORKBENCH_API_KEY"}
    assert cfg["general_settings"]["master_key"] == "os.environ/WORKBENCH_BRIDGE_KEY"


def test_the_served_context_is_n_ctx_else_the_bases_own(tmp_path):
    from export.agents import served_limits

    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    cfg = {"serve": {"n_ctx": 0}, "model": {"model_name_or_path": str(tmp_path)}, "agent": {"max_tokens": 1024}}
    assert served_limits(cfg) == {"context": 4096, "output": 1024}
    cfg["serve"]["n_ctx"] = 2048
    assert served_limits(cfg) == {"context": 2048, "output": 512}  # a reply takes at most a quarter
    cfg.update(serve={"n_ctx": 0}, model={"model_name_or_path": str(tmp_path / "nowhere")})
    assert served_limits(cfg) is None


def test_mini_swe_agent_has_one_model_config_per_served_name(tmp_path):
    folder = written(tmp_path) / "mini-swe-agent"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == ["auto", "base", "oxidizer", "prism", "serpent"]
    model = yaml.safe_load((folder / "oxidizer.yaml").read_text())["model"]
    assert model["model_name"] == "openai/oxidizer"
    assert model["model_kwargs"]["api_base"] == URL and model["model_kwargs"]["temperature"] == 0.0


def test_a_server_listening_on_every_interface_is_reached_at_localhost(tmp_path):
    cfg = json.loads((written(tmp_path, host="0.0.0.0") / "opencode.json").read_text())
    assert cfg["provider"]["workbench"]["options"]["baseURL"] == URL


def test_writing_again_replaces_the_folder_whole(tmp_path):
    out = written(tmp_path)
    (out / "mini-swe-agent" / "gone.yaml").write_text("stale")
    write_agent_configs(tmp_path, {"port": 8123}, "b", SPECIALISTS[:1])
    assert sorted(p.stem for p in (out / "mini-swe-agent").glob("*.yaml")) == ["auto", "base", "oxidizer"]
    assert not list(tmp_path.glob(".agents-*"))


def test_the_servers_key_is_read_from_the_environment_never_written_in_the_files(tmp_path):
    out = written(tmp_path)
    cfg = json.loads((out / "opencode.json").read_text())
    assert cfg["provider"]["workbench"]["options"]["apiKey"] == "{env:WORKBENCH_API_KEY}"
    bridge = yaml.safe_load((out / "litellm-bridge.yaml").read_text())  # Codex reaches make serve through the bridge
    assert {m["litellm_params"]["api_key"] for m in bridge["model_list"]} == {"os.environ/WORKBENCH_API_KEY"}
    # Codex's own key is the bridge's (make serve-bridge), never the server's
    assert tomllib.loads((out / "codex" / "config.toml").read_text())["model_providers"]["workbench"]["env_key"] == \
        "WORKBENCH_BRIDGE_KEY"
