"""Extraction spec, Hub traces: `python -m extract export-traces NAME` writes each of a specialist's sessions as
one Session Trace Simple Format file (a session header, then every message once, tool calls linked by id)."""
from __future__ import annotations

import json

from extract.__main__ import main
from extract_support import SIGNAL, extract, new_store


def test_each_session_is_one_trace_file_in_the_hub_format(tmp_path, capsys):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        p = b.project("/w")
        sid = b.session(p, directory="/w", title="Fix the parser", agent="build")
        u = b.user_message(sid, "pytest fails in test_parse, fix it")
        b.assistant_step(sid, u, text="Looking.", tools=SIGNAL["python"])
        b.assistant_step(sid, u, text="Fixed.", finish="stop")
        u2 = b.user_message(sid, "thanks, now run everything")
        b.assistant_step(sid, u2, text="All green.", finish="stop")
    data = tmp_path / "data"
    assert extract(db, data, "extract.test_fraction=0") == 0
    capsys.readouterr()
    assert main(["export-traces", "serpent", "--data", str(data)]) == 0
    assert "1 sessions ->" in capsys.readouterr().out
    [f] = sorted((data / "traces" / "serpent").iterdir())
    lines = [json.loads(x) for x in f.read_text().splitlines()]
    head, msgs = lines[0], [x["message"] for x in lines[1:]]
    assert (head["type"], head["harness"], head["id"], head["name"]) == ("session", "opencode", sid, "Fix the parser")
    assert all(x["type"] == "message" for x in lines[1:])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool", "assistant", "user",
                                         "assistant"]
    assert [m["content"] for m in msgs if m["role"] == "user"] == ["pytest fails in test_parse, fix it",
                                                                   "thanks, now run everything"]
    calls = msgs[2]["toolCalls"]
    assert [c["function"]["name"] for c in calls] == ["read", "bash"]
    assert json.loads(calls[1]["function"]["arguments"])["command"] == "pytest -q"  # a JSON string, as specified
    assert [m["toolCallId"] for m in msgs if m["role"] == "tool"] == [c["id"] for c in calls]


def test_export_traces_of_a_missing_specialist_is_one_error_line(tmp_path, capsys):
    assert main(["export-traces", "serpent", "--data", str(tmp_path / "nope")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("extract export-traces: error: serpent: no dataset at")
