"""Read opencode's legacy JSON storage tree (before its SQLite store) with the database reader's reconstruction."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .opencode import ReadOptions, ReadStats, StoreError, build_session
from .records import Session


def _load(path: Path) -> dict | None:
    try:
        v = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return v if isinstance(v, dict) else None


def read(src, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    """storage/session/<project>/<session>.json, message/<session>/<msg>.json, part/<msg>/<part>.json.

    Ids come from the file paths, not the JSON (as opencode's own importer does); message and part ids sort in
    creation order.
    """
    root = Path(src.path)
    if not (root / "session").is_dir():
        raise StoreError(f"opencode-json source {root}: not an opencode storage folder (no session/ inside)")
    for session_file in sorted((root / "session").glob("*/*.json")):
        sid = session_file.stem
        info = _load(session_file)
        if info is None:
            stats.skip_session("unreadable session files", sid)
            continue
        messages = []
        for mf in sorted((root / "message" / sid).glob("*.json")):
            data = _load(mf)
            if data is None:
                stats.skip("malformed message rows", sid)
                continue
            parts = [_load(pf) for pf in sorted((root / "part" / mf.stem).glob("*.json"))]
            messages.append((data, parts))
        time = info.get("time") if isinstance(info.get("time"), dict) else {}
        meta = (sid, info.get("parentID"), info.get("directory"), info.get("title"), time.get("created"), None, None)
        s = build_session(meta, messages, opts, stats)
        if s is not None:
            s.source = "opencode-json"
            yield s
