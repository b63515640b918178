"""`python -m extract export-traces NAME`: a specialist's sessions as Hugging Face Hub agent traces, one file each.

The Hub's trace viewer reads the Session Trace Simple Format (huggingface.co/docs/hub/session-traces-format): a
JSONL file per session, a header line `{"type": "session", "harness", "id", "name", ...}` then one line per
message `{"type": "message", "message": {"role", "content", "reasoningContent"?, "toolCalls"?, "toolCallId"?,
"model"?}}`, tool call arguments as JSON strings. The sessions are rebuilt from the extracted (redacted)
windows, so what is published is exactly what is trained on.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from core import config
from core.config import ConfigError
from core.data import open_dataset


def _message(m: dict[str, Any], model: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
    if m["role"] == "assistant":
        if m.get("reasoning_content"):
            out["reasoningContent"] = m["reasoning_content"]
        if m.get("tool_calls"):
            out["toolCalls"] = [{"id": tc["id"], "function": {
                "name": tc["function"]["name"],
                "arguments": json.dumps(tc["function"]["arguments"], ensure_ascii=False)}} for tc in m["tool_calls"]]
        if model:
            out["model"] = model
    if m["role"] == "tool" and m.get("tool_call_id"):
        out["toolCallId"] = m["tool_call_id"]
    return out


def session_trace(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One session's windows (in order) as trace lines: the header, the system prompt once, every message once."""
    first = rows[0]
    lines: list[dict[str, Any]] = [{
        "type": "session", "harness": first["source"], "id": first["session_id"], "name": first["title"],
        "specialist": first["specialist"], "language": first["language"], "agent": first["agent"],
        "model": first["model"], "started_at": first["started_at"], "outcome": first["outcome"],
        "split": first["split"]}]
    last_user = None
    for r in rows:
        for i, m in enumerate(r["messages"]):
            if m["role"] == "system":
                if len(lines) == 1:
                    lines.append({"type": "message", "message": _message(m, None)})
                continue
            # a window opens with the prompt its first turn answers: when a turn goes on from the window before,
            # that prompt is a repeat, not a new message
            if m["role"] == "user" and i <= 1 and r["window_index"] > 0 and m.get("content") == last_user:
                continue
            if m["role"] == "user":
                last_user = m.get("content")
            lines.append({"type": "message", "message": _message(m, r["model"])})
    return lines


def _sessions(data: Path, name: str) -> Iterable[list[dict[str, Any]]]:
    ds = open_dataset(name, data / name)
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for split, part in ds.items():
        for r in part:
            by[r["session_id"]].append(dict(r) | {"split": split})
    for sid in sorted(by, key=lambda s: (by[s][0]["started_at"], s)):
        yield sorted(by[sid], key=lambda r: r["window_index"])


def export_traces(data: Path, name: str, out: Path) -> int:
    """Write <out>/<session id>.jsonl for every session of the specialist; the folder is replaced whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    n = 0
    try:
        for rows in _sessions(data, name):
            fname = re.sub(r"[^A-Za-z0-9._@-]", "_", rows[0]["session_id"]) + ".jsonl"
            with (tmp / fname).open("w", encoding="utf-8") as f:
                for line in session_trace(rows):
                    f.write(json.dumps(line, ensure_ascii=False) + "\n")
            n += 1
        old = out.parent / f".{out.name}-old-{uuid.uuid4().hex[:8]}"
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m extract export-traces", description=__doc__.splitlines()[0])
    p.add_argument("name", help="a specialist (serpent, prism, ...)")
    p.add_argument("--data", type=Path, default=None, help="datasets folder (default: paths.data)")
    p.add_argument("--out", type=Path, default=None, help="folder of traces (default: <data>/traces/<name>)")
    p.add_argument("--overlay", default=None)
    a = p.parse_args(argv)
    import datasets

    datasets.disable_progress_bars()
    try:
        cfg = config.load(overlay=a.overlay)
        data = a.data or Path(cfg["paths"]["data"])
        out = a.out or data / "traces" / a.name
        n = export_traces(data, a.name, out)
    except ConfigError as e:
        print(f"extract export-traces: error: {e}", file=sys.stderr)
        return 2
    print(f"export-traces {a.name}: {n} sessions -> {out}/<session>.jsonl (Hub agent traces: upload the folder to a "
          f"dataset, e.g. `hf upload <user>/<dataset> {out} . --repo-type dataset`)")
    return 0
