"""Small pieces the log-file readers (Claude Code, Codex, mini-swe-agent) share."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from .fastjson import loads
from .opencode import ReadStats
from .records import Session


def iso_ms(ts: Any) -> int | None:
    """An ISO-8601 timestamp ('...Z' or with an offset) as epoch milliseconds; None if it is not one."""
    if not isinstance(ts, str):
        return None
    try:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def parse_arguments(raw: Any) -> dict | None:
    """Tool-call arguments recorded as a JSON string (or already a dict) as a dict; None if unreadable."""
    try:
        args = loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    return args if isinstance(args, dict) else None


def drop_unanswered(session: Session, stats: ReadStats, reason: str) -> None:
    """Drop calls still 'pending' (no result ever came), then steps and turns left empty; count the drops."""
    for turn in session.turns:
        for step in turn.steps:
            left = [c for c in step.tool_calls if c.status == "pending"]
            if left:
                stats.skip(reason, session.id, len(left))
                session.evidence.extend(left)  # not trained, but `cargo test` still says Rust
                step.tool_calls = [c for c in step.tool_calls if c.status != "pending"]
        turn.steps = [st for st in turn.steps if st.text or st.tool_calls]
    session.turns = [t for t in session.turns if t.steps]
