"""Extraction spec, damaged logs: a line or file a reader cannot use is skipped and counted, no exception escapes,
and the sessions that were not touched come out exactly as before. A seeded mutator damages one file of each
real format the way version drift and broken writes do: a field of another type, a key missing, a list where an
object was, NUL bytes, a cut line."""
from __future__ import annotations

import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from extract.opencode import ReadOptions, ReadStats
from extract.sources import Source, reader
from extract_support import add_session, extract, new_store, rows
from test_extract_claude import transcript
from test_extract_codex import _resumed, rollout_2026
from test_extract_sources import _export, legacy_tree, v0_tree
from test_extract_swe import SWE_AGENT, run_dir

TRIALS = 40


def _mutate_value(v, rng: random.Random):
    """One damage to a parsed JSON value, somewhere inside it (in place where it can be)."""
    containers = []

    def walk(x, depth=0):
        if isinstance(x, dict) and x:
            containers.append(x)
            for y in x.values():
                walk(y, depth + 1)
        elif isinstance(x, list) and x:
            containers.append(x)
            for y in x:
                walk(y, depth + 1)

    walk(v)
    if not containers:
        return [v]
    c = rng.choice(containers)
    key = rng.choice(list(c)) if isinstance(c, dict) else rng.randrange(len(c))
    kind = rng.choice(["type", "missing", "list", "type", "list"])
    if kind == "missing":
        if isinstance(c, dict):
            del c[key]
        else:
            c.pop(key)
    elif kind == "list":
        c[key] = [c[key]]
    else:  # a field of another type
        c[key] = rng.choice([["a", "b"], 7, 3.5, None, True, {"x": [1]}, "text"])
    return v


def _damage_text(text: str, rng: random.Random) -> str:
    """Damage one line of a JSON-lines file, or the document of a JSON file."""
    lines = text.split("\n")
    idx = [i for i, line in enumerate(lines) if line.strip()]
    i = rng.choice(idx)
    kind = rng.choice(["value", "value", "value", "nul", "cut"])
    if kind == "nul":
        p = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:p] + "\x00" + lines[i][p:]
    elif kind == "cut":
        lines[i] = lines[i][: rng.randrange(len(lines[i]))]
    else:
        try:
            obj = json.loads(lines[i]) if len(idx) > 1 else json.loads(text)
        except ValueError:
            return text.replace("{", "[", 1)
        obj = _mutate_value(obj, rng)
        if len(idx) > 1:
            lines[i] = json.dumps(obj)
        else:
            return json.dumps(obj, indent=2)
    return "\n".join(lines)


def _copies(path: Path, n: int, old: str, new: list[str]) -> list[Path]:
    out = []
    for name in new[:n]:
        p = path.with_name(path.name.replace(old, name))
        p.write_text(path.read_text().replace(old, name))
        out.append(p)
    return out


# kind -> (build the logs under root and return (source path, the file the trials damage))
def _claude(root: Path):
    transcript(root)
    main = next(root.rglob("6f1c2a9e-*.jsonl"))
    _copies(main, 2, "6f1c2a9e", ["7a2d3b0f", "8b3e4c1a"])
    return root, main


def _codex(root: Path):
    rollout_2026(root / "a")
    _resumed(root / "b")
    target = next((root / "a").rglob("*.jsonl"))
    _copies(target, 1, "0199a1b2", ["0299a1b2"])
    return root, target


def _swe(root: Path):
    out = run_dir(root)
    d = out / "pydicom__pydicom-1458"
    d.mkdir()
    (d / "pydicom__pydicom-1458.traj").write_text(json.dumps(SWE_AGENT, indent=2))
    return out, next(out.rglob("django__django-11099.traj.json"))


def _store(root: Path) -> Path:
    db = root / "store.db"
    with new_store(db) as b:
        p = b.project("/w")
        for i, lang in enumerate(("python", "rust", "ruby")):
            add_session(b, p, f"fix bug {i}", lang=lang)
    return db


def _export_files(root: Path):
    db = _store(root / "db")
    c = sqlite3.connect(db)
    ids = [r[0] for r in c.execute("SELECT id FROM session ORDER BY id")]
    c.close()
    out = root / "exports"
    out.mkdir()
    for sid in ids:
        (out / f"{sid}.json").write_text(json.dumps(_export(db, sid), indent=2))
    return out, out / f"{ids[0]}.json"


def _tree(root: Path):
    tree = legacy_tree(_store(root / "db"), root / "storage")
    return tree, next(tree.rglob("message/*/*.json"))


def _v0(root: Path):
    v0_tree(root / "oc")
    return root / "oc", next((root / "oc").rglob("part/*/*/prt_03.json"))


FORMATS = {"claude-code": _claude, "codex": _codex, "mini-swe-agent": _swe, "opencode-export": _export_files,
           "opencode-json": _tree, "opencode-json v0": _v0}


