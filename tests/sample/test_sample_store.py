"""Tests for sample.store: schema, JSON shapes, ids, determinism and edge cases of the sample store."""

import json
import re
import sqlite3

import pytest

from sample import store as sample_store
from sample.store import EDGE_TITLES, StoreBuilder, build_sample_store, edge_sessions

SESSION_COLUMNS_INITIAL = [
    "id", "project_id", "parent_id", "slug", "directory", "title", "version", "share_url", "summary_additions",
    "summary_deletions", "summary_files", "summary_diffs", "revert", "permission", "time_created", "time_updated",
    "time_compacting", "time_archived",
]
SESSION_COLUMNS_MIGRATED = SESSION_COLUMNS_INITIAL + [
    "workspace_id", "path", "agent", "model", "cost", "tokens_input", "tokens_output", "tokens_reasoning",
    "tokens_cache_read", "tokens_cache_write", "metadata",
]
ID_RE = {p: re.compile(rf"^{p}_[0-9a-f]{{12}}[0-9A-Za-z]{{14}}$") for p in ("ses", "msg", "prt")}
PART_TYPES = {"text", "reasoning", "tool", "step-start", "step-finish", "patch", "file", "compaction", "subtask",
              "agent", "retry", "snapshot"}


def _connect(path):
    # immutable: read without leaving -wal/-shm files behind.
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


def _dump(path):
    conn = _connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM `{t}` ORDER BY 1, 2").fetchall()
                for t in ("project", "session", "message", "part", "todo")}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_sample_store(tmp_path_factory.mktemp("store") / "opencode.db", seed=0)


@pytest.fixture(scope="module")
def db(store):
    conn = _connect(store)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def parts(db):
    return [(pid, mid, sid, json.loads(data)) for pid, mid, sid, data in
            db.execute("SELECT id, message_id, session_id, data FROM part ORDER BY rowid")]


@pytest.fixture(scope="module")
def messages(db):
    return [(mid, sid, tc, tu, json.loads(data)) for mid, sid, tc, tu, data in
            db.execute("SELECT id, session_id, time_created, time_updated, data FROM message ORDER BY rowid")]


@pytest.fixture(scope="module")
def edges(store):
    return edge_sessions(store)


def _cols(conn, table):
    return [r[1] for r in conn.execute(f"PRAGMA table_info(`{table}`)")]


# -- schema -------------------------------------------------------------------------

def test_schema_matches_migrated_opencode(db, store):
    assert _cols(db, "session") == SESSION_COLUMNS_MIGRATED
    assert _cols(db, "project") == ["id", "worktree", "vcs", "name", "icon_url", "icon_color", "time_created",
                                    "time_updated", "time_initialized", "sandboxes", "commands"]
    assert _cols(db, "message") == ["id", "session_id", "time_created", "time_updated", "data"]
    assert _cols(db, "part") == ["id", "message_id", "session_id", "time_created", "time_updated", "data"]
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"session_project_idx", "session_parent_idx", "session_workspace_idx", "part_session_idx",
            "message_session_time_created_id_idx", "part_message_id_id_idx"} <= indexes
    notnull = {r[1]: r[3] for r in db.execute("PRAGMA table_info(session)")}
    assert notnull["cost"] == 1 and notnull["agent"] == 0
    # Header bytes 18/19 == 2 mean WAL mode, like the real app; the checkpointed file stands alone.
    assert store.read_bytes()[18:20] == b"\x02\x02"
    assert not store.with_name(store.name + "-wal").exists()


def test_pre_migration_builder_has_no_agent_column(tmp_path):
    path = tmp_path / "old.db"
    b = StoreBuilder(path, with_agent_column=False)
    pid = b.project("/home/dev/src/old")
    sid = b.session(pid, directory="/home/dev/src/old", title="Old session", agent="build")
    uid = b.user_message(sid, "fix it")
    b.assistant_step(sid, uid, text="done", finish="stop")
    b.close()
    conn = _connect(path)
    assert _cols(conn, "session") == SESSION_COLUMNS_INITIAL
    assert "commands" not in _cols(conn, "project")
    agents = [json.loads(d)["agent"] for (d,) in conn.execute("SELECT data FROM message")]
    conn.close()
    assert agents == ["build", "build"]


