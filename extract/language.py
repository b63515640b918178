"""The programming language of an OpenAI-style conversation, by the same evidence rules extraction classifies with.

Extraction's public entry point for other stages (serving routes `model: auto` with it): the messages become one
session record (user prompts, assistant text and tool calls, tool results by call id) and `classify` judges it.
System messages are not evidence: they are the agent's instructions, not what the conversation did.
"""
from __future__ import annotations

import json
from typing import Any

from .fastjson import loads
from .classify import Verdict, classify
from .records import Session, Step, ToolCall, Turn


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content
                         if isinstance(p, (dict, str)))
    return ""


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = loads(raw)
        except json.JSONDecodeError:
            return {}
    return raw if isinstance(raw, dict) else {}


def session_of(messages: list[dict[str, Any]]) -> Session:
    """The conversation as a session record (no ids, times or agent: only what classification reads)."""
    session = Session(id="conversation", source="openai", agent=None, directory="", title="", time_created=0)
    calls: dict[str, ToolCall] = {}
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role == "user":
            session.turns.append(Turn(prompt=_text(m.get("content"))))
        elif role == "assistant":
            if not session.turns:
                session.turns.append(Turn(prompt=""))
            step = Step(text=_text(m.get("content")))
            for i, c in enumerate(m.get("tool_calls") or []):
                fn = (c.get("function") if isinstance(c, dict) else None) or {}
                call = ToolCall(id=str(c.get("id") or i), name=str(fn.get("name") or ""),
                                arguments=_arguments(fn.get("arguments")), output="")
                calls[call.id] = call
                step.tool_calls.append(call)
            session.turns[-1].steps.append(step)
        elif role == "tool" and str(m.get("tool_call_id")) in calls:
            calls[str(m.get("tool_call_id"))].output = _text(m.get("content"))
    return session


def language_of(messages: list[dict[str, Any]], *, min_score: float = 3.0, margin: float = 2.0) -> Verdict:
    """The conversation's language (a Verdict: language or None, reason, scores), extraction's thresholds."""
    return classify(session_of(messages), min_score=min_score, margin=margin)
