"""All-or-nothing outputs: stage everything, commit with one rename, move it in; a killed run is finished or undone.

A stage writes its outputs into a *root* folder it owns (`data/`, `outputs/<name>/`, `reports/<name>/`,
`exports/<name>/`). A `Transaction` on that root:
1. takes the root's lock (`core.lock`), then settles what a killed run left (below);
2. stages every new entry in `<root>/.staging-<id>/` (files and folders, written however the libraries write them);
3. commits: writes the journal `<root>/.commit-<id>.json` (the entries to move in and to remove) with one atomic
   rename. Before that rename the old output is untouched; after it the new output is the one that counts;
4. applies the journal: each old entry is renamed aside into the staging folder, the new one renamed in, then the
   journal and the staging folder (holding the old entries) are deleted.

`settle(root)` runs at the start of every transaction and before a stage reads a root: a journal still there is
applied again (each step is skipped when already done), and a staging folder without a journal is deleted. So a kill
at any moment leaves either the old output or, once settled, the new one, never a mix; and leftovers are cleaned by
the next run. Hidden entries (`.staging-*`, `.commit-*`) are bookkeeping, never outputs; the lock lives beside the root.

Kill points for the fault-injection tests: every write step calls `point(label)`. With `WORKBENCH_KILL_AT=N` the process
SIGKILLs itself at the Nth point (`WORKBENCH_KILL_SIGNAL=SIGINT`: a Ctrl-C there instead); `WORKBENCH_KILL_TRACE=file`
appends each point's number and label to `file`.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError, Terminated
from .lock import output_lock, try_lock

STAGING = ".staging-"
JOURNAL = ".commit-"
_points = 0


def point(label: str) -> None:
    """A moment around a write, where the fault-injection tests may kill the process (see the module docstring)."""
    kill_at, trace = os.environ.get("WORKBENCH_KILL_AT"), os.environ.get("WORKBENCH_KILL_TRACE")
    if not (kill_at or trace):
        return
    global _points
    _points += 1
    if trace:
        with open(trace, "a") as f:
            f.write(f"{_points} {label}\n")
    if kill_at and _points == int(kill_at):
        os.kill(os.getpid(), getattr(signal, os.environ.get("WORKBENCH_KILL_SIGNAL", "SIGKILL")))


class DiskFull(ConfigError):
    """A write ran out of space; the previous output is unchanged."""


def is_disk_full(e: BaseException | None) -> bool:
    """An ENOSPC (or quota) error; pyarrow's OSError carries no errno, only the message."""
    return isinstance(e, OSError) and (e.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(e))


def disk_full(e: OSError, where: Path | str, kept: str | None = None) -> DiskFull:
    """One line: what was being written, and what stays (by default: the previous output at `where`)."""
    return DiskFull(f"no space left on device writing {e.filename or where}; "
                    f"{kept or f'the previous output at {where} is unchanged'}: free some space and run again")


def is_bookkeeping(name: str) -> bool:
    """Entries of a root that are not outputs: staging folders and journals (and any other hidden file)."""
    return name.startswith(".")


def outputs(root: Path) -> list[Path]:
    """The output entries of a root (bookkeeping left out), sorted."""
    return sorted(p for p in Path(root).iterdir() if not is_bookkeeping(p.name)) if Path(root).is_dir() else []


@contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done: a journal is applied whole once committed (SIGKILL is settle's
    job)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if signal.SIGTERM in caught:
            raise Terminated
        if caught:
            raise KeyboardInterrupt


def _apply(root: Path, txid: str) -> None:
    """Put a committed transaction's entries in place; every step is skipped when an earlier try already did it."""
    journal = root / f"{JOURNAL}{txid}.json"
    plan = json.loads(journal.read_text())
    stage, aside = root / f"{STAGING}{txid}", root / f"{STAGING}{txid}" / ".old"
    aside.mkdir(parents=True, exist_ok=True)
    for name in plan["remove"] + plan["move"]:
        target, new = root / name, stage / name
        if name in plan["move"] and not new.exists():
            continue  # moved in by an earlier, killed, apply
        if target.exists() or target.is_symlink():
            target.rename(aside / name)
            point(f"{root.name}: {name} set aside")
        if name in plan["move"]:
            new.rename(target)
            point(f"{root.name}: {name} moved in")
    _fsync_dir(root)
    journal.unlink()
    point(f"{root.name}: journal removed")
    shutil.rmtree(stage, ignore_errors=True)
    point(f"{root.name}: staging removed")


def _settle_locked(root: Path) -> list[str]:
    done = []
    for journal in sorted(root.glob(f"{JOURNAL}*.json")):
        txid = journal.name[len(JOURNAL):-len(".json")]
        try:
            _apply(root, txid)
        except ValueError:  # a journal is written whole before its rename, so this is not ours: leave it
            continue
        done.append(f"finished the interrupted update {txid}")
    for stage in sorted(root.glob(f"{STAGING}*")):
        txid = stage.name[len(STAGING):]
        if not (root / f"{JOURNAL}{txid}.json").exists():
            shutil.rmtree(stage, ignore_errors=True)
            done.append(f"removed the leftover {stage.name}")
    for tmp in root.glob(f"{JOURNAL}*.tmp"):
        tmp.unlink(missing_ok=True)
    return done


