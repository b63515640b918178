"""Extraction throughput and peak memory on a synthetic opencode store of N sessions.

    .venv/bin/python bench/extract.py                 # N = 10,000
    .venv/bin/python bench/extract.py --sizes 2000,10000   # flat memory: peak RSS should not grow with N

The store is built once per (N, seed) with the sample-store generator (realistic sessions, ~30 parts each)
and cached in the temp folder. Extraction runs as `python -m extract` in a child process, so the figures
are what a user's `make extract` costs: wall time including imports, and the child's peak RSS.
"""
from __future__ import annotations

import argparse
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


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


def run(n: int, seed: int) -> tuple[int, float, float]:
    db = store(n, seed)
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as c:
        sessions = c.execute("SELECT count(*) FROM session").fetchone()[0]
        parts = c.execute("SELECT count(*) FROM part").fetchone()[0]
    print(f"store: {sessions} sessions, {parts} parts ({parts / sessions:.0f} a session), "
          f"{db.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "extract", "--db", str(db), "--out", out, "--quiet"], cwd=REPO,
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.time() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("note: peak RSS of this child is not above an earlier child's; run sizes separately", file=sys.stderr)
    return sessions, wall, peak / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000", help="comma-separated session counts, smallest first")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    lines = []
    for n in [int(x) for x in a.sizes.split(",")]:
        sessions, wall, rss = run(n, a.seed)
        lines.append(f"extract: {sessions} sessions in {wall:.1f} s, {sessions / wall:.0f} sessions/s, "
                     f"peak RSS {rss:.0f} MB")
        print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
