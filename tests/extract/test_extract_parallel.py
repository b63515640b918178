"""Extraction spec, speed without change: the same datasets, byte for byte, whatever the number of worker processes
and the size of the units of work; the faster parts (JSON reading, the Parquet writer, the redaction and
classification filters, the cached config hints) give exactly what the plain ones give."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from copy import deepcopy
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import extract.pipeline as pipeline
from extract import redact
from extract.fastjson import loads, loads_utf8
from extract.records import Session, Step, ToolCall, Turn
from extract_support import SIGNAL, add_session, new_store
from test_extract_claude import transcript
from test_extract_codex import rollout_2026
from test_extract_sources import legacy_tree
from test_extract_swe import run_dir

ROOT = Path(__file__).resolve().parents[2]
GITHUB = "ghp_" + "Zr8Kq2Lm4Np6Rt8Vx0Bz3Dc5Fg7Hj9Kl1Mn3"


def _sources(tmp_path: Path) -> list[str]:
    """Every kind of source, with what makes the order matter: duplicates, a re-run of one task under another
    prompt, sessions of every language, skips of several kinds, a redaction, a float and a big integer."""
    db = tmp_path / "s.db"
    with new_store(db) as b:
        p = b.project("/w")
        for i in range(14):
            lang = ("python", "rust", "ruby", "typescript", "swift")[i % 5]
            add_session(b, p, f"fix bug number {i} in the parser module please", lang=lang)
        add_session(b, p, "fix bug number 3 in the parser module please", lang="ruby")  # a re-run of one task
        steps = [{"text": "Looking.", "tools": SIGNAL["python"] + [
            {"tool": "bash", "input": {"command": f"curl -H 'Authorization: token {GITHUB}' https://api.github.com",
                                       "description": "Call", "timeout": 0.30000000000000004, "n": 2 ** 70},
             "output": "{}"}]}, {"text": "Done.", "finish": "stop"}]
        add_session(b, p, "call the API with my token", steps=steps)
        add_session(b, p, "write the CSS", steps=[{"text": "ok", "tools": [
            {"tool": "read", "input": {"filePath": "/w/a.css"}, "output": ""}] * 2}])
        add_session(b, p, "plan only", agent="plan")
        add_session(b, p, "nothing to see", lang=None)
    with new_store(tmp_path / "old.db", start_ms=1_700_000_000_000) as b:
        add_session(b, b.project("/w"), "add the Swift view", lang="swift")
    tree = legacy_tree(tmp_path / "old.db", tmp_path / "storage")
    rollout_2026(tmp_path / "codex")
    return ["--db", str(db), "--opencode-storage", str(tree), "--claude-dir", str(transcript(tmp_path / "claude")),
            "--codex-dir", str(tmp_path / "codex"), "--swe-dir", str(run_dir(tmp_path / "swe"))]


def _files(out: Path) -> dict[str, bytes]:
    found = {}
    for p in sorted(out.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "manifest.json":
                m = json.loads(data)
                m.pop("seconds"), m.pop("extracted_at"), m.pop("units")
                data = json.dumps(m, sort_keys=True).encode()
            found[str(p.relative_to(out))] = data
    return found


@pytest.mark.parametrize("settings", [[], ["extract.holdout=recent", "extract.test_fraction=0.3"],
                                      ["extract.val_fraction=0.3", "extract.test_fraction=0.3"]],
                         ids=["hash", "recent", "validation"])
def test_workers_and_unit_sizes_never_change_a_byte(settings, tmp_path, monkeypatch):
    from extract.__main__ import main

    args = _sources(tmp_path) + ["--quiet", "extract.agent_files=false", *settings]
    outs = {}
    for name, unit, workers in (("one", 200, 1), ("units", 1, 1), ("workers", 1, 2), ("three", 3, 3)):
        monkeypatch.setattr(pipeline, "UNIT_SESSIONS", unit)
        out = tmp_path / name
        assert main([*args, "--out", str(out), f"extract.workers={workers}"]) == 0
        outs[name] = _files(out)
    m = json.loads(outs["one"]["manifest.json"])
    assert m["duplicates_removed"] == 0 and m["sessions_kept"] >= 15 and m["redactions"]
    assert sum(m["sessions_skipped"].values()) >= 3
    for name in ("units", "workers", "three"):
        assert outs[name] == outs["one"], name


def test_the_parquet_schema_is_the_one_datasets_writes():
    from core import data

    assert data.arrow_schema().equals(data.FEATURES.arrow_schema, check_metadata=True)


def test_numbers_in_tool_arguments_are_stored_exactly(tmp_path, monkeypatch):
    from extract.__main__ import main

    out = tmp_path / "out"
    assert main([*_sources(tmp_path), "--out", str(out), "--quiet", "extract.agent_files=false",
                 "extract.test_fraction=0"]) == 0
    args = [json.loads(c["function"]["arguments"]) if isinstance(c["function"]["arguments"], str)
            else c["function"]["arguments"]
            for f in (out / "serpent" / "data").glob("*.parquet") for r in pq.read_table(f).to_pylist()
            for m in map(json.loads, r["messages"]) for c in m.get("tool_calls") or []]
    curl = next(a for a in args if "curl" in str(a.get("command")))
    assert curl["timeout"] == 0.30000000000000004 and curl["n"] == 2 ** 70  # datasets' own encoder kept 10 digits
    assert GITHUB not in json.dumps(args) and "<REDACTED:github_token>" in curl["command"]


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', '{"a": -0.0, "b": 5e-324, "c": 1.7976931348623157e308}',
                                  '{"a": 123456789012345678901234567890}', '{"a": NaN, "b": -Infinity}',
                                  '{"a": "\\ud800 lone"}', '{"a": "\\u0000\\u00e9 \\ud83d\\ude00"}', ' [1, "x"] ',
                                  '{"a": 1e400}'])
def test_fast_json_reads_what_json_reads(text):
    want = json.loads(text)
    for got in (loads(text), loads_utf8(text.encode())):  # (the database's JSON columns come as UTF-8 bytes)
        assert repr(got) == repr(want) or (math.isnan(got["a"]) and math.isnan(want["a"]))


@pytest.mark.parametrize("text", ['{"a": 1', '', '{"a": 1} x', "{'a': 1}", '\ufeff{"a": 1}'])
def test_fast_json_refuses_what_json_refuses(text):
    with pytest.raises(json.JSONDecodeError):
        loads(text)
    with pytest.raises(json.JSONDecodeError):  # a byte-order mark too (json.loads of bytes would skip it)
        loads_utf8(text.encode())


def test_bytes_that_are_not_utf8_are_a_value_error():
    with pytest.raises(ValueError):
        loads_utf8(b'{"a": "\xff"}')


def _secret_sessions() -> list[Session]:
    texts = [GITHUB, f"token={GITHUB}", f"curl https://user:{'Hp3' + 'vX9qL2'}@host/x", "PASSWORD: hunter2hunter2",
             'config = {"api_key": "' + "sk-" + "proj-" + "A" * 40 + '"}', "plain text, no colon or equals",
             "AKIA" + "ZQ3R7T2Y6U8I0O4P", "- name: DB_PASSWORD\n  value: s3cr3tValue9", "x" * 50]
    out = []
    for t in texts:
        for where in ("prompt", "text", "output", "arguments", "title"):
            call = ToolCall(id="c1", name="bash", arguments={"command": t if where == "arguments" else "ls",
                                                              "nested": [{"v": t}] if where == "arguments" else []},
                            output=t if where == "output" else "ok")
            out.append(Session(id="s", source="opencode", agent="build", directory="/w",
                               title=t if where == "title" else "t", time_created=0,
                               turns=[Turn(prompt=t if where == "prompt" else "go",
                                           steps=[Step(text=t if where == "text" else "", tool_calls=[call])])]))
    return out


def test_the_rule_filters_replace_exactly_what_every_rule_on_every_string_replaces(monkeypatch):
    sessions = _secret_sessions()
    fast = [(s, Counter()) for s in deepcopy(sessions)]
    for s, c in fast:
        redact.redact_session(s, c)
    # the plain way: every rule (without the secret-name words an assigned value needs) on every string
    monkeypatch.setattr(redact, "_possible", lambda session, rules: [replace(r, needs=()) for r in rules])
    slow = [(s, Counter()) for s in deepcopy(sessions)]
    for s, c in slow:
        redact.redact_session(s, c)
    assert fast == slow
    assert sum(sum(c.values()) for _, c in fast) >= 30


def test_config_checks_read_the_library_hints_from_a_cache_without_importing_them(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = ("import sys; from core import config; config.load('serpent', overrides=['lora.r=8']); "
            "print(sorted(m for m in ('trl', 'peft', 'transformers', 'torch') if m in sys.modules))")
    run = lambda: subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,  # noqa: E731
                                 text=True, check=True).stdout.strip()
    assert run() != "[]"  # the first run imports them and writes the cache
    cache = next((tmp_path / "lora-workbench").glob("config-fields-*.json"))
    assert run() == "[]"
    bad = ("import sys; from core import config\ntry:\n    config.load('serpent', overrides=['lora.r=big'])\n"
           "except config.ConfigError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", bad], cwd=ROOT, env=env, capture_output=True, text=True).stdout
    assert "lora.r='big' is not a whole number" in out
    cache.write_text("{not json")
    assert run() != "[]" and json.loads(cache.read_text())  # a damaged cache is rebuilt


def test_a_worker_that_dies_ends_the_run_with_one_line_and_the_old_datasets_stay(tmp_path, monkeypatch, capsys):
    from extract.__main__ import main

    import extract.work as work

    args = [*_sources(tmp_path), "--quiet", "extract.agent_files=false", "extract.workers=2"]
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 0
    before = _files(out)
    monkeypatch.setattr(pipeline, "UNIT_SESSIONS", 1)
    real, me = work.process_session, os.getpid()

    def dies(session, state):  # in a worker, the first session kills its process, as the OOM killer would
        if os.getpid() != me:
            os.kill(os.getpid(), 9)
        return real(session, state)
    monkeypatch.setattr(work, "process_session", dies)
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["extract: error: a worker process of this extraction died (killed, or out of memory); the previous "
                   "datasets are unchanged. Run it again, or with extract.workers=1"]
    assert _files(out) == before and not list(out.glob(".staging*"))


def test_a_refused_store_leaves_no_empty_output_folder(tmp_path, capsys):
    import sqlite3

    from extract.__main__ import main

    crush = tmp_path / "crush.db"  # the Go program also called opencode: refused with one line
    with sqlite3.connect(crush) as c:
        c.executescript("CREATE TABLE sessions(id); CREATE TABLE messages(id); CREATE TABLE goose_db_version(id);")
    out = tmp_path / "data"
    assert main(["--db", str(crush), "--out", str(out), "--quiet"]) == 2
    assert "Crush" in capsys.readouterr().err and not out.exists()
    out.mkdir()  # a folder that was there before the run stays
    assert main(["--db", str(crush), "--out", str(out), "--quiet"]) == 2 and out.is_dir()
