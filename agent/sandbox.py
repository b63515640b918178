"""Where the agent's commands run: a fresh working copy, a temporary HOME, time limits, bubblewrap when installed."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

# the user's credentials never reach the agent's commands: variables named like these are blanked
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.I)


def mode(setting: str) -> str:
    """The sandbox in force: `bubblewrap` (setting auto/bubblewrap, bwrap installed) or `none`."""
    if setting not in ("auto", "bubblewrap", "none"):
        raise ValueError(f"agent.sandbox: {setting!r} is not one of auto, bubblewrap, none")
    if setting == "none":
        return "none"
    if shutil.which("bwrap"):
        return "bubblewrap"
    if setting == "bubblewrap":
        raise ValueError("agent.sandbox: bubblewrap asked for, but no `bwrap` on PATH (apt-get install bubblewrap)")
    return "none"


def command_env(scratch: Path) -> dict[str, str]:
    """Variables for every command: HOME, caches and temp files inside scratch; secrets blanked."""
    home, tmp = scratch / "home", scratch / "tmp"
    for d in (home, tmp):
        d.mkdir(parents=True, exist_ok=True)
    env = {k: "" for k in os.environ if _SECRET_NAME.search(k)}
    env.update(HOME=str(home), TMPDIR=str(tmp), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local" / "share"),
               CARGO_HOME=str(home / ".cargo"), npm_config_cache=str(home / ".npm"), PYTHONDONTWRITEBYTECODE="1",
               PIP_NO_INPUT="1", GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="agent", GIT_AUTHOR_EMAIL="agent@localhost",
               GIT_COMMITTER_NAME="agent", GIT_COMMITTER_EMAIL="agent@localhost", PAGER="cat", MANPAGER="cat",
               LESS="-R", PIP_PROGRESS_BAR="off", TQDM_DISABLE="1")
    # rustup keeps its toolchains under the real HOME; point at them (read-only use) now that HOME moved
    rustup = os.environ.get("RUSTUP_HOME") or str(Path.home() / ".rustup")
    if Path(rustup).is_dir():
        env["RUSTUP_HOME"] = rustup
    env["PATH"] = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


def bubblewrap_args(scratch: Path) -> list[str]:
    """The whole file system read-only, scratch (working copy, HOME, temp) writable, no network, own /tmp."""
    s = str(scratch)
    return ["--unshare-user-try", "--unshare-net", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev",
            "--proc", "/proc", "--tmpfs", "/tmp", "--bind", s, s, "--new-session"]


def environment(setting: str, work: Path, scratch: Path, *, timeout: int, extra_env: dict[str, str] | None = None) -> Any:
    """A mini-swe-agent environment whose commands run in work, with command_env and a per-command timeout."""
    env = {**(extra_env or {}), **command_env(scratch)}
    if mode(setting) == "bubblewrap":
        from minisweagent.environments.extra.bubblewrap import BubblewrapEnvironment

        return BubblewrapEnvironment(cwd=str(work), env=env, timeout=timeout, wrapper_args=bubblewrap_args(scratch))
    from minisweagent.environments.local import LocalEnvironment

    return LocalEnvironment(cwd=str(work), env=env, timeout=timeout)
