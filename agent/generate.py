"""`agent generate`: the agent over a task set, RUNS attempts per task, WORKERS at once; judged, resumable.

Attempts go to `<out>/<task>-r<k>/` in mini-swe-agent's layout with SWE-bench-shaped reports, so
`make extract SWE_DIR=<out> RESOLVED_ONLY=1` reads the resolved ones back. Each trajectory says where it came from
(`info.origin: generated`, and `info.workbench`: task, run, model, temperature, seed, reward). A finished attempt
(its report.json written) is never run again: rerunning after a kill runs only what is missing.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import runner
from .evaluate import AgentError, attempts, split_runnable
from .tasks import Task


def attempt_id(task: Task, k: int) -> str:
    return f"{task.id}-r{k}"


def generate(tasks: list[Task], endpoint: runner.Endpoint, limits: runner.Limits, *, out: Path, runs: int,
             workers: int, seed: int, task_set: str, progress: bool = True, agent: str = "mini-swe-agent",
             prompt: str = "", model_limits: dict[str, int] | None = None) -> dict[str, Any]:
    """Run what is not finished yet; write <out>/generate.json (the totals); return it."""
    if runs < 1 or workers < 1:
        raise AgentError(f"agent generate: RUNS and WORKERS must be at least 1 (got {runs} and {workers})")
    runnable, skipped = split_runnable(tasks)
    if not runnable:
        raise AgentError(f"agent generate: none of the {len(tasks)} tasks of {task_set} can run here "
                         f"(missing: {', '.join(skipped['missing_tools'])})")
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / ".scratch", ignore_errors=True)  # a killed run's working copies
    todo, done = [], []
    for task in runnable:
        for k in range(1, runs + 1):
            iid = attempt_id(task, k)
            prev = runner.finished(out, iid)
            if prev is not None:
                done.append(prev)
            else:
                shutil.rmtree(out / iid, ignore_errors=True)  # an unfinished attempt starts again from nothing
                todo.append((task, k, iid))
    from tqdm import tqdm

    bar = tqdm(total=len(todo) + len(done), initial=len(done), desc=f"generate {out.name}", unit="run",
               disable=not progress, dynamic_ncols=True)
    new: list[dict[str, Any]] = []

    def one(task: Task, k: int, iid: str) -> dict[str, Any]:
        # every attempt its own seed, so RUNS attempts at a temperature differ and a rerun repeats them
        return run(task, endpoint, limits, out=out, iid=iid, seed=seed + k - 1,
                   origin={"origin": "generated", "run": out.name, "attempt": k, "temperature": limits.temperature})

    with attempts(agent, prompt, [endpoint], model_limits) as run, ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(one, *job) for job in todo]
        for f in as_completed(futures):
            new.append(f.result())
            bar.update(1)
            bar.set_postfix_str(f"{sum(r['resolved'] for r in done + new)} resolved")
    bar.close()
    shutil.rmtree(out / ".scratch", ignore_errors=True)
    results = done + new
    summary = {"agent": agent, "task_set": task_set, "model": endpoint.model, "endpoint": endpoint.base_url, "runs": runs,
               "workers": workers, "seed": seed, "limits": {k: v for k, v in asdict(limits).items()
                                                           if k != "extra_model_kwargs"},
               "tasks": len(runnable), "skipped": skipped, "attempts": len(results), "ran_now": len(new),
               "already_finished": len(done), "resolved": sum(r["resolved"] for r in results),
               "steps": sum(r["steps"] for r in results),
               "completion_tokens": sum(r["completion_tokens"] for r in results)}
    tmp = out / ".generate.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, out / "generate.json")
    return summary
