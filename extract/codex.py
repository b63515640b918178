"""Read OpenAI Codex CLI rollouts (~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl) into Session records."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from .fastjson import loads
from .opencode import ReadOptions, ReadStats, StoreError, cut_text
from .readers import drop_unanswered, iso_ms, parse_arguments
from .records import Session, Step, ToolCall, Turn
from .tools import CODEX_TOOLSET, CODEX_TOOLSET_2025

_EXIT = re.compile(r"Process exited with code (-?\d+)")
_INJECTED = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions", "<permissions",
             "<user_shell_command>")
_RESPONSE_TYPES = {"message", "reasoning", "function_call", "function_call_output", "custom_tool_call",
                   "custom_tool_call_output", "local_shell_call", "web_search_call", "ghost_snapshot", "compaction"}
_KNOWN_EVENTS = {"user_message", "agent_message", "agent_reasoning", "token_count", "task_started", "task_complete",
                 "turn_aborted", "exec_command_begin", "exec_command_end", "patch_apply_begin", "patch_apply_end",
                 "agent_reasoning_section_break", "turn_diff", "context_compacted", "entered_review_mode",
                 "exited_review_mode", "mcp_tool_call_begin", "mcp_tool_call_end", "web_search_begin",
                 "web_search_end", "stream_error", "error", "plan_update", "user_message_event",
                 # 0.171: every finished item again (a UserMessage item is the prompt), the thread's settings
                 "item_completed", "item_started", "thread_settings_applied"}
# 0.171's line kinds beside the response items: the world the turn ran in, and each response's token usage
_KNOWN_LINES = {"world_state", "token_usage_record"}


def _str(v: Any) -> str | None:
    """A field that must be a string, or None (damaged lines put lists and numbers where strings were)."""
    return v if isinstance(v, str) else None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
                       and b.get("type") in ("input_text", "output_text", "text"))
    return ""


def _compaction_text(p: dict, prompts: set[str]) -> str:
    """The part of a `compacted` record the session does not hold yet: its summary message, new history items."""
    parts = [p["message"].strip()] if isinstance(p.get("message"), str) and p["message"].strip() else []
    for item in p.get("replacement_history") or []:
        if isinstance(item, dict) and item.get("type") == "message" and item.get("role") in ("user", "assistant"):
            text = _text(item.get("content")).strip()
            if text and text not in prompts and not text.startswith(_INJECTED) and text not in parts:
                parts.append(text)
    return "\n\n".join(parts)


def _output(raw: Any) -> tuple[str, int | None]:
    """A call's output text and exit code, from either shell era."""
    if isinstance(raw, list):  # rich output: content items
        raw = _text(raw)
    if not isinstance(raw, str):
        return ("" if raw is None else json.dumps(raw, ensure_ascii=False)), None
    if raw.startswith("{"):  # <= late 2025: {"output": "...", "metadata": {"exit_code": 0, ...}}
        try:
            obj = loads(raw)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "output" in obj:
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            code = meta.get("exit_code")
            return str(obj["output"]), code if isinstance(code, int) else None
    m = _EXIT.search(raw)  # 2026: "Chunk ID: …\nWall time: …\nProcess exited with code N\n…\nOutput:\n…"
    return raw, int(m.group(1)) if m else None


def rollout_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    yield from sorted(root.rglob("rollout-*.jsonl"))


