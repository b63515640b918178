"""Extraction spec, the validation side and the session ledger: extract.val_fraction takes tasks from train with the
same task hash (test never moves); sessions named in --keep-sides keep their side whatever the fractions say;
data/sessions.json lists every kept session per source with its side and content hash; every row says its origin."""
from __future__ import annotations

import json

from extract.records import Session, Turn
from extract.split import side
from extract_support import add_session, extract, manifest, rows
from extract_support import new_store

TASKS = [f"Task {w}: fix the {w} module and its tests" for w in
         ("parser", "lexer", "cache", "router", "logger", "config", "loader", "writer", "reader", "client",
          "server", "pool", "queue", "timer", "codec", "index", "store", "shell", "diff", "patch")]


def _store(db, prompts):
    with new_store(db) as b:
        p = b.project("/w")
        return [add_session(b, p, prompt) for prompt in prompts]


def _sides(out):
    return {r["session_id"]: r["_split"] for r in rows(out, "serpent")}


def test_a_validation_side_takes_tasks_from_train_and_never_moves_a_test_one():
    sessions = [Session(id=str(i), source="opencode", agent="build", directory="/w", title="", time_created=0,
                        turns=[Turn(prompt=t)]) for i, t in enumerate(TASKS)]
    without = {s.id: side(s, 0.3) for s in sessions}
    with_val = {s.id: side(s, 0.3, 0.3) for s in sessions}
    assert {k for k, v in without.items() if v == "test"} == {k for k, v in with_val.items() if v == "test"}
    assert {"train", "validation", "test"} == set(with_val.values())
    assert all(without[k] == "train" for k, v in with_val.items() if v == "validation")


def test_extraction_writes_a_validation_split_an_origin_column_and_a_session_ledger(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    ids = _store(db, TASKS)
    out = tmp_path / "out"
    assert extract(db, out, "extract.test_fraction=0.3", "extract.val_fraction=0.3") == 0
    sides = _sides(out)
    assert set(sides) == set(ids) and set(sides.values()) == {"train", "validation", "test"}
    assert {r["origin"] for r in rows(out, "serpent")} == {"real"}
    counts = manifest(out)["specialists"]["serpent"]
    assert counts["validation_sessions"] == sum(v == "validation" for v in sides.values())
    ledger = json.loads((out / "sessions.json").read_text())["sources"]["opencode"]
    assert {sid: e["side"] for sid, e in ledger.items()} == sides
    assert all(e["specialist"] == "serpent" and len(e["hash"]) == 16 and e["origin"] == "real"
               for e in ledger.values())


def test_sessions_named_in_keep_sides_keep_their_side_when_the_fractions_change(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    ids = _store(db, TASKS)
    out = tmp_path / "out"
    assert extract(db, out, "extract.test_fraction=0.3", "extract.val_fraction=0.3") == 0
    before = _sides(out)
    pinned = tmp_path / "sides.json"
    pinned.write_text(json.dumps({f"opencode:{sid}": s for sid, s in before.items()}))
    assert extract(db, out, "extract.test_fraction=0.6", "extract.val_fraction=0.0", "--keep-sides", str(pinned)) == 0
    assert _sides(out) == before
    assert extract(db, out, "extract.test_fraction=0.6", "extract.val_fraction=0.0") == 0  # not pinned: they move
    assert _sides(out) != before and set(_sides(out)) == set(ids)


def test_an_edited_session_changes_its_ledger_hash_and_keeps_its_id(tmp_path):
    import sqlite3

    db = tmp_path / "store" / "opencode.db"
    ids = _store(db, TASKS[:3])
    out = tmp_path / "out"
    assert extract(db, out) == 0
    before = json.loads((out / "sessions.json").read_text())["sources"]["opencode"]
    conn = sqlite3.connect(db)
    with conn:  # the agent's text in one step of the first session is edited
        conn.execute("UPDATE part SET data = json_set(data, '$.text', 'Edited answer.') WHERE session_id = ? AND "
                     "json_extract(data, '$.type') = 'text' AND id = (SELECT id FROM part WHERE session_id = ? AND "
                     "json_extract(data, '$.type') = 'text' ORDER BY id DESC LIMIT 1)", (ids[0], ids[0]))
    conn.close()
    assert extract(db, out) == 0
    after = json.loads((out / "sessions.json").read_text())["sources"]["opencode"]
    assert set(after) == set(before)
    assert [sid for sid in ids if after[sid]["hash"] != before[sid]["hash"]] == [ids[0]]


def test_a_bad_keep_sides_file_or_fraction_is_one_line(tmp_path, capsys):
    db = tmp_path / "store" / "opencode.db"
    _store(db, TASKS[:2])
    bad = tmp_path / "sides.json"
    bad.write_text(json.dumps({"opencode:x": "holdout"}))
    capsys.readouterr()
    assert extract(db, tmp_path / "out", "--keep-sides", str(bad)) == 2
    assert extract(db, tmp_path / "out", "extract.test_fraction=0.6", "extract.val_fraction=0.6") == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "--keep-sides" in lines[0] and "extract.val_fraction" in lines[1]


def test_generated_trajectories_always_train_and_say_so(tmp_path, monkeypatch):
    import extract.work as work

    db = tmp_path / "store" / "opencode.db"
    ids = _store(db, TASKS)
    real = work.process_session

    def generated(session, state):  # as a reader of the workbench's own agent runs would mark them
        session.origin = "generated"
        return real(session, state)
    monkeypatch.setattr(work, "process_session", generated)
    out = tmp_path / "out"
    assert extract(db, out, "extract.test_fraction=0.4", "extract.val_fraction=0.4") == 0
    assert set(_sides(out)) == set(ids) and set(_sides(out).values()) == {"train"}
    assert {r["origin"] for r in rows(out, "serpent")} == {"generated"}
