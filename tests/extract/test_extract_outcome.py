"""Outcome signals: how a session went, from exit codes, tool errors, SWE-bench and the user's reactions."""
from __future__ import annotations

import pytest

from extract.outcome import assess, feedback
from extract.records import Session, Step, ToolCall, Turn
from extract_support import add_session, extract, manifest, new_store, rows


def _bash(code: int | None, status: str = "completed") -> ToolCall:
    return ToolCall(id="c", name="bash", arguments={"command": "pytest"}, output="", status=status, exit_code=code)


def _session(*turns: tuple[str, list[Step]], source="opencode", resolved=None) -> Session:
    return Session(id="s", source=source, agent="build", directory="", title="", time_created=0,
                   turns=[Turn(prompt=p, steps=st) for p, st in turns], resolved=resolved)


@pytest.mark.parametrize("text,expected", [
    ("still broken, same error", "negative"), ("it doesn't work", "negative"), ("thanks, but it still fails", "negative"),
    ("that works, thanks!", "positive"), ("perfect", "positive"), ("LGTM", "positive"),
    ("now add a --json flag", None)])
def test_the_users_next_message_reads_as_a_reaction(text, expected):
    assert feedback(text) == expected


def test_swe_bench_verdict_decides_when_there_is_one():
    steps = [Step(tool_calls=[_bash(1)]), Step(text="done")]
    assert assess(_session(("t", steps), source="mini-swe-agent", resolved=True)).label == "resolved"
    assert assess(_session(("t", steps), source="mini-swe-agent", resolved=False)).label == "unresolved"


def test_the_final_turns_last_command_decides_next():
    ok = _session(("fix", [Step(tool_calls=[_bash(1)]), Step(tool_calls=[_bash(0)]), Step(text="Fixed.")]))
    bad = _session(("fix", [Step(tool_calls=[_bash(0)]), Step(tool_calls=[_bash(2)]), Step(text="Still red.")]))
    assert (assess(ok).label, assess(ok).failed_commands) == ("succeeded", 1)
    assert (assess(bad).label, assess(bad).failed_commands) == ("failed", 1)


def test_a_session_ending_on_an_unanswered_call_is_abandoned():
    assert assess(_session(("fix", [Step(text="Looking."), Step(tool_calls=[_bash(0)])]))).label == "abandoned"


def test_without_a_command_the_users_last_reaction_decides():
    s = _session(("explain", [Step(text="Here.")]), ("still broken", [Step(text="Try this.")]))
    assert (assess(s).label, assess(s).negative) == ("failed", 1)
    assert assess(_session(("explain", [Step(text="Here.")]))).label == "unknown"


def test_tool_errors_are_counted():
    s = _session(("fix", [Step(tool_calls=[_bash(None, "error"), _bash(0)]), Step(text="ok")]))
    assert assess(s).tool_errors == 1


def test_outcomes_are_a_column_counted_in_the_manifest_and_can_be_dropped(tmp_path):
    with new_store(tmp_path / "s.db") as b:
        p = b.project("/w")
        add_session(b, p, "fix the tests", lang="python", steps=[
            {"text": "Run.", "tools": [{"tool": "bash", "input": {"command": "pytest", "description": "t"},
                                        "output": "1 failed", "exit": 1}]},
            {"text": "Still failing.", "finish": "stop"}])
        add_session(b, p, "add the helper", lang="python", steps=[
            {"text": "Run.", "tools": [{"tool": "bash", "input": {"command": "pytest", "description": "t"},
                                        "output": "ok", "exit": 0}]},
            {"text": "Done.", "finish": "stop"}])
    out = tmp_path / "out"
    assert extract(tmp_path / "s.db", out, "extract.test_fraction=0") == 0
    assert sorted(r["outcome"] for r in rows(out, "serpent")) == ["failed", "succeeded"]
    assert manifest(out)["outcomes"]["failed"] == 1
    assert extract(tmp_path / "s.db", out, "extract.test_fraction=0", "--drop-outcomes", "failed,abandoned") == 0
    assert [r["outcome"] for r in rows(out, "serpent")] == ["succeeded"]
    assert manifest(out)["sessions_skipped"]["outcome failed"] == 1


def test_an_unknown_outcome_name_is_a_config_error(tmp_path, capsys):
    with new_store(tmp_path / "s.db") as b:
        add_session(b, b.project("/w"), "fix", lang="python")
    assert extract(tmp_path / "s.db", tmp_path / "out", "--drop-outcomes", "bad") == 2
    assert "unknown outcome 'bad'" in capsys.readouterr().err
