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


def written(tmp_path, host="127.0.0.1"):
    return write_agent_configs(tmp_path, {"host": host, "port": 8123}, "Qwen/Qwen2.5-Coder-1.5B-Instruct",
                               SPECIALISTS)


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


def test_codex_has_the_provider_and_one_profile_per_specialist(tmp_path):
    cfg = tomllib.loads((written(tmp_path) / "codex-config.toml").read_text())
    assert cfg["model_providers"]["workbench"]["base_url"] == URL
    assert cfg["model_providers"]["workbench"]["wire_api"] == "responses"
    assert {"oxidizer", "prism", "serpent", "base", "auto"} <= set(cfg["profiles"])
    assert cfg["profiles"]["serpent"] == {"model_provider": "workbench", "model": "serpent"}


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
    assert tomllib.loads((out / "codex-config.toml").read_text())["model_providers"]["workbench"]["env_key"] == \
        "WORKBENCH_API_KEY"
