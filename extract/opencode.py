"""Read an opencode SQLite store (read-only) into source-neutral Session records, streaming."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sqlite3
import tempfile
import zlib
from array import array
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .fastjson import loads, loads_utf8
from .records import Session, Step, ToolCall, Turn

HIDDEN_AGENTS = {"compaction", "title", "summary"}
CLEARED_MARK = "[Old tool result content cleared]"


class StoreError(Exception):
    """The store cannot be read at all: one line for the user, then a non-zero exit."""


def default_db_path() -> Path:
    """opencode's own location: $OPENCODE_DB, else $XDG_DATA_HOME/opencode/opencode.db."""
    if os.environ.get("OPENCODE_DB"):
        return Path(os.environ["OPENCODE_DB"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "opencode" / "opencode.db"


RUNS_FILE = "workbench-runs.jsonl"  # beside a store the workbench's own agent runs wrote (agent/opencode.py)


def workbench_runs(db: str | os.PathLike) -> dict[str, dict]:
    """{session id: its run} for a store written by `make generate AGENT=opencode` or agent-eval: one JSON line per
    attempt in workbench-runs.jsonl beside the store ({session, origin, task, resolved}); {} for the user's stores."""
    path = Path(db).expanduser().with_name(RUNS_FILE)
    out: dict[str, dict] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line a killed run left half-written: its session is the user's as far as we know
        if isinstance(rec, dict) and isinstance(rec.get("session"), str):
            out[rec["session"]] = rec
    return out


@dataclass
class ReadStats:
    """What the reader skipped and why; the session ids of the first few of each kind."""

    sessions: Counter = field(default_factory=Counter)  # reason -> sessions left out whole
    rows: Counter = field(default_factory=Counter)  # reason -> rows (messages, parts, calls) left out of a session
    counts: Counter = field(default_factory=Counter)  # what was seen or changed, not skipped
    examples: dict[str, list[str]] = field(default_factory=dict)
    kinds: Counter = field(default_factory=Counter)  # "source: record kind" -> records read (kept or not)
    by_session: dict[str, Counter] = field(default_factory=dict)  # session id -> its rows skipped, by reason

    def skip_session(self, reason: str, session_id: str) -> None:
        self.sessions[reason] += 1
        self._example(reason, session_id)

    def unusable(self, where: str, error: Exception) -> None:
        """A file or session the reader could not use at all (damaged past what its line checks expect)."""
        self.skip_session(f"unusable files or sessions ({type(error).__name__})", where)

    def skip(self, reason: str, session_id: str | None = None, n: int = 1) -> None:
        """A bad or unusable row inside a session: skipped, counted, the session kept."""
        self.rows[reason] += n
        self._example(reason, session_id)
        if session_id is not None:
            self.by_session.setdefault(session_id, Counter())[reason] += n

    def rows_in(self, session_id: str) -> Counter:
        """The rows skipped inside one session (each session's are handed over once)."""
        return self.by_session.pop(session_id, Counter())

    def _example(self, reason: str, session_id: str | None) -> None:
        if session_id is not None:
            ex = self.examples.setdefault(reason, [])
            if len(ex) < 5 and session_id not in ex:
                ex.append(session_id)


@contextmanager
def open_store(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """Open the store without ever writing to it, its -wal/-shm files or its folder.

    A store with no -wal file is opened immutable (SQLite creates nothing beside it). A store with a
    -wal file (opencode running, or it crashed) is copied with its WAL to a private temp folder and the
    copy is read, because even a read-only SQLite reader of a WAL database writes into the -shm file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise StoreError(f"{path}: no such file (set DB=... or OPENCODE_DB to your opencode.db)")
    if not path.is_file():
        raise StoreError(f"{path}: not a file")
    wal = path.with_name(path.name + "-wal")
    tmp = None
    try:
        if wal.exists() and wal.stat().st_size > 0:
            tmp = tempfile.mkdtemp(prefix="opencode-snapshot-")
            target = Path(tmp) / path.name
            _snapshot(path, wal, target)
            uri = f"file:{target}?mode=ro"
        else:
            uri = f"file:{path}?mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True)
            conn.execute("PRAGMA query_only=1")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path}: not a readable SQLite database ({e})") from None
        if {"sessions", "messages", "goose_db_version"} <= tables:
            conn.close()
            raise StoreError(f"{path}: a store of the Go program also called opencode (opencode-ai/opencode, now "
                             f"Crush), not of opencode (sst/opencode): its sessions are not supported")
        missing = {"session", "message", "part"} - tables
        if missing:
            conn.close()
            raise StoreError(f"{path}: not an opencode database (no table {', '.join(sorted(missing))})")
        try:
            yield conn
        finally:
            conn.close()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _snapshot(db: Path, wal: Path, target: Path, tries: int = 3) -> None:
    """Copy db + wal, retrying while a live writer changes them under us."""
    def sig():
        return tuple((p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else None for p in (db, wal))

    for _ in range(tries):
        before = sig()
        shutil.copyfile(db, target)
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))
        if sig() == before:
            return
    raise StoreError(f"{db}: the store kept changing while being read (opencode busy?); try again")


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _loads(text) -> dict | None:
    """A JSON object from a column's text (or its UTF-8 bytes, as read_range reads them); None if it is not one."""
    if text is None:
        return None
    try:
        v = loads_utf8(text) if isinstance(text, bytes) else loads(text)
    except (TypeError, ValueError):  # (bytes that are not UTF-8: a malformed row, not a failed store)
        return None
    return v if isinstance(v, dict) else None


def cut_text(text: str, budget: int) -> tuple[str, bool]:
    """Keep the head and the tail of a long text (errors are usually at the end), saying what was cut."""
    if budget <= 0 or len(text) <= budget:
        return text, False
    head = budget * 2 // 5
    tail = budget - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut ...]\n{text[len(text) - tail:]}", True


@dataclass
class ReadOptions:
    agents: tuple[str, ...] = ("build", "build-*")
    include_subagents: bool = False
    reasoning: bool = False
    tool_output_chars: int = 8000
    resolved_only: bool = False  # mini-swe-agent: keep only instances SWE-bench resolved


def agent_matches(agent: str | None, patterns) -> bool:
    from fnmatch import fnmatchcase

    return agent is not None and any(fnmatchcase(agent, p) for p in patterns)


def read_sessions(conn: sqlite3.Connection, opts: ReadOptions, stats: ReadStats) -> Iterator[Session]:
    """Yield kept sessions in one ordered pass over message x part (memory: one session at a time)."""
    count_orphans(conn, stats)
    yield from read_range(conn, None, None, opts, stats)


def count_orphans(conn: sqlite3.Connection, stats: ReadStats) -> None:
    """Parts whose message is gone: counted once per store (they belong to no session)."""
    stats.skip("orphan parts", n=conn.execute(
        "SELECT count(*) FROM part WHERE message_id NOT IN (SELECT id FROM message)").fetchone()[0])


def session_ranges(conn: sqlite3.Connection, size: int) -> list[tuple[str, str, int]]:
    """The sessions' ids (as messages name them), in read order, cut into (first, last, count) runs of about `size`.

    A run ends after an id whose hash is 0 modulo `size` (or at 2 x `size`): where the cuts fall depends on the ids
    around them only, so new sessions change the run they fall in, not every run after it (opencode gives the newest
    session the smallest id), and the extraction cache (extract/cache.py) finds the others unchanged."""
    ids = [r[0] for r in conn.execute(
        "SELECT DISTINCT session_id FROM message WHERE session_id IS NOT NULL ORDER BY session_id")]
    return [(ids[a], ids[b - 1], b - a) for a, b in unit_bounds(ids, size)]


def ends_unit(session_id: str, count: int, size: int) -> bool:
    """Whether a unit of `count` sessions ends after this one (see session_ranges)."""
    return count >= 2 * size or zlib.crc32(session_id.encode("utf-8", "surrogatepass")) % size == 0


def unit_bounds(ids: list[str], size: int) -> list[tuple[int, int]]:
    """[start, end) index pairs cutting `ids` where session_ranges says."""
    bounds, start = [], 0
    for i, sid in enumerate(ids):
        if ends_unit(sid, i + 1 - start, size):
            bounds.append((start, i + 1))
            start = i + 1
    if start < len(ids):
        bounds.append((start, len(ids)))
    return bounds


def connect_readonly(path: str) -> sqlite3.Connection:
    """Another connection to a store open_store opened (the file it reads: never written, never changing)."""
    wal = Path(path + "-wal")
    immutable = "" if wal.exists() and wal.stat().st_size > 0 else "&immutable=1"  # a private copy with its WAL
    conn = sqlite3.connect(f"file:{path}?mode=ro{immutable}", uri=True)
    conn.execute("PRAGMA query_only=1")
    return conn


def database_file(conn: sqlite3.Connection) -> str:
    """The file a connection reads (open_store's private copy when the store had a WAL)."""
    return next(r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main")


class RangeHasher:
    """A digest of every row read_range reads (both queries, every column), for the extraction cache's key. The rows
    are kept as read (a unit's: a few MB) and hashed at the end, the JSON columns' bytes as they are and the rest
    (ids, session columns, each JSON column's length) pickled."""

    def __init__(self):
        self.message_rows: list[tuple] = []
        self.part_rows: list[tuple] = []

    def digest(self) -> bytes:
        return _rows_digest(self.message_rows, self.part_rows)


def _rows_digest(message_rows: list[tuple], part_rows: list[tuple]) -> bytes:
    def data(d):
        return d if d.__class__ is bytes else d.encode("utf-8", "surrogatepass")  # (a UTF-16 store: text)

    h = hashlib.sha256()
    h.update(b"".join(data(r[10]) for r in message_rows if r[10] is not None))
    h.update(b"".join(data(r[1]) for r in part_rows if r[1] is not None))
    h.update(pickle.dumps([(r[:10], None if r[10] is None else len(r[10])) for r in message_rows], protocol=4))
    # the parts' message ids (NUL-separated: an id has no NUL) and their data's lengths (-1: NULL)
    h.update("\0".join([str(r[0]) for r in part_rows]).encode("utf-8", "surrogatepass"))
    h.update(array("q", [-1 if r[1] is None else len(r[1]) for r in part_rows]).tobytes())
    return h.digest()


def range_digest(conn: sqlite3.Connection, first: str | None, last: str | None) -> bytes:
    """RangeHasher's digest of a range, without building its sessions (a third of the reading's time, a tenth of
    the work)."""
    qm, qp, params = _range_queries(conn, first, last)
    try:
        return _rows_digest(conn.execute(qm, params).fetchall(), conn.execute(qp, params).fetchall())
    except sqlite3.DatabaseError as e:
        raise StoreError(f"opencode store could not be read to the end: {e}") from None


def _range_queries(conn: sqlite3.Connection, first: str | None, last: str | None) -> tuple[str, str, tuple]:
    scols = _columns(conn, "session")
    pick = lambda c: f"s.{c}" if c in scols else "NULL"  # noqa: E731 - optional columns appear over migrations
    # The JSON columns come as their UTF-8 bytes: msgspec reads bytes as they are (no text object made, then encoded
    # again), and the cache's hash takes them without a copy. (A UTF-16 database would cast to UTF-16: text then.)
    utf8 = conn.execute("PRAGMA encoding").fetchone()[0] == "UTF-8"
    blob = (lambda c: f"CAST({c} AS BLOB)") if utf8 else (lambda c: c)  # noqa: E731
    where = "" if first is None else "WHERE m.session_id BETWEEN ? AND ?"
    order = "ORDER BY m.session_id, m.time_created, m.id"
    # Two cursors in the same order: the messages (with their session's columns), and the parts of those messages;
    # a message's parts are the next run of the second. (One joined query repeats every message's JSON and its
    # session's columns on each of its parts' rows: a third of the reading time.)
    qm = f"""
        SELECT m.session_id, s.id, s.parent_id, s.directory, s.title, s.time_created, {pick('agent')}, {pick('model')},
               {pick('version')}, m.id, {blob('m.data')}
        FROM message m
        LEFT JOIN session s ON s.id = m.session_id
        {where}
        {order}
    """
    # CROSS JOIN: SQLite walks the messages in their index order and each one's parts by theirs (no sort of all parts)
    qp = (f"SELECT p.message_id, {blob('p.data')} FROM message m CROSS JOIN part p ON p.message_id = m.id {where} "
          f"{order}, p.id")
    return qm, qp, (() if first is None else (first, last))


def read_range(conn: sqlite3.Connection, first: str | None, last: str | None, opts: ReadOptions,
               stats: ReadStats, hasher: RangeHasher | None = None) -> Iterator[Session]:
    """The sessions whose id is from first to last (all when None), in id order, as read_sessions reads them.
    `hasher`: also hash every row read (what range_digest gives), complete once the iterator is exhausted."""
    qm, qp, params = _range_queries(conn, first, last)
    try:
        cur = conn.execute(qm, params)
        parts_cur = conn.execute(qp, params)
    except sqlite3.DatabaseError as e:
        raise StoreError(f"opencode store query failed: {e}") from None
    current = None
    messages: list[tuple[dict | None, list]] = []
    hm = hasher.message_rows.append if hasher is not None else None
    hp = hasher.part_rows.append if hasher is not None else None
    try:
        part = next(parts_cur, None)
        for row in cur:
            if hm is not None:
                hm(row)
            sid = row[0]
            if sid != current:
                if current is not None:
                    s = _guarded_build(current_meta, messages, opts, stats)
                    if s is not None:
                        yield s
                current, current_meta, messages = sid, row[1:9], []
            mid = row[9]
            data = _loads(row[10])
            if data is None:
                stats.skip("malformed message rows", sid)
            parts = []
            while part is not None and part[0] == mid:
                if hp is not None:
                    hp(part)
                parts.append(_loads(part[1]))
                part = next(parts_cur, None)
            messages.append((data, parts))
        while hp is not None and part is not None:  # (none are left: both queries walk the messages in one order)
            hp(part)
            part = next(parts_cur, None)
        if current is not None:
            s = _guarded_build(current_meta, messages, opts, stats)
            if s is not None:
                yield s
    except sqlite3.DatabaseError as e:
        raise StoreError(f"opencode store could not be read to the end: {e}") from None


def _guarded_build(meta, messages, opts: ReadOptions, stats: ReadStats) -> Session | None:
    try:
        return build_session(meta, messages, opts, stats)
    except Exception as e:  # noqa: BLE001 - one damaged session never stops the others
        stats.unusable(str(meta[0]), e)
        return None


def _session_agent(col_agent, messages) -> str | None:
    if col_agent:
        return col_agent
    for data, _ in messages:
        if data and data.get("role") == "user" and data.get("agent"):
            return data["agent"]
    for data, _ in messages:
        if data and data.get("role") == "assistant" and (data.get("agent") or data.get("mode")):
            a = data.get("agent") or data.get("mode")
            if a not in HIDDEN_AGENTS:
                return a
    return None


def build_session(meta, messages, opts: ReadOptions, stats: ReadStats, default_agent: str | None = None
                  ) -> Session | None:
    """One session from its messages. The agent is judged per message (opencode's Tab switches plan <-> build
    within a session): the steps of the configured agents are kept, the others counted. default_agent: the
    agent of a store older than agents (v0.x: every session was a build session)."""
    sid, parent_id, directory, title, time_created, col_agent, col_model, version = meta
    if sid is None:
        stats.skip("messages without a session row", None, len(messages))
        return None
    stats.counts["sessions seen"] += 1
    agent = _session_agent(col_agent, messages) or default_agent
    if parent_id and not opts.include_subagents:
        stats.skip_session("subagent sessions", sid)
        return None
    session = Session(id=sid, source="opencode", agent=agent, directory=directory or "", title=title or "",
                      time_created=int(time_created or 0), parent_id=parent_id, model=_model_name(col_model),
                      client_version=version if isinstance(version, str) and version else None)
    turn: Turn | None = None
    turn_agent = agent  # the agent the user's message went to; an assistant message may name its own
    kept_agents: list[str] = []
    other: Counter = Counter()
    pending_summary: str | None = None
    for data, parts in messages:
        if data is None:
            continue
        bad = sum(p is None for p in parts)
        if bad:
            stats.skip("malformed part rows", sid, bad)
        parts = [p for p in parts if p is not None]
        role = data.get("role")
        if role == "user":
            if any(p.get("type") == "compaction" for p in parts):
                continue  # the request to compact; the summary follows in an assistant message
            # _step counts the unknown part types of assistant messages; a user message's are skipped the same way.
            unknown = sum(p.get("type") not in KNOWN_PART_TYPES for p in parts)
            if unknown:
                stats.skip("unknown part types", sid, unknown)
            prompt = _user_text(parts, opts)
            if pending_summary is not None:
                prompt = f"Summary of the work so far:\n{pending_summary}\n\n{prompt}".rstrip()
                pending_summary = None
            if not prompt:
                stats.skip("empty user messages", sid)
                continue
            turn = Turn(prompt=prompt, time=_int(data.get("time", {}).get("created") if isinstance(data.get("time"), dict) else None))
            session.turns.append(turn)
            turn_agent = _name(data.get("agent")) or agent
        elif role == "assistant":
            step_agent = _name(data.get("agent")) or _name(data.get("mode"))
            if data.get("summary") is True or step_agent in HIDDEN_AGENTS:
                if step_agent == "compaction" or data.get("summary") is True:
                    pending_summary = "\n".join(p["text"] for p in parts if p.get("type") == "text"
                                                 and isinstance(p.get("text"), str)).strip()
                    stats.skip("compaction summaries", sid)
                continue
            if turn is None:
                stats.skip("assistant steps before any prompt", sid)
                continue
            interrupted: list[ToolCall] = []
            step = _step(sid, data, parts, opts, stats, interrupted)
            session.evidence.extend(interrupted)  # not trained, still evidence of the session's language
            this = step_agent or turn_agent
            if step is not None and not agent_matches(this, opts.agents):
                other[this or "unknown"] += 1
                session.evidence.extend(step.tool_calls)
                continue
            if step is not None:
                turn.steps.append(step)
                kept_agents.append(this)
        else:
            stats.skip("messages with unknown role", sid)
    session.turns = [t for t in session.turns if t.steps]
    if not kept_agents and other:
        # nothing by a configured agent: the session is the other agent's (a plan session)
        stats.skip_session(f"agent {other.most_common(1)[0][0]}", sid)
        return None
    if not session.turns and not agent_matches(agent, opts.agents) and not other:
        stats.skip_session(f"agent {agent or 'unknown'}", sid)
        return None
    for a, n in other.items():  # a session switched between agents (opencode's Tab): its build turns stay
        stats.skip(f"steps by agent {a}", sid, n)
    if not session.turns:
        stats.skip_session("sessions with no assistant steps", sid)
        return None
    session.agent = kept_agents[0]
    return session


def _name(v) -> str | None:
    return v if isinstance(v, str) and v else None


def _model_name(col_model) -> str | None:
    m = _loads(col_model) if isinstance(col_model, str) else None
    return m["id"] if m and isinstance(m.get("id"), str) else None


def _int(v) -> int | None:
    return int(v) if isinstance(v, (int, float)) else None


def _user_text(parts: list[dict], opts: ReadOptions) -> str:
    out = []
    for p in parts:
        t = p.get("type")
        if t == "text" and isinstance(p.get("text"), str) and not p.get("ignored"):
            text = p["text"]
            if p.get("synthetic"):  # harness-injected (attached file contents, auto-continue): the model saw it
                text, _ = cut_text(text, opts.tool_output_chars)
            out.append(text)
        elif t == "file":
            out.append(f"[attached: {p.get('filename') or p.get('url', '')} ({p.get('mime', 'unknown type')})]")
    return "\n\n".join(x for x in out if x.strip()).strip()


KNOWN_PART_TYPES = {"text", "reasoning", "tool", "step-start", "step-finish", "patch", "file", "compaction",
                    "subtask", "agent", "retry", "snapshot"}


def _step(sid: str, data: dict, parts: list[dict], opts: ReadOptions, stats: ReadStats,
          interrupted: list[ToolCall] | None = None) -> Step | None:
    step = Step(finish=data.get("finish"))
    texts, reasoning = [], []
    for p in parts:
        t = p.get("type")
        if t == "text":
            if isinstance(p.get("text"), str) and not p.get("synthetic") and not p.get("ignored"):
                texts.append(p["text"])
        elif t == "reasoning":
            if isinstance(p.get("text"), str):
                reasoning.append(p["text"])
        elif t == "tool":
            call = _tool_call(sid, p, opts, stats)
            if call is not None and call.status == "pending":
                if interrupted is not None:
                    interrupted.append(call)
            elif call is not None:
                step.tool_calls.append(call)
        elif t not in KNOWN_PART_TYPES:
            stats.skip("unknown part types", sid)
    step.text = "\n\n".join(x for x in texts if x.strip()).strip()
    if opts.reasoning and reasoning:
        step.reasoning = "\n\n".join(reasoning).strip() or None
    if not step.text and not step.tool_calls:
        stats.skip("empty assistant steps", sid)
        return None
    return step


def _tool_call(sid: str, p: dict, opts: ReadOptions, stats: ReadStats) -> ToolCall | None:
    state = p.get("state")
    name = p.get("tool")
    if not isinstance(state, dict) or not isinstance(name, str) or not p.get("callID"):
        stats.skip("tool parts missing fields", sid)
        return None
    status = state.get("status")
    args = state.get("input")
    if status in ("pending", "running"):
        stats.skip("interrupted tool calls", sid)
        return ToolCall(id=str(p["callID"]), name=name, arguments=args if isinstance(args, dict) else {}, output="",
                        status="pending")
    if not isinstance(args, dict):
        stats.skip("tool parts missing fields", sid)
        return None
    if status == "completed":
        out = state.get("output")
        # Pruned outputs (state.time.compacted) are still stored in full; the model saw them in full when it
        # took its next step, so the full text is what we train on.
        out = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False) if out is not None else ""
    elif status == "error":
        out = state.get("error")
        out = out if isinstance(out, str) else "Error"
    else:
        stats.skip("tool parts with unknown status", sid)
        return None
    out, was_cut = cut_text(out, opts.tool_output_chars)
    if was_cut:
        stats.counts["tool outputs cut"] += 1
    meta = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
    exit_code = meta.get("exit") if isinstance(meta.get("exit"), int) else None
    return ToolCall(id=str(p["callID"]), name=name, arguments=args, output=out, status=status, exit_code=exit_code)


def session_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM session").fetchone()[0]


def recent_cutoff(conn: sqlite3.Connection, test_fraction: float) -> int | None:
    """The creation time (ms) from which the newest test_fraction of top-level sessions start."""
    n = conn.execute("SELECT count(*) FROM session WHERE parent_id IS NULL").fetchone()[0]
    k = int(n * test_fraction)
    if k == 0:
        return None
    row = conn.execute("SELECT time_created FROM session WHERE parent_id IS NULL ORDER BY time_created DESC "
                       "LIMIT 1 OFFSET ?", (k - 1,)).fetchone()
    return int(row[0]) if row else None
