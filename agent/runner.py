"""One judged attempt: mini-swe-agent on a fresh working copy of a task, then the task's test command.

Writes, in mini-swe-agent's own layout, `<out>/<iid>/<iid>.traj.json` (the trajectory, with the judgement under
`info`) and then `<out>/<iid>/report.json` (SWE-bench's report shape: `{iid: {"resolved": ...}}`), which
`make extract SWE_DIR=<out>` reads back. The report is written last: an attempt without one is unfinished.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sandbox
from .tasks import Task, overlay

TEXT_CONFIG, TOOL_CONFIG = "mini_textbased", "mini"  # mini-swe-agent's own builtin configs
REPORT = "report.json"


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server and the model name to ask it for."""
    base_url: str
    model: str
    api_key: str = "none"


@dataclass(frozen=True)
class Limits:
    """What every attempt of a comparison shares: the same limits, sampling and agent settings."""
    step_limit: int = 20
    max_tokens: int = 512
    command_timeout: int = 60
    task_timeout: int = 600
    temperature: float = 0.0
    mode: str = "text"
    sandbox: str = "auto"
    format_errors: int = 3
    extra_model_kwargs: dict[str, Any] = field(default_factory=dict)


def mini():
    """Import mini-swe-agent with its side effects contained: no ~/.config write, no cost-map download, quiet."""
    if "MSWEA_GLOBAL_CONFIG_DIR" not in os.environ:  # an empty one: the user's mini .env never leaks into a run
        cfg_dir = tempfile.mkdtemp(prefix="mswea-config-")
        atexit.register(shutil.rmtree, cfg_dir, True)
        os.environ["MSWEA_GLOBAL_CONFIG_DIR"] = cfg_dir
    os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("MSWEA_COST_TRACKING", "ignore_errors")
    os.environ.setdefault("MSWEA_MODEL_RETRY_STOP_AFTER_ATTEMPT", "3")  # its default, 10 with backoff, takes minutes
    try:
        import minisweagent
    except ImportError:
        raise RuntimeError("mini-swe-agent is not installed: pip install -c constraints.txt '.[agent]'") from None
    return minisweagent


def build_agent(endpoint: Endpoint, env: Any, limits: Limits, *, seed: int, output_path: Path) -> Any:
    """mini-swe-agent's DefaultAgent with its builtin config (text or tool-call mode), pointed at endpoint."""
    mini()
    import litellm
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.config import get_config_from_spec

    if limits.mode == "text":
        from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel as Model
        cfg = get_config_from_spec(TEXT_CONFIG)
    elif limits.mode == "tool":
        from minisweagent.models.litellm_model import LitellmModel as Model
        cfg = get_config_from_spec(TOOL_CONFIG)
    else:
        raise ValueError(f"agent.mode: {limits.mode!r} is not text or tool")
    litellm.suppress_debug_info = True  # no "Provider List" banner for every local model it cannot price
    model_cfg = {k: v for k, v in cfg.get("model", {}).items() if k != "model_kwargs"}
    kwargs = {**cfg.get("model", {}).get("model_kwargs", {}), **limits.extra_model_kwargs,
              "api_base": endpoint.base_url, "api_key": endpoint.api_key, "temperature": limits.temperature,
              "seed": seed, "max_tokens": limits.max_tokens}
    model = Model(model_name=f"openai/{endpoint.model}", model_kwargs=kwargs, cost_tracking="ignore_errors",
                  **model_cfg)
    agent_cfg = {k: v for k, v in cfg.get("agent", {}).items() if k in ("system_template", "instance_template")}
    return DefaultAgent(model, env, **agent_cfg, step_limit=limits.step_limit, cost_limit=0,
                        wall_time_limit_seconds=limits.task_timeout,
                        max_consecutive_format_errors=limits.format_errors, output_path=output_path)


def _git(work: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=work, env={**os.environ, **env},
                          capture_output=True, text=True, check=True).stdout


def judge(task: Task, work: Path, env: Any) -> dict[str, Any]:
    """Lay the task's judge files over the working copy and run its test command there (same sandbox, its timeout)."""
    from minisweagent.exceptions import Submitted

    overlay(task.folder / "judge", work)
    try:
        out = env.execute({"command": task.test}, timeout=task.timeout)
    except Submitted:  # the test printed the agent's submit marker first: its exit code was 0
        out = {"returncode": 0, "output": ""}
    tail = (out.get("output") or "")[-2000:]
    return {"resolved": out.get("returncode") == 0, "returncode": out.get("returncode"), "test_output": tail}


