"""Extraction spec, reconstruction: each opencode step becomes one assistant turn (text, then its tool calls) and
one tool message per call, in order; errors, interruptions, synthetic text, attachments, compaction, pruning,
reasoning and long outputs are handled as the README says."""
from __future__ import annotations

import re

from extract_support import SIGNAL, extract, manifest, new_store, non_system, session_rows

PY_READ = {"tool": "read", "input": {"filePath": "/w/pkg/app.py"}, "output": "1: import os", "callID": "call_read"}
PY_TEST = {"tool": "bash", "input": {"command": "pytest -q", "description": "Run tests"},
           "output": "E   KeyError: 'x'\n1 failed", "exit": 1, "callID": "call_test"}


def _one_session(tmp_path, build, *args):
    """Build one session with build(b, sid), extract it with args, return (its single row, manifest)."""
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="Fix the parser", agent="build")
        build(b, sid)
    out = tmp_path / "out"
    assert extract(db, out, *args) == 0
    [row] = session_rows(out, "serpent", sid)
    return row, manifest(out)


def _call(spec):
    return {"id": spec["callID"], "type": "function", "function": {"name": spec["tool"], "arguments": spec["input"]}}


def _result(spec, content=None):
    return {"role": "tool", "tool_call_id": spec["callID"], "name": spec["tool"],
            "content": spec["output"] if content is None else content}


def test_each_step_is_an_assistant_turn_with_its_calls_then_one_tool_message_per_call(tmp_path):
    edit = {"tool": "edit", "callID": "call_edit",
            "input": {"filePath": "/w/pkg/app.py", "oldString": "a", "newString": "b"},
            "output": "Edit applied successfully."}

    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, text="Reading first.", tools=[PY_READ, PY_TEST])
        b.assistant_step(sid, u, tools=[edit])
        b.assistant_step(sid, u, text="Fixed: the key is now checked.", finish="stop")

    row, _ = _one_session(tmp_path, build)
    assert row["messages"][0]["role"] == "system"
    assert non_system(row["messages"]) == [
        {"role": "user", "content": "Fix the failing test"},
        {"role": "assistant", "content": "Reading first.", "tool_calls": [_call(PY_READ), _call(PY_TEST)]},
        _result(PY_READ),
        _result(PY_TEST),
        {"role": "assistant", "content": "", "tool_calls": [_call(edit)]},
        _result(edit),
        {"role": "assistant", "content": "Fixed: the key is now checked."},
    ]
    assert row["steps"] == 3


def test_second_prompt_follows_the_steps_of_the_first(tmp_path):
    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, text="Reading.", tools=[PY_READ], finish="stop")
        u2 = b.user_message(sid, "Now run the tests")
        b.assistant_step(sid, u2, tools=[PY_TEST])
        b.assistant_step(sid, u2, text="One failure left.", finish="stop")

    row, _ = _one_session(tmp_path, build)
    assert [(m["role"], m["content"]) for m in non_system(row["messages"])] == [
        ("user", "Fix the failing test"), ("assistant", "Reading."), ("tool", PY_READ["output"]),
        ("user", "Now run the tests"), ("assistant", ""), ("tool", PY_TEST["output"]),
        ("assistant", "One failure left.")]


def test_failed_tool_call_is_kept_with_its_error_text_as_the_result(tmp_path):
    failed = {"tool": "read", "callID": "call_missing", "input": {"filePath": "/w/pkg/gone.py"}, "status": "error",
              "error": "Error: File not found: /w/pkg/gone.py"}

    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, text="Reading.", tools=[failed, PY_TEST])
        b.assistant_step(sid, u, text="Done.", finish="stop")

    row, m = _one_session(tmp_path, build)
    msgs = non_system(row["messages"])
    assert msgs[1]["tool_calls"] == [_call(failed), _call(PY_TEST)]
    assert msgs[2] == _result(failed, "Error: File not found: /w/pkg/gone.py")
    assert m["specialists"]["serpent"]["tool_errors"] == 1
    assert m["specialists"]["serpent"]["tool_calls"] == 2


def test_interrupted_calls_are_dropped_and_nothing_else_of_their_step_is_lost(tmp_path):
    pending = {"tool": "bash", "callID": "call_pending", "status": "pending", "input": {}}
    running = {"tool": "bash", "callID": "call_running", "status": "running",
               "input": {"command": "pytest -x", "description": "Run"}}

    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, text="Running two things.", tools=[PY_READ, pending, running, PY_TEST])
        b.assistant_step(sid, u, tools=[running | {"callID": "call_running_2"}], finish=None)  # only interrupted
        b.assistant_step(sid, u, text="Done.", finish="stop")

    row, m = _one_session(tmp_path, build)
    assert non_system(row["messages"]) == [
        {"role": "user", "content": "Fix the failing test"},
        {"role": "assistant", "content": "Running two things.", "tool_calls": [_call(PY_READ), _call(PY_TEST)]},
        _result(PY_READ), _result(PY_TEST),
        {"role": "assistant", "content": "Done."},
    ]
    assert m["rows_skipped"] == {"interrupted tool calls": 3, "empty assistant steps": 1}


def test_synthetic_text_and_attached_files_stay_in_the_prompt(tmp_path):
    attached = 'Called the Read tool with the following input: {"filePath":"/w/pkg/app.py"}\n1: import os'
    image = {"type": "file", "mime": "image/png", "filename": "trace.png", "url": "data:image/png;base64,AAAA"}

    def build(b, sid):
        u = b.user_message(sid, "Why does this fail?", synthetic_parts=[attached], extra_parts=[image])
        b.assistant_step(sid, u, text="Reading.", tools=[PY_READ, PY_TEST], finish="stop")

    row, _ = _one_session(tmp_path, build)
    assert non_system(row["messages"])[0] == {
        "role": "user", "content": f"Why does this fail?\n\n{attached}\n\n[attached: trace.png (image/png)]"}


