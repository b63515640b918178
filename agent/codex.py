"""The real Codex CLI as the agent: `codex exec --profile <model> --json` in a private CODEX_HOME, with the files
`make export` writes (only the bridge's address changed), through LiteLLM's Responses bridge (agent/bridge.py) in
front of the server. Its rollouts stay in <out>/codex-home/.codex/sessions, which `make extract CODEX_DIR=` reads.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import clients

# Codex 0.171 sends about 14,700 prompt tokens before the task (its instructions, environment block and 12 tool
# schemas; measured through the bridge against `make serve` on the demo tokenizer), then the conversation and a reply
MIN_CONTEXT = 16384
KEY = "workbench-codex-run"  # the bridge's key for a run (it listens on 127.0.0.1 only), unless the user set one


def check_context(model_limits: dict[str, int] | None) -> None:
    """One line when the served context is known to be too small for Codex's prompt."""
    if model_limits and model_limits["context"] < MIN_CONTEXT:
        raise clients.ClientError(f"Codex sends about 14,700 prompt tokens before the task and the served context "
                                  f"is {model_limits['context']}: set serve.n_ctx to {MIN_CONTEXT} or more "
                                  f"(ARGS='serve.n_ctx=32768')")


@dataclass
class RunResult:
    returncode: int
    events: list[dict[str, Any]]  # codex exec --json lines
    stderr: str
    wall_s: float
    timed_out: bool = False

    @property
    def thread_id(self) -> str | None:
        return next((e.get("thread_id") for e in self.events if e.get("type") == "thread.started"), None)

    def steps(self) -> int:
        """Model requests: one per command run and one for the closing message."""
        items = [e["item"] for e in self.events if e.get("type") == "item.completed" and isinstance(e.get("item"), dict)]
        return sum(i.get("type") in ("command_execution", "file_change", "mcp_tool_call", "agent_message")
                   for i in items)

    def tokens(self) -> dict[str, int]:
        total = {"prompt_tokens": 0, "completion_tokens": 0}
        for e in self.events:
            u = e.get("usage") if e.get("type") == "turn.completed" else None
            if isinstance(u, dict):
                total["prompt_tokens"] += int(u.get("input_tokens") or 0)
                total["completion_tokens"] += int(u.get("output_tokens") or 0)
        return total

    def error(self) -> str:
        for e in reversed(self.events):
            if e.get("type") in ("turn.failed", "error"):
                return json.dumps(e.get("error") or e.get("message") or e, ensure_ascii=False)[:500]
        return "" if self.returncode == 0 else (self.stderr.strip().splitlines() or [f"exit {self.returncode}"])[-1]


def write_home(home: Path, bridge: str, models: list[str], limits: dict[str, int] | None) -> Path:
    """The files `make export` writes for Codex, copied into <home>/.codex as docs/agent-runs.md says."""
    from export.agents import codex as codex_files

    dest = Path(home) / ".codex"
    dest.mkdir(parents=True, exist_ok=True)
    names = [m for m in models if m not in ("base", "auto")]
    for name, text in codex_files(bridge, [{"name": n} for n in names], limits).items():
        (dest / name).write_text(text)
    return dest


def run(model: str, prompt: str, work: Path, home: Path, *, bridge_key: str, timeout: float = 600,
        extra_env: dict[str, str] | None = None) -> RunResult:
    """One non-interactive session: `codex exec --profile MODEL --json` in `work`, Codex's own workspace-write
    sandbox around its commands."""
    from export.agents import BRIDGE_KEY_ENV

    env = clients.codex_env(home, {"PWD": str(work), **(extra_env or {}), BRIDGE_KEY_ENV: bridge_key})
    cmd = [str(clients.binary("codex")), "exec", "--json", "--profile", model, "--skip-git-repo-check",
           "-s", "workspace-write", prompt]
    return RunResult(*clients.run_json_lines(cmd, cwd=work, env=env, timeout=timeout))


@contextlib.contextmanager
def bridge_for(endpoints: list[Any]) -> Iterator[tuple[str, str]]:
    """LiteLLM's Responses bridge in front of the endpoints' server(s) for a run: each model name bridged to the
    chat completions of its endpoint. Yields the bridge's OpenAI base URL and its key."""
    import os

    from export.agents import BRIDGE_KEY_ENV, litellm_config

    from .bridge import bridging

    models = list({ep.model: ep.base_url for ep in endpoints}.items())  # a name once, at its endpoint's server
    keys = {ep.api_key for ep in endpoints if ep.api_key and ep.api_key != "none"}
    with tempfile.TemporaryDirectory(prefix="codex-bridge-") as tmp:
        config = Path(tmp) / "litellm-bridge.yaml"
        config.write_text(litellm_config(models, "LiteLLM proxy config for an AGENT=codex run (agent/codex.py)"))
        key = os.environ.get(BRIDGE_KEY_ENV) or KEY  # the bridge keeps a key the user set; Codex is given the same
        with bridging(config, key=key, server_key=next(iter(keys), None)) as url:
            yield url, key


def store_home(out: Path) -> Path:
    """The private home of a run's Codex sessions; `make extract CODEX_DIR=<home>/.codex/sessions` reads them."""
    return Path(out) / "codex-home"


def attempt(task, endpoint, limits, *, out: Path, iid: str, seed: int, origin: dict[str, Any],
            bridge: tuple[str, str], models: list[str], model_limits: dict[str, int] | None = None) -> dict[str, Any]:
    """One judged attempt of the real Codex on a fresh copy of task: `codex exec --profile <model>` through the bridge,
    then the task's test in the same sandbox as the mini-swe-agent path. Writes <out>/<iid>/report.json (last) and
    events.jsonl; the rollout goes to <out>/codex-home/.codex/sessions."""
    from export.agents import BRIDGE_KEY_ENV

    from . import sandbox
    from .runner import REPORT, _git, _write_json, judge, mini, start_attempt

    mini()
    scratch, work, env_vars = start_attempt(task, out, iid)
    home = store_home(out)
    write_home(home, bridge[0], models, model_limits)
    extra = {k: v for k, v in env_vars.items() if k not in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                              "XDG_CACHE_HOME", "TMPDIR", BRIDGE_KEY_ENV)}
    res = run(endpoint.model, task.instruction, work, home, bridge_key=bridge[1], timeout=limits.task_timeout,
              extra_env=extra)
    _git(work, env_vars, "add", "-A")
    diff = _git(work, env_vars, "diff", "--cached", "HEAD")
    env = sandbox.environment(limits.sandbox, work, scratch, timeout=limits.command_timeout)
    verdict = judge(task, work, env)
    exit_status = "Timeout" if res.timed_out else ("Submitted" if res.returncode == 0 and not res.error() else
                                                  "Error")
    result = {"instance_id": iid, "task": task.id, "language": task.language, "resolved": verdict["resolved"],
              "reward": 1.0 if verdict["resolved"] else 0.0, "exit_status": exit_status, "steps": res.steps(),
              **res.tokens(), "wall_s": res.wall_s, "model": endpoint.model, "seed": seed, "error": res.error(),
              "sandbox": "codex workspace-write", "agent": f"codex {clients.pinned('codex')}",
              "session": res.thread_id, **origin}
    dest = out / iid
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "events.jsonl").write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in res.events))
    (dest / "patch.diff").write_text(diff)
    _write_json(dest / REPORT, {iid: {"resolved": verdict["resolved"], **result}})
    shutil.rmtree(scratch, ignore_errors=True)
    return result
