"""One holder at a time per output folder: an OS lock (released when the holder dies) plus a note naming it."""
from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.config import ConfigError


class Busy(ConfigError):
    """Someone else holds the lock: the message names the holder (what, pid, since when)."""


def _paths(path: Path) -> tuple[Path, Path]:
    path = Path(path)
    return path.parent / f".{path.name}.lock", path.parent / f".{path.name}.lock.json"


def holder(path: Path) -> str:
    """Who holds `path` as its note says ("unknown" when the note is gone or unreadable)."""
    try:
        h = json.loads(_paths(path)[1].read_text())
        return f"{h['what']} (pid {h['pid']}, since {h['since']})"
    except (OSError, ValueError, KeyError):
        return "another process"


@contextmanager
def output_lock(path: Path, what: str) -> Iterator[None]:
    """Hold `path` (a folder such as outputs/serpent or cycles/) for `what`, or raise Busy at once.

    The OS lock (filelock, flock underneath) goes with the process, so a killed holder never blocks the next run;
    the JSON note beside it only says who holds it, for the one-line refusal.
    """
    from filelock import FileLock, Timeout

    lock_file, note = _paths(path)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise Busy(f"{path} is busy: {holder(path)} is using it; try again when it ends") from None
    try:
        tmp = note.with_name(note.name + f".{os.getpid()}")
        tmp.write_text(json.dumps({"what": what, "pid": os.getpid(), "command": " ".join(sys.argv),
                                   "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        os.replace(tmp, note)
        yield
    finally:
        note.unlink(missing_ok=True)
        lock.release()
