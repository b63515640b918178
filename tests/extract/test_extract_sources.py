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
    for var in ("OPENCODE_DB", "OPENCODE_STORAGE", "OPENCODE_EXPORT", "CLAUDE_DIR", "CODEX_DIR"):
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


def _home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    for var in ("OPENCODE_DB", "OPENCODE_STORAGE", "OPENCODE_EXPORT", "CLAUDE_DIR", "CODEX_DIR"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_no_logs_anywhere_says_where_it_looked_and_how_to_name_one(tmp_path, monkeypatch, capsys):
    from extract.__main__ import main

    home = _home(tmp_path, monkeypatch)
    (home / ".codex" / "sessions").mkdir(parents=True)  # there, but empty: a new user's first run
    assert main(["--out", str(tmp_path / "out"), "--quiet"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("extract: error: no agent sessions found. Looked at: opencode ")
    assert f"codex {home / '.codex' / 'sessions'} (no sessions)" in line
    assert f"claude-code {home / '.claude' / 'projects'} (missing)" in line
    assert "DB=PATH" in line and "CLAUDE_DIR=PATH" in line and "OPENCODE_EXPORT=PATH" in line
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_several_stores_of_one_kind_are_extracted_together(tmp_path):
    from extract.__main__ import main

    a = _store(tmp_path / "laptop.db", langs=("python",), task="parser")
    b = _store(tmp_path / "desktop.db", langs=("python",), start_ms=1_700_000_000_000, task="lexer")
    out = tmp_path / "out"
    assert main(["--db", str(a), "--db", str(b), "--out", str(out), "--quiet", "extract.agent_files=false",
                 "extract.test_fraction=0"]) == 0
    assert {r["title"] for r in rows(out, "serpent")} == {"fix the python parser", "fix the python lexer"}
    assert len(manifest(out)["sources"]) == 2


def test_make_passes_every_path_of_a_source_variable(tmp_path):
    import subprocess

    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(["make", "-n", "-o", ".venv/.installed", "extract", "DB=a.db b.db", "CLAUDE_DIR=c1 c2",
                        "OPENCODE_EXPORT=x.json"], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "--db a.db --db b.db" in r.stdout and "--claude-dir c1 --claude-dir c2" in r.stdout
    assert "--opencode-export x.json" in r.stdout


def _export(db: Path, sid: str) -> dict:
    """What `opencode export <session>` prints: the session's info and its messages with their parts."""
    c = sqlite3.connect(db)
    sid_, pid, directory, title, created = c.execute(
        "SELECT id, project_id, directory, title, time_created FROM session WHERE id = ?", (sid,)).fetchone()
    msgs = []
    for mid, data in c.execute("SELECT id, data FROM message WHERE session_id = ? ORDER BY id", (sid,)):
        parts = [{"id": prt, "sessionID": sid, "messageID": mid, **json.loads(d)} for prt, d in
                 c.execute("SELECT id, data FROM part WHERE message_id = ? ORDER BY id", (mid,))]
        msgs.append({"info": {"id": mid, "sessionID": sid, **json.loads(data)}, "parts": parts})
    c.close()
    return {"info": {"id": sid_, "projectID": pid, "directory": directory, "title": title, "version": "1.2.5",
                     "time": {"created": created, "updated": created}}, "messages": msgs}


def test_opencode_export_files_are_read_pretty_printed_even_when_named_jsonl(tmp_path):
    from extract.__main__ import main

    db = _store(tmp_path / "s.db", langs=("python", "rust"))
    with open_store(db) as conn:
        from_db = {s.id: s for s in read_sessions(conn, ReadOptions(), ReadStats())}
    exports = tmp_path / "shared"
    exports.mkdir()
    (sid_a, sid_b) = sorted(from_db)
    (exports / "full.jsonl").write_text(json.dumps(_export(db, sid_a), indent=2))  # a sharing tool's name
    (exports / "b.json").write_text(f"Exporting session: {sid_b}\n" + json.dumps(_export(db, sid_b)))
    (exports / "notes.json").write_text('{"not": "an export"}')
    out = tmp_path / "out"
    assert main(["--opencode-export", str(exports), "--out", str(out), "--quiet", "extract.agent_files=false",
                 "extract.test_fraction=0"]) == 0
    assert {r["source"] for n in ("serpent", "oxidizer") for r in rows(out, n)} == {"opencode-export"}
    m = manifest(out)
    assert m["reader_counts"]["opencode export files read"] == 3
    assert m["sessions_skipped"] == {"unreadable opencode export files": 1}
    stats = ReadStats()
    from extract.opencode_json import read_export
    got = {s.id: s for s in read_export(Source("opencode-export", exports / "full.jsonl"), ReadOptions(), stats)}
    assert got[sid_a].turns == from_db[sid_a].turns


def v0_tree(root: Path) -> Path:
    """opencode 0.x: project/<id>/storage/session/{info,message,part}; no agents, messages with a `mode` or none."""
    base = root / "project" / "global" / "storage" / "session"
    sid, u, a = "ses_0a", "msg_01", "msg_02"
    files = {
        base / "info" / f"{sid}.json": {"id": sid, "version": "0.5.1", "title": "Speech to text",
                                        "time": {"created": 1755239309280, "updated": 1755239311645}},
        base / "message" / sid / f"{u}.json": {"id": u, "role": "user", "sessionID": sid,
                                               "time": {"created": 1755239309299}},
        base / "message" / sid / f"{a}.json": {"id": a, "role": "assistant", "sessionID": sid,
                                               "modelID": "glm-4.5", "time": {"created": 1755239309335}},
        base / "part" / sid / u / "prt_01.json": {"id": "prt_01", "type": "text", "text": "write stt.py"},
        base / "part" / sid / a / "prt_02.json": {"id": "prt_02", "type": "step-start"},
        base / "part" / sid / a / "prt_03.json": {
            "id": "prt_03", "type": "tool", "tool": "write", "callID": "call_1",
            "state": {"status": "completed", "input": {"filePath": "/w/stt.py", "content": "import whisper"},
                      "output": ""}},
        base / "part" / sid / a / "prt_04.json": {
            "id": "prt_04", "type": "tool", "tool": "bash", "callID": "call_2",
            "state": {"status": "completed", "input": {"command": "python3 stt.py"}, "output": "ok"}},
        base / "part" / sid / a / "prt_05.json": {"id": "prt_05", "type": "text", "text": "Wrote stt.py."},
    }
    for path, obj in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj, indent=2))
    return root


def test_opencode_0x_sessions_are_build_sessions(tmp_path):
    root = v0_tree(tmp_path / "opencode")
    for where in (root, root / "project", root / "project" / "global" / "storage"):
        stats = ReadStats()
        [s] = list(read_json(Source("opencode-json", where), ReadOptions(), stats))
        assert (s.id, s.agent, s.title, s.source) == ("ses_0a", "build", "Speech to text", "opencode-json")
        assert [t.prompt for t in s.turns] == ["write stt.py"]
        assert [c.name for c in s.tool_calls] == ["write", "bash"] and s.turns[0].steps[0].text == "Wrote stt.py."
        assert not stats.sessions


def test_swe_reports_without_swe_dir_is_one_error_line(tmp_path, capsys):
    from extract.__main__ import main

    db = _store(tmp_path / "s.db", langs=("python",))
    assert main(["--db", str(db), "--swe-reports", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("extract: error: --swe-reports (SWE_REPORTS) needs --swe-dir (SWE_DIR)")
