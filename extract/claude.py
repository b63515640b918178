"""Read Claude Code transcripts (~/.claude/projects/<slug>/<sessionId>.jsonl) into Session records."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from .fastjson import loads
from .opencode import ReadOptions, ReadStats, cut_text
from .readers import drop_unanswered, iso_ms
from .records import Session, Step, ToolCall, Turn
from .tools import CLAUDE_TOOLSET

# Human-looking user lines that are harness echoes, not prompts.
_ECHO = re.compile(r"^\s*(<local-command-stdout>|<local-command-stderr>|<local-command-caveat>|"
                   r"\[Request interrupted by user|Caveat: The messages below were generated)")
# A slash command's echo (`/init`, a custom command). The expanded prompt follows as an isMeta user line.
_COMMAND = re.compile(r"^\s*(<command-name>|<command-message>)")
# Every record kind Claude Code 2.x writes besides the conversation: none reaches the model as text it answers
# (attachments are rendered into the request by the CLI itself and are not in the transcript as sent), so each
# is counted and skipped. Unknown kinds are counted by name.
_NOT_CONVERSATION = {"summary", "system", "file-history-snapshot", "queue-operation", "attachment", "progress",
                     "ai-title", "custom-title", "permission-mode", "mode", "last-prompt", "tag", "agent-name",
                     "pr-link", "worktree-state", "content-replacement"}
_EXIT = re.compile(r"^(?:Error: )?Exit code (\d+)")


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _lines(path: Path, stats: ReadStats, sid: str) -> Iterator[dict]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = loads(raw)
            except ValueError:  # a crash mid-write leaves a partial (usually the last) line
                stats.skip("malformed or truncated lines", sid)
                continue
            if isinstance(obj, dict):
                yield obj
            else:
                stats.skip("malformed or truncated lines", sid)


def session_files(root: Path) -> Iterator[Path]:
    """Main transcripts only: agent-*.jsonl files and <session>/subagents/ hold subagents, not sessions."""
    if root.is_file():
        yield root
        return
    for p in sorted(root.rglob("*.jsonl")):
        if p.name.startswith("agent-") or "subagents" in p.parts:
            continue
        yield p


def read(src, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    root = Path(src.path)
    if not root.is_dir() and not (root.is_file() and root.suffix == ".jsonl"):
        from .opencode import StoreError

        raise StoreError(f"claude-code source {root}: not a folder of transcripts (~/.claude/projects)")
    subagents = {p.stem.removeprefix("agent-") for p in root.rglob("agent-*.jsonl")} if root.is_dir() else set()
    for path in session_files(root):
        stats.counts["sessions seen"] += 1
        try:
            s = _session(path, opts, stats)
        except Exception as e:  # noqa: BLE001 - one damaged file never stops the others
            stats.unusable(path.name, e)
            continue
        if s is not None:
            if subagents:
                stats.counts["subagent transcripts linked"] += sum(1 for a in s.subagents if a in subagents)
            yield s


def _session(path: Path, opts: ReadOptions, stats: ReadStats) -> Session | None:
    sid = path.stem
    session = Session(id=sid, source="claude-code", agent="build", directory="", title="", time_created=0,
                      toolset=list(CLAUDE_TOOLSET))
    calls: dict[str, ToolCall] = {}  # tool_use id -> call, until its result arrives
    step: Step | None = None
    step_id: str | None = None
    turn: Turn | None = None
    summary = ""
    command: str | None = None  # a slash command's echo, until its expanded prompt (or the answer) comes
    for line in _lines(path, stats, sid):
        try:  # a line of a shape no version writes is skipped
            kind = line.get("type")
            stats.kinds[f"claude-code: {kind if isinstance(kind, str) else 'no type'}"] += 1
            if kind == "summary":
                summary = summary or (line["summary"] if isinstance(line.get("summary"), str) else "")
                continue
            if kind not in ("user", "assistant"):
                if kind not in _NOT_CONVERSATION:
                    stats.skip(f"unknown line type {kind!r}", sid)
                continue
            if line.get("isSidechain"):  # an inline subagent conversation: linked, not trained as this session
                aid = line.get("agentId")
                if isinstance(aid, str) and aid and aid not in session.subagents:
                    session.subagents.append(aid)
                msg = line.get("message")
                blocks = msg.get("content") if kind == "assistant" and isinstance(msg, dict) else None
                for block in blocks if isinstance(blocks, list) else []:
                    # the work it did for this session still says the session's language
                    if isinstance(block, dict) and block.get("type") == "tool_use" and isinstance(block.get("input"),
                                                                                               dict):
                        session.evidence.append(ToolCall(id=str(block.get("id")), name=str(block.get("name")),
                                                         arguments=block["input"], output="", status="pending"))
                continue
            session.directory = session.directory or str(line.get("cwd") or "")
            session.time_created = session.time_created or iso_ms(line.get("timestamp")) or 0
            msg = line.get("message")
            if not isinstance(msg, dict):
                stats.skip("lines without a message", sid)
                continue
            if kind == "assistant":
                if command is not None:  # a command answered without an expanded prompt: the echo is what it saw
                    turn, step, command = Turn(prompt=command, time=iso_ms(line.get("timestamp"))), None, None
                    session.turns.append(turn)
                    stats.counts["slash-command prompts"] += 1
                if turn is None:
                    stats.skip("assistant lines before any prompt", sid)
                    continue
                mid = msg.get("id") or line.get("requestId") or line.get("uuid")
                if step is None or mid != step_id:  # one API response is split over several lines: merge by id
                    step, step_id = Step(), mid
                    turn.steps.append(step)
                    session.model = session.model or (msg["model"] if isinstance(msg.get("model"), str) else None)
                for block in msg.get("content") or []:
                    if not isinstance(block, dict):
                        continue
                    t = block.get("type")
                    if t == "text" and isinstance(block.get("text"), str):
                        step.text = (step.text + "\n\n" + block["text"]).strip() if step.text else block["text"]
                    elif t == "thinking" and opts.reasoning and isinstance(block.get("thinking"), str):
                        step.reasoning = ((step.reasoning or "") + "\n\n" + block["thinking"]).strip()
                    elif t == "tool_use" and isinstance(block.get("input"), dict) and block.get("id"):
                        call = ToolCall(id=block["id"], name=str(block.get("name") or "tool"), arguments=block["input"],
                                        output="", status="pending")
                        calls[call.id] = call
                        step.tool_calls.append(call)
                continue
            # a user line: tool results, a human prompt, or harness noise
            content = msg.get("content")
            results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"] \
                if isinstance(content, list) else []
            for r in results:
                call = calls.pop(str(r.get("tool_use_id")), None)
                if call is None:
                    stats.skip("tool results without a call", sid)
                    continue
                text = _result_text(r.get("content"))
                call.status = "error" if r.get("is_error") else "completed"
                call.output, was_cut = cut_text(text, opts.tool_output_chars)
                stats.counts["tool outputs cut"] += was_cut
                m = _EXIT.match(text)
                call.exit_code = int(m.group(1)) if m else (0 if call.name == "Bash" and call.status == "completed" else None)
                tur = line.get("toolUseResult")
                if isinstance(tur, dict) and tur.get("agentId") and tur["agentId"] not in session.subagents:
                    session.subagents.append(tur["agentId"])
            if results:
                step = None  # the next assistant response starts a new step
                continue
            text = content if isinstance(content, str) else "\n\n".join(
                b.get("text", "") for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
                and b.get("type") == "text") if isinstance(content, list) else ""
            if not text.strip() or _ECHO.match(text):
                if text.lstrip().startswith(("<local-command-stdout>", "<local-command-stderr>")):
                    command = None  # a local command (/model, /exit): the model never saw it
                stats.skip("local-command echoes and interruptions", sid)
                continue
            if _COMMAND.match(text):
                command = text.strip()
                continue
            if line.get("isMeta"):
                # What the model saw and answered: a slash command's expanded prompt (after its echo), or a meta
                # line that opens the session. Other meta lines (reminders within a turn) are context, not prompts.
                if command is None and turn is not None:
                    stats.skip("meta lines within a turn", sid)
                    continue
                text = f"{command}\n\n{text.strip()}" if command else text
                command = None
                stats.counts["slash-command prompts"] += 1
            elif line.get("isCompactSummary"):
                # After a compaction the summary is what the model had of the session: it is the prompt it goes on from.
                stats.counts["compaction summaries as prompts"] += 1
            turn = Turn(prompt=text.strip(), time=iso_ms(line.get("timestamp")))
            session.turns.append(turn)
            step, command = None, None
        except (TypeError, AttributeError, ValueError, KeyError):
            stats.skip("lines of an unexpected shape", sid)
    # calls whose result never came (interrupted) are dropped, like opencode's pending/running ones
    drop_unanswered(session, stats, "interrupted tool calls")
    if not session.turns:
        stats.skip_session("sessions with no assistant steps", sid)
        return None
    session.title = summary or session.turns[0].prompt.splitlines()[0][:80]
    return session
