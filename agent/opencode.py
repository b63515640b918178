"""The real opencode CLI as the agent: `opencode run --agent build-<lang> --format json` in a private home, with the
opencode.json `make export` writes (only its server address changed); and the capture of what it sends."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import clients


# opencode 1.18.33 sends about 7,600 prompt tokens for a build-<lang> agent before the task (its prompt, environment
# block, skills list and tool schemas; the demo tokenizer), then the conversation and a reply: below this context a
# session cannot run
MIN_CONTEXT = 12000


def check_context(model_limits: dict[str, int] | None) -> None:
    """One line when the served context is known to be too small for opencode's prompt."""
    if model_limits and model_limits["context"] < MIN_CONTEXT:
        raise clients.ClientError(f"opencode sends about 7,600 prompt tokens before the task and the served context "
                                  f"is {model_limits['context']}: set serve.n_ctx to {MIN_CONTEXT} or more "
                                  f"(ARGS='serve.n_ctx=16384')")


@dataclass
class RunResult:
    returncode: int
    events: list[dict[str, Any]]  # opencode's --format json lines
    stderr: str
    wall_s: float
    timed_out: bool = False

    @property
    def session_id(self) -> str | None:
        return next((e.get("sessionID") for e in self.events if e.get("sessionID")), None)

    def steps(self) -> int:
        return sum(e.get("type") == "step_finish" for e in self.events)

    def tokens(self) -> dict[str, int]:
        total = {"prompt_tokens": 0, "completion_tokens": 0}
        for e in self.events:
            t = (e.get("part") or {}).get("tokens") if e.get("type") == "step_finish" else None
            if isinstance(t, dict):
                total["prompt_tokens"] += int(t.get("input") or 0)
                total["completion_tokens"] += int(t.get("output") or 0)
        return total

    def error(self) -> str:
        errs = [e for e in self.events if e.get("type") == "error"]
        if errs:
            return json.dumps(errs[-1].get("error") or errs[-1], ensure_ascii=False)[:500]
        return "" if self.returncode == 0 else (self.stderr.strip().splitlines() or [f"exit {self.returncode}"])[-1]


def write_config(home: Path, config: dict[str, Any]) -> Path:
    """The opencode.json for a private home: $XDG_CONFIG_HOME/opencode/opencode.json, where opencode reads it."""
    path = Path(home) / ".config" / "opencode" / "opencode.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def with_url(config: dict[str, Any], url: str) -> dict[str, Any]:
    """The generated opencode.json with only the provider's server address changed."""
    from export.agents import PROVIDER

    cfg = json.loads(json.dumps(config))
    cfg["provider"][PROVIDER]["options"]["baseURL"] = url
    return cfg


def run(agent: str, prompt: str, work: Path, home: Path, *, timeout: float = 600,
        extra_env: dict[str, str] | None = None) -> RunResult:
    """One non-interactive session: `opencode run --agent AGENT --format json <prompt words>` in `work`. The prompt
    goes as words (one quoted argument would keep its quotes in the stored prompt)."""
    env = clients.private_env(home, {"PWD": str(work), **(extra_env or {})})  # opencode takes its directory from PWD
    cmd = [str(clients.binary("opencode")), "run", "--agent", agent, "--format", "json", *prompt.split()]
    return RunResult(*clients.run_json_lines(cmd, cwd=work, env=env, timeout=timeout))


