"""reports/summary.md and the printed summary: each specialist's verdicts, and the cross-specialist matrix."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from core.config import Specialist
from core.version import code_version

from . import matrix as mx


def reports(specs: list[Specialist]) -> list[dict[str, Any]]:
    """Each specialist's reports/<name>/eval.json, where there is one."""
    out = []
    for sp in specs:
        p = sp.path("reports") / "eval.json"
        if p.is_file():
            r = json.loads(p.read_text())
            agent = sp.path("reports") / "agent.json"  # make agent-eval's report, when it has been run
            if agent.is_file():
                r["agent_runs"] = json.loads(agent.read_text())
            out.append(r)
    return out


def _next_action(r: dict[str, Any]) -> tuple[str, str]:
    na = r.get("next_action")
    if not na:
        return "not measured", "-"
    b, a = na["base"]["metrics"]["next_action"], na["adapter"]["metrics"]["next_action"]
    return f"{b['rate']:.0%} -> {a['rate']:.0%} of {na['turns']}", na["verdict"].split(" (")[0]


def _agent(r: dict[str, Any]) -> str:
    a = r.get("agent_runs")
    if not a:
        return "not run"
    s, verdict = a["sides"], a["paired"]["verdict"]
    short = "no clear difference" if verdict == "no clear difference" else verdict.split(" resolves ")[-1]
    return f"{s['base']['resolved']}/{a['tasks']} -> {s['specialist']['resolved']}/{a['tasks']}, {short}"


def rows(reps: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(r["specialist"], str(r["test_windows"]), f"{r['base']['loss']:.3f} -> {r['adapter']['loss']:.3f}",
             r["verdict"].split(" (")[0], *_next_action(r), _agent(r)) for r in reps]


HEAD = ("specialist", "test windows", "loss base -> adapter", "loss verdict", "next action base -> adapter",
        "next-action verdict", "agent tasks resolved base -> specialist")


def markdown(reps: list[dict[str, Any]], m: dict[str, Any]) -> str:
    lines = ["# Specialists: held-out evaluation", "",
             f"Base `{m['base_model']}`; code `{code_version()}`; written "
             f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}. Each specialist's report is "
             f"`<name>/eval.md`.", "",
             "| " + " | ".join(HEAD) + " |", "|---" * len(HEAD) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(reps)]
    if not reps:
        lines.append("| (no reports yet: `make eval NAME=...`) |" + " |" * (len(HEAD) - 1))
    lines += ["", "## Cross-specialist matrix", "",
              "Rows are models (the base and each adapter), columns the test split of each specialist; bold: each "
              "specialist on its own split. The diagonal wins a column when the specialist's own adapter is better "
              "there than the base and every other adapter.", "",
              "Held-out assistant-token loss (lower is better):", "", mx.table(m, "loss"), ""]
    if m.get("next_action"):
        lines += ["Next-action accuracy (higher is better; turns per split: "
                  + ", ".join(f"{c} {n}" for c, n in (m.get("turns") or {}).items()) + "):", "",
                  mx.table(m, "next_action"), ""]
    lines += [f"- {x[0].upper()}{x[1:]}." for x in mx.diagonal_lines(m)]
    if m.get("notes"):
        lines += ["", "Not in the matrix: " + "; ".join(m["notes"]) + "."]
    lines += ["", "![cross-specialist matrix](matrix.png)", ""]
    return "\n".join(lines)


def text(reps: list[dict[str, Any]], m: dict[str, Any] | None) -> str:
    out = []
    body = rows(reps)
    if body:
        widths = [max(len(x[k]) for x in [HEAD, *body]) for k in range(len(HEAD))]
        fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        out += [fmt(HEAD), fmt(tuple("-" * w for w in widths)), *map(fmt, body)]
    if m:
        out += ["", "cross-specialist matrix, held-out loss (* each specialist on its own test split):",
                mx.text_table(m, "loss")]
        if m.get("next_action"):
            out += ["next-action accuracy:", mx.text_table(m, "next_action")]
        out += mx.diagonal_lines(m)
    return "\n".join(out)
