"""Where sessions come from: each agent's logs, read by its own reader into the shared Session record."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from . import opencode
from .opencode import ReadOptions, ReadStats, StoreError
from .records import Session

KINDS = ("opencode", "opencode-json", "opencode-export", "claude-code", "codex", "mini-swe-agent")
# How a user names each kind: the make variable and the command-line flag (for the "nothing found" line).
NAMING = {"opencode": "DB=", "opencode-json": "OPENCODE_STORAGE=", "opencode-export": "OPENCODE_EXPORT=",
          "claude-code": "CLAUDE_DIR=", "codex": "CODEX_DIR=", "mini-swe-agent": "SWE_DIR="}


@dataclass
class Source:
    kind: str  # one of KINDS
    path: Path
    given: bool = True  # named by the user: unusable is an error; a default location: missing is skipped, noted
    reports: Path | None = None  # mini-swe-agent: where the SWE-bench report.json files are (default: under path)

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def default_sources() -> list[Source]:
    """Every agent's default location (used when the user names no source at all)."""
    home = Path.home()
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return [
        Source("opencode", opencode.default_db_path(), given=bool(os.environ.get("OPENCODE_DB"))),
        Source("opencode-json", Path(os.environ.get("OPENCODE_STORAGE") or data / "opencode" / "storage"),
               given=bool(os.environ.get("OPENCODE_STORAGE"))),
        *([] if os.environ.get("OPENCODE_STORAGE") else  # opencode 0.x kept its sessions per project
          [Source("opencode-json", data / "opencode" / "project", given=False)]),
        *([Source("opencode-export", Path(os.environ["OPENCODE_EXPORT"]))] if os.environ.get("OPENCODE_EXPORT")
          else []),
        Source("claude-code", Path(os.environ.get("CLAUDE_DIR") or home / ".claude" / "projects"),
               given=bool(os.environ.get("CLAUDE_DIR"))),
        Source("codex", Path(os.environ.get("CODEX_DIR") or home / ".codex" / "sessions"),
               given=bool(os.environ.get("CODEX_DIR"))),
    ]


def usable(sources: list[Source], notes: list[str]) -> list[Source]:
    """Drop default locations that do not exist (with a note); a missing path the user gave is an error."""
    out = []
    for src in sources:
        if src.path.exists():
            out.append(src)
        elif src.given:
            raise StoreError(f"{src.kind} source {src.path}: no such file or folder")
        else:
            notes.append(f"{src.kind}: {src.path} does not exist, skipped")
    return out


def _read_opencode(src: Source, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    with opencode.open_store(src.path) as conn:
        yield from opencode.read_sessions(conn, opts, stats)


def reader(kind: str) -> Callable[[Source, ReadOptions, ReadStats], Iterator[Session]]:
    if kind == "opencode":
        return _read_opencode
    if kind == "opencode-json":
        from .opencode_json import read as r
    elif kind == "opencode-export":
        from .opencode_json import read_export as r
    elif kind == "claude-code":
        from .claude import read as r
    elif kind == "codex":
        from .codex import read as r
    elif kind == "mini-swe-agent":
        from .swe import read as r
    else:
        raise StoreError(f"unknown source kind {kind!r}; known: {', '.join(KINDS)}")
    return r


def total_sessions(sources: list[Source]) -> int | None:
    """How many sessions the sources hold, where that is cheap to know (for the progress bar)."""
    if all(s.kind == "opencode" for s in sources):
        n = 0
        for src in sources:
            with opencode.open_store(src.path) as conn:
                n += opencode.session_count(conn)
        return n
    return None


def nothing_found(sources: list[Source]) -> str:
    """The one line for a run that found no session at all: where it looked, and how to name a location."""
    looked = "; ".join(f"{src.kind} {src.path} ({'no sessions' if src.path.exists() else 'missing'})"
                       for src in sources)
    how = ", ".join(f"{NAMING[k]}PATH" for k in KINDS)
    return f"no agent sessions found. Looked at: {looked}. Name your logs with make extract {how} " \
           f"(or python -m extract --db/--claude-dir/...; see docs/extraction.md, Sources)"