# -- rows -----------------------------------------------------------------------------

def test_data_is_json_without_column_keys(messages, parts):
    assert messages and parts
    for _, _, _, _, data in messages:
        assert isinstance(data, dict) and data["role"] in ("user", "assistant")
        assert not {"id", "sessionID"} & data.keys()
    for _, _, _, data in parts:
        assert isinstance(data, dict) and data["type"] in PART_TYPES
        assert not {"id", "sessionID", "messageID"} & data.keys()


def test_ids_follow_opencode_scheme(db, messages, parts):
    sessions = db.execute("SELECT id, time_created FROM session ORDER BY time_created, rowid").fetchall()
    assert all(ID_RE["ses"].match(s) for s, _ in sessions)
    assert all(ID_RE["msg"].match(m[0]) for m in messages)
    assert all(ID_RE["prt"].match(p[0]) for p in parts)
    # Session ids descend with time; message and part ids ascend in creation (insert) order.
    ids = [s for s, _ in sessions]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    by_session: dict[str, list] = {}
    for mid, sid, tc, _, _ in messages:
        by_session.setdefault(sid, []).append((tc, mid))
    for rows in by_session.values():
        assert [m for _, m in rows] == sorted(m for _, m in rows)
        assert rows == sorted(rows)  # ordering by (time_created, id) is the creation order too
    by_msg: dict[str, list] = {}
    for pid, mid, _, _ in parts:
        by_msg.setdefault(mid, []).append(pid)
    for mid, pids in by_msg.items():
        assert pids == sorted(pids)
        assert all(p[4:] > mid[4:] for p in pids)  # parts are created after their message
    assert {sid for _, _, sid, _ in parts} <= set(by_session)


def test_message_shapes(messages):
    by_id = {m[0]: m for m in messages}
    for mid, sid, tc, tu, d in messages:
        assert d["time"]["created"] == tc and tu >= tc
        if d["role"] == "user":
            assert d["agent"] and set(d["model"]) >= {"providerID", "modelID"}
            continue
        parent = by_id[d["parentID"]]
        assert parent[1] == sid and parent[4]["role"] == "user"
        for key in ("modelID", "providerID", "mode", "agent", "path", "cost", "tokens"):
            assert key in d, key
        assert d["mode"] == d["agent"]
        assert set(d["path"]) == {"cwd", "root"}
        assert set(d["tokens"]["cache"]) == {"read", "write"}
        if "finish" in d:
            assert d["finish"] in ("tool-calls", "stop") and d["time"]["completed"] == tu
        else:
            assert "completed" not in d["time"]


def test_step_parts_bracket_each_finished_step(messages, parts):
    by_msg: dict[str, list] = {}
    for _, mid, _, data in parts:
        by_msg.setdefault(mid, []).append(data)
    for mid, _, _, _, d in messages:
        if d["role"] != "assistant":
            continue
        types = [p["type"] for p in by_msg[mid]]
        assert types[0] == "step-start"
        if "finish" in d:
            finish = [p for p in by_msg[mid] if p["type"] == "step-finish"]
            assert len(finish) == 1 and finish[0]["reason"] == d["finish"] and finish[0]["cost"] == d["cost"]
            assert set(types[types.index("step-finish") + 1:]) <= {"patch"}
        else:
            assert "step-finish" not in types
    patches = [p for _, _, _, p in parts if p["type"] == "patch"]
    assert patches and all(f.startswith("/") for p in patches for f in p["files"])