def capture(specialists: list[Any], base: str, out_folder: Path, *, limits: dict[str, int] | None = None,
            timeout: float = 300) -> Path:
    """Run the installed opencode once per build-<lang> agent against a recording server; write what it sent (the
    system prompt as a template, the tool schemas) to out_folder/opencode-<version>.json."""
    from export.agents import agent_name, opencode as opencode_config
    from extract.toolsets import opencode_date, template_of

    from .capture import Recorder, RecordingServer, Reply

    version = clients.pinned("opencode")
    got = subprocess.run([str(clients.binary("opencode")), "--version"], capture_output=True, text=True,
                         env=clients.private_env(Path(tempfile.mkdtemp(prefix="opencode-version-"))))
    if got.stdout.strip() != version:
        raise clients.ClientError(f"opencode --version says {got.stdout.strip()!r}, the pin is {version}: run "
                                  f"`make agents-setup`")
    sps = [{"name": sp.name, "language": sp.language, "system_prompt": sp.system_prompt} for sp in specialists]
    agents: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="opencode-capture-") as tmp:
        for sp in sps:
            rec = Recorder(script=[Reply("Done.")], models=[sp["name"]])
            work = Path(tmp) / "work"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            subprocess.run(["git", "init", "-q"], cwd=work, check=True)
            with RecordingServer(rec) as srv:
                home = Path(tmp) / f"home-{sp['name']}"
                write_config(home, opencode_config(srv.base_url, sps, base, limits))
                name = agent_name(sp["language"])
                res = run(name, "Say done.", work, home, timeout=timeout)
            asked = rec.agent_requests()
            if not asked:
                raise clients.ClientError(f"opencode run --agent {name} sent no request with tools (exit "
                                          f"{res.returncode}): {res.error() or res.stderr[-300:]}")
            body = asked[0]
            system = "\n".join(m["content"] for m in body["messages"] if m.get("role") == "system"
                               and isinstance(m.get("content"), str))
            day = opencode_date(int(time.time() * 1000))
            agents[name] = {"specialist": sp["name"], "language": sp["language"],
                            "system": template_of(system, prompt=sp["system_prompt"], model=sp["name"],
                                                  directory=str(work), date=day),
                            "tools": body.get("tools") or [],
                            "request": {k: v for k, v in body.items() if k not in ("messages", "tools", "model")}}
    # what every agent shares is kept once (the tools, the prompt's template); an agent keeps what is its own
    shared = {k: next(iter(agents.values()))[k] for k in ("system", "tools")
              if len({json.dumps(a[k], sort_keys=True) for a in agents.values()}) == 1}
    for a in agents.values():
        for k in shared:
            del a[k]
    out_folder.mkdir(parents=True, exist_ok=True)
    dest = out_folder / f"opencode-{version}.json"
    data = {"client": "opencode", "version": version,
            "captured": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "how": "make capture-toolset: opencode run --agent build-<lang> against a recording server "
                   "(agent/capture.py); {prompt} {model} {directory} {date} are filled per session",
            **shared, "agents": agents}
    tmp_file = dest.with_name(f".{dest.name}.tmp")
    tmp_file.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    tmp_file.replace(dest)
    return dest


def store_home(out: Path) -> Path:
    """The private home of a run's opencode sessions: <out>/opencode-home; its store is what `make extract DB=` reads."""
    return Path(out) / "opencode-home"


def attempt(task, endpoint, limits, *, out: Path, iid: str, seed: int, origin: dict[str, Any], prompt: str,
            model_limits: dict[str, int] | None = None) -> dict[str, Any]:
    """One judged attempt of the real opencode on a fresh copy of task: `opencode run --agent build-<lang>` with the
    generated opencode.json (the endpoint's model as the agent's model, `prompt` as its prompt), then the task's
    test in the same sandbox as the mini-swe-agent path. Writes <out>/<iid>/report.json (last) and events.jsonl; the
    session goes to <out>/opencode-home's store, listed in workbench-runs.jsonl beside it."""
    from export.agents import agent_name, opencode as opencode_config
    from extract.opencode import RUNS_FILE

    from . import sandbox
    from .runner import REPORT, _git, _write_json, judge, mini, start_attempt

    mini()
    scratch, work, env_vars = start_attempt(task, out, iid)
    home = store_home(out)
    name = agent_name(task.language)
    cfg = opencode_config(endpoint.base_url, [{"name": endpoint.model, "language": task.language,
                                                "system_prompt": prompt}], "base", model_limits)
    cfg["agent"][name]["temperature"] = limits.temperature
    write_config(home, cfg)
    # the commands opencode runs get the sandbox's variables (HOME, TMPDIR, caches in scratch; secrets blanked);
    # its store stays in the run's home
    extra = {k: v for k, v in env_vars.items() if k not in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                              "XDG_CACHE_HOME")}
    res = run(name, task.instruction, work, home, timeout=limits.task_timeout, extra_env=extra)
    _git(work, env_vars, "add", "-A")
    diff = _git(work, env_vars, "diff", "--cached", "HEAD")
    env = sandbox.environment(limits.sandbox, work, scratch, timeout=limits.command_timeout)
    verdict = judge(task, work, env)
    tokens = res.tokens()
    exit_status = "Timeout" if res.timed_out else ("Submitted" if res.returncode == 0 and not res.error() else
                                                  "Error")
    result = {"instance_id": iid, "task": task.id, "language": task.language, "resolved": verdict["resolved"],
              "reward": 1.0 if verdict["resolved"] else 0.0, "exit_status": exit_status, "steps": res.steps(),
              **tokens, "wall_s": res.wall_s, "model": endpoint.model, "seed": seed, "error": res.error(),
              "sandbox": sandbox.mode(limits.sandbox), "agent": f"opencode {clients.pinned('opencode')}",
              "session": res.session_id, **origin}
    dest = out / iid
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "events.jsonl").write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in res.events))
    (dest / "patch.diff").write_text(diff)
    if res.session_id:
        with (clients.opencode_db(home).parent / RUNS_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"session": res.session_id, "origin": origin.get("origin", ""), "task": task.id,
                                "attempt": iid, "resolved": verdict["resolved"]}) + "\n")
    _write_json(dest / REPORT, {iid: {"resolved": verdict["resolved"], **result}})
    shutil.rmtree(scratch, ignore_errors=True)
    return result
