"""The per-session work of extraction, done by worker processes (or in-process for small inputs).

Extraction runs in two phases (extract/pipeline.py):

1. The sessions are cut into units (a range of session ids of an opencode database, or a batch of sessions another
   reader read) and each unit is processed on its own: read, classify, hash, judge the outcome, redact, scan,
   window, and encode the rows. A unit's results go to a spill file in the staging folder; what the split needs from
   every session before any side can be chosen (the template survey, or the creation times) comes back with it.
2. The main process reads the spill files in order and makes every decision that depends on the sessions before:
   duplicates, a second run of one id, the side, the fingerprint. So the datasets are the same, byte for byte,
   whatever the number of workers and however the units were scheduled.

Workers are forked: they inherit the settings, the compiled patterns and a loaded tokenizer (STATE) at no cost.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import signal
import uuid
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from core.entry import die_with_parent

from . import opencode
from .cache import Cache, read_records, write_spill
from .classify import classify
from .outcome import assess
from .records import Session
from .redact import Redactor, leaks, redact_session
from .split import content_hash, first_prompt, prompt_keys, shingles, task_digest
from .tools import toolset_for
from .windows import TemplateMeasure, WindowStats, Windower
from .writer import encode_json

# Rows are encoded by the workers before the session's id is final (a second run under one id gets `id#2` in the
# main process): they carry this stand-in, replaced in the encoded row by the real id. A unit's spill file names the
# stand-in its rows carry (a cached unit's was drawn by an earlier run).
SENTINEL = f"\x00session-{uuid.uuid4().hex}\x00"
SENTINEL_JSON = json.dumps(SENTINEL, ensure_ascii=False).encode()


@dataclass
class State:
    """What every unit's work needs; set in the main process before the workers are forked."""
    by_lang: dict[str, Any]  # language -> Specialist
    full_run: bool
    min_score: float
    margin: float
    drop_outcomes: tuple[str, ...]
    window_tokens: int
    count: Callable[[str], int]
    measure: TemplateMeasure | None  # window sizes as the base's chat template renders them (extract.tokenizer)
    redactor: Redactor | None
    holdout: str
    read_opts: opencode.ReadOptions
    spill_dir: Path
    cache: Cache | None = None


STATE: State | None = None


@dataclass
class UnitResult:
    index: int
    spill: Path
    sessions: int  # sessions the unit's reader yielded
    stats: opencode.ReadStats | None  # the reader's stats (database units; other units were read by the main process)
    vocab: list[str] = field(default_factory=list)  # the template survey: trigrams of the first prompts ...
    prompts: list[tuple[str, array]] = field(default_factory=list)  # ... (task digest, trigram ids), first per digest
    times: list[int] = field(default_factory=list)  # holdout recent: creation times of sessions in a chosen language
    sentinel: bytes = b""  # the stand-in for the session id in its encoded rows (a cached unit's: an earlier run's)
    key: str | None = None  # the unit's cache key (extract/cache.py); None without the cache
    cached: bool = False  # taken from the cache, not worked


def process_session(session: Session, st: State) -> tuple:
    """Everything about one session that does not depend on the sessions before it (see the module's docstring).

    ("skip", reason, id) | ("drop", reason, id, hash) | ("blocked", id, hash, redactions, rule ids)
    | ("keep", id, hash, redactions, Kept)"""
    verdict = classify(session, min_score=st.min_score, margin=st.margin)
    if verdict.language is None:
        return ("skip", verdict.reason, session.id)
    sp = st.by_lang.get(verdict.language)
    if sp is None:
        return ("skip", f"language {verdict.language} not selected" if not st.full_run
                else f"language {verdict.language} has no specialist", session.id)
    h = content_hash(session)
    outcome = assess(session)
    if outcome.label in st.drop_outcomes:
        return ("drop", f"outcome {outcome.label}", session.id, h)
    counts: Counter = Counter()
    redact_session(session, counts, st.redactor)
    still = leaks(session)
    if still:
        return ("blocked", session.id, h, counts, still)
    used: dict[str, list[dict]] = defaultdict(list)
    for c in session.tool_calls:
        used[c.name].append(c.arguments)
    tools = toolset_for(used, session.toolset, session.source)
    ws = WindowStats()
    windows = Windower(sp.system_prompt, tools, st.window_tokens, st.count, st.measure).windows(session, ws)
    tools_json = [encode_json(t) for t in tools]
    started = datetime.fromtimestamp(session.time_created / 1000, tz=timezone.utc).isoformat()
    origin = getattr(session, "origin", "real")
    rows = []
    for i, win in enumerate(windows):
        row = {"messages": win.messages, "tools": tools, "session_id": SENTINEL,
               "language": sp.language, "specialist": sp.name, "source": session.source,
               "agent": session.agent, "model": session.model, "title": session.title,
               "project_dir": session.directory, "started_at": started, "window_index": i,
               "window_count": len(windows), "first_turn": win.first_turn, "steps": win.n_steps,
               "est_tokens": win.tokens, "outcome": outcome.label,
               "failed_commands": outcome.failed_commands, "tool_errors": outcome.tool_errors,
               "origin": origin}
        encoded = json.dumps(row, sort_keys=True, ensure_ascii=False).encode()
        row["messages"] = [encode_json(m) for m in win.messages]
        row["tools"] = tools_json
        rows.append((encoded, row))
    kept = Kept(specialist=sp.name, source=session.source, origin=origin, time_created=session.time_created,
                task=session.task, prompt_keys=prompt_keys(session) if not session.task else None,
                tool_calls=len(session.tool_calls), tool_errors=outcome.tool_errors, outcome=outcome.label,
                wstats=ws, rows=rows)
    return ("keep", session.id, h, counts, kept)


