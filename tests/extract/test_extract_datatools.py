"""Seeing the data: analyze, show, compare, report and the OpenAI-style JSONL export."""
from __future__ import annotations

import json

import pytest

from extract.__main__ import main
from extract_support import add_session, extract, new_store, rows


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dt")
    with new_store(tmp / "s.db") as b:
        p = b.project("/w")
        add_session(b, p, "fix the parser", lang="python")
        add_session(b, p, "fix the borrow error", lang="rust")
        add_session(b, p, "add a helper", lang="python", steps=[
            {"text": "Writing.", "tools": [{"tool": "write", "input": {"filePath": "/w/h.py", "content": "x = 1"},
                                            "output": "Wrote file successfully."}]},
            {"text": "Done.", "finish": "stop"}])
    out = tmp / "data"
    assert extract(tmp / "s.db", out, "extract.test_fraction=0") == 0
    with new_store(tmp / "t.db") as b:
        add_session(b, b.project("/w"), "fix the parser", lang="python")
    assert extract(tmp / "t.db", tmp / "data2", "extract.test_fraction=0") == 0
    return tmp


def test_analyze_counts_sessions_windows_and_tool_calls_per_source_and_specialist(data, capsys):
    from extract.datatools import analyze

    a = analyze(data / "data", 4096)
    serpent = a["specialists"]["serpent"]["opencode"]
    assert (serpent["sessions"], serpent["windows"], serpent["train_windows"], serpent["steps"]) == (2, 2, 2, 4)  # 2 steps a session
    assert serpent["tool_calls"]["write"] == 1
    assert serpent["tokens"]["over_max_length"] == 0
    assert sum(serpent["outcomes"].values()) == 2
    assert main(["analyze", "--data", str(data / "data")]) == 0
    assert "serpent     opencode" in capsys.readouterr().out


def test_show_renders_one_window_with_roles_calls_and_results(data, capsys):
    assert main(["show", "serpent", "0", "--data", str(data / "data")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("serpent train[0]  session ses_")
    assert "── system" in out and "── user" in out and "── assistant" in out and "── tool (" in out
    assert "→ " in out


def test_show_out_of_range_is_one_error_line(data, capsys):
    assert main(["show", "serpent", "99", "--data", str(data / "data")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "extract show: error: serpent train: index 99 out of range (0..1)"]


def test_compare_shows_counts_of_both_and_the_change(data, capsys):
    assert main(["compare", str(data / "data"), str(data / "data2")]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("serpent"))
    assert "2 -> 1 (-1)" in line
    assert next(x for x in out.splitlines() if x.startswith("oxidizer")).split()[1:4] == ["1", "->", "0"]


def test_report_writes_plots_and_a_markdown_report(data):
    assert main(["report", "--data", str(data / "data"), "--out", str(data / "rep")]) == 0
    for name in ("lengths.png", "tools.png", "sessions.png"):
        assert (data / "rep" / name).read_bytes()[:4] == b"\x89PNG"
    assert "![tools](tools.png)" in (data / "rep" / "report.md").read_text()


def test_export_jsonl_writes_openai_rows_with_json_string_arguments(data):
    assert main(["export-jsonl", "serpent", "--data", str(data / "data"), "--out", str(data / "oa")]) == 0
    lines = [json.loads(x) for x in (data / "oa" / "serpent.train.jsonl").read_text().splitlines()]
    original = rows(data / "data", "serpent")
    assert len(lines) == len(original) == 2
    for got, want in zip(lines, original):
        calls = [tc for m in got["messages"] for tc in m.get("tool_calls") or []]
        wanted = [tc for m in want["messages"] for tc in m.get("tool_calls") or []]
        assert all(isinstance(tc["function"]["arguments"], str) for tc in calls)
        assert [json.loads(tc["function"]["arguments"]) for tc in calls] == [tc["function"]["arguments"] for tc in wanted]
        assert got["tools"] == want["tools"]
        assert all(set(m) <= {"role", "content", "tool_calls", "tool_call_id"} for m in got["messages"])
