"""Start and stop a server from Python: `with serving(["serpent"]) as server: server.base_url`.

The server runs as its own process (`python -m serve`), listening on 127.0.0.1 on a free port unless told
otherwise, and is stopped (Ctrl-C's signal, then a kill) when the block ends, whatever happened inside it.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.entry import die_with_parent


class ServeError(RuntimeError):
    """The server did not come up; the message carries its last output line."""


@dataclass
class Server:
    base_url: str  # http://127.0.0.1:PORT/v1, what an OpenAI client takes as base_url
    models: list[str]  # the served names, `auto` last
    process: subprocess.Popen = field(repr=False)
    log: Path = field(repr=False)  # the server's output (removed when the block ends)

    def reload(self) -> list[str]:
        """Tell the server to re-read the exports (a promoted or new adapter); returns the names now served."""
        return reload(self.base_url)


def reload(base_url: str, timeout: float = 120) -> list[str]:
    """POST /admin/reload to a running `make serve` (its OpenAI base URL); returns the names now served."""
    root = base_url.rstrip("/").removesuffix("/v1")
    req = urllib.request.Request(root + "/admin/reload", data=b"{}", method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())["models"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def serving(models: list[str] | None = None, *, overlay: str | os.PathLike | None = None, host: str = "127.0.0.1",
            port: int | None = None, engine: str | None = None, timeout: float = 300,
            env: dict[str, str] | None = None, overrides: list[str] = ()) -> Iterator[Server]:
    """Serve `models` (default: the base and every exported specialist) for the duration of the block.

    `overlay` is a config overlay (CONFIG=...), `overrides` KEY=VALUE settings over it. Startup converts the base to GGUF the first time (cached). Raises
    ServeError when the server exits or does not answer within `timeout` seconds.
    """
    port = port or free_port(host)
    cmd = [sys.executable, "-m", "serve", "--host", host, "--port", str(port)]
    if overlay:
        cmd += ["--overlay", str(overlay)]
    if models:
        cmd += ["--models", ",".join(models)]
    if engine:
        cmd += ["--engine", engine]
    cmd += list(overrides)
    log = Path(tempfile.mkstemp(prefix="serve-", suffix=".log")[1])
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                preexec_fn=die_with_parent)  # a killed caller leaves no server behind
    base_url = f"http://{host}:{port}/v1"
    started = False
    try:
        names = _wait(proc, base_url, log, timeout)
        started = True
        yield Server(base_url, names, proc, log)
    finally:
        stop(proc)
        if started:  # a server that never came up keeps its log, which the ServeError names
            log.unlink(missing_ok=True)


def stop(proc: subprocess.Popen, grace: float = 15) -> None:
    """Ctrl-C's SIGINT (the server shuts down cleanly), then SIGKILL if it has not exited within `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(proc: subprocess.Popen, base_url: str, log: Path, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            raise ServeError(f"the server exited ({proc.returncode}): {lines[-1] if lines else 'no output'}")
        try:
            with urllib.request.urlopen(base_url + "/models", timeout=2) as r:
                return [m["id"] for m in json.loads(r.read())["data"]]
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            time.sleep(0.2)
    raise ServeError(f"the server did not answer at {base_url} within {timeout:.0f} s (log: {log})")