@dataclass
class Kept:
    """A session to be written: its rows (encoded) and what the main process needs to place it."""
    specialist: str
    source: str
    origin: str
    time_created: int
    task: str | None
    prompt_keys: list[tuple[str, str]] | None  # (hash, trigram) of its (redacted) first prompt, smallest hash first
    tool_calls: int
    tool_errors: int
    outcome: str
    wstats: WindowStats
    rows: list[tuple[bytes, dict]]  # (the row's JSON with the stand-in id, for the fingerprint; the row)


def run_unit(unit: tuple) -> UnitResult:
    """Process one unit: ("db", index, path, first id, last id) or ("sessions", index, [Session, ...]).

    With the cache (extract/cache.py), a unit whose content, settings and code are those of an entry is not worked:
    the entry is its spill file. A database unit's content is hashed while it is read (a first run), or in a pass of
    its own before (when there are entries to find)."""
    st = STATE
    assert st is not None, "extract.work.STATE is set before any unit runs"
    index = unit[1]
    spill = st.spill_dir / f"unit-{index:06d}.pkl"
    key = hasher = None
    if st.cache is not None:
        if unit[0] == "sessions":
            key = st.cache.key(hashlib.sha256(pickle.dumps(unit[2], protocol=4)).digest())
        elif st.cache.warm:
            key = st.cache.key(opencode.range_digest(_connection(unit[2]), unit[3], unit[4]))
        else:
            hasher = opencode.RangeHasher()
        if key is not None:
            meta = st.cache.take(key, spill)
            if meta is not None:
                return UnitResult(index=index, spill=spill, sessions=meta["sessions"], stats=meta["stats"],
                                  vocab=meta["vocab"], prompts=meta["prompts"], times=meta["times"],
                                  sentinel=meta["sentinel"], key=key, cached=True)
    stats = None
    if unit[0] == "db":
        stats = opencode.ReadStats()
        sessions = opencode.read_range(_connection(unit[2]), unit[3], unit[4], st.read_opts, stats, hasher)
    else:
        sessions = unit[2]
    result = UnitResult(index=index, spill=spill, sessions=0, stats=stats, sentinel=SENTINEL_JSON)
    vocab: dict[str, int] = {}
    seen: set[str] = set()
    records = []
    for session in sessions:
        result.sessions += 1
        if st.holdout != "recent":  # the template survey reads the first prompt as logged, before redaction
            digest = task_digest(session)
            if digest not in seen:
                seen.add(digest)
                result.prompts.append((digest, array("I", (vocab.setdefault(t, len(vocab))
                                                           for t in shingles(first_prompt(session))))))
        record = process_session(session, st)
        if st.holdout == "recent" and record[0] != "skip":  # "skip": no language, or one no specialist takes
            result.times.append(session.time_created)
        records.append(record)
    result.vocab = list(vocab)
    write_spill(spill, {"sessions": result.sessions, "stats": stats, "vocab": result.vocab, "prompts": result.prompts,
                        "times": result.times, "sentinel": SENTINEL_JSON}, records)
    if hasher is not None:
        key = st.cache.key(hasher.digest())
    if key is not None:
        st.cache.put(key, spill)
        result.key = key
    return result


_CONNECTIONS: dict[str, Any] = {}


def _connection(path: str):
    """This process's read-only connection to a database (a worker opens its own once)."""
    conn = _CONNECTIONS.get(path)
    if conn is None:
        conn = _CONNECTIONS[path] = opencode.connect_readonly(path)
    return conn


def close_connections() -> None:
    """At the end of a run: the next run (in this process) reads the store as it is then."""
    for conn in _CONNECTIONS.values():
        conn.close()
    _CONNECTIONS.clear()


def worker_init() -> None:
    """In a worker: die with the main process (even when it is killed), leave Ctrl-C and SIGTERM (sent to the whole
    group by `systemctl stop`) to the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _CONNECTIONS.clear()  # a connection inherited across fork must not be used
    die_with_parent(signal.SIGKILL)


def read_spill(path: Path) -> list[tuple]:
    try:
        found = read_records(path)
    except Exception as e:  # a cache entry spoiled on disk: the next run works its unit again
        raise opencode.StoreError(f"{path}: a unit's results could not be read back ({type(e).__name__}: {e}); the "
                                  f"previous datasets are unchanged. Run it again, or with extract.cache=false")
    path.unlink()
    return found