def settle(root: Path | str, *, held: bool = False) -> list[str]:
    """Finish (committed) or discard (uncommitted) what a killed run left in `root`; say what was done.

    Readers call it before reading; it does nothing while another run holds the root (that run settles it itself).
    `held`: the caller holds the lock that guards `root` (a folder inside a locked output, such as checkpoints/)."""
    root = Path(root)
    if not root.is_dir() or not any(p.name.startswith((STAGING, JOURNAL)) for p in root.iterdir()):
        return []
    if held:
        return _settle_locked(root)
    lock = try_lock(root)
    if lock is None:
        return []
    try:
        return _settle_locked(root)
    finally:
        lock.release()


class Transaction:
    """Replace entries of `root` all at once (see the module docstring).

        with Transaction(out, what="train serpent") as tx:
            trainer.save_model(tx.path("adapter"))
            tx.write_text("training_summary.json", text)
        # both in place here; on an exception (or a kill) neither is

    `replace_all`: every output entry of root that was not staged is removed at commit (the root becomes exactly the
    staged entries). `txid`: a fixed staging name several processes can agree on (distributed training)."""

    def __init__(self, root: Path | str, what: str, *, replace_all: bool = False, txid: str | None = None):
        self.root, self.what, self.replace_all = Path(root), what, replace_all
        self.txid = txid or uuid.uuid4().hex[:12]
        self.dir = self.root / f"{STAGING}{self.txid}"
        self.removed: set[str] = set()
        self._lock = None
        self.committed = False

    def __enter__(self) -> Transaction:
        return self.open()

    def open(self) -> Transaction:
        """Take the root's lock, settle it, make the staging folder (`with` does this; `close` undoes it)."""
        self._made_root = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = output_lock(self.root, self.what)
        self._lock.__enter__()
        try:
            _settle_locked(self.root)
            self.dir.mkdir()
            point(f"{self.root.name}: staging created")
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self.committed = False
        return self

    def close(self) -> None:
        """Discard the staging folder unless committed, and release the lock."""
        try:
            if not self.committed:
                shutil.rmtree(self.dir, ignore_errors=True)
                if getattr(self, "_made_root", False):  # a run that failed leaves no empty output folder behind
                    with contextlib.suppress(OSError):
                        self.root.rmdir()
        finally:
            if self._lock is not None:
                self._lock.__exit__(None, None, None)
                self._lock = None

    def path(self, name: str) -> Path:
        """Where to write the new `root/name` (a file or a folder)."""
        if "/" in name or is_bookkeeping(name):
            raise ValueError(f"not an output name: {name!r}")
        return self.dir / name

    def write_text(self, name: str, text: str) -> Path:
        p = self.path(name)
        p.write_text(text, encoding="utf-8")
        point(f"{self.root.name}: {name} staged")
        return p

    def remove(self, name: str) -> None:
        """Remove `root/name` at commit (nothing happens if it does not exist)."""
        self.path(name)
        self.removed.add(name)

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            self.close()
        if is_disk_full(exc):
            raise disk_full(exc, self.root) from None

    def commit(self) -> None:
        staged = sorted(p.name for p in self.dir.iterdir() if not is_bookkeeping(p.name))
        removed = set(self.removed)
        if self.replace_all:
            removed |= {p.name for p in outputs(self.root)} - set(staged)
        try:
            _fsync_tree(self.dir)
            tmp = self.root / f"{JOURNAL}{self.txid}.tmp"
            with open(tmp, "w") as f:
                json.dump({"what": self.what, "move": staged, "remove": sorted(removed - set(staged))}, f)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            shutil.rmtree(self.dir, ignore_errors=True)
            (self.root / f"{JOURNAL}{self.txid}.tmp").unlink(missing_ok=True)
            if is_disk_full(e):
                raise disk_full(e, self.root) from None
            raise
        point(f"{self.root.name}: journal written")
        with _deferred_interrupt():
            os.replace(tmp, self.root / f"{JOURNAL}{self.txid}.json")  # the commit point
            self.committed = True
            point(f"{self.root.name}: committed")
            _apply(self.root, self.txid)


def write_atomic(path: Path | str, text: str | bytes, mode: int | None = None) -> None:
    """One file replaced at once (temp file beside it, then rename); on any error the old file stays.

    The caller holds the folder's lock: temp files a killed run left for this file are removed first."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            tmp.chmod(mode)
        point(f"{path.name} staged")
        os.replace(tmp, path)
        point(f"{path.name} replaced")
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(e, path) from None
        raise


def replace_dir(staged: Path, target: Path) -> None:
    """Swap a complete folder in for `target` (e.g. a checkpoint): the old one renamed aside, then removed.

    `staged` must sit on the same filesystem; a kill between the two renames leaves `target` absent, never partial."""
    _fsync_tree(staged)
    aside = target.with_name(f"{STAGING}{target.name}-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(aside)
        point(f"{target.name} set aside")
    staged.rename(target)
    point(f"{target.name} moved in")
    shutil.rmtree(aside, ignore_errors=True)


def remove_dir(target: Path) -> None:
    """Delete a folder so that no half-deleted copy is ever seen under its name: rename it aside first."""
    if not target.exists():
        return
    aside = target.with_name(f"{STAGING}{target.name}-{uuid.uuid4().hex[:8]}")
    target.rename(aside)
    point(f"{target.name} removed")
    shutil.rmtree(aside, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    """Flush staged files to disk before the commit, so a power cut cannot commit files whose data never landed."""
    for dirpath, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
