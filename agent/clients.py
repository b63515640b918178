"""The real coding-agent CLIs (opencode, Codex), pinned in agent/clients/package.json and installed by
`make agents-setup` into .agents/; their private homes, so that nothing of the user's ~/.config or ~/.codex is read
or written by a run."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PINS_FILE = Path(__file__).resolve().parent / "clients" / "package.json"
PACKAGES = {"opencode": "opencode-ai", "codex": "@openai/codex"}
# opencode offline and quiet: no models catalogue fetch, no self-update, no LSP downloads, no session sharing
OPENCODE_OFFLINE = {"OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1",
                    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1", "OPENCODE_DISABLE_SHARE": "1"}


class ClientError(RuntimeError):
    """A client that is not installed or not usable; one line for the user."""


def install_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_AGENTS_DIR") or REPO / ".agents")


def pinned(client: str) -> str:
    """The pinned version of a client (`opencode` or `codex`)."""
    deps = json.loads(PINS_FILE.read_text())["dependencies"]
    return deps[PACKAGES[client]]


def binary(client: str) -> Path:
    """The installed client's executable; ClientError when `make agents-setup` has not installed it."""
    exe = install_dir() / "node_modules" / ".bin" / client
    if not exe.exists():
        raise ClientError(f"{client} is not installed at {exe}: run `make agents-setup` (npm installs "
                          f"{PACKAGES[client]}@{pinned(client)} into {install_dir()})")
    return exe


def private_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Variables for a client run whose home, config, data and cache folders are all under `home`: opencode writes
    its store to <home>/.local/share/opencode/opencode.db, Codex its rollouts to <home>/.codex/sessions/."""
    home = Path(home)
    dirs = {"HOME": home, "XDG_CONFIG_HOME": home / ".config", "XDG_DATA_HOME": home / ".local" / "share",
            "XDG_CACHE_HOME": home / ".cache", "XDG_STATE_HOME": home / ".local" / "state",
            "CODEX_HOME": home / ".codex"}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCODE_", "CODEX_", "OPENAI_"))}
    env.update({k: str(v) for k, v in dirs.items()}, **OPENCODE_OFFLINE)
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(extra or {})
    return env


def run_json_lines(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float
                   ) -> tuple[int, list[dict[str, Any]], str, float, bool]:
    """Run a client that prints one JSON event per line (opencode --format json, codex exec --json): its exit code
    (-9 when it ran past `timeout`), the events (other lines skipped), its stderr, the seconds and whether it timed
    out; what it printed before a timeout is kept."""
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        rc, out, err, timed_out = p.returncode, p.stdout, p.stderr, False
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
        rc, timed_out = -9, True
    events = []
    for line in out.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return rc, events, err, round(time.monotonic() - start, 2), timed_out


def codex_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """private_env for Codex, with a temporary folder of the run's own: Codex refuses to make its sandbox helper
    (codex-linux-sandbox, which bwrap runs) when CODEX_HOME is under the temporary folder, and then every sandboxed
    command fails; <home>/tmp keeps CODEX_HOME outside it even when `home` is itself under /tmp. (Not for opencode:
    its bash tool's description names the temporary folder, and the captured tool set has /tmp.)"""
    tmp = Path(home) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return private_env(home, {**(extra or {}), "TMPDIR": str(tmp)})


def opencode_db(home: Path) -> Path:
    """Where opencode, run with private_env(home), keeps its store."""
    return Path(home) / ".local" / "share" / "opencode" / "opencode.db"


def codex_sessions(home: Path) -> Path:
    """Where Codex, run with private_env(home), writes its rollouts."""
    return Path(home) / ".codex" / "sessions"
