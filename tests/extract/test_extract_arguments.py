"""Extraction spec, arguments and tools: call arguments come back from the written dataset exactly as recorded
(keys, order, types, nesting, unicode), and every row carries the tool definitions the agent had."""
from __future__ import annotations

import json

import pytest

from extract.tools import DEFAULT_TOOLSET, OPENCODE_TOOLS
from extract_support import SIGNAL, extract, new_store, rows

# Recorded arguments; the two bash calls share keys with different types, in different orders.
ARGS_A = {"command": "pytest -q tests/test_io.py", "description": "Run the IO tests", "timeout": 120000}
ARGS_B = {"timeout": "2m", "description": "Run everything", "command": "pytest -q", "workdir": "/w/sub"}
MCP_A = {"query": "naïve — 日本語 🚀 \"quoted\" \\ back\nslash", "limit": 0,
         "filters": {"langs": ["python", 1, None, True, 2.5, {"k": []}], "nested": {"deep": [[{}], []]}},
         "enabled": False, "nothing": None}
MCP_B = {"page": 2, "query": "second"}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Two python sessions (two rows) whose calls carry ARGS_A/MCP_A and ARGS_B/MCP_B."""
    tmp = tmp_path_factory.mktemp("arguments")
    db = tmp / "store" / "opencode.db"
    with new_store(db) as b:
        p = b.project("/w")
        for prompt, bash_args, mcp_args in (("Fix the IO tests", ARGS_A, MCP_A), ("Run all tests", ARGS_B, MCP_B)):
            sid = b.session(p, directory="/w", title=prompt, agent="build")
            u = b.user_message(sid, prompt)
            b.assistant_step(sid, u, text="Looking.", tools=SIGNAL["python"] + [
                {"tool": "bash", "input": bash_args, "output": "ok"},
                {"tool": "context7_query-docs", "input": mcp_args, "output": "docs"}])
            b.assistant_step(sid, u, text="Done.", finish="stop")
    out = tmp / "out"
    assert extract(db, out) == 0
    return {r["title"]: r for r in rows(out, "serpent")}


def _arguments(row, name):
    return [c["function"]["arguments"] for m in row["messages"] for c in m.get("tool_calls") or []
            if c["function"]["name"] == name]


@pytest.mark.parametrize("title, name, expected", [
    ("Fix the IO tests", "bash", [SIGNAL["python"][1]["input"], ARGS_A]),
    ("Run all tests", "bash", [SIGNAL["python"][1]["input"], ARGS_B]),
    ("Fix the IO tests", "context7_query-docs", [MCP_A]),
    ("Run all tests", "context7_query-docs", [MCP_B]),
])
def test_arguments_round_trip_exactly(written, title, name, expected):
    got = _arguments(written[title], name)
    # json.dumps without sort_keys compares key order and tells True from 1 and None from a missing key.
    assert [json.dumps(a, ensure_ascii=False) for a in got] == [json.dumps(e, ensure_ascii=False) for e in expected]


def test_same_key_keeps_its_own_type_in_each_row(written):
    a = _arguments(written["Fix the IO tests"], "bash")[1]
    b = _arguments(written["Run all tests"], "bash")[1]
    assert type(a["timeout"]) is int and a["timeout"] == 120000
    assert type(b["timeout"]) is str and b["timeout"] == "2m"
    assert list(a) == ["command", "description", "timeout"]
    assert list(b) == ["timeout", "description", "command", "workdir"]


def test_nested_values_keep_their_types(written):
    [a] = _arguments(written["Fix the IO tests"], "context7_query-docs")
    langs = a["filters"]["langs"]
    assert [type(x) for x in langs] == [str, int, type(None), bool, float, dict]
    assert a["enabled"] is False and "nothing" in a and a["nothing"] is None
    assert a["query"] == MCP_A["query"]


def test_every_row_carries_the_builtin_tool_schemas(written):
    for row in written.values():
        by_name = {t["function"]["name"]: t for t in row["tools"]}
        for name in DEFAULT_TOOLSET:
            assert by_name[name] == OPENCODE_TOOLS[name]


def test_tools_list_is_the_default_toolset_then_the_other_tools_used(written):
    for row in written.values():
        assert [t["function"]["name"] for t in row["tools"]] == DEFAULT_TOOLSET + ["context7_query-docs"]


def test_an_unknown_tool_gets_a_minimal_schema_naming_the_arguments_seen(written):
    [schema] = [t for t in written["Fix the IO tests"]["tools"] if t["function"]["name"] == "context7_query-docs"]
    assert schema["type"] == "function"
    params = schema["function"]["parameters"]
    assert params["type"] == "object"
    assert list(params["properties"]) == list(MCP_A)
    assert params["required"] == []
    assert isinstance(schema["function"]["description"], str) and schema["function"]["description"]


def test_a_builtin_tool_outside_the_default_toolset_is_added_with_its_schema(tmp_path):
    patch = {"tool": "apply_patch", "input": {"patchText": "*** Begin Patch\n*** Update File: pkg/app.py\n"
                                                            "@@\n-a = 1\n+a = 2\n*** End Patch"},
             "output": "Success. Updated the following files:\nM pkg/app.py"}
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="patch", agent="build")
        u = b.user_message(sid, "Bump a")
        b.assistant_step(sid, u, tools=SIGNAL["python"] + [patch], finish="stop")
    assert extract(db, tmp_path / "out") == 0
    [row] = rows(tmp_path / "out", "serpent")
    assert [t["function"]["name"] for t in row["tools"]] == DEFAULT_TOOLSET + ["apply_patch"]
    assert row["tools"][-1] == OPENCODE_TOOLS["apply_patch"]
