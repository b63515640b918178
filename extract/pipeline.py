"""Logs in, one dataset per specialist out: read, classify, dedupe, redact, window, split, write."""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import sys
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import opencode, work
from .cache import Cache
from core.atomic import Transaction, disk_full, is_disk_full
from core.config import Specialist
from .outcome import OUTCOMES
from .redact import Redactor, detector_rules
from .sources import Source, nothing_found, reader, total_sessions, usable
from .split import Templates, side_of_keys
from .windows import TemplateMeasure, WindowStats, estimate_tokens, tokenizer_counter
from .writer import SpecialistWriter, dataset_card, swap_in

UNIT_SESSIONS = 200  # sessions per unit of work: small enough to keep both cores busy to the end, memory flat


@dataclass
class Settings:
    db: Path | None  # an opencode database; shorthand for sources=[Source("opencode", db)]
    out: Path
    specialists: list[Specialist]
    agents: tuple[str, ...] = ("build", "build-*")
    reasoning: bool = False
    tool_output_chars: int = 8000
    window_tokens: int = 4096
    tokenizer: str | None = None
    chat_template_path: str | None = None  # sft.chat_template_path: the template training renders with
    test_fraction: float = 0.1
    val_fraction: float = 0.0  # share of tasks on the validation side (the cycle's gate decides on it)
    keep_sides: dict[str, str] | None = None  # "<source>:<session id>" -> side: these sessions keep that side
    holdout: str = "hash"  # "hash" (stable, by task) or "recent" (the newest sessions)
    min_score: float = 3.0
    margin: float = 2.0
    drop_outcomes: tuple[str, ...] = ()  # sessions whose outcome is one of these are left out (failed, abandoned...)
    resolved_only: bool = False  # mini-swe-agent: keep only instances the SWE-bench harness resolved
    full_run: bool = True  # False with --lang: other specialists' datasets are left as they are
    sources: list[Source] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # default locations skipped, and the like
    redactor: Redactor | None = None  # the user's own secret values and patterns (extract.redact_*)
    workers: int | None = None  # processes for the per-session work; None: one per core (in-process when small)
    cache: bool = True  # reuse the last run's work on units that did not change (extract/cache.py)

    def __post_init__(self):
        if self.db is not None and not self.sources:
            self.sources = [Source("opencode", Path(self.db))]


@dataclass
class Report:
    sessions_seen: int = 0
    skipped: Counter = field(default_factory=Counter)
    per_specialist: dict[str, dict[str, Any]] = field(default_factory=dict)
    redactions: Counter = field(default_factory=Counter)
    blocked: Counter = field(default_factory=Counter)  # second scanner's rule ids in the sessions it kept out
    duplicates_removed: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    kept_rows: Counter = field(default_factory=Counter)  # rows skipped inside the sessions that were kept
    units: Counter = field(default_factory=Counter)  # units of work: "worked", "reused" (from the cache)
    cache: str | None = None  # the cache's folder for this output (None: no cache this run)


