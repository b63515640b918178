"""Serve models for the agent when no endpoint is given: one `transformers serve` process, models by folder or id.

Any OpenAI-compatible server works instead (`agent.endpoint`: `make serve`, vLLM, a user's own); this is the engine
that needs nothing but the `serving` extra of transformers, used when none is named.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def _die_with_parent() -> None:
    """In the server's process: get SIGTERM when the process that started it dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def transformers_serve(*, log: Path, startup_timeout: float = 180.0, dtype: str = "auto", device: str = "auto",
                       threads: int | None = None) -> Iterator[str]:
    """Start `transformers serve` on a free 127.0.0.1 port; yield its /v1 base URL; stop it on exit.

    It loads each model the first time a request names it (a local folder or a Hub id), so one process serves the
    base and every merged specialist. threads: the server's CPU threads (OMP_NUM_THREADS), default torch's.
    """
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")
    if exe is None:
        raise RuntimeError("`transformers serve` is not installed: pip install -c constraints.txt "
                           "'transformers[serving]' (or set agent.endpoint to a running server)")
    port = free_port()
    hf_home = os.environ.get("HF_HOME") or tempfile.mkdtemp(prefix="agent-serve-hf-")  # /v1/models wants a cache
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as logf:
        proc = subprocess.Popen([exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--device", device,
                                 "--dtype", dtype, "--log-level", "warning"],
                                stdout=logf, stderr=subprocess.STDOUT, env={**os.environ, "HF_HOME": hf_home,
                                     **({"OMP_NUM_THREADS": str(threads)} if threads else {})},
                                start_new_session=True, preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _healthy(f"http://127.0.0.1:{port}/health"):
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {proc.returncode} at startup; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not answer within {startup_timeout:.0f} s; see {log}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
