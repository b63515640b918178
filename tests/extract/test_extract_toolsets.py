"""Train as served: an opencode session's rows get the system prompt and tool schemas the client of its version
sends (the captured set in extract/toolsets/), the fixed set only where no set was captured for its version."""
from __future__ import annotations

import json

import pytest

from extract import toolsets
from extract.toolsets import FIXED, agent_set, for_version, opencode_date, render, template_of

from extract_support import add_session, extract, manifest, new_store, rows

PINNED = json.loads((toolsets.FOLDER.parent.parent / "agent" / "clients" / "package.json").read_text())[
    "dependencies"]["opencode-ai"]


def test_the_pinned_opencode_has_a_captured_set_with_every_build_agent():
    data = for_version("opencode", PINNED)
    assert data is not None and data["version"] == PINNED, "make capture-toolset after bumping the opencode pin"
    for agent in ("build-rust", "build-ts", "build-python", "build-ruby", "build-swift"):
        got = agent_set(data, agent)
        names = [t["function"]["name"] for t in got["tools"]]
        assert {"bash", "read", "edit", "write"} <= set(names)
        assert all(p in got["system"] for p in ("{prompt}", "{model}", "{directory}", "{date}"))


def test_a_version_gets_its_own_set_else_an_older_one_of_its_minor_else_none(monkeypatch):
    sets = {(1, 18, 33): {"client": "opencode", "version": "1.18.33"},
            (1, 18, 20): {"client": "opencode", "version": "1.18.20"}}
    monkeypatch.setattr(toolsets, "captured", lambda client: sets)
    assert for_version("opencode", "1.18.33")["version"] == "1.18.33"
    assert for_version("opencode", "1.18.40")["version"] == "1.18.33"
    assert for_version("opencode", "1.18.25")["version"] == "1.18.20"
    assert for_version("opencode", "1.18.3") is None  # older than any capture of its minor
    assert for_version("opencode", "1.17.0") is None and for_version("opencode", None) is None
    assert for_version("opencode", "dev") is None


def test_a_captured_prompt_is_a_template_of_its_runs_values():
    system = ("You are serpent.\nYou are powered by the model named serpent. The exact model ID is workbench/serpent"
              "\n  Working directory: /tmp/x/work\n  Today's date: Mon Dec 07 2026")
    t = template_of(system, prompt="You are serpent.", model="serpent", directory="/tmp/x/work",
                    date="Mon Dec 07 2026")
    assert t == ("{prompt}\nYou are powered by the model named {model}. The exact model ID is workbench/{model}"
                 "\n  Working directory: {directory}\n  Today's date: {date}")
    assert render(t, prompt="P", model="m", directory="/d", date="D") == (
        "P\nYou are powered by the model named m. The exact model ID is workbench/m\n  Working directory: /d\n"
        "  Today's date: D")
    assert opencode_date(1796659131753) == "Mon Dec 07 2026"


@pytest.fixture
def two_versions(tmp_path):
    db = tmp_path / "opencode.db"
    with new_store(db) as b:
        p = b.project("/w")
        add_session(b, p, "fix the parser in app.py", version=PINNED)
        add_session(b, p, "make the tests pass for app.py", version="0.9.1")
    out = tmp_path / "data"
    assert extract(db, out, "extract.test_fraction=0", "extract.window_tokens=32000") == 0
    return out


def test_rows_of_a_captured_version_train_on_what_that_client_sends(two_versions):
    from core import config

    got = {r["toolset"]: r for r in rows(two_versions, "serpent")}
    assert set(got) == {f"opencode-{PINNED}", FIXED}
    served = agent_set(for_version("opencode", PINNED), "build-python")
    row = got[f"opencode-{PINNED}"]
    assert [t["function"]["name"] for t in row["tools"]] == [t["function"]["name"] for t in served["tools"]]
    assert row["tools"] == served["tools"]
    system = row["messages"][0]["content"]
    sp = config.specialist("serpent")
    assert system.startswith(sp.system_prompt) and "model named serpent" in system
    assert "Working directory: /w\n" in system and "{" + "date}" not in system
    fixed = got[FIXED]  # an old version: the specialist's own prompt and the fixed set
    assert fixed["messages"][0]["content"] == sp.system_prompt
    assert "todoread" in [t["function"]["name"] for t in fixed["tools"]]


def test_the_manifest_counts_the_rows_of_each_set(two_versions):
    m = manifest(two_versions)
    assert m["toolsets"] == {f"opencode-{PINNED}": 1, FIXED: 1}
    ledger = json.loads((two_versions / "sessions.json").read_text())
    assert sorted(e["toolset"] for e in ledger["sources"]["opencode"].values()) == sorted([f"opencode-{PINNED}", FIXED])
