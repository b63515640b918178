"""Codex CLI rollouts: real prompts from user_message events, calls with dict arguments, both shell eras."""
from __future__ import annotations

import json
from pathlib import Path

from extract.codex import read
from extract.opencode import ReadOptions, ReadStats
from extract.sources import Source

UUID = "0199a1b2-c3d4-7e5f-8a9b-0123456789ab"


def _env(kind: str, payload: dict, ts: str = "2026-03-02T10:00:00.000Z") -> dict:
    return {"timestamp": ts, "type": kind, "payload": payload}


def _item(payload: dict) -> dict:
    return _env("response_item", payload)


def _msg(role: str, text: str) -> dict:
    kind = "output_text" if role == "assistant" else "input_text"
    return _item({"type": "message", "role": role, "content": [{"type": kind, "text": text}]})


def rollout_2026(root: Path) -> Path:
    lines = [
        _env("session_meta", {"id": UUID, "timestamp": "2026-03-02T10:00:00.000Z", "cwd": "/home/u/app",
                              "originator": "codex_cli_rs", "cli_version": "0.60.0", "source": "cli",
                              "model_provider": "openai", "base_instructions": {"text": "You are Codex"}}),
        _env("turn_context", {"cwd": "/home/u/app", "model": "gpt-5.1-codex", "approval_policy": "on-request"}),
        _msg("user", "<environment_context>\n  <cwd>/home/u/app</cwd>\n</environment_context>"),
        _msg("user", "# AGENTS.md instructions for /home/u/app\nUse pytest."),
        _item({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox rules"}]}),
        _msg("user", "pytest fails in test_parse, fix it"),
        _env("event_msg", {"type": "user_message", "message": "pytest fails in test_parse, fix it"}),
        _item({"type": "reasoning", "summary": [{"type": "summary_text", "text": "Run the tests first."}],
               "encrypted_content": "gAAA"}),
        _msg("assistant", "Running the failing test."),
        _item({"type": "function_call", "name": "exec_command", "call_id": "call_1",
               "arguments": json.dumps({"cmd": "pytest -q tests/test_parse.py", "workdir": "/home/u/app",
                                        "yield_time_ms": 10000})}),
        _item({"type": "function_call_output", "call_id": "call_1",
               "output": "Chunk ID: 1\nWall time: 0.8 seconds\nProcess exited with code 1\nOutput:\n"
                         "Traceback (most recent call last):\n  File \"app/parse.py\", line 3\nKeyError: 'x'"}),
        _item({"type": "custom_tool_call", "name": "apply_patch", "call_id": "call_2", "status": "completed",
               "input": "*** Begin Patch\n*** Update File: app/parse.py\n@@\n-d['x']\n+d.get('x')\n*** End Patch"}),
        _item({"type": "custom_tool_call_output", "call_id": "call_2", "output": "Success. Updated app/parse.py"}),
        _env("event_msg", {"type": "token_count", "info": {"total_token_usage": {"input_tokens": 10}}}),
        _env("event_msg", {"type": "brand_new_event"}),
        {"timestamp": "x", "type": "totally_new_line", "payload": {}},
        _msg("assistant", "Fixed: parse uses d.get('x')."),
        _env("event_msg", {"type": "user_message", "message": "run the whole suite"}),
        _item({"type": "function_call", "name": "exec_command", "call_id": "call_3",
               "arguments": json.dumps({"cmd": "pytest -q"})}),
    ]
    path = root / "2026" / "03" / "02" / f"rollout-2026-03-02T10-00-00-{UUID}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"timestamp": "2026-03-02T10:01:00.000Z", "ty')
    return path


def rollout_2025(root: Path) -> Path:
    lines = [
        _env("session_meta", {"id": "old-1", "timestamp": "2025-10-01T09:00:00.000Z", "cwd": "/home/u/crate",
                              "source": "cli"}),
        _msg("user", "<user_instructions>be terse</user_instructions>"),
        _msg("user", "cargo test fails"),
        _item({"type": "function_call", "name": "shell", "call_id": "c1",
               "arguments": json.dumps({"command": ["bash", "-lc", "cargo test"], "workdir": "/home/u/crate",
                                        "timeout_ms": 120000})}),
        _item({"type": "function_call_output", "call_id": "c1",
               "output": json.dumps({"output": "error[E0382]: borrow of moved value",
                                     "metadata": {"exit_code": 101, "duration_seconds": 0.4}})}),
        _msg("assistant", "The value is moved; borrowing it."),
    ]
    path = root / "2025" / "10" / "01" / "rollout-2025-10-01T09-00-00-old-1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def sessions(root: Path, **opts):
    stats = ReadStats()
    return list(read(Source("codex", root), ReadOptions(**opts), stats)), stats


def test_prompts_come_from_user_message_events_not_injected_context(tmp_path):
    rollout_2026(tmp_path)
    s = sessions(tmp_path)[0][0]
    assert [t.prompt for t in s.turns] == ["pytest fails in test_parse, fix it"]
    assert (s.id, s.directory, s.model, s.source) == (UUID, "/home/u/app", "gpt-5.1-codex", "codex")


def test_json_string_arguments_become_dicts_and_apply_patch_keeps_its_text(tmp_path):
    rollout_2026(tmp_path)
    calls = sessions(tmp_path)[0][0].tool_calls
    assert calls[0].arguments == {"cmd": "pytest -q tests/test_parse.py", "workdir": "/home/u/app",
                                  "yield_time_ms": 10000}
    assert calls[1].name == "apply_patch" and calls[1].arguments["input"].startswith("*** Begin Patch")
    assert (calls[0].exit_code, calls[1].output) == (1, "Success. Updated app/parse.py")


def test_steps_follow_the_model_responses_and_an_unanswered_call_is_dropped(tmp_path):
    rollout_2026(tmp_path)
    s, stats = sessions(tmp_path)
    steps = s[0].turns[0].steps
    assert [(st.text, [c.name for c in st.tool_calls]) for st in steps] == [
        ("Running the failing test.", ["exec_command"]), ("", ["apply_patch"]), ("Fixed: parse uses d.get('x').", [])]
    assert stats.rows["interrupted tool calls"] == 1  # call_3 never got its output: the second turn is empty


def test_unknown_lines_and_a_truncated_tail_are_skipped_and_counted(tmp_path):
    rollout_2026(tmp_path)
    _, stats = sessions(tmp_path)
    assert stats.rows["unknown line type 'totally_new_line'"] == 1
    assert stats.rows["unknown event type 'brand_new_event'"] == 1
    assert stats.rows["malformed or truncated lines"] == 1


def test_reasoning_summaries_only_when_asked(tmp_path):
    rollout_2026(tmp_path)
    assert sessions(tmp_path)[0][0].turns[0].steps[0].reasoning is None
    assert sessions(tmp_path, reasoning=True)[0][0].turns[0].steps[0].reasoning == "Run the tests first."


def test_the_2025_shell_era_reads_argv_commands_and_json_outputs(tmp_path):
    rollout_2025(tmp_path)
    s = sessions(tmp_path)[0][0]
    assert [t.prompt for t in s.turns] == ["cargo test fails"]  # no events: user items minus injected context
    call = s.tool_calls[0]
    assert call.arguments["command"] == ["bash", "-lc", "cargo test"]
    assert (call.output, call.exit_code) == ("error[E0382]: borrow of moved value", 101)
    assert s.toolset == ["shell", "update_plan"]
    from extract.classify import classify

    assert classify(s).language == "rust"


def test_subagent_rollouts_are_not_sessions(tmp_path):
    path = rollout_2025(tmp_path)
    lines = path.read_text().splitlines()
    meta = json.loads(lines[0])
    meta["payload"]["source"] = {"subagent": "review"}
    path.write_text("\n".join([json.dumps(meta), *lines[1:]]) + "\n")
    found, stats = sessions(tmp_path)
    assert found == [] and stats.sessions["subagent sessions"] == 1


def test_very_old_rollouts_without_the_envelope_are_read(tmp_path):
    path = tmp_path / "rollout-2025-06-01T08-00-00-veryold.jsonl"
    lines = [{"id": "veryold", "timestamp": "2025-06-01T08:00:00Z", "instructions": "", "git": None},
             {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "add a --json flag"}]},
             {"record_type": "state"},
             {"type": "function_call", "name": "shell", "call_id": "c9",
              "arguments": json.dumps({"command": ["bash", "-lc", "npm test"]})},
             {"type": "function_call_output", "call_id": "c9", "output": json.dumps({"output": "ok",
                                                                                    "metadata": {"exit_code": 0}})},
             {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Added."}]}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    s = sessions(tmp_path)[0][0]
    assert (s.id, [t.prompt for t in s.turns], s.tool_calls[0].exit_code) == ("veryold", ["add a --json flag"], 0)


def test_codex_sessions_land_in_a_dataset_with_their_source(tmp_path):
    from extract_support import rows

    from extract.__main__ import main

    rollout_2026(tmp_path / "codex")
    out = tmp_path / "out"
    assert main(["--codex-dir", str(tmp_path / "codex"), "--out", str(out), "--quiet", "extract.agent_files=false",
                 "extract.test_fraction=0"]) == 0
    found = rows(out, "serpent")
    assert {r["source"] for r in found} == {"codex"}
    assert [t["function"]["name"] for t in found[0]["tools"]] == ["exec_command", "apply_patch", "update_plan"]


def _resumed(root: Path) -> Path:
    meta = {"id": UUID, "timestamp": "2026-06-16T09:16:08.591Z", "cwd": "/home/u/app",
            "originator": "Codex Desktop", "cli_version": "0.140.0", "source": "vscode"}
    lines = [
        _env("session_meta", meta),
        _env("event_msg", {"type": "user_message", "message": "shorten the intro"}),
        _msg("assistant", "Shortened."),
        # the Desktop app resumed the thread: the same session_meta again, a day later
        _env("session_meta", meta | {"memory_mode": "on"}, ts="2026-06-17T08:00:00.000Z"),
        _env("event_msg", {"type": "user_message", "message": "commit and push"}),
        _item({"type": "function_call", "name": "exec_command", "call_id": "c1",
               "arguments": json.dumps({"cmd": "git push"})}),
        _item({"type": "function_call_output", "call_id": "c1", "output": "Process exited with code 0\nOutput:\n"}),
        _item({"type": "tool_search_call", "call_id": "ts1", "arguments": {"q": "browser"}}),
        _env("compacted", {"message": "", "replacement_history": [
            _msg("user", "shorten the intro")["payload"], _msg("user", "commit and push")["payload"],
            _msg("user", "Summary: the intro has 3 cards; the branch is pushed.")["payload"]]}),
        _env("event_msg", {"type": "context_compacted"}),
        _env("event_msg", {"type": "user_message", "message": "now the tutorial"}),
        _msg("assistant", "Done."),
    ]
    path = root / "2026" / "06" / "16" / f"rollout-2026-06-16T09-16-08-{UUID}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


def test_a_resumed_session_is_one_session_dated_by_its_first_meta(tmp_path):
    [s], stats = sessions(_resumed(tmp_path))
    assert s.id == UUID and s.time_created == 1781601368591
    assert [t.prompt.splitlines()[-1] for t in s.turns] == ["shorten the intro", "commit and push", "now the tutorial"]
    assert stats.counts["resumed-session meta records"] == 1


def test_what_a_compaction_gave_the_model_goes_in_front_of_the_next_prompt(tmp_path):
    [s], stats = sessions(_resumed(tmp_path))
    assert s.turns[2].prompt == ("Summary of the work so far:\nSummary: the intro has 3 cards; the branch is pushed."
                                 "\n\nnow the tutorial")
    assert stats.counts["compactions carried into the next prompt"] == 1
    assert not any("compaction" in r for r in stats.rows)


def test_an_unknown_item_type_is_counted_by_its_name(tmp_path):
    _, stats = sessions(_resumed(tmp_path))
    assert stats.rows["unknown item type 'tool_search_call'"] == 1


UUID_171 = "01a2513f-8dab-7bc1-8892-0376dcdcd814"


def rollout_0171(root: Path) -> Path:
    """A rollout laid out as Codex 0.171 writes one (`codex exec`): no user_message events, the prompt as a user
    response item and an item_completed UserMessage; world_state, thread_settings_applied and token_usage_record
    lines; a call written before the text of the same response."""
    turn = {"turn_id": "t1"}
    lines = [
        _env("session_meta", {"session_id": UUID_171, "id": UUID_171, "timestamp": "2026-12-07T16:04:09.275Z",
                              "cwd": "/home/u/calc", "originator": "codex_exec", "cli_version": "0.171.0",
                              "source": "exec", "thread_source": "user", "model_provider": "workbench",
                              "base_instructions": {"text": "You are Codex"}}),
        _env("event_msg", {"type": "task_started", "turn_id": "t1", "model_context_window": 258400}),
        _item({"type": "message", "role": "developer", "content": [{"type": "input_text",
                                                                      "text": "<skills_instructions>..."}]}),
        _msg("user", "<environment_context>\n  <cwd>/home/u/calc</cwd>\n</environment_context>"),
        _env("world_state", {"full": True, "state": {"current_date": "2026-12-07", "environments": {}}}),
        _env("turn_context", {"turn_id": "t1", "cwd": "/home/u/calc", "approval_policy": "never"}),
        _env("event_msg", {"type": "thread_settings_applied", "thread_id": UUID_171,
                           "thread_settings": {"model": "serpent", "model_provider_id": "workbench"}}),
        _item({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix add() in calc.py"}],
               "internal_chat_message_metadata_passthrough": turn}),
        _env("event_msg", {"type": "item_completed", "thread_id": UUID_171, "turn_id": "t1",
                           "item": {"type": "UserMessage", "id": "u1", "content": [
                               {"type": "text", "text": "Fix add() in calc.py", "text_elements": []}]}}),
        _item({"type": "function_call", "status": "completed", "id": "fc_call_0_0", "name": "exec_command",
               "arguments": json.dumps({"cmd": "cat calc.py"}), "call_id": "call_0_0"}),
        _env("event_msg", {"type": "item_completed", "item": {"type": "AgentMessage", "id": "m1",
                                                               "content": [{"type": "Text", "text": "Let me look."}]}}),
        _item({"type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]}),
        _env("token_usage_record", {"thread_id": UUID_171, "turn_id": "t1", "response_id": "resp_1"}),
        _env("event_msg", {"type": "item_completed", "item": {"type": "CommandExecution", "id": "call_0_0",
                                                               "command": ["/bin/bash", "-lc", "cat calc.py"]}}),
        _item({"type": "function_call_output", "call_id": "call_0_0",
               "output": "Chunk ID: f92063\nWall time: 0.0814 seconds\nProcess exited with code 0\n"
                         "Original token count: 8\nOutput:\ndef add(a, b):\n    return a - b\n"}),
        _env("event_msg", {"type": "token_count", "info": {"total_token_usage": {"input_tokens": 5335}}}),
        _item({"type": "function_call", "status": "completed", "name": "exec_command", "call_id": "call_1_0",
               "arguments": json.dumps({"cmd": "sed -i 's/a - b/a + b/' calc.py"})}),
        _env("token_usage_record", {"thread_id": UUID_171, "turn_id": "t1", "response_id": "resp_2"}),
        _item({"type": "function_call_output", "call_id": "call_1_0",
               "output": "Chunk ID: a838ce\nWall time: 0.18 seconds\nProcess exited with code 0\nOutput:\n"}),
        _item({"type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": "Fixed: add() now adds.", "annotations": []}]}),
        _env("event_msg", {"type": "item_completed", "item": {"type": "AgentMessage", "id": "m2", "content": [
            {"type": "Text", "text": "Fixed: add() now adds."}]}}),
        _env("event_msg", {"type": "task_complete", "turn_id": "t1"}),
    ]
    path = root / "2026" / "12" / "07" / f"rollout-2026-12-07T16-04-09-{UUID_171}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_a_codex_0171_rollout_is_kept_with_its_prompt_steps_and_model(tmp_path):
    rollout_0171(tmp_path)
    found, stats = sessions(tmp_path)
    assert len(found) == 1 and not stats.sessions
    s = found[0]
    assert [t.prompt for t in s.turns] == ["Fix add() in calc.py"]
    assert [(st.text, [c.arguments["cmd"] for c in st.tool_calls]) for st in s.turns[0].steps] == [
        ("Let me look.", ["cat calc.py"]), ("", ["sed -i 's/a - b/a + b/' calc.py"]), ("Fixed: add() now adds.", [])]
    assert (s.id, s.directory, s.model, s.client_version) == (UUID_171, "/home/u/calc", "serpent", "0.171.0")
    assert s.tool_calls[0].exit_code == 0 and s.tool_calls[0].output.endswith("return a - b\n")


def test_codex_0171_line_kinds_are_known_not_counted_as_unknown(tmp_path):
    rollout_0171(tmp_path)
    _, stats = sessions(tmp_path)
    assert not [r for r in stats.rows if "unknown" in r], stats.rows


def test_a_rollout_with_both_prompt_kinds_takes_the_user_message_events_once(tmp_path):
    path = rollout_0171(tmp_path)
    lines = path.read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if '"UserMessage"' in ln)
    lines.insert(at, json.dumps(_env("event_msg", {"type": "user_message", "message": "Fix add() in calc.py"})))
    path.write_text("\n".join(lines) + "\n")
    assert [t.prompt for t in sessions(tmp_path)[0][0].turns] == ["Fix add() in calc.py"]
