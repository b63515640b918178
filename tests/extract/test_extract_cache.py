"""Extraction spec, the cache: a re-run takes the units of sessions that did not change from the last run's work
(extract/cache.py) and writes exactly what a run without the cache writes; whatever changed is worked again."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import extract.pipeline as pipeline
import extract.work as work
from extract.cache import cache_root
from extract.opencode import unit_bounds
from extract_support import add_session, new_store
from test_extract_parallel import _files, _sources


@pytest.fixture
def worked(monkeypatch):
    """The ids of the sessions each run works (one process: extract.workers=1), per call of run()."""
    calls: list[list[str]] = []
    real_run, real_process = pipeline.run, work.process_session

    def run(*a, **kw):
        calls.append([])
        return real_run(*a, **kw)

    def process(session, state):
        calls[-1].append(session.id)
        return real_process(session, state)

    import extract.__main__ as cli

    monkeypatch.setattr(cli, "run", run)
    monkeypatch.setattr(work, "process_session", process)
    monkeypatch.setattr(pipeline, "UNIT_SESSIONS", 3)  # several units in a small store
    return calls


def _store(path: Path, n: int = 12, later: int = 0) -> tuple[Path, list[str]]:
    """n sessions, then `later` newer ones (the same n first: a store that grew); the path and the newer ones' ids."""
    with new_store(path) as b:
        p = b.project("/w")
        for i in range(n):
            add_session(b, p, f"fix bug number {i} in the parser module please",
                        lang=("python", "rust", "ruby", "typescript", "swift")[i % 5])
        new = [add_session(b, p, f"add feature {i} to the command line tool", lang="rust") for i in range(later)]
    return path, new


def _extract(db: Path, out: Path, *extra: str) -> dict[str, bytes]:
    from extract.__main__ import main

    assert main(["--db", str(db), "--out", str(out), "--quiet", "extract.agent_files=false", "extract.workers=1",
                 *extra]) == 0
    return _files(out)


def _entries(out: Path) -> list[Path]:
    folders = [d for d in cache_root().glob("*") if (d / "output.txt").read_text().strip() == str(out.resolve())]
    return sorted(p for d in folders for p in d.glob("*.pkl"))


def test_a_rerun_works_nothing_and_writes_the_same_bytes(tmp_path, worked):
    (db, _), out = _store(tmp_path / "s.db"), tmp_path / "out"
    first = _extract(db, out)
    assert len(worked[0]) == 12 and len(_entries(out)) >= 2
    units = len(_entries(out))
    assert json.loads((out / "manifest.json").read_text())["units"] == {"worked": units, "reused": 0,
                                                                       "cache": str(_entries(out)[0].parent)}
    assert _extract(db, out) == first
    assert worked[1] == []  # every unit came from the cache
    assert json.loads((out / "manifest.json").read_text())["units"]["reused"] == units
    assert _extract(db, tmp_path / "plain", "extract.cache=false") == first
    assert _entries(tmp_path / "plain") == []
    assert json.loads((tmp_path / "plain" / "manifest.json").read_text())["units"]["cache"] is None


def test_new_sessions_are_worked_and_the_others_come_from_the_cache(tmp_path, worked):
    (db, _), out = _store(tmp_path / "s.db", 30), tmp_path / "out"
    _extract(db, out)
    old = _entries(out)
    (db, new), out = _store(tmp_path / "grown.db", 30, later=2), tmp_path / "out"  # newer: opencode's smallest ids
    grown = _extract(db, out)
    assert set(new) <= set(worked[1]) and len(worked[1]) < 30 // 2  # the new sessions' units only
    assert grown == _extract(db, tmp_path / "plain", "extract.cache=false")
    now = set(_entries(out))
    assert now - set(old) and len(set(old) - now) <= 1  # new units; the old first one, if new ids joined it, is gone


def test_a_session_changed_in_place_is_worked_again(tmp_path, worked):
    (db, _), out = _store(tmp_path / "s.db"), tmp_path / "out"
    _extract(db, out)
    with sqlite3.connect(db) as c:  # one character of one tool output, same length: only the content tells
        pid, data = c.execute("SELECT id, data FROM part WHERE data LIKE '%\"tool\"%' ORDER BY id LIMIT 1").fetchone()
        d = json.loads(data)
        d["state"]["output"] = "X" + d["state"]["output"][1:]
        c.execute("UPDATE part SET data = ? WHERE id = ?", (json.dumps(d), pid))
        sid = c.execute("SELECT session_id FROM part WHERE id = ?", (pid,)).fetchone()[0]
    changed = _extract(db, out)
    assert sid in worked[1] and 0 < len(worked[1]) < 12
    assert changed == _extract(db, tmp_path / "plain", "extract.cache=false")


