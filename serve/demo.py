"""`python -m serve.demo --overlay ...`: serve the exports for a moment and send each model one chat with a tool.

The last step of `make demo BASE=...`: the server starts on a free port of 127.0.0.1 (the base converted to GGUF
with the template the adapters trained with), `make serve-check`'s chat goes to every served model, and the server
stops. Exit 1 when a model did not answer.
"""
from __future__ import annotations

import argparse
import sys

from .api import ServeError, serving
from .check import run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serve.demo", description=__doc__)
    p.add_argument("--overlay", default=None)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    a = p.parse_args(argv)
    try:
        with serving(overlay=a.overlay, overrides=a.overrides, timeout=900) as server:
            text, ok = run(server.base_url)
    except ServeError as e:
        print(f"serve: error: {e}", file=sys.stderr)
        return 2
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
