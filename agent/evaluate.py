"""`agent eval`: the base and a specialist, each driven by the agent (mini-swe-agent, or the real opencode or Codex CLI)
over the same tasks; paired statistics.

Three passes over the same tasks in the same order, with the same limits: the base, the specialist, and the base
again with another seed (the A/A pass: how much the base disagrees with itself, the noise level). Everything is
written to a temp folder and swapped in: reports/<name>/agent/<side>/<task>/ (trajectories), agent.json, agent.md.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.config import Specialist

from . import runner, stats
from .tasks import Task

SIDES = ("base", "specialist", "base_aa")


class AgentError(Exception):
    """Something the user must fix before an agent run; one line."""


AGENTS = ("mini-swe-agent", "opencode", "codex")


@contextlib.contextmanager
def attempts(agent: str, prompt: str, endpoints: list[runner.Endpoint], model_limits: dict[str, int] | None = None):
    """The attempt function of an agent, for the block: mini-swe-agent (agent/runner.py), the real opencode
    (agent/opencode.py, with the specialist's system prompt as its build agent's prompt) or the real Codex
    (agent/codex.py, through a Responses bridge started for the block in front of the endpoints)."""
    if agent == "mini-swe-agent":
        yield runner.attempt
    elif agent == "opencode":
        from . import opencode

        yield functools.partial(opencode.attempt, prompt=prompt, model_limits=model_limits)
    elif agent == "codex":
        from . import codex

        with codex.bridge_for(endpoints) as bridge:
            yield functools.partial(codex.attempt, bridge=bridge, models=[e.model for e in endpoints],
                                    model_limits=model_limits)
    else:
        raise AgentError(f"AGENT={agent}: not one of {', '.join(AGENTS)}")


def split_runnable(tasks: list[Task]) -> tuple[list[Task], dict[str, Any]]:
    """The tasks whose toolchain is here, and a count of the others by missing program."""
    runnable, missing = [], {}
    for t in tasks:
        gone = t.missing_tools()
        if gone:
            for tool in gone:
                missing[tool] = missing.get(tool, 0) + 1
        else:
            runnable.append(t)
    skipped = [t.id for t in tasks if t not in runnable]
    return runnable, {"count": len(skipped), "missing_tools": missing, "tasks": skipped}


def side_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    resolved = sum(r["resolved"] for r in results)
    return {"model": results[0]["model"] if results else "", "resolved": resolved, "tasks": n,
            "rate": resolved / n if n else 0.0, "steps": sum(r["steps"] for r in results),
            "prompt_tokens": sum(r["prompt_tokens"] for r in results),
            "completion_tokens": sum(r["completion_tokens"] for r in results),
            "wall_s": round(sum(r["wall_s"] for r in results), 1),
            "errors": sum(bool(r.get("error")) for r in results),
            "exit_statuses": {s: sum(r["exit_status"] == s for r in results)
                              for s in sorted({r["exit_status"] for r in results})}}


def compare(a: list[bool], b: list[bool], *, samples: int, seed: int, better: str, worse: str) -> dict[str, Any]:
    """b against a on the same tasks: the 2x2 table, McNemar's exact p, the difference in rate and its interval."""
    t = stats.table(a, b)
    diff, lo, hi = stats.bootstrap_difference(a, b, samples=samples, seed=seed)
    return {"table": t, "mcnemar_p": stats.mcnemar_exact(t["only_a"], t["only_b"]), "difference": diff,
            "interval": [lo, hi], "verdict": stats.verdict(lo, hi, better, worse)}