@pytest.mark.parametrize("setting", ["extract.redact_values=[fix bug number 3]", "extract.window_tokens=2500",
                                     "extract.min_score=2", "extract.reasoning=true", "extract.tool_output_chars=20"])
def test_a_setting_that_reaches_the_work_misses_the_cache(tmp_path, worked, setting):
    (db, _), out = _store(tmp_path / "s.db"), tmp_path / "out"
    _extract(db, out)
    old = set(_entries(out))
    again = _extract(db, out, setting)
    assert len(worked[1]) == 12
    assert old and old.isdisjoint(_entries(out))  # the entries the run did not use are gone    assert again == _extract(db, tmp_path / "plain", setting, "extract.cache=false")


def test_code_changes_miss_the_cache(tmp_path, worked, monkeypatch):
    import extract.cache as cache
    from extract import opencode

    real_digest = opencode.range_digest

    (db, _), out = _store(tmp_path / "s.db"), tmp_path / "out"
    _extract(db, out)
    real, passes = cache.code_digest, []
    monkeypatch.setattr(cache, "code_digest", lambda: real() + b"an edited extract/ file")
    monkeypatch.setattr(opencode, "range_digest", lambda *a: passes.append(a) or real_digest(*a))
    again = _extract(db, out)
    assert len(worked[1]) == 12
    assert passes == []  # every entry is stale: no hashing pass before reading, what is read is hashed
    assert _extract(db, out) == again and worked[2] == [] and passes  # the new code's entries, found by the pass


def test_a_spoiled_entry_is_worked_again_and_the_run_succeeds(tmp_path, worked):
    (db, _), out = _store(tmp_path / "s.db"), tmp_path / "out"
    first = _extract(db, out)
    entries = _entries(out)
    entries[0].write_bytes(b"not a pickle")
    assert _extract(db, out) == first
    assert 0 < len(worked[1]) < 12 and len(_entries(out)) == len(entries)
    assert _extract(db, out) == first and worked[2] == []


def test_a_spoiled_record_block_fails_with_one_line_and_the_next_run_recovers(tmp_path, worked, capsys):
    (db, _), out = _store(tmp_path / "s.db"), tmp_path / "out"
    first = _extract(db, out)
    entry = _entries(out)[0]
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) - 20])  # the meta reads, the records do not
    from extract.__main__ import main

    capsys.readouterr()
    assert main(["--db", str(db), "--out", str(out), "--quiet", "extract.agent_files=false",
                 "extract.workers=1"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("extract: error: ") and "could not be read back" in line and "unchanged" in line
    assert _files(out) == first and not list(out.glob(".staging*"))
    assert _extract(db, out) == first


def test_every_source_kind_is_cached(tmp_path, worked):
    args = _sources(tmp_path)
    from extract.__main__ import main

    outs = []
    for _ in range(2):
        assert main([*args, "--out", str(tmp_path / "out"), "--quiet", "extract.agent_files=false",
                     "extract.workers=1"]) == 0
        outs.append(_files(tmp_path / "out"))
    assert outs[0] == outs[1] and len(worked[0]) > 15 and worked[1] == []


def test_the_cache_is_used_by_worker_processes_too(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "UNIT_SESSIONS", 3)
    (db, _), out = _store(tmp_path / "s.db", 20), tmp_path / "out"
    first = _extract(db, out, "extract.workers=2")
    entries = _entries(out)
    assert len(entries) >= 2
    stamps = {p: p.stat().st_mtime_ns for p in entries}
    assert _extract(db, out, "extract.workers=2") == first
    assert {p: p.stat().st_mtime_ns for p in _entries(out)} == stamps  # taken, not written again


def test_unit_cuts_depend_on_the_ids_around_them_only():
    ids = [f"ses_{i:04d}" for i in range(1000)]
    before = unit_bounds(ids, 20)
    assert all(b - a <= 40 for a, b in before) and before[0][0] == 0 and before[-1][1] == 1000
    grown = [f"ses_000{c}" for c in "abc"] + ids  # three new sessions sort first, as opencode's newest do
    after = unit_bounds(grown, 20)
    runs = lambda ids_, bounds: {tuple(ids_[a:b]) for a, b in bounds}  # noqa: E731
    assert len(runs(ids, before) - runs(grown, after)) == 1  # only the first unit changed
    assert unit_bounds(ids, 1) == [(i, i + 1) for i in range(1000)]
