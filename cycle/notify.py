"""After a promotion or rollback: re-evaluate and re-export the specialist, then tell a running server."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from core.config import Specialist

from .settings import CycleSettings


def _stage(module: str, args: list[str]) -> str | None:
    """Run `python -m <module> ...`; None when it succeeded, else its last error line."""
    run = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
    return None if run.returncode == 0 else (run.stderr.strip().splitlines() or ["(no message)"])[-1]


def refresh(sp: Specialist, cs: CycleSettings, overlay: str | None, overrides: list[str]) -> list[str]:
    """Eval (the model card carries its report) and export the promoted adapter; returns warning lines."""
    warnings = []
    if cs.reexport:
        ov = ["--overlay", overlay] if overlay else []
        for module, args in (("eval", [sp.name, *ov, *overrides]), ("export", [sp.name, "--force", *ov])):
            err = _stage(module, args)  # export goes on without a fresh report: the card then has none
            if err:
                warnings.append(f"{sp.name}: {module} after the change failed: {err}")
    warnings += tell_server(sp, cs, overlay)
    return warnings


def tell_server(sp: Specialist, cs: CycleSettings, overlay: str | None = None) -> list[str]:
    """Tell a running server to load the specialist's new adapter.

    `cycle.on_promote`, when set, is a shell command run with NAME, ADAPTER (outputs/<name>/adapter) and EXPORT
    (exports/<name>) in its environment. Otherwise a `make serve` listening at the configured address
    (serve.host, serve.port) is asked to re-read the exports (`python -m serve reload`); with no server there,
    nothing is to be told.
    """
    if not cs.on_promote:
        scfg = sp.config.get("serve") or {}
        host, port = scfg.get("host") or "127.0.0.1", int(scfg.get("port") or 8000)
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError:
            return []  # no server running
        err = _stage("serve", ["reload", "--url", f"http://{host}:{port}/v1"])
        return [f"{sp.name}: the server at {host}:{port} did not reload: {err}"] if err else []
    env = {**os.environ, "NAME": sp.name, "ADAPTER": str(sp.path("outputs") / "adapter"),
           "EXPORT": str(sp.path("exports"))}
    run = subprocess.run(cs.on_promote, shell=True, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1]
        return [f"{sp.name}: cycle.on_promote failed: {last}"]
    return []
