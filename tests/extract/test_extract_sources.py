"""opencode's legacy JSON tree, and one extraction over every kind of source at once."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from extract.opencode import ReadOptions, ReadStats, open_store, read_sessions
from extract.opencode_json import read as read_json
from extract.sources import Source
from test_extract_codex import rollout_2026
from test_extract_claude import transcript
from extract_support import SIGNAL, add_session, manifest, new_store, rows
from test_extract_swe import run_dir


def legacy_tree(db: Path, root: Path) -> Path:
    """The JSON tree opencode wrote before SQLite: full objects, ids in the paths (json-migration.ts)."""
    c = sqlite3.connect(db)
    for sid, pid, directory, title, parent, created, updated in c.execute(
            "SELECT id, project_id, directory, title, parent_id, time_created, time_updated FROM session"):
        info = {"id": sid, "projectID": pid, "directory": directory, "title": title, "version": "0.9.0",
                "time": {"created": created, "updated": updated}}
        if parent:
            info["parentID"] = parent
        (root / "session" / pid).mkdir(parents=True, exist_ok=True)
        (root / "session" / pid / f"{sid}.json").write_text(json.dumps(info))
    for mid, sid, data in c.execute("SELECT id, session_id, data FROM message"):
        (root / "message" / sid).mkdir(parents=True, exist_ok=True)
        (root / "message" / sid / f"{mid}.json").write_text(json.dumps({"id": mid, "sessionID": sid,
                                                                        **json.loads(data)}))
    for prt, mid, sid, data in c.execute("SELECT id, message_id, session_id, data FROM part"):
        (root / "part" / mid).mkdir(parents=True, exist_ok=True)
        (root / "part" / mid / f"{prt}.json").write_text(json.dumps({"id": prt, "sessionID": sid,
                                                                     "messageID": mid, **json.loads(data)}))
    c.close()
    return root


def _store(path: Path, langs=("python", "rust"), *, start_ms: int = 1_777_300_000_000, task: str = "build") -> Path:
    """A store; stores with different start_ms have different session ids (the builder's clock makes the ids)."""
    with new_store(path, start_ms=start_ms) as b:
        p = b.project("/w")
        for lang in langs:
            add_session(b, p, f"fix the {lang} {task}", lang=lang)
    return path


def test_the_legacy_tree_rebuilds_the_same_sessions_as_the_database(tmp_path):
    db = _store(tmp_path / "s.db")
    tree = legacy_tree(db, tmp_path / "storage")
    with open_store(db) as conn:
        from_db = sorted(read_sessions(conn, ReadOptions(), ReadStats()), key=lambda s: s.id)
    from_tree = sorted(read_json(Source("opencode-json", tree), ReadOptions(), ReadStats()), key=lambda s: s.id)
    assert [s.source for s in from_tree] == ["opencode-json"] * 2
    for a, b in zip(from_db, from_tree):
        assert (a.id, a.turns, a.agent, a.directory, a.title) == (b.id, b.turns, b.agent, b.directory, b.title)


def test_the_legacy_tree_is_read_only_for_sessions_no_database_holds(tmp_path):
    from extract.__main__ import main

    db = _store(tmp_path / "s.db", langs=("python",))
    tree = legacy_tree(_store(tmp_path / "old.db", langs=("python", "rust"), start_ms=1_700_000_000_000,
                              task="tests"), tmp_path / "storage")
    legacy_tree(db, tree)  # the tree also holds the database's session, as after opencode's import
    out = tmp_path / "out"
    assert main(["--db", str(db), "--opencode-storage", str(tree), "--out", str(out), "--quiet",
                 "extract.agent_files=false", "extract.test_fraction=0"]) == 0
    m = manifest(out)
    assert m["sessions_skipped"]["legacy JSON sessions already in the database"] == 1
    assert sorted(r["source"] for r in rows(out, "serpent")) == ["opencode", "opencode-json"]
    assert [r["source"] for r in rows(out, "oxidizer")] == ["opencode-json"]


def test_one_extraction_reads_every_source_into_the_right_specialists(tmp_path):
    from extract.__main__ import main

    db = _store(tmp_path / "s.db", langs=("ruby",))
    with new_store(tmp_path / "old.db", start_ms=1_700_000_000_000) as b:
        add_session(b, b.project("/w"), "add the Swift view", lang="swift")
    tree = legacy_tree(tmp_path / "old.db", tmp_path / "storage")
    claude = transcript(tmp_path / "claude")
    rollout_2026(tmp_path / "codex")
    swe = run_dir(tmp_path / "swe")
    out = tmp_path / "out"
    assert main(["--db", str(db), "--opencode-storage", str(tree), "--claude-dir", str(claude),
                 "--codex-dir", str(tmp_path / "codex"), "--swe-dir", str(swe), "--out", str(out), "--quiet",
                 "extract.agent_files=false", "extract.test_fraction=0"]) == 0
    by = {name: sorted({r["source"] for r in rows(out, name)}) for name in ("forge", "swiftblade", "oxidizer",
                                                                           "serpent")}
    assert by == {"forge": ["opencode"], "swiftblade": ["opencode-json"], "oxidizer": ["claude-code"],
                  "serpent": ["codex", "mini-swe-agent"]}
    assert len(manifest(out)["sources"]) == 5


def test_a_missing_default_location_is_a_note_and_a_missing_named_path_an_error(tmp_path, monkeypatch, capsys):
    from extract.__main__ import main

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / "data"))
    for var in ("OPENCODE_DB", "OPENCODE_STORAGE", "CLAUDE_DIR", "CODEX_DIR"):
        monkeypatch.delenv(var, raising=False)
    transcript(tmp_path / "home" / ".claude" / "projects")
    out = tmp_path / "out"
    assert main(["--out", str(out), "--quiet", "extract.agent_files=false", "extract.test_fraction=0"]) == 0
    err = capsys.readouterr().err
    assert "extract: note: opencode:" in err and "does not exist, skipped" in err
    assert [r["source"] for r in rows(out, "oxidizer")] == ["claude-code"]
    assert main(["--claude-dir", str(tmp_path / "nope"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"extract: error: claude-code source {tmp_path / 'nope'}: no such file or folder"]