def evaluate(sp: Specialist, tasks: list[Task], task_set: str, endpoints: dict[str, runner.Endpoint],
             limits: runner.Limits, *, seed: int, samples: int, serving: str, progress: bool = True,
             replay: dict[str, Any] | None = None, agent: str = "mini-swe-agent",
             model_limits: dict[str, int] | None = None) -> dict[str, Any]:
    """Run the three passes and write the report; returns the report dict. replay: the held-out sessions' survey
    (agent/replay.py), reported with the runs when the tasks are replayed sessions."""
    runnable, skipped = split_runnable(tasks)
    if not runnable:
        raise AgentError(f"agent eval {sp.name}: none of the {len(tasks)} tasks of {task_set} can run here "
                         f"(missing: {', '.join(skipped['missing_tools'])})")
    root = sp.path("reports")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".agent-tmp-", dir=root))
    try:
        results = {side: [] for side in SIDES}
        passes = [("base", endpoints["base"], seed), ("specialist", endpoints["specialist"], seed),
                  ("base_aa", endpoints["base"], seed + 1)]
        bar = _bar(len(passes) * len(runnable), sp.name, progress)
        with attempts(agent, sp.system_prompt, [endpoints["base"], endpoints["specialist"]], model_limits) as run:
            for side, endpoint, s in passes:
                for task in runnable:
                    r = run(task, endpoint, limits, out=tmp / "agent" / side, iid=task.id, seed=s,
                            origin={"origin": "agent-eval", "side": side, "specialist": sp.name})
                    results[side].append(r)
                    bar.update(1)
                    bar.set_postfix_str(f"{side}: {sum(x['resolved'] for x in results[side])} resolved")
        bar.close()
        for side in SIDES:
            shutil.rmtree(tmp / "agent" / side / ".scratch", ignore_errors=True)
        report = _report(sp, runnable, skipped, task_set, results, limits, seed=seed, samples=samples,
                         serving=serving, agent=agent)
        if replay is not None:
            report["replay"] = replay
        (tmp / "agent.json").write_text(json.dumps(report, indent=2) + "\n")
        (tmp / "agent.md").write_text(markdown(report))
        _swap(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _bar(total: int, name: str, on: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"agent eval {name}", unit="run", disable=not on, dynamic_ncols=True)


def _swap(tmp: Path, root: Path) -> None:
    """Move the new trajectories and reports into root; the old ones go only once the new ones are complete."""
    old = root / "agent"
    backup = root / f".agent-old-{os.getpid()}"
    if old.exists():
        os.replace(old, backup)
    os.replace(tmp / "agent", old)
    for f in ("agent.json", "agent.md"):
        os.replace(tmp / f, root / f)
    shutil.rmtree(backup, ignore_errors=True)


def _report(sp: Specialist, tasks: list[Task], skipped: dict, task_set: str, results: dict[str, list[dict]],
            limits: runner.Limits, *, seed: int, samples: int, serving: str, agent: str = "mini-swe-agent"
            ) -> dict[str, Any]:
    from core.version import code_version

    mini = runner.mini()
    if agent == "opencode":
        from .clients import pinned

        who = {"name": "opencode", "version": pinned("opencode"), "mode": "tool",
               "config": "exports/agents/opencode.json"}
        trajectory = "events.jsonl"
    elif agent == "codex":
        from .clients import pinned

        who = {"name": "codex", "version": pinned("codex"), "mode": "tool",
               "config": "exports/agents/codex/ (through the Responses bridge)"}
        trajectory = "events.jsonl"
    else:
        who = {"name": "mini-swe-agent", "version": mini.__version__, "mode": limits.mode,
               "config": runner.TEXT_CONFIG if limits.mode == "text" else runner.TOOL_CONFIG}
        trajectory = None
    ok = {side: [r["resolved"] for r in results[side]] for side in SIDES}
    name = sp.name
    return {
        "specialist": name, "language": sp.language, "task_set": task_set, "tasks": len(tasks), "skipped": skipped,
        "agent": who,
        "limits": {k: v for k, v in asdict(limits).items() if k != "extra_model_kwargs"},
        "seed": seed, "aa_seed": seed + 1, "serving": serving, "sandbox": results["base"][0]["sandbox"],
        "sides": {side: side_summary(results[side]) for side in SIDES},
        "paired": compare(ok["base"], ok["specialist"], samples=samples, seed=seed,
                          better=f"{name} resolves more tasks than the base",
                          worse=f"{name} resolves fewer tasks than the base"),
        "aa": compare(ok["base"], ok["base_aa"], samples=samples, seed=seed,
                      better="the base disagrees with itself", worse="the base disagrees with itself"),
        "per_task": [{"task": t.id, **{side: results[side][i]["resolved"] for side in SIDES},
                      "steps": {side: results[side][i]["steps"] for side in SIDES},
                      "trajectories": {side: f"agent/{side}/{t.id}/{trajectory or t.id + '.traj.json'}"
                                       for side in SIDES}}
                     for i, t in enumerate(tasks)],
        "code_version": code_version(),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _pct(x: float) -> str:
    return f"{x:+.1%}" if x else "0.0%"


def markdown(r: dict[str, Any]) -> str:
    name, s, p, aa, lim = r["specialist"], r["sides"], r["paired"], r["aa"], r["limits"]
    t = p["table"]
    label = {"base": "base", "specialist": name, "base_aa": f"base, seed {r['aa_seed']} (A/A)"}
    skipped = r["skipped"]
    skip_line = (f"{skipped['count']} skipped (toolchain missing: "
                 + ", ".join(f"{k} for {v}" for k, v in skipped["missing_tools"].items()) + ")"
                 if skipped["count"] else "none skipped")
    lines = [
        f"# {name}: agent runs on {r['task_set']}", "",
        f"{r['agent']['name']} {r['agent']['version']} ({r['agent']['mode']} mode, its `{r['agent']['config']}` "
        f"config) ran each task once per side in a fresh working copy, judged by the task's test command. "
        f"{r['tasks']} tasks, {skip_line}. Same tasks, order and limits for every side: {lim['step_limit']} steps, "
        f"{lim['max_tokens']} tokens per reply, {lim['command_timeout']} s per command, {lim['task_timeout']} s per "
        f"task, temperature {lim['temperature']}, seed {r['seed']}. Sandbox: {_sandbox(r)}. Served by: "
        f"{r['serving']}.", "",
        "| side | model | resolved | steps | prompt tokens | completion tokens | wall s | endings |",
        "|---|---|---|---|---|---|---|---|"]
    for side in ("base", "specialist", "base_aa"):
        x = s[side]
        ends = ", ".join(f"{k} {v}" for k, v in x["exit_statuses"].items())
        lines.append(f"| {label[side]} | `{x['model']}` | {x['resolved']}/{x['tasks']} ({x['rate']:.0%}) | "
                     f"{x['steps']} | {x['prompt_tokens']} | {x['completion_tokens']} | {x['wall_s']} | {ends} |")
    lines += ["", "Paired results (tasks):", "",
              f"| | {name} resolved | {name} not resolved |", "|---|---|---|",
              f"| base resolved | {t['both']} | {t['only_a']} |",
              f"| base not resolved | {t['only_b']} | {t['neither']} |", "",
              f"- McNemar's exact test on the {t['only_a'] + t['only_b']} discordant tasks: p = {p['mcnemar_p']:.4g}.",
              f"- Resolved rate, {name} minus base: {_pct(p['difference'])}, 95% bootstrap interval over tasks "
              f"[{_pct(p['interval'][0])}, {_pct(p['interval'][1])}]: **{p['verdict']}**.",
              f"- A/A, the base against itself with seed {r['aa_seed']}: {aa['table']['only_a'] + aa['table']['only_b']} "
              f"discordant tasks, difference {_pct(aa['difference'])}, interval [{_pct(aa['interval'][0])}, "
              f"{_pct(aa['interval'][1])}], p = {aa['mcnemar_p']:.4g} ({aa['verdict']}): the noise of one pass, "
              f"the scale against which the base-{name} difference is read.", "",
              "A verdict is given only when the interval excludes zero.", "",
              "| task | base | " + name + " | base (A/A) | trajectories |", "|---|---|---|---|---|"]
    mark = lambda ok: "resolved" if ok else "-"  # noqa: E731
    for row in r["per_task"]:
        links = " ".join(f"[{label[side].split(',')[0] if side != 'base_aa' else 'A/A'}]({row['trajectories'][side]})"
                         for side in ("base", "specialist", "base_aa"))
        lines.append(f"| {row['task']} | {mark(row['base'])} | {mark(row['specialist'])} | {mark(row['base_aa'])} "
                     f"| {links} |")
    if r.get("replay"):
        from .replay import markdown as replay_markdown

        lines += ["", replay_markdown(r["replay"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


def _sandbox(r: dict[str, Any]) -> str:
    m = r["sandbox"]
    if m.startswith("codex"):
        return ("Codex's own workspace-write sandbox around its commands (codex-linux-sandbox, through bubblewrap "
                "where installed: the working copy and temporary folders writable); the judge runs as the agent.sandbox "
                "setting says")
    return ("bubblewrap (read-only file system, no network, writable working copy)" if m == "bubblewrap" else
            "none (commands run as you, with a temporary HOME and TMPDIR; see docs/agent-runs.md, Safety)")
