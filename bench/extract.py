"""Extraction throughput and peak memory on a synthetic opencode store of N sessions, beside the seed extractor's.

    .venv/bin/python bench/extract.py                                   # N = 10,000
    .venv/bin/python bench/extract.py --sizes 2000,10000,20000          # flat memory: peak RSS should not grow with N
    .venv/bin/python bench/extract.py --seed-extractor ../shared/seed/extract_specialists.py   # and the ratio
    .venv/bin/python bench/extract.py --workers 1                       # one process (extract.workers=1)

The store is built once per (N, seed) with the sample-store generator (realistic sessions, ~28 parts each) and
cached in the temp folder. Each extractor runs as its own command in a child process, so the figures are what a
user's `make extract` costs: wall time including interpreter start and imports, and peak RSS. Extraction's worker
processes are forked from it and share its pages, so "peak RSS" is the largest single process (main or worker).
The seed extractor and ours run on the same store one after the other, `--repeat` times each (best time kept), so a
busy machine hurts both alike; the ratio is seed time / our time (above 1: we are faster).
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


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of cmd."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=REPO, check=True, capture_output=True,
                         text=True).stdout.split()
    wall = time.perf_counter() - t0
    if out[0] != "0":
        raise SystemExit(f"{' '.join(cmd)} exited with {out[0]}")
    return wall, int(out[1]) / 1024


def best(cmd: list[str], repeat: int, fresh: Path) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        if fresh.exists():
            subprocess.run(["rm", "-rf", str(fresh)], check=True)
        runs.append(measure(cmd))
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000", help="comma-separated session counts, smallest first")
    p.add_argument("--seed", type=int, default=0, help="the sample store's random seed")
    p.add_argument("--seed-extractor", type=Path, default=None,
                   help="the seed extractor (../shared/seed/extract_specialists.py) to time on the same store")
    p.add_argument("--workers", type=int, default=None, help="extract.workers (default: one per core)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each extractor per size; the best time is kept")
    a = p.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    header = "| sessions | ours s | ours sessions/s | ours peak RSS MB |" + (
        " seed s | seed sessions/s | seed peak RSS MB | seed s / ours s |" if a.seed_extractor else "")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for n in [int(x) for x in a.sizes.split(",")]:
        db = store(n, a.seed)
        with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as c:
            sessions = c.execute("SELECT count(*) FROM session").fetchone()[0]
            parts = c.execute("SELECT count(*) FROM part").fetchone()[0]
        print(f"store: {sessions} sessions, {parts} parts ({parts / sessions:.0f} a session), "
              f"{db.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "ours"
            ours = [sys.executable, "-m", "extract", "--db", str(db), "--out", str(out), "--quiet",
                    "extract.agent_files=false", *([f"extract.workers={a.workers}"] if a.workers else [])]
            wall, rss = best(ours, a.repeat, out)
            row = f"| {sessions} | {wall:.2f} | {sessions / wall:.0f} | {rss:.0f} |"
            if a.seed_extractor:
                seed_out = Path(tmp) / "seed"
                seed = [sys.executable, str(a.seed_extractor.resolve()), "--db", str(db), "--outdir", str(seed_out),
                        "--agents-dir", str(Path(tmp) / "no-agents")]
                swall, srss = best(seed, a.repeat, seed_out)
                row += f" {swall:.2f} | {sessions / swall:.0f} | {srss:.0f} | {swall / wall:.2f} |"
        lines.append(row)
        print(row, flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
