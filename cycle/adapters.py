"""The promoted adapter and the one before it: install with a kill-safe rename sequence, recover, roll back.

outputs/<name>/adapter is the promoted adapter (what eval, export and the server read) and
outputs/<name>/adapter.previous the one it replaced. Installing a new one:
  1. copy it to .adapter-incoming/, then write its record (.promotion.json) there: complete from here on;
  2. adapter.previous -> .adapter-discard;  3. adapter -> adapter.previous;  4. .adapter-incoming -> adapter;
  5. write outputs/<name>/training_summary.json, the history line, then drop the record and .adapter-discard.
A kill at any point leaves something `recover` finishes or undoes: adapter/ is missing only between 3 and 4, when
a complete .adapter-incoming/ is there to finish with.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from core.version import weights_digest

from .state import write_json

RECORD = ".promotion.json"


def _paths(out: Path) -> dict[str, Path]:
    return {k: out / v for k, v in (("adapter", "adapter"), ("previous", "adapter.previous"),
                                    ("incoming", ".adapter-incoming"), ("discard", ".adapter-discard"))}


def _finish(out: Path, record: dict[str, Any], log: Callable[[dict[str, Any]], None]) -> None:
    p = _paths(out)
    summary = p["adapter"] / "training_summary.json"
    if summary.is_file():
        tmp = out / ".training_summary.json.partial"
        shutil.copy2(summary, tmp)
        tmp.replace(out / "training_summary.json")
    log(record | {"adapter": weights_digest(p["adapter"])})
    (p["adapter"] / RECORD).unlink(missing_ok=True)
    shutil.rmtree(p["discard"], ignore_errors=True)


def recover(out: Path, log: Callable[[dict[str, Any]], None]) -> str | None:
    """Finish or undo an install a kill interrupted; returns what it did, or None when there was nothing to do."""
    p = _paths(out)
    did = None
    if not p["adapter"].exists() and (p["incoming"] / RECORD).is_file():
        p["incoming"].rename(p["adapter"])  # killed between steps 3 and 4: the new adapter was complete
    if p["adapter"].exists() and not p["previous"].exists() and p["discard"].exists():
        p["discard"].rename(p["previous"])  # killed between steps 2 and 3: nothing changed yet
    if not p["adapter"].exists() and p["previous"].exists() and not p["incoming"].exists():
        p["previous"].rename(p["adapter"])  # never left like this by install; a hand-moved folder, put back
        did = "restored adapter.previous as adapter"
    if (p["adapter"] / RECORD).is_file():  # installed, not yet recorded: record it now
        record = json.loads((p["adapter"] / RECORD).read_text())
        _finish(out, record | {"note": "completed after an interruption"}, log)
        did = f"completed the interrupted {record.get('event', 'install')}"
    if p["incoming"].exists():
        shutil.rmtree(p["incoming"])
        did = did or "dropped an incomplete install"
    shutil.rmtree(p["discard"], ignore_errors=True)
    return did


def install(src: Path, out: Path, record: dict[str, Any], log: Callable[[dict[str, Any]], None],
            summary: Path | None = None) -> None:
    """Make `src` (an adapter folder) the promoted adapter; the current one becomes adapter.previous."""
    p = _paths(out)
    recover(out, log)
    out.mkdir(parents=True, exist_ok=True)
    if p["adapter"].exists() and not (p["adapter"] / "training_summary.json").exists() \
            and (out / "training_summary.json").is_file():
        # a manually trained adapter: its summary travels with it, so a rollback brings it back too
        shutil.copy2(out / "training_summary.json", p["adapter"] / "training_summary.json")
    shutil.copytree(src, p["incoming"])
    if summary is not None and summary.is_file():
        shutil.copy2(summary, p["incoming"] / "training_summary.json")
    write_json(p["incoming"] / RECORD, record)  # from here on the install is complete on disk
    if p["previous"].exists():
        p["previous"].rename(p["discard"])
    if p["adapter"].exists():
        p["adapter"].rename(p["previous"])
    p["incoming"].rename(p["adapter"])
    _finish(out, record, log)


def rollback(out: Path, record: dict[str, Any], log: Callable[[dict[str, Any]], None]) -> None:
    """Swap adapter.previous back in (a copy is installed, so a kill never loses either adapter)."""
    p = _paths(out)
    recover(out, log)
    if not (p["previous"] / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{p['previous']}: no previous adapter to roll back to")
    install(p["previous"], out, record, log)
