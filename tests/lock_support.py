"""Another process holding an output's lock, for the tests that a second run is refused (core.lock)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOLD = """
import sys, time
from core.lock import output_lock
with output_lock(sys.argv[1], what=sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


@contextmanager
def held(folder: Path, what: str) -> Iterator[int]:
    """A subprocess holds `folder`'s lock for the block; yields its pid."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), what], cwd=REPO, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert p.stdout.readline().strip() == "held"
        yield p.pid
    finally:
        p.kill()
        p.wait()