def _read(kind: str, path: Path):
    stats = ReadStats()
    src = Source(kind.split()[0], path)
    return {s.id: s for s in reader(src.kind)(src, ReadOptions(), stats)}, stats


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_damaged_lines_never_stop_a_reader_and_untouched_sessions_are_unchanged(fmt, tmp_path):
    clean = tmp_path / "clean"
    path, target = FORMATS[fmt](clean)
    before, _ = _read(fmt, path)
    before_target = set(before)
    rng = random.Random(f"{fmt}-17")
    for trial in range(TRIALS):
        work = tmp_path / f"t{trial}"
        shutil.copytree(clean, work)  # copy2: file times (a trajectory's date) stay
        t = work / target.relative_to(clean)
        t.write_text(_damage_text(t.read_text(), rng))
        after, stats = _read(fmt, work / path.relative_to(clean))  # must not raise
        damaged = {sid for sid, s in after.items() if sid not in before or after[sid] != before[sid]}
        untouched = {sid: s for sid, s in before.items()
                     if not _from(s, target.relative_to(clean), fmt)}
        for sid, s in untouched.items():
            assert after.get(sid) == s, (fmt, trial, sid)
        assert len(damaged) <= 1, (fmt, trial, damaged)
        shutil.rmtree(work)
    assert before_target


def _from(session, target: Path, fmt: str) -> bool:
    """Whether a session was read from the damaged file (the one session a trial may change or lose)."""
    name = target.name
    if fmt.startswith("opencode-json"):
        return True if fmt.endswith("v0") else session.id == target.parent.name
    if fmt == "codex":
        return session.id in target.read_text() if target.exists() else False
    return session.id.split("@")[0] in name or name.startswith(session.id)


def test_a_damaged_opencode_row_never_stops_the_store(tmp_path):
    db = _store(tmp_path)
    out = tmp_path / "out"
    assert extract(db, out, "extract.test_fraction=0") == 0
    before = {n: sorted(json.dumps(r["messages"]) for r in rows(out, n)) for n in ("serpent", "oxidizer", "forge")}
    rng = random.Random(3)
    c = sqlite3.connect(db)
    sid = c.execute("SELECT session_id FROM message m JOIN session s ON s.id = m.session_id "
                    "WHERE s.title LIKE '%bug 0%' LIMIT 1").fetchone()[0]
    for table in ("message", "part"):
        for rid, data in c.execute(f"SELECT id, data FROM {table} WHERE session_id = ?", (sid,)).fetchall():
            c.execute(f"UPDATE {table} SET data = ? WHERE id = ?", (_damage_text(data, rng), rid))
    c.commit()
    c.close()
    assert extract(db, out, "extract.test_fraction=0") == 0
    after = {n: sorted(json.dumps(r["messages"]) for r in rows(out, n)) for n in ("oxidizer", "forge")}
    assert after == {n: before[n] for n in ("oxidizer", "forge")}


def test_codex_lines_of_another_shape_are_skipped_not_a_traceback(tmp_path):
    # The case: `TypeError: unhashable type: 'list'` stopped every extraction.
    root, target = _codex(tmp_path)
    before, _ = _read("codex", root)
    lines = target.read_text().splitlines()
    obj = json.loads(lines[-2])
    obj["payload"]["type"] = ["function_call"]
    lines[-2] = json.dumps(obj)
    target.write_text("\n".join(lines))
    found, stats = _read("codex", root)
    assert set(found) == set(before)
    assert sum(n for r, n in stats.rows.items() if "unknown item type" in r or "unexpected shape" in r) >= 1


def test_a_row_whose_text_is_not_utf8_is_one_malformed_row_not_a_failed_store(tmp_path):
    """SQLite keeps whatever bytes a writer gave as TEXT; one row that is not UTF-8 is skipped and counted (the rows
    are read as bytes), the store is read to the end. A row with a byte-order mark stays refused, as json refuses it."""
    db = _store(tmp_path)
    c = sqlite3.connect(db)
    sid, = c.execute("SELECT id FROM session WHERE title LIKE '%bug 0%'").fetchone()
    part = "SELECT id, data FROM part WHERE session_id = ? AND data LIKE ?"  # two of the agent's texts
    (p1, d1), (p2, d2) = (c.execute(part, (sid, f"%{t}%")).fetchone() for t in ("Looking.", "Done."))
    c.execute("UPDATE part SET data = CAST(? AS TEXT) WHERE id = ?", (d1.encode()[:-1] + b"\xff}", p1))
    c.execute("UPDATE part SET data = ? WHERE id = ?", ("\ufeff" + d2, p2))
    c.commit()
    c.close()
    out = tmp_path / "out"
    assert extract(db, out, "extract.test_fraction=0") == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["rows_skipped"]["malformed part rows"] == 2 and not m["sessions_skipped"]  # the session is kept
