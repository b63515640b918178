"""Read mini-swe-agent trajectories (v1 and v2) joined with SWE-bench reports into Session records."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
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


@dataclass
class Report:
    """One SWE-bench harness verdict: logs/run_evaluation/<run_id>/<model>/<instance>/report.json."""

    instance: str
    resolved: bool
    run_id: str
    model_dir: str  # the model name with / as __
    patch: str | None  # the patch.diff beside it: exactly what was evaluated


def reports(root: Path) -> dict[str, list[Report]]:
    """instance_id -> every report for it under root (several runs may have evaluated one instance)."""
    out: dict[str, list[Report]] = {}
    for p in sorted(root.rglob("report.json")):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        parts = p.parent.parts
        run_id, model_dir = (parts[-3], parts[-2]) if len(parts) >= 3 else ("", "")
        patch_file = p.parent / "patch.diff"
        try:
            patch = patch_file.read_text(encoding="utf-8") if patch_file.is_file() else None
        except OSError:
            patch = None
        for iid, r in data.items():
            if isinstance(r, dict) and isinstance(r.get("resolved"), bool):
                out.setdefault(iid, []).append(Report(iid, r["resolved"], run_id, model_dir, patch))
    return out


def _verdict(candidates: list[Report], run: str, model: str | None, submission: str | None, runs_of_instance: int,
             stats: ReadStats, sid: str) -> bool | None:
    """The report that belongs to this run's trajectory, matched per run, never across runs by instance id alone.

    In order: the evaluated patch is the trajectory's submission; the report's run id is the run's folder name; the
    instance was run only once under SWE_DIR (then its model, where known, must agree). Otherwise unknown.
    """
    if not candidates:
        return None
    if submission and any(c.patch is not None for c in candidates):
        same = {c.resolved for c in candidates if c.patch is not None and c.patch.strip() == submission.strip()}
        if len(same) == 1:
            return same.pop()
    named = {c.resolved for c in candidates if c.run_id == run}
    if len(named) == 1:
        return named.pop()
    if runs_of_instance == 1:
        if model:
            by_model = [c for c in candidates if c.model_dir == model.replace("/", "__")] or candidates
        else:
            by_model = candidates
        verdicts = {c.resolved for c in by_model}
        if len(verdicts) == 1:
            return verdicts.pop()
    stats.skip("SWE-bench reports that could belong to several runs (left unknown)", sid)
    return None


def trajectory_files(root: Path) -> list[Path]:
    """mini-swe-agent's <instance>/<instance>.traj.json and SWE-agent's <instance>.traj files."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith((".traj.json", ".traj")))


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None


