"""`python -m cycle`: one unattended cycle; `promote NAME CYCLE` and `rollback NAME` by hand (see docs/cycle.md).

    python -m cycle --overlay configs/demo.yaml           # harvest, train candidates, gate, report (and promote)
    python -m cycle --db ~/.local/share/opencode/opencode.db cycle.auto_promote=true
    python -m cycle promote serpent 20260101T030000Z      # adopt a staged candidate after reading its report
    python -m cycle rollback serpent                      # the adapter before the last promotion, back
"""
from __future__ import annotations

import argparse
import sys

from core import entry
from core.config import ConfigError

# extraction's source options, passed through to `python -m extract` as given
SOURCE_OPTIONS = ("--db", "--opencode-storage", "--claude-dir", "--codex-dir", "--swe-dir", "--swe-reports")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m cycle", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("items", nargs="*", metavar="[promote NAME CYCLE | rollback NAME] KEY=VALUE",
                   help="a command (none: run a cycle), then config overrides")
    p.add_argument("--overlay", default=None, help="config overlay, e.g. configs/demo.yaml")
    p.add_argument("--force", action="store_true", help="promote: a candidate the gate did not pass")
    src = p.add_argument_group("sources (as `python -m extract` takes them; none: every default location)")
    for opt in SOURCE_OPTIONS:
        src.add_argument(opt, action="append", default=[], metavar="PATH")
    src.add_argument("--resolved-only", action="store_true")
    a = p.parse_intermixed_args(argv)
    words = [x for x in a.items if "=" not in x]
    overrides = [x for x in a.items if "=" in x]
    sources = [arg for opt in SOURCE_OPTIONS for path in getattr(a, opt[2:].replace("-", "_")) for arg in (opt, path)]
    sources += ["--resolved-only"] if a.resolved_only else []
    from . import run

    try:
        if not words:
            return run.run(a.overlay, sources, overrides)
        if words[0] == "promote" and len(words) == 3:
            return run.promote_command(words[1], words[2], a.overlay, overrides, a.force)
        if words[0] == "rollback" and len(words) == 2:
            return run.rollback_command(words[1], a.overlay, overrides)
        raise ConfigError(f"unexpected {' '.join(words)!r}: expected nothing (run a cycle), `promote NAME CYCLE` "
                          f"or `rollback NAME`")
    except ConfigError as e:
        print(f"cycle: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a folder that cannot be written: what and where, in one line
        print(f"cycle: error: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (core.entry): one line, exit 130 or 143
        how, code = entry.stopped(e)
        print(f"cycle: {how}; the promoted adapters are intact, the next cycle cleans up", file=sys.stderr)
        return code


if __name__ == "__main__":
    entry.stop_on_sigterm()
    sys.exit(main())