def test_tool_state_shapes(parts):
    tools = [p for _, _, _, p in parts if p["type"] == "tool"]
    statuses = {t["state"]["status"] for t in tools}
    assert {"completed", "error", "running"} <= statuses
    names = {t["tool"] for t in tools}
    assert {"read", "edit", "write", "bash", "glob", "grep", "todowrite", "apply_patch", "task"} <= names
    for t in tools:
        st = t["state"]
        assert re.match(r"^(toolu_01|call_)[0-9A-Za-z]+$", t["callID"])
        if st["status"] == "completed":
            assert isinstance(st["output"], str) and isinstance(st["title"], str)
            assert isinstance(st["metadata"], dict) and st["time"]["end"] >= st["time"]["start"]
            if t["tool"] == "bash":
                assert isinstance(st["metadata"]["exit"], int) and st["title"] == st["input"]["command"]
            if t["tool"] == "read":
                assert st["output"].startswith(f"<path>{st['input']['filePath']}</path>\n<type>file</type>\n<content>\n1: ")
                assert re.search(r"\n\n\(End of file - total \d+ lines\)\n</content>$", st["output"])
        elif st["status"] == "error":
            assert st["error"].startswith("Error: ") and "output" not in st
            assert st["time"]["end"] >= st["time"]["start"]
        elif st["status"] == "running":
            assert "end" not in st["time"] and "output" not in st
    exits = {t["state"]["metadata"]["exit"] for t in tools if t["tool"] == "bash" and t["state"]["status"] == "completed"}
    assert 0 in exits and exits - {0}  # failing commands stay `completed` with a non-zero exit


def test_every_language_present(db, parts):
    # (file extension in a tool input, build/test/lint command of that ecosystem)
    signals = {"rust": (r"\.rs\b", r"\bcargo "), "typescript": (r"\.tsx?\b", r"\b(npm|npx) "),
               "python": (r"\.py\b", r"\b(pytest|ruff|python) "), "ruby": (r"\.rb\b", r"\bbundle exec "),
               "swift": (r"\.swift\b", r"\bswift(-format)? ")}
    text_by_session: dict[str, str] = {}
    for _, _, sid, p in parts:
        if p["type"] == "tool":
            text_by_session[sid] = text_by_session.get(sid, "") + json.dumps(p["state"].get("input", {})) + "\n"
    for lang, (ext, cmd) in signals.items():
        hits = [sid for sid, text in text_by_session.items() if re.search(ext, text) and re.search(cmd, text)]
        assert len(hits) >= 8, lang
    titles = [t for (t,) in db.execute("SELECT title FROM session")]
    assert len(set(titles)) >= len(titles) * 0.6  # seeded variety, not copies


def test_default_counts_and_legacy_agent(db, store):
    total, build = sample_store.sample_store_counts(store)
    assert (total, build) == (45, 40)
    legacy = db.execute("SELECT id FROM session WHERE agent IS NULL").fetchall()
    assert legacy, "older sessions keep session.agent NULL"
    for (sid,) in legacy:
        agents = {json.loads(d)["agent"] for (d,) in db.execute("SELECT data FROM message WHERE session_id = ?", (sid,))}
        assert agents == {"build"}
    cost, step_costs = db.execute(
        "SELECT s.cost, (SELECT SUM(json_extract(p.data, '$.cost')) FROM part p WHERE p.session_id = s.id AND "
        "json_extract(p.data, '$.type') = 'step-finish') FROM session s WHERE s.agent = 'build' LIMIT 1").fetchone()
    assert cost == pytest.approx(step_costs)


# -- determinism ----------------------------------------------------------------------------

def test_same_seed_same_store_other_seed_differs(tmp_path, store):
    again = build_sample_store(tmp_path / "a.db", seed=0)
    assert _dump(again) == _dump(store)
    other = _dump(build_sample_store(tmp_path / "b.db", seed=1))
    assert other["message"] != _dump(store)["message"]


def test_sessions_per_language_scales(tmp_path):
    path = build_sample_store(tmp_path / "small.db", seed=5, sessions_per_language=2)
    assert sample_store.sample_store_counts(path) == (15, 10)


# -- edge cases ------------------------------------------------------------------------------

