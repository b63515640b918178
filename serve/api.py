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


KEY_ENV = "WORKBENCH_API_KEY"  # the key a client sends, when the server has one (serve.api_key)


@dataclass
class Server:
    base_url: str  # http://127.0.0.1:PORT/v1, what an OpenAI client takes as base_url
    models: list[str]  # the served names, `auto` last
    process: subprocess.Popen = field(repr=False)
    log: Path = field(repr=False)  # the server's output (removed when the block ends)
    api_key: str | None = None  # what a client sends as `Authorization: Bearer ...` (None: no key)

    def reload(self) -> list[str]:
        """Tell the server to re-read the exports (a promoted or new adapter); returns the names now served."""
        return reload(self.base_url, api_key=self.api_key)

    def metrics(self) -> dict:
        """The engine's counters: base_loads, adapter_loads, adapter_switches, requests, busy_rejections, ..."""
        return admin(self.base_url, "metrics", api_key=self.api_key)


def _headers(api_key: str | None) -> dict[str, str]:
    key = api_key or os.environ.get(KEY_ENV)
    return {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}


def admin(base_url: str, what: str, *, data: bytes | None = None, api_key: str | None = None,
          timeout: float = 120) -> dict:
    """GET (or POST `data` to) /admin/<what> of a running `make serve`, with the key of WORKBENCH_API_KEY."""
    root = base_url.rstrip("/").removesuffix("/v1")
    req = urllib.request.Request(f"{root}/admin/{what}", data=data, method="POST" if data is not None else "GET",
                                 headers=_headers(api_key))
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def reload(base_url: str, timeout: float = 120, api_key: str | None = None) -> list[str]:
    """POST /admin/reload to a running `make serve` (its OpenAI base URL); returns the names now served."""
    return admin(base_url, "reload", data=b"{}", api_key=api_key, timeout=timeout)["models"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def serving(models: list[str] | None = None, *, overlay: str | os.PathLike | None = None, host: str = "127.0.0.1",
            port: int | None = None, engine: str | None = None, timeout: float = 300,
            env: dict[str, str] | None = None, overrides: list[str] = (),
            api_key: str | None = None) -> Iterator[Server]:
    """Serve `models` (default: the base and every exported specialist) for the duration of the block.

    `overlay` is a config overlay (CONFIG=...), `overrides` KEY=VALUE settings over it; `api_key` is the key the
    server requires (given to it as WORKBENCH_API_KEY). Startup converts the base to GGUF the first time (cached).
    Raises ServeError when the server exits or does not answer within `timeout` seconds.
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
        # a private server asks for a key only when told to: the caller's WORKBENCH_API_KEY (meant for its own
        # `make serve`) would otherwise lock out clients, such as agent runs, that were given none
        env = {**{k: v for k, v in os.environ.items() if k != KEY_ENV}, **(env or {}),
               **({KEY_ENV: api_key} if api_key else {})}
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=die_with_parent)  # a killed caller leaves no server behind
    base_url = f"http://{host}:{port}/v1"
    started = False
    try:
        key = env.get(KEY_ENV)
        names = _wait(proc, base_url, log, timeout, key)
        started = True
        yield Server(base_url, names, proc, log, key)
    finally:
        stop(proc)
        if started:  # a server that never came up keeps its log, which the ServeError names
            log.unlink(missing_ok=True)


def stop(proc: subprocess.Popen, grace: float = 15, sig: int = signal.SIGINT) -> None:
    """Ctrl-C's SIGINT (or SIGTERM: the same clean shutdown), then SIGKILL if it has not exited within `grace` s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(proc: subprocess.Popen, base_url: str, log: Path, timeout: float, key: str | None = None) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            raise ServeError(f"the server exited ({proc.returncode}): {lines[-1] if lines else 'no output'}")
        try:
            req = urllib.request.Request(base_url + "/models", headers=_headers(key))
            try:
                with urllib.request.urlopen(req, timeout=2) as r:
                    return [m["id"] for m in json.loads(r.read())["data"]]
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    raise ServeError(f"the server at {base_url} wants an API key: set {KEY_ENV}") from None
                raise
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            time.sleep(0.2)
    raise ServeError(f"the server did not answer at {base_url} within {timeout:.0f} s (log: {log})")