def run(s: Settings, progress: bool = True) -> dict[str, Any]:
    t0 = time.time()
    by_lang = {sp.language: sp for sp in s.specialists}
    tokenizer = _load_tokenizer(s.tokenizer, s.chat_template_path) if s.tokenizer else None
    count = tokenizer_counter(tokenizer) if tokenizer is not None else estimate_tokens
    read_opts = opencode.ReadOptions(agents=s.agents, reasoning=s.reasoning, tool_output_chars=s.tool_output_chars,
                                     resolved_only=s.resolved_only)
    stats = opencode.ReadStats()
    report = Report()
    tx = Transaction(s.out, what="extract").open()  # data/'s lock, held until the new datasets are in place
    staging = tx.dir
    writers: dict[str, SpecialistWriter] = {}
    wstats: dict[str, WindowStats] = defaultdict(WindowStats)
    counters: dict[str, Counter] = defaultdict(Counter)
    fingerprints: dict[str, Any] = {}
    seen_hashes: set[str] = set()
    ledger: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)  # source -> session id -> side, hash, ...
    ids: Counter = Counter()  # kept sessions per id: a second run under one id gets its own
    bar = None
    spill = staging / ".spill"
    cache = None
    try:
        sources = usable(s.sources, s.notes)
        if not sources:
            raise opencode.StoreError(nothing_found(s.sources))
        spill.mkdir()
        cache = _cache(s, by_lang, read_opts, tokenizer) if s.cache else None
        report.cache = str(cache.root) if cache is not None else None
        if cache is None or not cache.warm:  # compiled once here, not in every worker (a warm cache may need none)
            detector_rules()
        work.STATE = work.State(by_lang=by_lang, full_run=s.full_run, min_score=s.min_score, margin=s.margin,
                                drop_outcomes=tuple(s.drop_outcomes), window_tokens=s.window_tokens, count=count,
                                measure=TemplateMeasure(tokenizer) if tokenizer is not None else None,
                                redactor=s.redactor, holdout=s.holdout, read_opts=read_opts, spill_dir=spill,
                                cache=cache)
        tqdm.monitor_interval = 0  # no monitor thread: the workers are forked
        bar = tqdm(total=total_sessions(sources), unit="session", desc="extract", disable=not progress,
                   file=sys.stderr)
        # Phase 1: every session's own work, in units, on the workers; the survey the split needs comes back.
        templates, times, spills, used = Templates(), [], [], set()
        with contextlib.ExitStack() as stores:
            for u, r in _phase_one(_units(sources, read_opts, stores), s.workers):
                for unit_stats in (u.stats, r.stats):
                    if unit_stats is not None:
                        _merge_stats(stats, unit_stats)
                for digest, trigram_ids in r.prompts:
                    templates.add_digest(digest, (r.vocab[i] for i in trigram_ids))
                times.extend(r.times)
                spills.append((r.spill, r.key, r.sentinel))
                if r.key is not None:
                    used.add(r.key)
                report.units["reused" if r.cached else "worked"] += 1
                bar.update(r.sessions)
        bar.close()
        if s.holdout == "recent":
            times.sort()
            k, v = int(len(times) * s.test_fraction), int(len(times) * s.val_fraction)
            templates, cutoff = None, (times[-k] if k else None)
            val_cutoff = times[-(k + v)] if v and k + v <= len(times) else None
        else:
            templates, cutoff, val_cutoff = templates.freeze(), None, None
        # Phase 2: in read order, what depends on the sessions before: duplicates, ids, sides, the fingerprint.
        for path, key, sentinel in spills:
            try:
                records = work.read_spill(path)
            except opencode.StoreError:
                if cache is not None and key is not None:  # the next run works this unit again
                    cache.entry(key).unlink(missing_ok=True)
                raise
            for rec in records:
                kind = rec[0]
                if kind == "skip":
                    stats.skip_session(rec[1], rec[2])
                    continue
                h = rec[3] if kind == "drop" else rec[2]
                if h in seen_hashes:
                    report.duplicates_removed += 1
                    continue
                seen_hashes.add(h)
                if kind == "drop":
                    stats.skip_session(rec[1], rec[2])
                    continue
                reader_id = session_id = rec[1]
                ids[reader_id] += 1
                if ids[reader_id] > 1:  # two runs of one SWE-bench instance: one task, two sessions, counted as two
                    session_id = f"{reader_id}#{ids[reader_id]}"
                report.redactions.update(rec[3])
                if kind == "blocked":  # the second scanner's veto: a session it still finds a secret in is never written
                    stats.skip_session("sessions the second scanner still found a secret in", session_id)
                    report.blocked.update(rec[4])
                    continue
                k: work.Kept = rec[4]
                sp_name = k.specialist
                pinned = (s.keep_sides or {}).get(f"{k.source}:{session_id}")
                # generated trajectories only ever train: validation and test hold real sessions alone
                split = "train" if k.origin != "real" else pinned or side_of(
                    k, s.test_fraction, s.val_fraction, recent_after=cutoff, val_after=val_cutoff,
                    templates=templates)
                ledger[k.source][session_id] = {"specialist": sp_name, "side": split, "hash": h[:16],
                                                "origin": k.origin}
                w = writers.get(sp_name) or writers.setdefault(sp_name, SpecialistWriter(staging, sp_name))
                fp = fingerprints.setdefault(sp_name, hashlib.sha256())
                wstats[sp_name].add(k.wstats)
                c = counters[sp_name]
                c[f"{split}_sessions"] += 1
                c[f"{split}_windows"] += len(k.rows)
                c["tool_calls"] += k.tool_calls
                c["tool_errors"] += k.tool_errors
                c[f"outcome_{k.outcome}"] += 1
                real_id = json.dumps(session_id, ensure_ascii=False).encode()
                for encoded, row in k.rows:
                    encoded = encoded.replace(sentinel, real_id)
                    row["session_id"] = session_id
                    fp.update(split.encode() + encoded)
                    w.add(split, row, len(encoded))
                report.kept_rows.update(stats.rows_in(reader_id))
        if not stats.counts["sessions seen"]:
            raise opencode.StoreError(nothing_found(s.sources))
        if not writers:  # nothing kept: the previous datasets stay as they were, and the run says why
            manifest = _manifest(s, stats, report, time.time() - t0)
            manifest["written"] = False
            if cache is not None:
                cache.prune(used)
            return manifest
        names = []
        for name, w in writers.items():
            ws = wstats[name]
            entry = dict(counters[name]) | {"assistant_steps": ws.steps, "cut_steps": ws.cut_steps,
                                            "over_budget_steps": ws.over_budget_steps,
                                            "prompts_cut": ws.prompts_cut,
                                            "fingerprint": fingerprints[name].hexdigest()[:16]}
            for split in ("train", "validation", "test"):
                entry.setdefault(f"{split}_sessions", 0)
                entry.setdefault(f"{split}_windows", 0)
            report.per_specialist[name] = entry
            tag = entry["fingerprint"][:8]
            w.close(dataset_card(name, next(sp.language for sp in s.specialists if sp.name == name), entry,
                                 w.splits(), tag), tag)
            names.append(name)
        # Selected specialists (all, or --lang's) that got no session this time: their old dataset goes.
        stale = [sp.name for sp in s.specialists if sp.name not in writers]
        manifest = _manifest(s, stats, report, time.time() - t0)
        manifest["removed"] = {n: f"no {sp.language} session was kept this run" for sp in s.specialists
                               for n in [sp.name] if n in stale and (s.out / n).exists()}
        if s.full_run is False and (s.out / "manifest.json").exists():  # keep the others' entries
            old = json.loads((s.out / "manifest.json").read_text())
            kept = {k: v for k, v in old.get("specialists", {}).items() if k not in stale}
            manifest["specialists"] = {**kept, **manifest["specialists"]}
            old_ledger = _read_ledger(s.out)
            for src, sessions in old_ledger.items():  # the other specialists' sessions stay in the ledger
                for sid, e in sessions.items():
                    if e.get("specialist") not in {sp.name for sp in s.specialists}:
                        ledger[src].setdefault(sid, e)
        swap_in(tx, names, stale, manifest,
                extra={LEDGER: {"sources": {k: dict(sorted(v.items())) for k, v in sorted(ledger.items())}}})
        if cache is not None:
            cache.prune(used)
        return manifest
    except BaseException as e:
        if bar is not None:  # the error line that follows starts on a clean line, not after a half-drawn bar
            bar.leave = False
            bar.close()
        if isinstance(e, OSError) and is_disk_full(e):
            raise disk_full(e, s.out) from None
        raise
    finally:
        work.STATE = None
        work.close_connections()
        shutil.rmtree(spill, ignore_errors=True)
        tx.close()