def _session_parts(db, sid):
    return [json.loads(d) for (d,) in db.execute("SELECT data FROM part WHERE session_id = ? ORDER BY id", (sid,))]


def _session_messages(db, sid):
    return [json.loads(d) for (d,) in db.execute("SELECT data FROM message WHERE session_id = ? ORDER BY id", (sid,))]


def test_edge_sessions_all_found(edges):
    assert set(edges) == set(EDGE_TITLES) | {"task_parent", "reasoning", "interrupted", "long_bash", "secrets_env",
                                             "secrets_token"}


def test_plan_session(db, edges):
    sid = edges["plan"]
    assert db.execute("SELECT agent FROM session WHERE id = ?", (sid,)).fetchone()[0] == "plan"
    assert {m["agent"] for m in _session_messages(db, sid)} == {"plan"}
    tools = {p["tool"] for p in _session_parts(db, sid) if p["type"] == "tool"}
    assert tools and not tools & {"edit", "write", "apply_patch", "bash"}


def test_subagent_child_session(db, edges):
    child, parent = edges["subagent"], edges["task_parent"]
    parent_id, agent, perm, title = db.execute(
        "SELECT parent_id, agent, permission, title FROM session WHERE id = ?", (child,)).fetchone()
    assert parent_id == parent and agent == "explore" and title.endswith("(@explore subagent)")
    assert {"permission": "todowrite", "pattern": "*", "action": "deny"} in json.loads(perm)
    assert {m["agent"] for m in _session_messages(db, child)} == {"explore"}
    task = next(p for p in _session_parts(db, parent) if p["type"] == "tool" and p["tool"] == "task")
    st = task["state"]
    assert st["metadata"]["sessionId"] == child and st["input"]["subagent_type"] == "explore"
    assert re.match(rf"^task_id: {child} \(for resuming[^)]*\)\n\n<task_result>\n.+\n</task_result>$", st["output"], re.S)


def test_compaction_session(db, edges):
    sid = edges["compaction"]
    rows = db.execute("SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created, id", (sid,)).fetchall()
    msgs = [(mid, json.loads(d)) for mid, d in rows]
    parts = {mid: [json.loads(d) for (d,) in db.execute("SELECT data FROM part WHERE message_id = ? ORDER BY id", (mid,))]
             for mid, _ in msgs}
    i = next(i for i, (mid, m) in enumerate(msgs) if any(p["type"] == "compaction" for p in parts[mid]))
    assert msgs[i][1]["role"] == "user"
    summary = msgs[i + 1][1]
    assert summary["summary"] is True and summary["agent"] == summary["mode"] == "compaction"
    assert summary["parentID"] == msgs[i][0]
    resume = parts[msgs[i + 2][0]]
    assert resume == [{"type": "text", "text": "Continue if you have next steps", "synthetic": True}]
    assert any("compacted" in p["state"]["time"] for p in _session_parts(db, sid) if p["type"] == "tool")


def test_signal_free_and_mixed_sessions(db, edges):
    assert not [p for p in _session_parts(db, edges["signal_free"]) if p["type"] == "tool"]
    paths = [p["state"]["input"].get("filePath", "") for p in _session_parts(db, edges["mixed"]) if p["type"] == "tool"]
    assert sum(x.endswith(".rs") for x in paths) == sum(x.endswith(".py") for x in paths) > 0


def test_interrupted_long_output_reasoning_and_secrets(db, edges):
    interrupted = _session_messages(db, edges["interrupted"])[-1]
    assert interrupted["role"] == "assistant" and "finish" not in interrupted
    long = next(p["state"] for p in _session_parts(db, edges["long_bash"])
                if p["type"] == "tool" and len(p["state"].get("output", "")) > 20_000)
    assert "error[E0382]" in long["output"][-2000:] and "error[" not in long["output"][:10_000]
    assert long["metadata"]["exit"] == 101
    assert any(p["type"] == "reasoning" and p["text"] for p in _session_parts(db, edges["reasoning"]))
    blob = "\n".join(d for (d,) in db.execute("SELECT data FROM part"))
    assert re.search(r"OPENAI_API_KEY=sk-proj-[A-Za-z0-9]{40,}", blob)
    assert re.search(r"ghp_[A-Za-z0-9]{36}", blob)
    assert re.search(r"postgres://\w+:\w+@[\w.]+:\d+/\w+", blob)


