"""Read mini-swe-agent trajectories (v1 and v2) joined with SWE-bench reports into Session records."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from .opencode import ReadOptions, ReadStats, StoreError, cut_text
from .readers import drop_unanswered, parse_arguments
from .records import Session, Step, ToolCall, Turn
from .tools import SWE_TOOLSET

# v1 (and v2's text mode): one fenced bash block per assistant message is the action
_ACTION = re.compile(r"```(?:bash|mswea_bash_command)\s*\n(.*?)\n?```", re.S)
_RETURNCODE = re.compile(r"<returncode>(-?\d+)</returncode>")
_OUTPUT = re.compile(r"<output>\n?(.*?)\n?</output>", re.S)
_THOUGHT = re.compile(r"^\s*THOUGHT:\s*", re.I)


def reports(root: Path) -> dict[str, bool]:
    """instance_id -> resolved, from every SWE-bench report.json under root (harness logs/run_evaluation/...)."""
    out: dict[str, bool] = {}
    for p in sorted(root.rglob("report.json")):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            for iid, r in data.items():
                if isinstance(r, dict) and isinstance(r.get("resolved"), bool):
                    out[iid] = r["resolved"]
    return out


def read(src, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    root = Path(src.path)
    if not root.is_dir():
        raise StoreError(f"mini-swe-agent source {root}: not a run's output folder (<out>/<instance>/*.traj.json)")
    rep_root = Path(src.reports) if getattr(src, "reports", None) else root
    if not rep_root.exists():
        raise StoreError(f"SWE-bench reports {rep_root}: no such folder")
    resolved = reports(rep_root)
    stats.counts["swe-bench reports found"] += len(resolved)
    for path in sorted(root.rglob("*.traj.json")):
        stats.counts["sessions seen"] += 1
        try:
            traj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stats.skip_session("unreadable trajectories", path.name)
            continue
        if not isinstance(traj, dict) or not isinstance(traj.get("messages"), list):
            stats.skip_session("unreadable trajectories", path.name)
            continue
        iid = str(traj.get("instance_id") or path.name.removesuffix(".traj.json"))
        s = _session(iid, path, traj, opts, stats)
        if s is None:
            continue
        s.resolved = resolved.get(iid)  # no report: not evaluated (or harness error), which is not "unresolved"
        if opts.resolved_only and s.resolved is not True:
            stats.skip_session("not resolved (or no report)", s.id)
            continue
        yield s


def _session(iid: str, path: Path, traj: dict, opts: ReadOptions, stats: ReadStats) -> Session | None:
    info = traj.get("info") if isinstance(traj.get("info"), dict) else {}
    cfg = info.get("config") if isinstance(info.get("config"), dict) else {}
    model = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    session = Session(id=iid, source="mini-swe-agent", agent="build", directory=iid, title=iid,
                      time_created=int(path.stat().st_mtime * 1000), model=model.get("model_name"),
                      toolset=list(SWE_TOOLSET), task=iid)
    msgs = [m for m in traj["messages"] if isinstance(m, dict)]
    users = [m for m in msgs if m.get("role") == "user"]
    if not users:
        stats.skip_session("sessions with no assistant steps", iid)
        return None
    turn = Turn(prompt=_content(users[0].get("content")).strip())
    session.turns.append(turn)
    pending: list[ToolCall] = []  # v1 text actions wait for the next user (observation) message
    n = 0
    for m in msgs[msgs.index(users[0]) + 1:]:
        role = m.get("role")
        if role == "assistant":
            step, pending = _step(m, iid, n, stats)
            n += 1
            if step.text or step.tool_calls:
                turn.steps.append(step)
        elif role == "tool":  # v2: one message per call, linked by tool_call_id
            extra = m.get("extra") if isinstance(m.get("extra"), dict) else {}
            call = next((c for c in pending if c.id == m.get("tool_call_id")), None)
            if call is not None:
                _observe(call, _content(m.get("content")), extra.get("returncode"), opts, stats)
                pending.remove(call)
        elif role == "user" and pending:  # v1: the observation of the last action
            _observe(pending.pop(0), _content(m.get("content")), None, opts, stats)
        # system prompts, format-error nags and the final 'exit' message are the harness, not the agent
    drop_unanswered(session, stats, "actions without an observation")
    if not session.turns:
        stats.skip_session("sessions with no assistant steps", iid)
        return None
    return session


def _content(c: Any) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "\n".join(b.get("text", "") for b in c if isinstance(b, dict))
    return ""


def _step(m: dict, iid: str, n: int, stats: ReadStats) -> tuple[Step, list[ToolCall]]:
    text = _content(m.get("content"))
    calls: list[ToolCall] = []
    for i, tc in enumerate(m.get("tool_calls") or []):  # v2 tool calling
        fn = tc.get("function") if isinstance(tc, dict) else None
        if not isinstance(fn, dict):
            continue
        args = parse_arguments(fn.get("arguments"))
        if args is None:
            stats.skip("tool calls with unreadable arguments", iid)
            continue
        calls.append(ToolCall(id=str(tc.get("id") or f"{iid}-{n}-{i}"), name=str(fn.get("name") or "bash"),
                              arguments=args, output="", status="pending"))
    if not calls:  # v1 / text mode: the fenced block is the action, the rest is the thought
        blocks = _ACTION.findall(text)
        if len(blocks) == 1:
            calls.append(ToolCall(id=f"{iid}-{n}", name="bash", arguments={"command": blocks[0].strip()},
                                  output="", status="pending"))
            text = _ACTION.sub("", text)
    return Step(text=_THOUGHT.sub("", text).strip(), tool_calls=calls), list(calls)


def _observe(call: ToolCall, text: str, code: Any, opts: ReadOptions, stats: ReadStats) -> None:
    m = _RETURNCODE.search(text)
    if code is None and m:
        code = int(m.group(1))
    out = _OUTPUT.search(text)
    body = out.group(1) if out else text
    call.output, was_cut = cut_text(body, opts.tool_output_chars)
    stats.counts["tool outputs cut"] += was_cut
    call.exit_code = code if isinstance(code, int) else None
    call.status = "completed"
