"""System prompts: the specialist's from configs/, or the user's opencode agent file when there is one."""
from __future__ import annotations

from core import config
from extract_support import add_session, extract, new_store, rows

AGENT_FILE = """---
description: Python build agent
model: anthropic/claude-sonnet-4-5
---
You are my Python agent. Always run ruff before pytest.
"""


def _store(tmp_path):
    with new_store(tmp_path / "s.db") as b:
        add_session(b, b.project("/w"), "fix the failing test", lang="python")
    return tmp_path / "s.db"


def test_an_opencode_agent_file_body_is_the_system_prompt_without_its_front_matter(tmp_path, monkeypatch):
    (tmp_path / "cfg" / "opencode" / "agents").mkdir(parents=True)
    (tmp_path / "cfg" / "opencode" / "agents" / "build-python.md").write_text(AGENT_FILE)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert config.specialist("serpent").system_prompt == "You are my Python agent. Always run ruff before pytest."
    # the test helper turns agent files off; here they are on
    from extract.__main__ import main

    out = tmp_path / "out"
    assert main(["--db", str(_store(tmp_path)), "--out", str(out), "--quiet", "extract.test_fraction=0"]) == 0
    assert {r["messages"][0]["content"] for r in rows(out, "serpent")} == {
        "You are my Python agent. Always run ruff before pytest."}


def test_without_an_agent_file_the_config_system_prompt_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    out = tmp_path / "out"
    assert extract(_store(tmp_path), out, "extract.test_fraction=0") == 0
    prompt = config.load("serpent")["system_prompt"].strip()
    assert prompt.startswith("You are serpent")
    assert {r["messages"][0]["content"] for r in rows(out, "serpent")} == {prompt}


def test_agent_files_off_ignores_an_existing_agent_file(tmp_path, monkeypatch):
    (tmp_path / "cfg" / "opencode" / "agent").mkdir(parents=True)  # opencode's older singular folder
    (tmp_path / "cfg" / "opencode" / "agent" / "build-python.md").write_text(AGENT_FILE)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert config.specialist("serpent").system_prompt.startswith("You are my Python agent")
    assert config.specialist("serpent", overrides=["extract.agent_files=false"]).system_prompt.startswith(
        "You are serpent")


def test_skipped_rows_are_warned_about_with_their_session_ids(tmp_path, capsys):
    with new_store(tmp_path / "s.db") as b:
        sid = add_session(b, b.project("/w"), "fix the failing test", lang="python")
        b.raw_message(sid, "{not json")
    assert extract(tmp_path / "s.db", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert f"extract: warning: skipped 1 malformed message rows (in {sid})" in err