# -- builder for hand-made stores -------------------------------------------------------------

def test_builder_edge_rows(tmp_path):
    path = tmp_path / "edge.db"
    with StoreBuilder(path, seed=3) as b:
        pid = b.project("/w/app")
        sid = b.session(pid, directory="/w/app", title="t", agent="build", time_created=1_780_000_000_000)
        uid = b.user_message(sid, "go", synthetic_parts=["Called the Read tool"],
                             extra_parts=[{"type": "file", "mime": "text/plain", "url": "file:///w/app/a.txt"}])
        step = b.assistant_step(sid, uid, tools=[
            {"tool": "read", "input": {"filePath": "/w/app/missing.py"}, "status": "error",
             "error": "Error: File not found: /w/app/missing.py"},
            {"tool": "bash", "input": {"command": "make"}, "status": "pending"},
            {"tool": "edit", "input": {"filePath": "a.py", "oldString": "x", "newString": "y"},
             "output": "Edit applied successfully."},
        ], error={"name": "APIError", "data": {"message": "overloaded"}}, finish="stop")
        # An explicit earlier time must not break id order.
        late = b.user_message(sid, "again", time=1_700_000_000_000)
        bad = b.raw_message(sid, "{not json")
        b.raw_part(sid, bad, "")
        b.raw_part(sid, step, None)
    conn = _connect(path)
    msgs = conn.execute("SELECT id, data FROM message ORDER BY rowid").fetchall()
    assert [m for m, _ in msgs] == sorted(m for m, _ in msgs) and late < bad
    assert msgs[-1][1] == "{not json"
    assert conn.execute("SELECT data FROM part WHERE message_id = ?", (bad,)).fetchone()[0] == ""
    user_parts = [json.loads(d) for (d,) in conn.execute("SELECT data FROM part WHERE message_id = ? ORDER BY id", (uid,))]
    assert [p["type"] for p in user_parts] == ["text", "text", "file"] and user_parts[1]["synthetic"] is True
    step_rows = conn.execute("SELECT data FROM part WHERE message_id = ? ORDER BY id", (step,)).fetchall()
    assert step_rows[-1][0] == "null"  # the raw part planted last
    step_parts = [json.loads(d) for (d,) in step_rows[:-1]]
    assert [p["type"] for p in step_parts] == ["step-start", "tool", "tool", "tool", "step-finish", "patch"]
    assert step_parts[2]["state"] == {"status": "pending", "input": {}, "raw": ""}
    assert step_parts[5]["files"] == ["/w/app/a.py"]
    data = json.loads(conn.execute("SELECT data FROM message WHERE id = ?", (step,)).fetchone()[0])
    assert data["error"]["name"] == "APIError" and data["finish"] == "stop"
    sess = conn.execute("SELECT summary_files, cost > 0, agent FROM session").fetchone()
    conn.close()
    assert sess == (1, 1, "build")
    with pytest.raises(FileExistsError):
        StoreBuilder(path)


def test_cli_overwrites_atomically(tmp_path, capsys):
    out = tmp_path / "demo" / "opencode.db"
    out.parent.mkdir()
    out.write_bytes(b"old")
    stale = [out.with_name("opencode.db-wal"), out.with_name("opencode.db-shm")]
    for p in stale:
        p.write_bytes(b"stale")
    assert sample_store.main(["--out", str(out), "--seed", "2", "--sessions-per-language", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"sample store: 10 sessions (5 build) -> {out}"
    assert sorted(p.name for p in out.parent.iterdir()) == ["opencode.db"]
    assert _dump(out)["session"]
