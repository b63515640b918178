"""`make serve-bridge`: LiteLLM's proxy serving Codex's Responses API (POST /v1/responses) in front of `make serve`,
with the config `make export` writes (exports/agents/litellm-bridge.yaml). LiteLLM translates each Responses request
into a chat completion and the answer back (its maintained bridge); this module only starts and stops it.

    python -m agent.bridge [--config exports/agents/litellm-bridge.yaml] [--port 8001]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.entry import die_with_parent
from export.agents import BRIDGE_KEY_ENV, SERVER_KEY_ENV

DEFAULT_KEY = "workbench-local"  # the bridge listens on 127.0.0.1 by default; set WORKBENCH_BRIDGE_KEY to change it


class BridgeError(RuntimeError):
    """The bridge did not come up; the message carries its last output line."""


def command(config: Path, host: str, port: int) -> list[str]:
    exe = Path(sys.executable).with_name("litellm")
    if not exe.exists():
        raise BridgeError(f"LiteLLM's proxy is not installed ({exe}): make serve-bridge installs it (the bridge "
                          f"extra: pip install -c constraints.txt -e '.[bridge]')")
    return [str(exe), "--config", str(config), "--host", host, "--port", str(port), "--num_workers", "1"]


def environment(key: str | None = None, server_key: str | None = None) -> dict[str, str]:
    """The proxy offline and quiet: its local model-cost map (no download), no telemetry; the bridge key set, and the
    key it sends to `make serve` (serve.api_key, else WORKBENCH_API_KEY; any value when the server asks for none)."""
    env = dict(os.environ)
    env.setdefault(BRIDGE_KEY_ENV, key or DEFAULT_KEY)
    env[SERVER_KEY_ENV] = server_key or env.get(SERVER_KEY_ENV) or "not-needed"
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False", LITELLM_LOG="ERROR",
               DISABLE_ADMIN_UI="True")
    return env


@contextmanager
def bridging(config: Path, *, host: str = "127.0.0.1", port: int | None = None, key: str | None = None,
             server_key: str | None = None, timeout: float = 240) -> Iterator[str]:
    """Run the bridge for the block; yields its OpenAI base URL (http://HOST:PORT/v1)."""
    from serve.api import free_port

    port = port or free_port(host)
    log = Path(tempfile.mkstemp(prefix="bridge-", suffix=".log")[1])
    workdir = Path(tempfile.mkdtemp(prefix="bridge-"))  # the proxy writes files into its working folder
    env = environment(key, server_key)
    with log.open("w") as out:
        proc = subprocess.Popen(command(config, host, port), stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=workdir, preexec_fn=die_with_parent)
    url = f"http://{host}:{port}/v1"
    ok = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
                raise BridgeError(f"the bridge exited ({proc.returncode}): {lines[-1] if lines else 'no output'}")
            try:
                req = urllib.request.Request(url + "/models", headers={"authorization": f"Bearer {env[BRIDGE_KEY_ENV]}"})
                with urllib.request.urlopen(req, timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise BridgeError(f"the bridge did not answer at {url} within {timeout:.0f} s (log: {log})")
                time.sleep(0.5)
        ok = True
        yield url
    finally:
        from serve.api import stop

        stop(proc)
        if ok:
            log.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    from core import config as cfglib
    from export.agents import bridge_url

    p = argparse.ArgumentParser(prog="python -m agent.bridge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help="default <exports>/agents/litellm-bridge.yaml")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None, help="default serve.bridge_port")
    p.add_argument("--overlay", default=None)
    a = p.parse_args(argv)
    cfg = cfglib.load(overlay=a.overlay)
    scfg = cfg["serve"]
    config = Path(a.config or Path(cfg["paths"]["exports"]) / "agents" / "litellm-bridge.yaml")
    if not config.is_file():
        print(f"error: {config}: no bridge config; `make export NAME=...` writes it", file=sys.stderr)
        return 2
    host, port = a.host or str(scfg.get("host") or "127.0.0.1"), a.port or int(scfg.get("bridge_port") or 8001)
    env = environment(server_key=scfg.get("api_key"))
    print(f"bridge: {bridge_url({'host': host, 'bridge_port': port})} (Responses API, LiteLLM's proxy) -> "
          f"make serve; key: ${BRIDGE_KEY_ENV}" + (" (unset: workbench-local)" if BRIDGE_KEY_ENV not in os.environ
                                                    else ""), flush=True)
    try:  # Ctrl-C or SIGTERM (core.entry) kill the proxy as they unwind through subprocess.call
        return subprocess.call(command(config, host, port), env=env, preexec_fn=die_with_parent)
    except BridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from core import entry

    sys.exit(entry.run("bridge", main, interrupted="the bridge is stopped"))