def _cache(s: Settings, by_lang: dict[str, Specialist], read_opts: opencode.ReadOptions, tokenizer) -> Cache | None:
    """The extraction cache of s.out, keyed by every setting that reaches the per-session work (extract/cache.py);
    None where the token counter cannot be told apart from another (a tokenizer with no serialized form)."""
    counter = "estimate"
    if tokenizer is not None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            return None
        counter = hashlib.sha256((backend.to_str() + str(tokenizer.chat_template)).encode()).hexdigest()
    red = s.redactor
    settings = (
        sorted((lang, sp.name, sp.language, sp.system_prompt) for lang, sp in by_lang.items()),
        s.full_run, s.min_score, s.margin, tuple(s.drop_outcomes), s.window_tokens, counter, s.holdout,
        sorted(vars(read_opts).items()),
        sorted(red.values.items()) if red else None,
        [(r.kind, r.regex.pattern, r.regex.flags, r.group) for r in red.patterns] if red else None,
    )
    return Cache(s.out, settings)


LEDGER = "sessions.json"  # every kept session, per source: its specialist, side, content hash and origin


def _read_ledger(out: Path) -> dict[str, dict[str, dict[str, str]]]:
    try:
        return json.loads((out / LEDGER).read_text()).get("sources", {})
    except (OSError, ValueError):
        return {}


@dataclass
class _Unit:
    index: int
    task: tuple  # what work.run_unit gets
    stats: opencode.ReadStats | None = None  # events of the main process's reading for this unit


class _Routed:
    """A ReadStats whose events go to the current unit's own (readers keep the object they were given)."""

    def __init__(self, target: opencode.ReadStats):
        self.target = target

    def __getattr__(self, name: str):
        return getattr(self.target, name)


