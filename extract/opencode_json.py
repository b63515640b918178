"""Read opencode's JSON trees (the pre-SQLite storage and the oldest v0.x layout) and `opencode export` files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .fastjson import loads
from .opencode import ReadOptions, ReadStats, StoreError, build_session
from .records import Session


def _load(path: Path) -> dict | None:
    try:
        v = loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return v if isinstance(v, dict) else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _meta(sid: str, info: dict) -> tuple:
    time = info.get("time") if isinstance(info.get("time"), dict) else {}
    created = time.get("created") if isinstance(time.get("created"), (int, float)) else None
    return (sid, _str(info.get("parentID")), _str(info.get("directory")), _str(info.get("title")), created, None, None)


def _build(meta, messages, opts: ReadOptions, stats: ReadStats, source: str, default_agent: str | None = None):
    try:
        s = build_session(meta, messages, opts, stats, default_agent=default_agent)
    except Exception as e:  # noqa: BLE001 - one damaged session never stops the others
        stats.unusable(str(meta[0]), e)
        return None
    if s is not None:
        s.source = source
    return s


def storage_roots(root: Path) -> list[tuple[str, Path]]:
    """The JSON trees under a folder: ("tree", storage/) or ("v0", project/<id>/storage/) for each one found."""
    if (root / "session" / "info").is_dir():
        return [("v0", root)]
    if (root / "session").is_dir():
        return [("tree", root)]
    found = [("v0", p.parent.parent) for p in sorted(root.glob("project/*/storage/session/info"))]
    found += [("v0", p.parent.parent) for p in sorted(root.glob("*/storage/session/info"))]  # root = project/
    found += [("v0", p.parent) for p in sorted(root.glob("storage/session/info"))]  # root = project/<id>/
    if (root / "storage" / "session").is_dir() and not found:
        found.append(("tree", root / "storage"))
    return found


def read(src, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    root = Path(src.path)
    roots = storage_roots(root) if root.is_dir() else []
    if not roots:
        raise StoreError(f"opencode-json source {root}: not an opencode storage folder (no session/ inside, "
                         f"nor project/<id>/storage/session/ of opencode 0.x)")
    for kind, r in roots:
        yield from (_read_v0 if kind == "v0" else _read_tree)(r, opts, stats)


def _read_tree(root: Path, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    """storage/session/<project>/<session>.json, message/<session>/<msg>.json, part/<msg>/<part>.json.

    Ids come from the file paths, not the JSON (as opencode's own importer does); message and part ids sort in
    creation order.
    """
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
        s = _build(_meta(sid, info), messages, opts, stats, "opencode-json")
        if s is not None:
            yield s


def _read_v0(root: Path, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    """opencode 0.x: project/<id>/storage/session/info/<session>.json, message/<session>/<msg>.json,
    part/<session>/<msg>/<part>.json. Agents did not exist yet: every session was a build session."""
    base = root / "session"
    for info_file in sorted((base / "info").glob("*.json")):
        sid = info_file.stem
        info = _load(info_file)
        if info is None:
            stats.skip_session("unreadable session files", sid)
            continue
        messages = []
        for mf in sorted((base / "message" / sid).glob("*.json")):
            data = _load(mf)
            if data is None:
                stats.skip("malformed message rows", sid)
                continue
            parts = [_load(pf) for pf in sorted((base / "part" / sid / mf.stem).glob("*.json"))]
            messages.append((data, parts))
        s = _build(_meta(sid, info), messages, opts, stats, "opencode-json", default_agent="build")
        if s is not None:
            yield s


def export_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl"))


def json_documents(text: str) -> list[Any]:
    """The JSON documents in a file: one (pretty-printed, whatever the file is called), or one per line."""
    text = text.lstrip("\ufeff")
    start = text.find("{")
    if start < 0:
        return []
    try:  # `opencode export > f.json` may carry a line of its own before the JSON
        doc, end = json.JSONDecoder().raw_decode(text, start)
        if not text[end:].strip():
            return [doc]
    except ValueError:
        pass
    docs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                docs.append(loads(line))
            except ValueError:
                continue
    return docs


def read_export(src, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    """`opencode export <session>` files: {info: session, messages: [{info: message, parts: [part]}]}."""
    root = Path(src.path)
    if not root.exists():
        raise StoreError(f"opencode-export source {root}: no such file or folder")
    for path in export_files(root):
        stats.counts["opencode export files read"] += 1
        try:
            docs = json_documents(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            docs = []
        sessions = [d for d in docs if isinstance(d, dict) and isinstance(d.get("info"), dict)
                    and isinstance(d.get("messages"), list)]
        if not sessions:
            stats.counts["sessions seen"] += 1
            stats.skip_session("unreadable opencode export files", path.name)
            continue
        for doc in sessions:
            info = doc["info"]
            sid = _str(info.get("id")) or path.stem
            messages = []
            for m in doc["messages"]:
                if not isinstance(m, dict) or not isinstance(m.get("info"), dict):
                    stats.skip("malformed message rows", sid)
                    continue
                parts = m.get("parts") if isinstance(m.get("parts"), list) else []
                messages.append((m["info"], [p if isinstance(p, dict) else None for p in parts]))
            s = _build(_meta(sid, info), messages, opts, stats, "opencode-export")
            if s is not None:
                yield s
