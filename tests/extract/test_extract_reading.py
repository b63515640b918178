"""Extraction spec, reading: the store is never written to, bad input ends with one error line, bad rows are
skipped and counted, and the agent of a session decides whether it is kept."""
from __future__ import annotations

import json
import sqlite3

import pytest

from extract_support import SIGNAL, add_session, extract, manifest, new_store, rows, session_rows


def _folder_state(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# -- read-only ---------------------------------------------------------------------------------------------------

def test_store_without_wal_is_left_byte_identical_and_nothing_is_created_beside_it(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        add_session(b, b.project("/w"), "Fix the parser")
    before = _folder_state(db.parent)
    assert list(before) == ["opencode.db"]

    assert extract(db, tmp_path / "out") == 0

    assert _folder_state(db.parent) == before
    assert len(rows(tmp_path / "out", "serpent")) == 1


@pytest.fixture
def live_wal_store(tmp_path):
    """A store opencode is writing to: one session checkpointed into the db file, a second one only in the -wal
    (committed, never checkpointed) while the writer's connection stays open."""
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        old = add_session(b, b.project("/w"), "Fix the parser", lang="python")
    extra = tmp_path / "extra" / "opencode.db"
    with new_store(extra, seed=1, start_ms=1_777_400_000_000) as b:
        new = add_session(b, b.project("/w2"), "Port the CLI to clap", lang="rust")
    writer = sqlite3.connect(db)
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("ATTACH DATABASE ? AS extra", (str(extra),))
    for table in ("project", "session", "message", "part"):
        writer.execute(f"INSERT INTO main.{table} SELECT * FROM extra.{table}")
    writer.commit()
    writer.execute("DETACH DATABASE extra")
    assert (db.parent / "opencode.db-wal").stat().st_size > 0
    yield db, old, new
    writer.close()


def test_store_with_live_wal_is_left_byte_identical_and_nothing_is_created_beside_it(tmp_path, live_wal_store):
    db, _, _ = live_wal_store
    before = _folder_state(db.parent)
    assert sorted(before) == ["opencode.db", "opencode.db-shm", "opencode.db-wal"]

    assert extract(db, tmp_path / "out") == 0

    assert _folder_state(db.parent) == before


def test_rows_only_in_the_wal_are_read(tmp_path, live_wal_store):
    db, old, new = live_wal_store
    # Without the WAL the db file alone holds only the first session.
    alone = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    assert [r[0] for r in alone.execute("SELECT id FROM session")] == [old]
    alone.close()

    assert extract(db, tmp_path / "out") == 0

    assert [r["session_id"] for r in rows(tmp_path / "out", "serpent")] == [old]
    assert [r["session_id"] for r in rows(tmp_path / "out", "oxidizer")] == [new]


def test_no_snapshot_folder_is_left_in_the_temp_dir(tmp_path, live_wal_store, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    db, _, _ = live_wal_store
    assert extract(db, tmp_path / "out") == 0
    assert list(tmp.iterdir()) == []


# -- unreadable input: exit 2 and one error line -------------------------------------------------------------------

def _not_a_store(tmp_path, kind):
    p = tmp_path / "input" / "opencode.db"
    p.parent.mkdir()
    if kind == "text":
        p.write_text("this is not a database\n" * 20)
    elif kind == "other sqlite":
        c = sqlite3.connect(p)
        c.execute("CREATE TABLE notes (id integer primary key, body text)")
        c.execute("INSERT INTO notes (body) VALUES ('hello')")
        c.commit()
        c.close()
    return p


@pytest.mark.parametrize("kind", ["missing", "text", "other sqlite"])
def test_unreadable_store_exits_2_with_one_error_line_naming_the_path(tmp_path, capsys, kind):
    db = _not_a_store(tmp_path, kind)
    capsys.readouterr()
    out = tmp_path / "out"

    assert extract(db, out) == 2

    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("extract: error: ")
    assert str(db) in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_unreadable_store_is_not_modified(tmp_path):
    db = _not_a_store(tmp_path, "other sqlite")
    before = _folder_state(db.parent)
    assert extract(db, tmp_path / "out") == 2
    assert _folder_state(db.parent) == before


# -- bad rows: skipped, counted, the session kept -----------------------------------------------------------------

def _store_with_bad_rows(tmp_path):
    """One python session whose first step also carries every kind of bad part, plus bad message rows."""
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="bad rows", agent="build")
        u = b.user_message(sid, "Fix the parser")
        m = b.assistant_step(sid, u, text="Looking.", tools=SIGNAL["python"])
        b.raw_part(sid, m, "{not json")
        b.raw_part(sid, m, None)  # stored as JSON null: the column is NOT NULL
        b.raw_part(sid, m, "[1, 2, 3]")  # valid JSON, not an object
        b.raw_part(sid, m, '{"type": "hologram", "text": "?"}')
        b.raw_part(sid, m, '{"type": "tool", "tool": "bash", "callID": "c1"}')  # no state
        b.raw_part(sid, m, '{"type": "tool", "callID": "c2", "state": {"status": "completed", "input": {}}}')
        b.raw_part(sid, m, '{"type": "tool", "tool": "bash", "state": {"status": "completed", "input": {}}}')
        b.raw_part(sid, m, '{"type": "tool", "tool": "bash", "callID": "c3", '
                           '"state": {"status": "completed", "input": "ls", "output": ""}}')
        b.raw_message(sid, "{truncated")
        b.raw_message(sid, None)
        b.raw_part(sid, "msg_does_not_exist", '{"type": "text", "text": "orphan"}')
        b.assistant_step(sid, u, text="Done.", finish="stop")
    return db, sid


def test_bad_rows_are_skipped_and_counted_in_the_manifest(tmp_path):
    db, sid = _store_with_bad_rows(tmp_path)
    out = tmp_path / "out"
    assert extract(db, out) == 0

    m = manifest(out)
    assert m["rows_skipped"] == {
        "malformed message rows": 2,
        "malformed part rows": 3,
        "unknown part types": 1,
        "tool parts missing fields": 4,
    }
    assert m["rows_skipped_elsewhere"] == {"orphan parts": 1}  # in no session: not one of the kept sessions' rows
    assert m["sessions_skipped"] == {}
    assert sid in m["skipped_examples"]["malformed part rows"]


def test_session_with_bad_rows_is_still_extracted_whole(tmp_path):
    db, sid = _store_with_bad_rows(tmp_path)
    out = tmp_path / "out"
    assert extract(db, out) == 0

    [row] = session_rows(out, "serpent", sid)
    msgs = row["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert msgs[2]["content"] == "Looking."
    assert [c["function"]["name"] for c in msgs[2]["tool_calls"]] == ["read", "bash"]
    assert msgs[5]["content"] == "Done."
    assert "orphan" not in str(msgs)


def test_unknown_part_type_in_a_user_message_is_skipped_and_counted(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="t", agent="build")
        u = b.user_message(sid, "Fix the parser", extra_parts=[{"type": "hologram", "text": "?"}])
        b.assistant_step(sid, u, text="Looking.", tools=SIGNAL["python"], finish="stop")
    out = tmp_path / "out"
    assert extract(db, out) == 0
    assert manifest(out)["rows_skipped"] == {"unknown part types": 1}
    assert session_rows(out, "serpent", sid)[0]["messages"][1]["content"] == "Fix the parser"


def test_messages_of_a_missing_session_row_are_skipped_and_counted(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        p = b.project("/w")
        add_session(b, p, "Fix the parser")
        ghost = "ses_ghost"
        u = b.user_message(ghost, "I have no session row")
        b.assistant_step(ghost, u, text="Hello.", tools=SIGNAL["rust"], finish="stop")
    out = tmp_path / "out"
    assert extract(db, out) == 0
    m = manifest(out)
    assert m["rows_skipped"] == {}  # the ghost's messages belong to no kept session
    assert m["rows_skipped_elsewhere"] == {"messages without a session row": 2}
    assert m["sessions_seen"] == 1
    assert not (out / "oxidizer").exists()


# -- which sessions: the agent ----------------------------------------------------------------------------------------

def _agent_store(tmp_path, *, with_agent_column=True):
    """Sessions named by how their agent is recorded; each has a clear python signal."""
    db = tmp_path / "store" / "opencode.db"
    ids = {}
    with new_store(db, with_agent_column=with_agent_column) as b:
        p = b.project("/w")

        def session(key, column, message_agent, **kw):
            sid = b.session(p, directory="/w", title=key, agent=column if with_agent_column else None, **kw)
            u = b.user_message(sid, f"Task {key}: fix the parser", agent=message_agent)
            b.assistant_step(sid, u, agent=message_agent, text=f"Working on {key}.", tools=SIGNAL["python"],
                             finish="stop")
            ids[key] = sid
            return sid

        session("column build, messages plan", "build", "plan")
        session("column plan, messages build", "plan", "build")
        session("no column, messages build", None, "build")
        session("no column, messages plan", None, "plan")
        session("no column, messages build-python", None, "build-python")
        parent = ids["no column, messages build"]
        session("subagent child", None, "build", parent_id=parent)
        session("explore child", None, "explore", parent_id=parent)
    return db, ids


def _kept(out):
    return {r["title"] for r in rows(out, "serpent")}


def test_the_agent_each_message_records_decides_over_the_session_column(tmp_path):
    db, _ = _agent_store(tmp_path)
    out = tmp_path / "out"
    assert extract(db, out) == 0
    # Each message records the agent that wrote it (opencode's Tab switches agents within a session).
    assert _kept(out) == {"column plan, messages build", "no column, messages build",
                          "no column, messages build-python"}
    assert manifest(out)["sessions_skipped"] == {"agent plan": 2, "subagent sessions": 2}


def test_agent_comes_from_the_messages_in_a_store_without_the_agent_column(tmp_path):
    db, _ = _agent_store(tmp_path, with_agent_column=False)
    assert "agent" not in {r[1] for r in sqlite3.connect(f"file:{db}?immutable=1", uri=True)
                           .execute("PRAGMA table_info(session)")}
    out = tmp_path / "out"
    assert extract(db, out) == 0
    # Without the column, the messages decide for every session.
    assert _kept(out) == {"column plan, messages build", "no column, messages build",
                          "no column, messages build-python"}
    assert manifest(out)["sessions_skipped"] == {"agent plan": 2, "subagent sessions": 2}


def test_agents_option_selects_other_agents(tmp_path):
    db, _ = _agent_store(tmp_path)
    out = tmp_path / "out"
    assert extract(db, out, "--agents", "plan") == 0
    assert _kept(out) == {"column build, messages plan", "no column, messages plan"}
    assert manifest(out)["sessions_skipped"] == {"agent build": 2, "agent build-python": 1, "subagent sessions": 2}


def test_kept_rows_record_the_session_agent(tmp_path):
    db, ids = _agent_store(tmp_path)
    out = tmp_path / "out"
    assert extract(db, out) == 0
    agents = {r["title"]: r["agent"] for r in rows(out, "serpent")}
    assert agents == {"column plan, messages build": "build", "no column, messages build": "build",
                      "no column, messages build-python": "build-python"}


def test_a_session_switched_from_plan_to_build_keeps_its_build_turns(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="plan then build", agent="plan")
        u1 = b.user_message(sid, "Plan the parser fix", agent="plan")
        b.assistant_step(sid, u1, agent="plan", text="Plan: borrow the config.",
                         tools=[{"tool": "read", "input": {"filePath": "/w/src/lib.rs"}, "output": "1: fn f() {}"}])
        u2 = b.user_message(sid, "Go ahead", agent="build")  # the user pressed Tab: build from here on
        b.assistant_step(sid, u2, agent="build", text="Fixing.", tools=SIGNAL["rust"])
        b.assistant_step(sid, u2, agent="build", text="Done.", finish="stop")
    out = tmp_path / "out"
    assert extract(db, out) == 0
    [row] = rows(out, "oxidizer")
    texts = [m.get("content") for m in row["messages"]]
    assert "Go ahead" in texts and "Fixing." in texts
    assert "Plan the parser fix" not in texts and "Plan: borrow the config." not in texts
    m = manifest(out)
    assert m["rows_skipped"]["steps by agent plan"] == 1 and m["sessions_kept"] == 1


def test_an_interrupted_call_is_not_trained_but_still_says_the_language(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="speed up", agent="build")
        u = b.user_message(sid, "make it faster")
        b.assistant_step(sid, u, text="Benchmarking.", tools=[
            {"tool": "bash", "input": {"command": "cargo bench --release", "description": "Bench"}, "status": "running"},
            {"tool": "read", "input": {"filePath": "/w/README.md"}, "output": "1: # fast"}])
        b.assistant_step(sid, u, text="Stopped: the bench takes too long.", finish="stop")
    out = tmp_path / "out"
    assert extract(db, out) == 0
    [row] = rows(out, "oxidizer")
    assert "cargo bench" not in json.dumps(row["messages"])
    assert manifest(out)["rows_skipped"]["interrupted tool calls"] == 1


def test_the_go_opencode_store_is_refused_with_one_line(tmp_path, capsys):
    db = tmp_path / "crush" / "opencode.db"
    db.parent.mkdir()
    c = sqlite3.connect(db)
    c.executescript("CREATE TABLE goose_db_version (id INTEGER); CREATE TABLE sessions (id TEXT);"
                    "CREATE TABLE messages (id TEXT, parts TEXT); CREATE TABLE files (id TEXT);")
    c.close()
    assert extract(db, tmp_path / "out") == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "the Go program also called opencode" in line and "Crush" in line and str(db) in line