def test_synthetic_text_in_an_assistant_message_is_not_trained(tmp_path):
    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, text="Reading.", tools=[PY_READ, PY_TEST],
                         extra_parts=[{"type": "text", "text": "injected by the harness", "synthetic": True}],
                         finish="stop")

    row, _ = _one_session(tmp_path, build)
    assert non_system(row["messages"])[1]["content"] == "Reading."


def test_compaction_summary_starts_the_next_prompt_and_is_not_an_assistant_turn(tmp_path):
    summary = "We made parse() stream rows; next: update the tests."

    def build(b, sid):
        u = b.user_message(sid, "Make the importer stream rows")
        b.assistant_step(sid, u, text="Editing.", tools=[PY_READ], finish="stop")
        c = b.user_message(sid, None, extra_parts=[{"type": "compaction", "auto": True}])
        b.assistant_step(sid, c, agent="compaction", summary=True, text=summary, finish="stop")
        u2 = b.user_message(sid, None, synthetic_parts=["Continue if you have next steps"])
        b.assistant_step(sid, u2, text="Updating the tests.", tools=[PY_TEST], finish="stop")

    row, m = _one_session(tmp_path, build)
    msgs = non_system(row["messages"])
    assert [(x["role"], x["content"]) for x in msgs] == [
        ("user", "Make the importer stream rows"), ("assistant", "Editing."), ("tool", PY_READ["output"]),
        ("user", f"Summary of the work so far:\n{summary}\n\nContinue if you have next steps"),
        ("assistant", "Updating the tests."), ("tool", PY_TEST["output"])]
    assert not any(summary in x["content"] for x in msgs if x["role"] == "assistant")
    assert m["rows_skipped"] == {"compaction summaries": 1}


def test_pruned_tool_output_is_kept_in_full(tmp_path):
    long_read = PY_READ | {"output": "1: import os\n" + "2: x = 1\n" * 200}

    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, tools=[long_read, PY_TEST])
        b.prune_tool_output(b.last_tool_part_ids[0])
        b.assistant_step(sid, u, text="Done.", finish="stop")

    row, _ = _one_session(tmp_path, build)
    assert non_system(row["messages"])[2]["content"] == long_read["output"]


def _reasoning_session(b, sid):
    u = b.user_message(sid, "Fix the failing test")
    b.assistant_step(sid, u, reasoning="The KeyError means the key is missing.", text="Reading.",
                     tools=[PY_READ, PY_TEST], finish="stop")


def test_reasoning_is_dropped_by_default(tmp_path):
    row, _ = _one_session(tmp_path, _reasoning_session)
    assert not any("reasoning_content" in m for m in row["messages"])
    assert "KeyError means" not in str(row["messages"])


def test_reasoning_is_kept_as_reasoning_content_with_the_flag(tmp_path):
    row, m = _one_session(tmp_path, _reasoning_session, "--reasoning")
    assistant = non_system(row["messages"])[1]
    assert assistant["reasoning_content"] == "The KeyError means the key is missing."
    assert assistant["content"] == "Reading."
    assert m["settings"]["reasoning"] is True


def test_reasoning_is_kept_with_the_config_key(tmp_path):
    row, _ = _one_session(tmp_path, _reasoning_session, "extract.reasoning=true")
    assert non_system(row["messages"])[1]["reasoning_content"] == "The KeyError means the key is missing."


_MARKER = re.compile(r"\n\[\.\.\. (\d+) characters cut \.\.\.\]\n")


def test_long_tool_output_keeps_head_and_tail_with_the_number_of_characters_cut(tmp_path):
    log = "HEAD-LINE\n" + "".join(f"line {i}\n" for i in range(5000)) + "Traceback (most recent call last): END"
    big = PY_TEST | {"output": log}

    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, tools=[PY_READ, big])
        b.assistant_step(sid, u, text="Done.", finish="stop")

    row, m = _one_session(tmp_path, build, "extract.tool_output_chars=1000")
    content = non_system(row["messages"])[3]["content"]
    [marker] = list(_MARKER.finditer(content))
    head, tail = content[:marker.start()], content[marker.end():]
    assert log.startswith(head) and head.startswith("HEAD-LINE")
    assert log.endswith(tail) and tail.endswith("END")
    assert len(head) + len(tail) == 1000
    assert int(marker.group(1)) == len(log) - 1000
    assert non_system(row["messages"])[2]["content"] == PY_READ["output"]  # short outputs untouched
    assert m["tool_outputs_cut"] == 1


def test_output_at_the_limit_is_not_cut(tmp_path):
    exact = PY_TEST | {"output": "x" * 1000}

    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, tools=[PY_READ, exact], finish="stop")

    row, m = _one_session(tmp_path, build, "extract.tool_output_chars=1000")
    assert non_system(row["messages"])[3]["content"] == "x" * 1000
    assert m["tool_outputs_cut"] == 0


def test_exit_code_does_not_turn_a_completed_call_into_an_error(tmp_path):
    def build(b, sid):
        u = b.user_message(sid, "Fix the failing test")
        b.assistant_step(sid, u, tools=SIGNAL["python"] + [PY_TEST], finish="stop")

    row, m = _one_session(tmp_path, build)
    assert non_system(row["messages"])[-1]["content"] == PY_TEST["output"]
    assert m["specialists"]["serpent"]["tool_errors"] == 0
