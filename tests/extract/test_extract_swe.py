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


def _report(root: Path, run_id: str, iid: str, resolved: bool, patch: str | None = None) -> None:
    r = root / "logs" / "run_evaluation" / run_id / "openai__gpt-5" / iid
    r.mkdir(parents=True)
    (r / "report.json").write_text(json.dumps({iid: {"resolved": resolved, "patch_exists": True}}))
    if patch is not None:
        (r / "patch.diff").write_text(patch)


def _run(root: Path, run: str, traj: dict, submission: str) -> None:
    d = root / run / traj["instance_id"]
    d.mkdir(parents=True)
    t = json.loads(json.dumps(traj))
    t["info"]["submission"] = submission
    (d / f"{traj['instance_id']}.traj.json").write_text(json.dumps(t))


def test_reports_are_matched_per_run_not_across_runs_by_instance_id(tmp_path):
    # Two runs of one instance under SWE_DIR; only run "lite_a" was evaluated (resolved).
    _run(tmp_path, "lite_a", V2, "diff A")
    _run(tmp_path, "lite_b", V2, "diff B")
    _report(tmp_path, "lite_a", "sympy__sympy-20590", True)
    found, stats = sessions(Source("mini-swe-agent", tmp_path))
    assert {sid: s.resolved for sid, s in found.items()} == {"sympy__sympy-20590@lite_a": True,
                                                           "sympy__sympy-20590@lite_b": None}


def test_the_evaluated_patch_says_which_run_a_report_belongs_to(tmp_path):
    _run(tmp_path, "first", V2, "diff A")
    _run(tmp_path, "second", V2, "diff B")
    _report(tmp_path, "eval_2026", "sympy__sympy-20590", False, patch="diff B\n")
    found, stats = sessions(Source("mini-swe-agent", tmp_path))
    assert found["sympy__sympy-20590@second"].resolved is False
    assert found["sympy__sympy-20590@first"].resolved is None
    assert stats.rows["SWE-bench reports that could belong to several runs (left unknown)"] == 1


def test_the_oldest_bare_list_trajectory_is_read(tmp_path):
    d = tmp_path / "run" / "django__django-11099"
    d.mkdir(parents=True)
    (d / "django__django-11099.traj.json").write_text(json.dumps(V1["messages"]))
    found, stats = sessions(Source("mini-swe-agent", tmp_path / "run"))
    s = found["django__django-11099"]
    assert [c.arguments["command"].split()[0] for c in s.tool_calls] == ["grep", "sed", "echo"]
    assert stats.counts["trajectories in the bare-list format"] == 1 and not stats.sessions


SWE_AGENT = {
    "environment": "swe_main",
    "history": [
        {"role": "system", "content": "SETTING: You are an autonomous programmer", "agent": "primary"},
        {"role": "user", "content": "Here is a demonstration", "is_demo": True, "agent": "primary"},
        {"role": "user", "content": "ISSUE:\nSyntaxError in tests/missing_colon.py", "agent": "primary"},
        {"role": "assistant", "content": "Find it.\n```\nfind_file missing_colon.py\n```", "agent": "primary"}],
    "trajectory": [
        {"thought": "Find the file.", "action": "find_file missing_colon.py\n",
         "observation": "Found 1 matches: /repo/tests/missing_colon.py", "response": "...", "state": "{}"},
        {"thought": "Add the colon.", "action": "edit 4:4\ndef division(a, b):\nend_of_edit\n",
         "observation": "File updated.", "response": "...", "state": "{}"},
        {"thought": "Run it.", "action": "python tests/missing_colon.py", "observation": "8.2",
         "response": "...", "state": "{}"},
        {"thought": "Done.", "action": "submit", "observation": "diff --git a/tests/missing_colon.py",
         "response": "...", "state": "{}"}],
    "info": {"exit_status": "submitted", "submission": "diff --git a/tests/missing_colon.py"}}