def _units(sources: list[Source], opts: opencode.ReadOptions, stack: contextlib.ExitStack):
    """The units of work, in read order: a range of an opencode database's sessions (read by the worker), or a batch
    of sessions another reader read here. Each unit carries the reading events that belong before it.

    opencode's legacy JSON tree is read only for sessions no database among the sources holds (opencode imports
    the tree into its database and may leave it in place)."""
    conns = {id(src): stack.enter_context(opencode.open_store(src.path)) for src in sources if src.kind == "opencode"}
    in_db: set[str] = set()
    for conn in conns.values():
        in_db.update(r[0] for r in conn.execute("SELECT id FROM session"))
    index = 0
    for src in sources:
        pre = opencode.ReadStats()
        if src.kind == "opencode":
            conn = conns[id(src)]
            opencode.count_orphans(conn, pre)
            path = opencode.database_file(conn)
            for first, last, _ in opencode.session_ranges(conn, UNIT_SESSIONS):
                yield _Unit(index, ("db", index, path, first, last), pre)
                index, pre = index + 1, None
            if pre is not None:
                yield _Unit(index, ("sessions", index, []), pre)
                index += 1
            continue
        routed = _Routed(pre)
        batch: list = []
        for session in reader(src.kind)(src, opts, routed):
            if src.kind in ("opencode-json", "opencode-export") and session.id in in_db:
                routed.skip_session("legacy JSON sessions already in the database", session.id)
                continue
            batch.append(session)
            # cut where the ids say, as session_ranges does: a new file changes its unit, not all the later ones
            if opencode.ends_unit(session.id, len(batch), UNIT_SESSIONS):
                yield _Unit(index, ("sessions", index, batch), routed.target)
                index, batch = index + 1, []
                routed.target = opencode.ReadStats()
        yield _Unit(index, ("sessions", index, batch), routed.target)
        index += 1


def _phase_one(units, workers: int | None):
    """(unit, work.UnitResult) in unit order: on worker processes when there is more than one unit and more than
    one core, else here. At most two units per worker are in flight, so memory stays flat."""
    units = iter(units)
    first = next(units, None)
    if first is None:
        return
    second = next(units, None)
    n = workers or min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8)
    import multiprocessing as mp

    everything = itertools.chain([first], [second] if second is not None else [], units)
    if second is None or n <= 1 or "fork" not in mp.get_all_start_methods():
        for u in everything:
            yield u, work.run_unit(u.task)
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # A worker that dies (killed, out of memory) fails the run with BrokenProcessPool instead of hanging it.
    pool = ProcessPoolExecutor(n, mp_context=mp.get_context("fork"), initializer=work.worker_init)
    try:
        pending: deque = deque()
        for u in everything:
            pending.append((u, pool.submit(work.run_unit, u.task)))
            while len(pending) > 2 * n:
                u0, f0 = pending.popleft()
                yield u0, f0.result()
        while pending:
            u0, f0 = pending.popleft()
            yield u0, f0.result()
    except BrokenProcessPool:
        raise opencode.StoreError("a worker process of this extraction died (killed, or out of memory); the previous "
                                  "datasets are unchanged. Run it again, or with extract.workers=1") from None
    finally:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:  # an error or Ctrl-C here: the units still running are not waited for
            if proc.is_alive():
                proc.kill()
        for proc in processes:
            proc.join()


def _merge_stats(dst: opencode.ReadStats, src: opencode.ReadStats) -> None:
    """Add a unit's reading events to the run's, as if they had been recorded there in order."""
    dst.sessions.update(src.sessions)
    dst.rows.update(src.rows)
    dst.counts.update(src.counts)
    dst.kinds.update(src.kinds)
    for reason, where in src.examples.items():
        for sid in where:
            dst._example(reason, sid)
    for sid, c in src.by_session.items():
        dst.by_session.setdefault(sid, Counter()).update(c)


def side_of(k: "work.Kept", test_fraction: float, val_fraction: float, **kw) -> str:
    return side_of_keys(k.task, k.prompt_keys, k.time_created, test_fraction, val_fraction, **kw)


def _load_tokenizer(name: str, chat_template_path: str | None = None):
    """extract.tokenizer: a local folder, a GGUF base or a Hub id, loaded as train loads the base's, with the chat
    template training renders with (one line when it cannot be)."""
    from core.models import load_tokenizer

    return load_tokenizer({"model_name_or_path": name}, key="extract.tokenizer", chat_template_path=chat_template_path)