def read(src, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    root = Path(src.path)
    if not root.is_dir() and not (root.is_file() and root.suffix == ".jsonl"):
        raise StoreError(f"codex source {root}: not a folder of rollouts (~/.codex/sessions)")
    for path in rollout_files(root):
        stats.counts["sessions seen"] += 1
        try:
            s = _session(path, opts, stats)
        except Exception as e:  # noqa: BLE001 - one damaged file never stops the others
            stats.unusable(path.name, e)
            continue
        if s is not None:
            yield s


def _items(path: Path, stats: ReadStats, sid: str) -> Iterator[tuple[str, dict, Any]]:
    """(type, payload, timestamp) for every line; very old rollouts have bare items without the envelope."""
    with path.open(encoding="utf-8", errors="replace") as f:
        for i, raw in enumerate(f):
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = loads(raw)
            except ValueError:
                stats.skip("malformed or truncated lines", sid)
                continue
            if not isinstance(obj, dict):
                stats.skip("malformed or truncated lines", sid)
            elif "payload" in obj and isinstance(obj.get("type"), str):
                yield obj["type"], obj["payload"] if isinstance(obj["payload"], dict) else {}, obj.get("timestamp")
            elif i == 0 and "id" in obj and "timestamp" in obj:  # mid-2025: {id, timestamp, instructions, git}
                yield "session_meta", obj, obj.get("timestamp")
            elif obj.get("record_type") == "state":
                continue
            elif _str(obj.get("type")) in _RESPONSE_TYPES:
                yield "response_item", obj, None
            else:
                stats.skip(f"unknown line type {obj.get('type')!r}", sid)


def _session(path: Path, opts: ReadOptions, stats: ReadStats) -> Session | None:
    sid = path.stem.removeprefix("rollout-")
    session = Session(id=sid, source="codex", agent="build", directory="", title="", time_created=0)
    calls: dict[str, ToolCall] = {}
    turn: Turn | None = None
    step: Step | None = None
    metas = 0
    summary = ""  # a compaction's summary, until the next prompt
    items = list(_items(path, stats, sid))
    # rollouts with user_message events (or, from 0.171 on, UserMessage items) take prompts from them only: user
    # response items are injected context there (a rollout with both kinds: the user_message events)
    kinds = {_str(p.get("type")) for k, p, _ in items if k == "event_msg" and _prompt_event(p) is not None}
    prompt_kind = "user_message" if "user_message" in kinds else "item_completed" if kinds else None
    has_events = prompt_kind is not None
    for kind, p, ts in items:
        try:  # a line of a shape no version writes (a list for an object, a number for a string) is skipped
            if kind == "session_meta":
                if metas:  # a resumed session (or a Desktop restart) writes it again: the first one is the session
                    stats.counts["resumed-session meta records"] += 1
                    continue
                metas += 1
                session.id = _str(p.get("id")) or sid
                session.directory = _str(p.get("cwd")) or session.directory
                session.time_created = iso_ms(p.get("timestamp")) or iso_ms(ts) or 0
                session.client_version = _str(p.get("cli_version"))
                source = p.get("source")
                if isinstance(source, dict) and "subagent" in source:
                    session.parent_id = str(source.get("subagent") or "subagent")
                continue
            if kind == "turn_context":
                session.model = session.model or _str(p.get("model"))
                continue
            if kind == "event_msg":
                et = _str(p.get("type"))
                prompt = _prompt_event(p) if et == prompt_kind else None
                if et == "thread_settings_applied":
                    settings = p.get("thread_settings") if isinstance(p.get("thread_settings"), dict) else {}
                    session.model = session.model or _str(settings.get("model"))
                if prompt:
                    if summary:
                        prompt, summary = f"Summary of the work so far:\n{summary}\n\n{prompt}", ""
                    turn = Turn(prompt=prompt, time=iso_ms(ts))
                    session.turns.append(turn)
                    step = None
                elif et not in _KNOWN_EVENTS:
                    stats.skip(f"unknown event type {et or p.get('type')!r}", sid)
                continue
            if kind == "compacted":
                # What the model had after a compaction: its summary, and the history it kept (earlier prompts,
                # which are turns here already). What is new in it goes in front of the next prompt.
                summary = _compaction_text(p, {t.prompt for t in session.turns})
                stats.counts["compactions carried into the next prompt" if summary else "compactions"] += 1
                continue
            if kind in _KNOWN_LINES:
                continue
            if kind != "response_item":
                stats.skip(f"unknown line type {kind!r}", sid)
                continue
            t = _str(p.get("type"))
            if t == "message":
                role = p.get("role")
                if role == "user":
                    text = _text(p.get("content")).strip()
                    if has_events or not text or text.startswith(_INJECTED):
                        continue  # injected context, or a duplicate of the user_message event
                    turn = Turn(prompt=text, time=iso_ms(ts))
                    session.turns.append(turn)
                    step = None
                elif role == "assistant" and turn is not None:
                    step = step or _new_step(turn)
                    text = _text(p.get("content")).strip()
                    step.text = f"{step.text}\n\n{text}".strip() if step.text else text
                continue  # developer and system messages are harness-only
            if turn is None:
                if t not in ("function_call_output", "custom_tool_call_output"):
                    stats.skip("items before any prompt", sid)
                continue
            if t == "reasoning":
                if opts.reasoning:
                    step = step or _new_step(turn)
                    summary = "\n".join(s.get("text", "") for s in p.get("summary") or [] if isinstance(s, dict))
                    step.reasoning = ((step.reasoning or "") + "\n" + summary).strip() or None
            elif t in ("function_call", "custom_tool_call", "local_shell_call"):
                step = step or _new_step(turn)
                call = _call(p, sid, stats)
                if call is not None:
                    calls[call.id] = call
                    step.tool_calls.append(call)
            elif t in ("function_call_output", "custom_tool_call_output"):
                call = calls.pop(str(p.get("call_id")), None)
                if call is None:
                    stats.skip("outputs without a call", sid)
                    continue
                text, code = _output(p.get("output"))
                call.output, was_cut = cut_text(text, opts.tool_output_chars)
                stats.counts["tool outputs cut"] += was_cut
                call.exit_code = code
                call.status = "completed"  # a non-zero exit code is the command's outcome, not a failed tool call
                step = None  # the model's next response is a new step
            elif t not in _RESPONSE_TYPES:
                stats.skip(f"unknown item type {t or p.get('type')!r}", sid)
        except (TypeError, AttributeError, ValueError, KeyError):
            stats.skip("lines of an unexpected shape", sid)
    drop_unanswered(session, stats, "interrupted tool calls")
    if session.parent_id and not opts.include_subagents:
        stats.skip_session("subagent sessions", session.id)
        return None
    if not session.turns:
        stats.skip_session("sessions with no assistant steps", session.id)
        return None
    session.title = session.turns[0].prompt.splitlines()[0][:80]
    used = {c.name for c in session.tool_calls}
    session.toolset = list(CODEX_TOOLSET_2025 if "shell" in used else CODEX_TOOLSET)
    return session


def _prompt_event(p: dict) -> str | None:
    """The user's prompt an event carries: `user_message` (to 0.16x), an `item_completed` UserMessage item (0.171,
    which writes no user_message); None for other events, "" for an empty one."""
    et = _str(p.get("type"))
    if et == "user_message":
        return p["message"].strip() if isinstance(p.get("message"), str) else ""
    item = p.get("item") if et == "item_completed" else None
    if isinstance(item, dict) and item.get("type") == "UserMessage":
        return _text(item.get("content")).strip()
    return None


def _new_step(turn: Turn) -> Step:
    step = Step()
    turn.steps.append(step)
    return step


def _call(p: dict, sid: str, stats: ReadStats) -> ToolCall | None:
    cid = p.get("call_id") or p.get("id")
    name = p.get("name") or ("shell" if p.get("type") == "local_shell_call" else None)
    if not cid or not name:
        stats.skip("tool calls missing fields", sid)
        return None
    if p.get("type") == "custom_tool_call":
        args: Any = {"input": p.get("input") if isinstance(p.get("input"), str) else ""}
    elif p.get("type") == "local_shell_call":
        args = p.get("action") if isinstance(p.get("action"), dict) else {}
    else:
        args = parse_arguments(p.get("arguments"))
        if args is None:
            stats.skip("tool calls with unreadable arguments", sid)
            return None
    return ToolCall(id=str(cid), name=str(name), arguments=args, output="", status="pending")
