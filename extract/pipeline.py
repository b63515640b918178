"""Logs in, one dataset per specialist out: read, classify, dedupe, redact, window, split, write."""
from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import datasets
from tqdm import tqdm

from . import opencode
from .classify import classify
from core.atomic import Transaction, disk_full, is_disk_full
from core.config import Specialist
from .outcome import OUTCOMES, assess
from .redact import Redactor, leaks, redact_session
from .sources import Source, nothing_found, read, total_sessions, usable
from .split import Templates, content_hash, side
from .tools import toolset_for
from .windows import WindowStats, Windower, estimate_tokens, tokenizer_counter
from .writer import SpecialistWriter, dataset_card, swap_in


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


def run(s: Settings, progress: bool = True) -> dict[str, Any]:
    t0 = time.time()
    datasets.disable_progress_bars()  # one bar per Parquet shard is noise; ours counts sessions
    by_lang = {sp.language: sp for sp in s.specialists}
    count = tokenizer_counter(_load_tokenizer(s.tokenizer)) if s.tokenizer else estimate_tokens
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
    try:
        sources = usable(s.sources, s.notes)
        if not sources:
            raise opencode.StoreError(nothing_found(s.sources))
        templates, cutoff, val_cutoff = _survey(s, sources, read_opts, by_lang)
        bar = tqdm(read(sources, read_opts, stats), total=total_sessions(sources), unit="session",
                   desc="extract", disable=not progress, file=sys.stderr)
        for session in bar:
            verdict = classify(session, min_score=s.min_score, margin=s.margin)
            if verdict.language is None:
                stats.skip_session(verdict.reason, session.id)
                continue
            sp = by_lang.get(verdict.language)
            if sp is None:
                stats.skip_session(f"language {verdict.language} not selected" if not s.full_run
                           else f"language {verdict.language} has no specialist", session.id)
                continue
            h = content_hash(session)
            if h in seen_hashes:
                report.duplicates_removed += 1
                continue
            seen_hashes.add(h)
            outcome = assess(session)
            if outcome.label in s.drop_outcomes:
                stats.skip_session(f"outcome {outcome.label}", session.id)
                continue
            reader_id = session.id
            ids[reader_id] += 1
            if ids[reader_id] > 1:  # two runs of one SWE-bench instance: one task, two sessions, counted as two
                session.id = f"{reader_id}#{ids[reader_id]}"
            redact_session(session, report.redactions, s.redactor)
            still = leaks(session)
            if still:  # the second scanner's veto: a session it still finds a secret in is never written
                stats.skip_session("sessions the second scanner still found a secret in", session.id)
                report.blocked.update(still)
                continue
            used: dict[str, list[dict]] = defaultdict(list)
            for c in session.tool_calls:
                used[c.name].append(c.arguments)
            tools = toolset_for(used, session.toolset, session.source)
            windows = Windower(sp.system_prompt, tools, s.window_tokens, count).windows(session, wstats[sp.name])
            origin = getattr(session, "origin", "real")
            pinned = (s.keep_sides or {}).get(f"{session.source}:{session.id}")
            # generated trajectories only ever train: validation and test hold real sessions alone
            split = "train" if origin != "real" else pinned or side(
                session, s.test_fraction, s.val_fraction, recent_after=cutoff, val_after=val_cutoff,
                templates=templates)
            ledger[session.source][session.id] = {"specialist": sp.name, "side": split, "hash": h[:16],
                                                  "origin": origin}
            w = writers.get(sp.name) or writers.setdefault(sp.name, SpecialistWriter(staging, sp.name))
            fp = fingerprints.setdefault(sp.name, hashlib.sha256())
            c = counters[sp.name]
            c[f"{split}_sessions"] += 1
            c[f"{split}_windows"] += len(windows)
            c["tool_calls"] += len(session.tool_calls)
            c["tool_errors"] += outcome.tool_errors
            c[f"outcome_{outcome.label}"] += 1
            started = datetime.fromtimestamp(session.time_created / 1000, tz=timezone.utc).isoformat()
            for i, win in enumerate(windows):
                row = {"messages": win.messages, "tools": tools, "session_id": session.id,
                       "language": sp.language, "specialist": sp.name, "source": session.source,
                       "agent": session.agent, "model": session.model, "title": session.title,
                       "project_dir": session.directory, "started_at": started, "window_index": i,
                       "window_count": len(windows), "first_turn": win.first_turn, "steps": win.n_steps,
                       "est_tokens": win.tokens, "outcome": outcome.label,
                       "failed_commands": outcome.failed_commands, "tool_errors": outcome.tool_errors,
                       "origin": origin}
                encoded = json.dumps(row, sort_keys=True, ensure_ascii=False).encode()
                fp.update(split.encode() + encoded)
                w.add(split, row, len(encoded))
            report.kept_rows.update(stats.rows_in(reader_id))
        bar.close()
        if not stats.counts["sessions seen"]:
            raise opencode.StoreError(nothing_found(s.sources))
        if not writers:  # nothing kept: the previous datasets stay as they were, and the run says why
            manifest = _manifest(s, stats, report, time.time() - t0)
            manifest["written"] = False
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
        return manifest
    except BaseException as e:
        if bar is not None:  # the error line that follows starts on a clean line, not after a half-drawn bar
            bar.leave = False
            bar.close()
        if isinstance(e, OSError) and is_disk_full(e):
            raise disk_full(e, s.out) from None
        raise
    finally:
        tx.close()


LEDGER = "sessions.json"  # every kept session, per source: its specialist, side, content hash and origin


def _read_ledger(out: Path) -> dict[str, dict[str, dict[str, str]]]:
    try:
        return json.loads((out / LEDGER).read_text()).get("sources", {})
    except (OSError, ValueError):
        return {}


def _survey(s: Settings, sources, read_opts, by_lang) -> tuple[Templates | None, int | None, int | None]:
    """One pass before the split: the template text first prompts share (holdout hash), or the creation times (ms)
    from which the newest test_fraction, then the next-newest val_fraction, of the sessions that would be kept
    start (holdout recent)."""
    templates, times = Templates(), []
    for ses in read(sources, read_opts, opencode.ReadStats()):
        if s.holdout == "recent":
            if classify(ses, min_score=s.min_score, margin=s.margin).language in by_lang:
                times.append(ses.time_created)
        else:
            templates.add(ses)
    if s.holdout != "recent":
        return templates.freeze(), None, None
    times.sort()
    k = int(len(times) * s.test_fraction)
    v = int(len(times) * s.val_fraction)
    return None, (times[-k] if k else None), (times[-(k + v)] if v and k + v <= len(times) else None)


def _load_tokenizer(name: str):
    """extract.tokenizer: a local folder or a Hub id, loaded as train loads the base's (one line when it cannot be)."""
    from core.models import load_tokenizer

    return load_tokenizer({"model_name_or_path": name}, key="extract.tokenizer")


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
        "steps are assistant steps (one model response each: its text and tool calls); a turn is a user prompt "
        "and the steps that answer it",
        *([f"steps longer than extract.window_tokens on their own, kept whole (their text is never cut): "
           f"{', '.join(over)}"] if over else []), *warn])
