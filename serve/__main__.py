"""`python -m serve`: serve the base and every exported specialist (OpenAI API), in the foreground; Ctrl-C stops.

    python -m serve [--overlay configs/demo.yaml] [--host 127.0.0.1] [--port 8000] [--models serpent,base] [KEY=VALUE ...]
    python -m serve check [--url http://127.0.0.1:8000/v1]     # a chat with a tool to every served model
    python -m serve reload [--url ...]                          # re-read the exports (a new or promoted adapter)
"""
from __future__ import annotations

import argparse
import sys

from core import config as cfglib
from core.config import ConfigError


ACTIONS = ("run", "check", "reload")


def _address(a) -> str:
    from .server import url

    if a.url:
        return a.url
    scfg = cfglib.load(overlay=a.overlay, overrides=a.overrides)["serve"]
    return url(a.host or scfg.get("host") or "127.0.0.1", int(a.port or scfg.get("port") or 8000))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="*", metavar="run|check|reload|KEY=VALUE",
                   help="the action (default run) and config overrides, as every stage takes them")
    p.add_argument("--overlay", default=None, help="a config overlay (CONFIG=...)")
    p.add_argument("--host", default=None, help="listen address (default serve.host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default serve.port, 8000)")
    p.add_argument("--models", default=None, help="comma-separated names to serve (default: base + every export)")
    p.add_argument("--engine", default=None, help="auto, llama.cpp or vllm (default serve.engine)")
    p.add_argument("--url", default=None, help="check/reload: the server's OpenAI base URL")
    a = p.parse_intermixed_args(argv)  # the action and KEY=VALUE overrides, before or after the options
    actions = [w for w in a.words if "=" not in w]
    a.overrides = [w for w in a.words if "=" in w]
    if len(actions) > 1 or (actions and actions[0] not in ACTIONS):
        p.error(f"one action of {', '.join(ACTIONS)} and KEY=VALUE overrides, got {' '.join(actions)}")
    a.action = actions[0] if actions else "run"
    try:
        if a.action == "check":
            from .check import run

            address = _address(a)
            try:
                text, ok = run(address)
            except Exception as e:  # no server there: one line
                raise ConfigError(f"no server answers at {address} ({str(e).splitlines()[0]}); start `make serve`") \
                    from None
            print(text)
            return 0 if ok else 1
        if a.action == "reload":
            from .api import reload

            address = _address(a)
            try:
                print("serving: " + ", ".join(reload(address)))
            except OSError as e:  # no server there, or it refused: one line
                raise ConfigError(f"no server answers at {address} ({getattr(e, 'reason', e)}); start `make serve`") \
                    from None
            return 0
        from .server import serve

        names = [n.strip() for n in a.models.split(",") if n.strip()] if a.models else None
        return serve(overlay=a.overlay, names=names, host=a.host, port=a.port, engine=a.engine,
                     log=lambda line: print(line, flush=True), overrides=a.overrides)
    except ConfigError as e:
        print(f"serve: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