def _manifest(s: Settings, stats: opencode.ReadStats, report: Report, seconds: float) -> dict[str, Any]:
    return {
        "sources": [str(src) for src in s.sources if src.path.exists()],
        "notes": s.notes,
        "extracted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
        "settings": {"agents": list(s.agents), "reasoning": s.reasoning, "tool_output_chars": s.tool_output_chars,
                     "window_tokens": s.window_tokens, "token_counter": s.tokenizer or "estimate (3 chars/token)",
                     "test_fraction": s.test_fraction, "val_fraction": s.val_fraction, "holdout": s.holdout},
        "sessions_seen": stats.counts["sessions seen"],
        "sessions_kept": sum(v["train_sessions"] + v["test_sessions"] for v in report.per_specialist.values()),
        "sessions_skipped": dict(sorted(stats.sessions.items())),
        "rows_skipped": dict(sorted((k, v) for k, v in report.kept_rows.items() if v)),
        "rows_skipped_elsewhere": dict(sorted((k, v) for k, v in (stats.rows - report.kept_rows).items()
                                                         if v)),
        "skipped_examples": stats.examples,
        "tool_outputs_cut": stats.counts["tool outputs cut"],
        "record_kinds": dict(sorted(stats.kinds.items())),
        "reader_counts": {k: v for k, v in sorted(stats.counts.items()) if k not in ("sessions seen", "tool outputs cut")},
        "outcomes": {k: sum(v.get(f"outcome_{k}", 0) for v in report.per_specialist.values()) for k in OUTCOMES},
        "duplicates_removed": report.duplicates_removed,
        "units": {"worked": report.units["worked"], "reused": report.units["reused"],
                  "cache": report.cache},
        "redactions": dict(sorted(report.redactions.items())),
        "blocked_secrets": dict(sorted(report.blocked.items())),
        "specialists": report.per_specialist,
    }


def summary_table(manifest: dict[str, Any]) -> str:
    val = any(v.get("validation_sessions") for v in manifest["specialists"].values())  # columns only when used
    rows = [("specialist", "train sess", *(("val sess",) if val else ()), "test sess", "train win",
             *(("val win",) if val else ()), "test win", "steps", "tool calls", "cut steps")]
    for name, v in sorted(manifest["specialists"].items()):
        rows.append((name, v["train_sessions"], *((v.get("validation_sessions", 0),) if val else ()),
                     v["test_sessions"], v["train_windows"], *((v.get("validation_windows", 0),) if val else ()),
                     v["test_windows"], v["assistant_steps"], v["tool_calls"], v["cut_steps"]))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    over = [f"{n} {v['over_budget_steps']}" for n, v in sorted(manifest["specialists"].items())
            if v.get("over_budget_steps")]
    no_test = [n for n, v in sorted(manifest["specialists"].items()) if not v["test_windows"]]
    warn = [f"warning: no held-out sessions for {', '.join(no_test)}: they cannot be evaluated. When their sessions "
            f"are runs of a few tasks, set extract.holdout=recent (the newest sessions are held out, whatever their "
            f"task); else raise extract.test_fraction or extract more sessions"] if no_test else []
    skipped = ", ".join(f"{k}: {v}" for k, v in manifest["sessions_skipped"].items() if v) or "none"
    rows = ", ".join(f"{k}: {v}" for k, v in manifest["rows_skipped"].items()) or "none"
    elsewhere = manifest.get("rows_skipped_elsewhere") or {}
    red = ", ".join(f"{k}: {v}" for k, v in manifest["redactions"].items()) or "none"
    return "\n".join(lines + [
        f"sessions seen {manifest['sessions_seen']}, kept {manifest['sessions_kept']}, "
        f"duplicates removed {manifest['duplicates_removed']}, tool outputs cut {manifest['tool_outputs_cut']}",
        f"sessions skipped: {skipped}", f"rows skipped (sessions kept): {rows}",
        *([f"rows skipped outside the kept sessions (orphans, sessions left out): " + ", ".join(f"{k}: {v}" for k, v in elsewhere.items())]
          if elsewhere else []),
        f"redactions: {red}",
        *([f"units of work: {u['worked']} worked, {u['reused']} taken from the cache ({u['cache']})"]
          if (u := manifest.get("units")) and u.get("cache") else []),
        "steps are assistant steps (one model response each: its text and tool calls); a turn is a user prompt "
        "and the steps that answer it",
        *([f"steps longer than extract.window_tokens on their own, kept whole (their text is never cut): "
           f"{', '.join(over)}"] if over else []), *warn])