def read(src, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    root = Path(src.path)
    if not root.is_dir():
        raise StoreError(f"mini-swe-agent source {root}: not a run's output folder (<out>/<instance>/*.traj.json)")
    rep_root = Path(src.reports) if getattr(src, "reports", None) else root
    if not rep_root.exists():
        raise StoreError(f"SWE-bench reports {rep_root}: no such folder")
    found = reports(rep_root)
    stats.counts["swe-bench reports found"] += sum(len(v) for v in found.values())
    files = trajectory_files(root)
    runs: dict[str, set[Path]] = {}  # instance -> the runs (folders) that hold a trajectory of it
    for path in files:
        runs.setdefault(_instance(path), set()).add(_run(path, root))
    for path in files:
        stats.counts["sessions seen"] += 1
        iid, run = _instance(path), _run(path, root)
        traj = _load(path)
        try:
            s = _read_one(iid, path, traj, opts, stats)
            if s is None:
                continue
            if len(runs[iid]) > 1:  # several runs of one instance are several sessions of one task
                s.id = f"{iid}@{run.name}"
            info = traj.get("info") if isinstance(traj, dict) and isinstance(traj.get("info"), dict) else {}
            submission = info.get("submission") if isinstance(info.get("submission"), str) else None
            s.resolved = _verdict(found.get(iid, []), run.name, s.model, submission, len(runs[iid]), stats, s.id)
        except Exception as e:  # noqa: BLE001 - one damaged trajectory never stops the others
            stats.unusable(path.name, e)
            continue
        if opts.resolved_only and s.resolved is not True:
            stats.skip_session("not resolved (or no report)", s.id)
            continue
        yield s


def _instance(path: Path) -> str:
    return path.name.removesuffix(".traj.json").removesuffix(".traj")


def _run(path: Path, root: Path) -> Path:
    """The run folder: <run>/<instance>/<instance>.traj.json, or the folder holding <instance>.traj."""
    d = path.parent
    if d.name == _instance(path) and d != root:
        d = d.parent
    return d


def _read_one(iid: str, path: Path, traj: Any, opts: ReadOptions, stats: ReadStats) -> Session | None:
    if isinstance(traj, list) and traj and all(isinstance(m, dict) and "role" in m for m in traj):
        traj = {"messages": traj}  # mini-swe-agent's first format: the bare list of messages
        stats.counts["trajectories in the bare-list format"] += 1
    if path.name.endswith(".traj") and isinstance(traj, dict) and isinstance(traj.get("trajectory"), list):
        return _swe_agent(iid, path, traj, opts, stats)
    if not isinstance(traj, dict) or not isinstance(traj.get("messages"), list):
        stats.skip_session("unreadable trajectories", path.name)
        return None
    iid = str(traj.get("instance_id") or iid) if isinstance(traj.get("instance_id"), (str, type(None))) else iid
    return _session(iid, path, traj, opts, stats)


def _swe_agent(iid: str, path: Path, traj: dict, opts: ReadOptions, stats: ReadStats) -> Session | None:
    """SWE-agent's .traj: the task is the first user message that is not a demonstration; each trajectory entry
    is one step, its thought the text and its action a command run in SWE-agent's shell (open, edit and its
    other commands are shell commands there), with the observation as output."""
    history = [m for m in traj.get("history") or [] if isinstance(m, dict)]
    task = next((m for m in history if m.get("role") == "user" and not m.get("is_demo")), None)
    prompt = _content(task.get("content")).strip() if task else ""
    session = Session(id=iid, source="swe-agent", agent="build", directory=iid, title=iid,
                      time_created=int(path.stat().st_mtime * 1000), toolset=list(SWE_TOOLSET))
    if not prompt:
        stats.skip_session("sessions with no assistant steps", iid)
        return None
    turn = Turn(prompt=prompt)
    session.turns.append(turn)
    for n, entry in enumerate(traj["trajectory"]):
        if not isinstance(entry, dict):
            stats.skip("lines of an unexpected shape", iid)
            continue
        thought = entry.get("thought") if isinstance(entry.get("thought"), str) else ""
        action = entry.get("action") if isinstance(entry.get("action"), str) else ""
        step = Step(text=thought.strip())
        if action.strip():
            out = entry.get("observation") if isinstance(entry.get("observation"), str) else ""
            text, was_cut = cut_text(out, opts.tool_output_chars)
            stats.counts["tool outputs cut"] += was_cut
            step.tool_calls.append(ToolCall(id=f"{iid}-{n}", name="bash", arguments={"command": action.strip()},
                                            output=text))
        if step.text or step.tool_calls:
            turn.steps.append(step)
    if not turn.steps:
        stats.skip_session("sessions with no assistant steps", iid)
        return None
    return session


# `info.origin` as agent/ writes it: `make generate`'s attempts and agent-eval's runs are the workbench's own
# model outputs, not the user's logged sessions
GENERATED = ("generated", "agent-eval")


def origin(info: dict) -> str:
    """The dataset's origin of a trajectory: "generated" when the workbench wrote it (info.origin), else "real"."""
    return "generated" if info.get("origin") in GENERATED else "real"


def _session(iid: str, path: Path, traj: dict, opts: ReadOptions, stats: ReadStats) -> Session | None:
    info = traj.get("info") if isinstance(traj.get("info"), dict) else {}
    cfg = info.get("config") if isinstance(info.get("config"), dict) else {}
    model = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    session = Session(id=iid, source="mini-swe-agent", agent="build", directory=iid, title=iid,
                      time_created=int(path.stat().st_mtime * 1000), model=model["model_name"] if isinstance(model.get("model_name"), str) else None,
                      toolset=list(SWE_TOOLSET), task=iid, origin=origin(info))
    if session.origin != "real":
        stats.counts["trajectories the workbench generated (train only)"] += 1
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
        elif role not in ("system", "user", "exit"):
            stats.skip(f"messages with unknown role {role!r}", iid)
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
