"""AGENT=codex stops before anything is served when the served context cannot hold Codex's prompt; the report names
Codex's own sandbox."""
import pytest

from agent import clients, codex
from agent.evaluate import _sandbox


def test_too_small_a_context_for_codex_is_one_line_naming_the_setting():
    with pytest.raises(clients.ClientError, match=r"serve\.n_ctx") as e:
        codex.check_context({"context": 4096, "output": 512})
    assert "\n" not in str(e.value) and "4096" in str(e.value)
    codex.check_context({"context": codex.MIN_CONTEXT, "output": 512})  # enough: no error
    codex.check_context(None)  # another server's context is unknown: the run goes on


def test_a_codex_run_reports_codexs_own_sandbox():
    assert _sandbox({"sandbox": "codex workspace-write"}).startswith("Codex's own workspace-write sandbox")
    assert _sandbox({"sandbox": "none"}).startswith("none")


def test_a_codex_run_counts_its_requests_and_tokens_from_its_events():
    res = codex.RunResult(0, [
        {"type": "thread.started", "thread_id": "t1"},
        {"type": "item.completed", "item": {"type": "error", "message": "Model metadata for `serpent` not found."}},
        {"type": "item.completed", "item": {"type": "command_execution", "command": "ls", "exit_code": 0}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "Done."}},
        {"type": "turn.completed", "usage": {"input_tokens": 300, "output_tokens": 20}}], "", 1.0)
    assert (res.thread_id, res.steps(), res.tokens(), res.error()) == (
        "t1", 2, {"prompt_tokens": 300, "completion_tokens": 20}, "")
    failed = codex.RunResult(1, [{"type": "turn.failed", "error": {"message": "stream disconnected"}}], "", 1.0)
    assert "stream disconnected" in failed.error()
