"""Per-output locks: one run at a time writes an output folder; a second one is refused with the holder named.

The lock is an OS lock (`filelock`: flock on `.<folder>.lock` beside the folder, so that the folder itself holds only
outputs and can be replaced whole), and the kernel releases it when its process dies, even by SIGKILL: a killed run
never leaves a lock behind. A sidecar, `.<folder>.lock.holder`, names the holder (pid, command, start time) for the
refusal message; a stale sidecar (its run killed) is simply overwritten by the next holder.

    with output_lock(sp.path("outputs"), what=f"train {sp.name}"):
        ...                                   # nobody else writes outputs/<name>/ meanwhile

Locks are re-entrant within a process (a stage holding its folder's lock can open transactions on it), and
`wait=None` waits for the holder instead of refusing (what a scheduler that must not skip a run wants).
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import ConfigError



def lock_path(folder: Path) -> Path:
    """The lock file of an output folder: `.<name>.lock` beside it."""
    return folder.parent / f".{folder.name}.lock"


def _holder_path(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.lock.holder"

_held: dict[Path, list] = {}  # folder -> [FileLock, depth]: this process's locks


class Busy(ConfigError):
    """Another run holds the output's lock."""


def holder(folder: Path) -> dict | None:
    """Who holds (or last held) `folder`'s lock, from its sidecar; None when unknown."""
    try:
        return json.loads(_holder_path(Path(folder).resolve()).read_text())
    except (OSError, ValueError):
        return None


def describe(info: dict | None) -> str:
    if not info:
        return "another run (it has not recorded itself yet)"
    return (f"pid {info.get('pid')} on {info.get('host')} (`{info.get('command')}`, {info.get('what')}, "
            f"since {info.get('started')})")


@contextmanager
def output_lock(folder: Path | str, what: str, wait: float | None = 0) -> Iterator[None]:
    """Hold `folder`'s lock for the block. `wait`: seconds to wait for a holder (0: refuse at once; None: forever).

    Raises `Busy` (one line naming the holder) when the lock stays taken."""
    folder = Path(folder).resolve()
    entry = _held.get(folder)
    if entry is not None:  # re-entrant: this process already holds it
        entry[1] += 1
        try:
            yield
        finally:
            entry[1] -= 1
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(folder)))
    try:
        lock.acquire(timeout=-1 if wait is None else wait, poll_interval=0.2)
    except Timeout:
        raise Busy(f"{folder} is being written by {describe(holder(folder))}; wait for it to finish or stop it, "
                   f"then run again") from None
    _held[folder] = [lock, 1]
    info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
            "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else what,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    tmp = _holder_path(folder).with_name(f"{_holder_path(folder).name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(info) + "\n")
        os.replace(tmp, _holder_path(folder))
    except OSError:  # the message loses the holder's name, the lock still holds
        tmp.unlink(missing_ok=True)
    try:
        yield
    finally:
        del _held[folder]
        if (holder(folder) or {}).get("pid") == os.getpid():
            _holder_path(folder).unlink(missing_ok=True)
        lock.release()


def try_lock(folder: Path | str) -> FileLock | None:
    """`folder`'s lock if nobody holds it (released by the caller), None when another run does or it cannot be made.

    For readers that tidy an output before reading it (`core.atomic.settle`)."""
    folder = Path(folder).resolve()
    if folder in _held:
        return _NOOP
    lock = FileLock(str(lock_path(folder)))
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        return None
    return lock


class _Held:
    def release(self) -> None:
        pass


_NOOP = _Held()