def usage(messages: list[dict]) -> dict[str, int]:
    """Prompt and completion tokens over every model response in a trajectory, as the server counted them."""
    total = {"prompt_tokens": 0, "completion_tokens": 0}
    for m in messages:
        resp = (m.get("extra") or {}).get("response")
        u = resp.get("usage") if isinstance(resp, dict) else None
        if isinstance(u, dict):
            for k in total:
                total[k] += int(u.get(k) or 0)
    return total


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def start_attempt(task: Task, out: Path, iid: str) -> tuple[Path, Path, dict[str, str]]:
    """A fresh scratch folder for one attempt (working copy, HOME and temp files: inside the run's folder, removed
    after), the task's repository checked out and committed there as `task start`, and the sandbox's variables for
    its commands: (scratch, work, env_vars). Every agent's attempt starts here."""
    scratch = out / ".scratch" / iid
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    work = task.checkout(scratch / "work")
    env_vars = sandbox.command_env(scratch)
    _git(work, env_vars, "init", "-q")
    _git(work, env_vars, "add", "-A")
    _git(work, env_vars, "commit", "-q", "--no-gpg-sign", "-m", "task start")
    return scratch, work, env_vars


def attempt(task: Task, endpoint: Endpoint, limits: Limits, *, out: Path, iid: str, seed: int,
            origin: dict[str, Any]) -> dict[str, Any]:
    """Run the agent once on task (fresh copy, temporary HOME, limits), judge it, write its files; the result."""
    mini()
    scratch, work, env_vars = start_attempt(task, out, iid)
    env = sandbox.environment(limits.sandbox, work, scratch, timeout=limits.command_timeout)
    agent = build_agent(endpoint, env, limits, seed=seed, output_path=scratch / "partial.json")
    start = time.monotonic()
    error = ""
    try:
        info = agent.run(task.instruction)
    except Exception as e:  # the model server failing is recorded and judged like any other ending
        info, error = {"exit_status": type(e).__name__, "submission": ""}, f"{type(e).__name__}: {e}"
    wall = time.monotonic() - start
    _git(work, env_vars, "add", "-A")
    diff = _git(work, env_vars, "diff", "--cached", "HEAD")
    verdict = judge(task, work, env)
    tokens = usage(agent.messages)
    result = {"instance_id": iid, "task": task.id, "language": task.language, "resolved": verdict["resolved"],
              "reward": 1.0 if verdict["resolved"] else 0.0, "exit_status": info.get("exit_status") or "",
              "steps": agent.n_calls, **tokens, "wall_s": round(wall, 2), "model": endpoint.model, "seed": seed,
              "error": error, "sandbox": sandbox.mode(limits.sandbox), **origin}
    dest = out / iid
    dest.mkdir(parents=True, exist_ok=True)
    data = agent.serialize({"instance_id": iid, "info": {"origin": origin.get("origin", ""), "workbench": result,
                                                         "patch": diff, "judge": verdict}})
    _write_json(dest / f"{iid}.traj.json", data)
    _write_json(dest / REPORT, {iid: {"resolved": verdict["resolved"], **result}})  # last: the attempt is finished
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def finished(out: Path, iid: str) -> dict[str, Any] | None:
    """The result of an attempt already judged in out, or None."""
    p = out / iid / REPORT
    try:
        return json.loads(p.read_text())[iid]
    except (OSError, ValueError, KeyError):
        return None


def prove(task: Task, scratch: Path, *, sandbox_setting: str = "auto") -> dict[str, bool]:
    """The task's own check: its test fails on the unfixed repository and passes with the reference fix."""
    mini()
    out = {}
    for fixed in (False, True):
        area = scratch / ("fixed" if fixed else "unfixed")
        shutil.rmtree(area, ignore_errors=True)
        work = task.checkout(area / "work", fixed=fixed)
        env = sandbox.environment(sandbox_setting, work, area, timeout=task.timeout)
        out["fixed_passes" if fixed else "unfixed_passes"] = judge(task, work, env)["resolved"]
        shutil.rmtree(area, ignore_errors=True)
    return out
