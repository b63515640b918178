"""Extraction throughput and peak memory on a synthetic opencode store of N sessions, beside the seed extractor's.

    .venv/bin/python bench/extract.py                                   # N = 10,000
    .venv/bin/python bench/extract.py --sizes 2000,10000,20000          # flat memory: peak RSS should not grow with N
    .venv/bin/python bench/extract.py --seed-extractor ../shared/seed/extract_specialists.py   # and the ratio
    .venv/bin/python bench/extract.py --workers 1                       # one process (extract.workers=1)
    .venv/bin/python bench/extract.py --rerun --seed-extractor ../shared/seed/extract_specialists.py
                                         # and re-runs with the extraction cache: unchanged store, then 1% new sessions

The store is built once per (N, seed) with the sample-store generator (realistic sessions, ~28 parts each) and
cached in the temp folder. Each extractor runs as its own command in a child process, so the figures are what a
user's `make extract` costs: wall time including interpreter start and imports, and peak RSS. Extraction's worker
processes are forked from it and share its pages, so "peak RSS" is the largest single process (main or worker).
The seed extractor and ours run on the same store one after the other, `--repeat` times each (best time kept), so a
busy machine hurts both alike; the ratio is seed time / our time (above 1: we are faster).

The first table is a cold run: no extraction cache (extract/cache.py; the cache lives in a temp folder, emptied
before each cold run). With --rerun, a second table: our re-run on the unchanged store (every unit from the cache), and
on the store grown by 1% (newer sessions, as opencode adds them: the smallest ids), beside the seed on that grown
store (the seed has no cache: it always reads everything).
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Runs a command and prints the peak RSS (KiB) of it and its descendants: a fresh parent per measurement.
_MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def store(n: int, seed: int) -> Path:
    from sample.store import build_sample_store

    path = Path(tempfile.gettempdir()) / f"workbench-bench-store-{n}-{seed}.db"
    if not path.exists():
        t0 = time.time()
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        build_sample_store(tmp, seed=seed, sessions_per_language=max(1, n // 5))
        tmp.rename(path)
        print(f"built store of {n} sessions in {time.time() - t0:.1f} s -> {path}", file=sys.stderr)
    return path


CACHE = Path(tempfile.gettempdir()) / "workbench-bench-extract-cache"


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of cmd."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=REPO, check=True, capture_output=True,
                         text=True, env=os.environ | {"WORKBENCH_EXTRACT_CACHE": str(CACHE)}).stdout.split()
    wall = time.perf_counter() - t0
    if out[0] != "0":
        raise SystemExit(f"{' '.join(cmd)} exited with {out[0]}")
    return wall, int(out[1]) / 1024


def best(cmd: list[str], repeat: int, fresh: Path | None, before=None, cold: bool = False) -> tuple[float, float]:
    """Best wall time and largest peak RSS of `repeat` runs; `fresh` (the output) is removed before each (None: kept),
    and with `cold` our extraction cache too; `before()` runs before each run."""
    runs = []
    for _ in range(repeat):
        for p in [fresh] + ([CACHE] if cold else []):
            if p is not None and p.exists():
                subprocess.run(["rm", "-rf", str(p)], check=True)
        if before is not None:
            before()
        runs.append(measure(cmd))
    return min(r[0] for r in runs), max(r[1] for r in runs)


def grow(db: Path, target: Path, fraction: float) -> int:
    """A copy of the store with `fraction` more sessions: copies of existing ones (another prompt, so not duplicates),
    newer, with ids that sort first (opencode gives the newest session the smallest id). Returns how many."""
    import shutil

    shutil.copyfile(db, target)
    with sqlite3.connect(target) as c:
        n = max(1, int(c.execute("SELECT count(*) FROM session").fetchone()[0] * fraction))
        newest = c.execute("SELECT max(time_created) FROM session").fetchone()[0]
        cols = {t: [r[1] for r in c.execute(f"PRAGMA table_info({t})")] for t in ("session", "message", "part")}
        sources = [r[0] for r in c.execute("SELECT id FROM session WHERE parent_id IS NULL ORDER BY id LIMIT ?", (n,))]
        for i, sid in enumerate(sources):
            new, tag = f"ses_000000000000{i:014d}", f"_g{i:06d}"

            def copy(table: str, where: str, **set_: str) -> None:
                exprs = ", ".join(set_.get(col, col) for col in cols[table])
                c.execute(f"INSERT INTO {table} ({', '.join(cols[table])}) SELECT {exprs} FROM {table} WHERE {where}",
                          (sid,))

            copy("session", "id = ?", id=f"'{new}'", time_created=f"{newest + 1000 * (i + 1)}")
            copy("message", "session_id = ?", id=f"id || '{tag}'", session_id=f"'{new}'")
            copy("part", "session_id = ?", id=f"id || '{tag}'", message_id=f"message_id || '{tag}'",
                 session_id=f"'{new}'",
                 data=f"CASE WHEN json_extract(data, '$.type') = 'text' THEN json_set(data, '$.text', "
                      f"json_extract(data, '$.text') || ' (again, {i})') ELSE data END")
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000", help="comma-separated session counts, smallest first")
    p.add_argument("--seed", type=int, default=0, help="the sample store's random seed")
    p.add_argument("--seed-extractor", type=Path, default=None,
                   help="the seed extractor (../shared/seed/extract_specialists.py) to time on the same store")
    p.add_argument("--workers", type=int, default=None, help="extract.workers (default: one per core)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each extractor per size; the best time is kept")
    p.add_argument("--rerun", action="store_true", help="also time re-runs with the extraction cache")
    a = p.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    header = "| sessions | ours s | ours sessions/s | ours peak RSS MB |" + (
        " seed s | seed sessions/s | seed peak RSS MB | seed s / ours s |" if a.seed_extractor else "")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    reheader = ("| sessions | ours cold s | ours re-run s, unchanged | new sessions | ours re-run s, grown | "
                "ours peak RSS MB, grown |" + (" seed s, grown | seed s / ours s, grown |" if a.seed_extractor else ""))
    relines = [reheader, "|" + "---|" * (reheader.count("|") - 1)]
    for n in [int(x) for x in a.sizes.split(",")]:
        db = store(n, a.seed)
        with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as c:
            sessions = c.execute("SELECT count(*) FROM session").fetchone()[0]
            parts = c.execute("SELECT count(*) FROM part").fetchone()[0]
        print(f"store: {sessions} sessions, {parts} parts ({parts / sessions:.0f} a session), "
              f"{db.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "ours"
            workers = [f"extract.workers={a.workers}"] if a.workers else []

            def ours(store_: Path) -> list[str]:
                return [sys.executable, "-m", "extract", "--db", str(store_), "--out", str(out), "--quiet",
                        "extract.agent_files=false", *workers]

            def seed(store_: Path) -> list[str]:
                return [sys.executable, str(a.seed_extractor.resolve()), "--db", str(store_), "--outdir",
                        str(Path(tmp) / "seed"), "--agents-dir", str(Path(tmp) / "no-agents")]

            wall, rss = best(ours(db), a.repeat, out, cold=True)
            row = f"| {sessions} | {wall:.2f} | {sessions / wall:.0f} | {rss:.0f} |"
            if a.seed_extractor:
                swall, srss = best(seed(db), a.repeat, Path(tmp) / "seed")
                row += f" {swall:.2f} | {sessions / swall:.0f} | {srss:.0f} | {swall / wall:.2f} |"
            lines.append(row)
            print(row, flush=True)
            if not a.rerun:
                continue
            # the cold run above left its cache: re-run on the same store, then on the grown one after a cold run
            same, _ = best(ours(db), a.repeat, None)
            grown = Path(tmp) / "grown.db"
            added = grow(db, grown, 0.01)
            again, again_rss = best(ours(grown), a.repeat, None,
                                    before=lambda: (subprocess.run(["rm", "-rf", str(out), str(CACHE)], check=True),
                                                    measure(ours(db))))
            rerow = f"| {sessions} | {wall:.2f} | {same:.2f} | {added} | {again:.2f} | {again_rss:.0f} |"
            if a.seed_extractor:
                sg, _ = best(seed(grown), a.repeat, Path(tmp) / "seed")
                rerow += f" {sg:.2f} | {sg / again:.2f} |"
            relines.append(rerow)
            print(rerow, flush=True)
    print("\n".join(lines))
    if a.rerun:
        print("\n".join(relines))


if __name__ == "__main__":
    main()
