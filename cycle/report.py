"""A cycle's report (report.md, report.json), its history lines and the one summary line per specialist."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append_history(root: Path, entry: dict[str, Any]) -> None:
    """One JSON line per decision, promotion or rollback in cycles/history.jsonl (appended, fsynced)."""
    root.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": now(), **entry}, sort_keys=True) + "\n"
    with open(root / "history.jsonl", "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_history(root: Path) -> list[dict[str, Any]]:
    """The history's lines; a last line a kill cut short is left out."""
    out = []
    path = root / "history.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _ci(ci) -> str:
    return f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "-"


def _loss(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def summary_line(name: str, s: dict[str, Any]) -> str:
    d = s["data"]
    added = f"{d['new']} new + {d['changed']} changed train sessions"
    if s["decision"] == "skipped":
        return f"cycle {name}: skipped: {s['reason']}"
    v = s.get("gate", {}).get("validation", {})
    loss = v.get("loss") or {}
    ref = loss.get("promoted") if loss.get("promoted") is not None else loss.get("base")
    numbers = f"; val loss {_loss(ref)} -> {_loss(loss.get('candidate'))}" if loss else ""
    return f"cycle {name}: {s['decision']}: {s['reason']} ({added}{numbers})"


def markdown(rep: dict[str, Any]) -> str:
    lines = [f"# Cycle {rep['cycle']}", "", f"Started {rep['started']}, finished {rep['finished']}.", "",
             "## Data", "", "| source | sessions | new | changed |", "|---|---|---|---|"]
    for src, c in sorted(rep["sources"].items()):
        lines.append(f"| {src} | {c['sessions']} | {c['new']} | {c['changed']} |")
    lines += ["", "| specialist | train sessions | new | changed | validation | test | new held out |",
              "|---|---|---|---|---|---|---|"]
    for name, s in sorted(rep["specialists"].items()):
        d = s["data"]
        lines.append(f"| {name} | {d['train']} | {d['new']} | {d['changed']} | {d['validation']} | {d['test']} | "
                     f"{d['new_held_out']} |")
    lines += ["", "## Decisions", "", "| specialist | decision | reason |", "|---|---|---|"]
    for name, s in sorted(rep["specialists"].items()):
        lines.append(f"| {name} | {s['decision']} | {s['reason']} |")
    gated = {n: s for n, s in rep["specialists"].items() if s.get("gate", {}).get("validation", {}).get("loss")}
    if gated:
        lines += ["", "## Losses", "",
                  "Mean assistant-token loss; a change is candidate minus the other model, paired by window, with "
                  "its 95% bootstrap interval over sessions. Validation decides; test is only reported.", "",
                  "| specialist | split | sessions | base | promoted | candidate | change vs promoted | "
                  "change vs base | A/A |", "|---|---|---|---|---|---|---|---|---|"]
        for name, s in sorted(gated.items()):
            for split in ("validation", "test"):
                x = s["gate"].get(split)
                if not x or not x.get("loss"):
                    continue
                lo = x["loss"]
                lines.append(f"| {name} | {split} | {x['sessions']} | {_loss(lo['base'])} | {_loss(lo['promoted'])} | "
                             f"{_loss(lo['candidate'])} | {_ci(x.get('vs_promoted'))} | {_ci(x.get('vs_base'))} | "
                             f"{_ci(x.get('aa')) if split == 'validation' else ''} |")
        regs = [(n, o, r) for n, s in sorted(gated.items()) for o, r in sorted(s["gate"]["regressions"].items())]
        if regs:
            lines += ["", "Other specialists' validation sessions (cycle.no_regression): change of the candidate "
                      "against the adapter it would replace.", "", "| candidate | on | change | worse |",
                      "|---|---|---|---|"]
            lines += [f"| {n} | {o} | {_ci(r['interval'])} | {'yes' if r['worse'] else 'no'} |" for n, o, r in regs]
    cands = {n: s["candidate"] for n, s in rep["specialists"].items() if s.get("candidate")}
    if cands:
        lines += ["", "## Candidates", ""]
        for name, c in sorted(cands.items()):
            lines.append(f"- {name}: `{c['path']}` ({', '.join(c['files'])})")
        lines += ["", f"Promote one with `make promote NAME=<name> CYCLE={rep['cycle']}`."]
    return "\n".join(lines) + "\n"
