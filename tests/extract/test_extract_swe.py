"""mini-swe-agent trajectories (v1 text actions, v2 tool calls) joined with SWE-bench reports."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from extract.opencode import ReadOptions, ReadStats, StoreError
from extract.sources import Source
from extract.swe import read

V1 = {"info": {"exit_status": "Submitted", "submission": "diff --git a/x", "mini_version": "1.9.0",
               "config": {"model": {"model_name": "anthropic/claude-sonnet-4-5"}}},
      "trajectory_format": "mini-swe-agent-1", "instance_id": "django__django-11099",
      "messages": [
          {"role": "system", "content": "You are a helpful assistant that can interact with a computer."},
          {"role": "user", "content": "<pr_description>\nUsernameValidator allows a trailing newline in "
                                      "django/contrib/auth/validators.py\n</pr_description>"},
          {"role": "assistant", "content": "THOUGHT: Find the validator.\n\n```bash\n"
                                           "grep -n 'regex' django/contrib/auth/validators.py\n```"},
          {"role": "user", "content": "<returncode>0</returncode>\n<output>\n9:    regex = r'^[\\w.@+-]+$'\n</output>"},
          {"role": "assistant", "content": "Two actions at once is a format error.\n```bash\nls\n```\n```bash\npwd\n```"},
          {"role": "user", "content": "Please always provide EXACTLY ONE action in triple backticks."},
          {"role": "assistant", "content": "THOUGHT: Use \\A and \\Z and run the tests.\n\n```bash\n"
                                           "sed -i 's/\\^/\\\\A/' django/contrib/auth/validators.py && "
                                           "python -m pytest tests/auth_tests/test_validators.py\n```"},
          {"role": "user", "content": "<returncode>1</returncode>\n<output>\nTraceback (most recent call last):\n"
                                      "  File \"tests/auth_tests/test_validators.py\", line 3\nImportError\n</output>"},
          {"role": "assistant", "content": "THOUGHT: Submit.\n\n```bash\necho MINI_SWE_AGENT_FINAL_OUTPUT && "
                                           "git add -A && git diff --cached\n```"},
          {"role": "user", "content": "diff --git a/django/contrib/auth/validators.py"}]}

V2 = {"info": {"exit_status": "Submitted", "config": {"model": {"model_name": "openai/gpt-5"}}},
      "trajectory_format": "mini-swe-agent-1.1", "instance_id": "sympy__sympy-20590",
      "messages": [
          {"role": "system", "content": "system"},
          {"role": "user", "content": "Symbol instances have __dict__ since 1.7 in sympy/core/symbol.py"},
          {"role": "assistant", "content": "Look at Symbol.", "tool_calls": [
              {"id": "call_a", "type": "function", "function": {"name": "bash", "arguments": json.dumps(
                  {"command": "grep -n __slots__ sympy/core/symbol.py"})}}],
           "extra": {"actions": [{"command": "grep -n __slots__ sympy/core/symbol.py", "tool_call_id": "call_a"}]}},
          {"role": "tool", "tool_call_id": "call_a", "content": "12: __slots__ = ('name',)",
           "extra": {"raw_output": "12: __slots__ = ('name',)", "returncode": 0}},
          {"role": "assistant", "content": "", "tool_calls": [
              {"id": "call_b", "type": "function", "function": {"name": "bash", "arguments": json.dumps(
                  {"command": "python -m pytest sympy/core/tests/test_basic.py -q"})}}]},
          {"role": "tool", "tool_call_id": "call_b", "content": "1 failed", "extra": {"returncode": 1}},
          {"role": "exit", "content": "", "extra": {"exit_status": "Submitted", "submission": "diff"}}]}


def run_dir(root: Path, *, reports: bool = True) -> Path:
    for traj in (V1, V2):
        d = root / "out" / traj["instance_id"]
        d.mkdir(parents=True)
        (d / f"{traj['instance_id']}.traj.json").write_text(json.dumps(traj))
    (root / "out" / "preds.json").write_text("{}")
    if reports:
        r = root / "out" / "logs" / "run_evaluation" / "run1" / "model" / "django__django-11099"
        r.mkdir(parents=True)
        (r / "report.json").write_text(json.dumps({"django__django-11099": {
            "patch_is_None": False, "patch_exists": True, "patch_successfully_applied": True, "resolved": True,
            "tests_status": {"FAIL_TO_PASS": {"success": ["t"], "failure": []}}}}))
    return root / "out"


def sessions(src: Source, **opts):
    stats = ReadStats()
    return {s.id: s for s in read(src, ReadOptions(**opts), stats)}, stats


def test_v1_fenced_actions_become_bash_calls_with_their_observations(tmp_path):
    s = sessions(Source("mini-swe-agent", run_dir(tmp_path)))[0]["django__django-11099"]
    assert s.turns[0].prompt.startswith("<pr_description>\nUsernameValidator")
    calls = s.tool_calls
    assert [c.arguments["command"].split()[0] for c in calls] == ["grep", "sed", "echo"]
    assert (calls[0].output, calls[0].exit_code) == ("9:    regex = r'^[\\w.@+-]+$'", 0)
    assert calls[1].exit_code == 1 and calls[1].output.startswith("Traceback")
    assert s.turns[0].steps[0].text == "Find the validator."  # the THOUGHT, without its label or the block
    assert (s.source, s.model, s.toolset) == ("mini-swe-agent", "anthropic/claude-sonnet-4-5", ["bash"])


def test_a_format_error_turn_is_kept_as_text_without_a_call(tmp_path):
    s = sessions(Source("mini-swe-agent", run_dir(tmp_path)))[0]["django__django-11099"]
    step = s.turns[0].steps[1]
    assert step.tool_calls == [] and step.text.startswith("Two actions at once")


def test_v2_tool_calls_link_to_tool_messages_and_the_exit_message_is_not_a_turn(tmp_path):
    s = sessions(Source("mini-swe-agent", run_dir(tmp_path)))[0]["sympy__sympy-20590"]
    assert [(c.id, c.output, c.exit_code) for c in s.tool_calls] == [
        ("call_a", "12: __slots__ = ('name',)", 0), ("call_b", "1 failed", 1)]
    assert len(s.turns) == 1 and len(s.turns[0].steps) == 2


def test_reports_join_by_instance_id_and_a_missing_report_is_unknown_not_unresolved(tmp_path):
    found = sessions(Source("mini-swe-agent", run_dir(tmp_path)))[0]
    assert found["django__django-11099"].resolved is True
    assert found["sympy__sympy-20590"].resolved is None


def test_resolved_only_keeps_only_resolved_instances(tmp_path):
    found, stats = sessions(Source("mini-swe-agent", run_dir(tmp_path)), resolved_only=True)
    assert list(found) == ["django__django-11099"]
    assert stats.sessions["not resolved (or no report)"] == 1


def test_reports_can_live_elsewhere(tmp_path):
    out = run_dir(tmp_path / "a", reports=False)
    elsewhere = run_dir(tmp_path / "b").parent / "out" / "logs"
    found = sessions(Source("mini-swe-agent", out, reports=elsewhere))[0]
    assert found["django__django-11099"].resolved is True
    with pytest.raises(StoreError, match="no such folder"):
        sessions(Source("mini-swe-agent", out, reports=tmp_path / "missing"))


def test_an_unreadable_trajectory_is_skipped_and_counted(tmp_path):
    out = run_dir(tmp_path)
    (out / "broken").mkdir()
    (out / "broken" / "broken.traj.json").write_text('{"messages": [')
    found, stats = sessions(Source("mini-swe-agent", out))
    assert len(found) == 2 and stats.sessions["unreadable trajectories"] == 1
