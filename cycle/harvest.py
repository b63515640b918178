"""Harvest: re-extract every configured source with pinned sides, then find what is new or changed."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import ConfigError

from .state import State, read_json

LEDGER = "sessions.json"  # extraction's per-source session ledger, beside manifest.json


def extract(data: Path, state: State, source_args: list[str], overlay: str | None, overrides: list[str]) -> dict:
    """Run `python -m extract` (every configured source) with the cycle's sides; return its ledger.

    Extraction reads every session again, so a resumed or edited session is seen with its new content (the units of
    sessions that did not change come from its cache: extract/cache.py); its side comes from sides.json when a cycle
    has seen it before. The datasets it writes are the ones train and eval read.
    """
    state.save_sides()  # extraction reads it; a first cycle starts from an empty one
    cmd = [sys.executable, "-m", "extract", *source_args, "--keep-sides", str(state.sides_path), "--quiet",
           *(["--overlay", overlay] if overlay else []), *overrides]
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ConfigError(f"extraction failed: {last.removeprefix('extract: error: ')}")
    ledger = read_json(data / LEDGER, None)
    if ledger is None:
        raise ConfigError(f"extraction wrote no {data / LEDGER}")
    for source, sessions in ledger["sources"].items():
        for sid, entry in sessions.items():
            state.sides.setdefault(f"{source}:{sid}", entry["side"])
    state.save_sides()
    return ledger


@dataclass
class Growth:
    """One specialist's sessions now, and how its train side moved since its last decision."""

    train: dict[str, str] = field(default_factory=dict)  # key -> content hash
    new: list[str] = field(default_factory=list)  # train sessions its last decision never saw
    changed: list[str] = field(default_factory=list)  # train sessions whose content changed since (resumed, edited)
    validation: int = 0
    test: int = 0
    new_held_out: int = 0  # validation and test sessions new since the last cycle's ledger
    first: bool = False  # no baseline yet; the promoted adapter is taken to know the current train side

    @property
    def added(self) -> int:
        return len(self.new) + len(self.changed)


def growth(ledger: dict[str, Any], state: State, names: list[str], promoted: set[str]) -> dict[str, Growth]:
    """Per specialist: its train sessions against its baseline; a first cycle takes a promoted adapter's data as known."""
    old = {f"{src}:{sid}" for src, ss in state.ledger.get("sources", {}).items() for sid in ss}
    out = {n: Growth() for n in names}
    for src, sessions in ledger["sources"].items():
        for sid, e in sessions.items():
            g = out.get(e["specialist"])
            if g is None:
                continue
            key = f"{src}:{sid}"
            if e["side"] == "train":
                g.train[key] = e["hash"]
            else:
                setattr(g, e["side"], getattr(g, e["side"]) + 1)
                g.new_held_out += key not in old
    for name, g in out.items():
        if name not in state.baseline and name in promoted:
            state.baseline[name] = dict(g.train)  # a first cycle: the promoted adapter was trained on these
            g.first = True
        base = state.baseline.get(name, {})
        g.new = sorted(k for k in g.train if k not in base)
        g.changed = sorted(k for k in g.train if k in base and base[k] != g.train[k])
    return out


def per_source(ledger: dict[str, Any], state: State) -> dict[str, dict[str, int]]:
    """Sessions per source now, and how many are new or changed since the last cycle's ledger."""
    out = {}
    for src, sessions in ledger["sources"].items():
        old = state.ledger.get("sources", {}).get(src, {})
        out[src] = {"sessions": len(sessions), "new": sum(sid not in old for sid in sessions),
                    "changed": sum(sid in old and old[sid]["hash"] != e["hash"] for sid, e in sessions.items())}
    return out