def test_swe_agent_traj_files_are_a_source(tmp_path):
    d = tmp_path / "trajectories" / "gpt4__swe-bench-dev"
    d.mkdir(parents=True)
    (d / "pydicom__pydicom-1458.traj").write_text(json.dumps(SWE_AGENT))
    found, stats = sessions(Source("mini-swe-agent", tmp_path / "trajectories"))
    s = found["pydicom__pydicom-1458"]
    assert (s.source, s.toolset) == ("swe-agent", ["bash"])
    assert s.turns[0].prompt == "ISSUE:\nSyntaxError in tests/missing_colon.py"  # not the demonstration
    assert [st.text for st in s.turns[0].steps] == ["Find the file.", "Add the colon.", "Run it.", "Done."]
    assert s.tool_calls[1].arguments == {"command": "edit 4:4\ndef division(a, b):\nend_of_edit"}
    assert s.tool_calls[2].output == "8.2"


def _attempt(root: Path, iid: str, origin: str | None) -> None:
    """One attempt in `make generate`'s layout (agent/runner.py): <iid>/<iid>.traj.json with info.origin and
    info.workbench, and the SWE-bench-shaped report.json beside it. origin None: a user's own mini-swe-agent run."""
    command = "sed -i 's/a - b/a + b/' calc.py && python3 -m pytest -q test_calc.py"
    messages = [{"role": "system", "content": "You are a helpful assistant that can interact with a computer."},
                {"role": "user", "content": f"Task {iid}: add() in calc.py returns the difference. Fix it."},
                {"role": "assistant", "content": f"THOUGHT: add() subtracts.\n\n```mswea_bash_command\n{command}\n```"},
                {"role": "user", "content": "<returncode>0</returncode>\n<output>\n1 passed\n</output>"},
                {"role": "assistant", "content": "THOUGHT: Done.\n\n```mswea_bash_command\n"
                                                 "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"},
                {"role": "exit", "content": "", "extra": {"exit_status": "Submitted", "submission": ""}}]
    info = {"exit_status": "Submitted", "submission": "", "config": {"model": {"model_name": "openai/serpent"}}}
    if origin is not None:
        info.update(origin=origin, workbench={"task": iid.rsplit("-r", 1)[0], "attempt": 1, "origin": origin,
                                               "resolved": True, "reward": 1.0, "temperature": 0.7, "seed": 0},
                    patch="", judge={"resolved": True})
    d = root / iid
    d.mkdir(parents=True)
    (d / f"{iid}.traj.json").write_text(json.dumps({"trajectory_format": "mini-swe-agent-1.1", "instance_id": iid,
                                                    "info": info, "messages": messages}))
    (d / "report.json").write_text(json.dumps({iid: {"resolved": True, "task": iid}}))


def test_the_workbench_own_trajectories_are_generated_rows_and_always_train(tmp_path):
    """info.origin (generated by make generate, agent-eval by agent-eval) makes the row's origin `generated`; with a
    test fraction that holds out both tasks, the user's own run goes to test and the generated one to train."""
    from extract.records import Session
    from extract.split import side
    from extract_support import HERMETIC, rows
    from extract.__main__ import main

    def held_out(iid):  # the task hash alone, as extraction splits a mini-swe-agent session by its instance id
        return side(Session(id=iid, source="mini-swe-agent", agent="build", directory=iid, title=iid,
                            time_created=0, task=iid), 0.5) == "test"

    ids = [f"calc{k}-r1" for k in range(40) if held_out(f"calc{k}-r1")][:3]
    out = tmp_path / "runs" / "serpent"
    _attempt(out, ids[0], "generated")
    _attempt(out, ids[1], "agent-eval")
    _attempt(out, ids[2], None)
    found, stats = sessions(Source("mini-swe-agent", out))
    assert {i: s.origin for i, s in found.items()} == {ids[0]: "generated", ids[1]: "generated", ids[2]: "real"}
    assert stats.counts["trajectories the workbench generated (train only)"] == 2

    data = tmp_path / "data"
    assert main(["--swe-dir", str(out), "--resolved-only", "--out", str(data), *HERMETIC,
                 "extract.test_fraction=0.5"]) == 0
    got = {(r["session_id"], r["origin"], r["_split"]) for r in rows(data, "serpent")}
    assert got == {(ids[0], "generated", "train"), (ids[1], "generated", "train"), (ids[2], "real", "test")}
    ledger = json.loads((data / "sessions.json").read_text())["sources"]["mini-swe-agent"]
    assert {i: (e["origin"], e["side"]) for i, e in ledger.items()} == \
        {ids[0]: ("generated", "train"), ids[1]: ("generated", "train"), ids[2]: ("real", "test")}
