"""Per-output locks (core.lock): a second run on the same output is refused with one line naming the holder; a lock
dies with its process, even by SIGKILL; `wait` waits instead of refusing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.lock import Busy, holder, lock_path, output_lock

REPO = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from core.lock import output_lock
with output_lock(sys.argv[1], what="train serpent"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(folder: Path, seconds: float = 60) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], cwd=REPO, stdout=subprocess.PIPE,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_run_is_refused_with_one_line_naming_the_holder(tmp_path):
    out = tmp_path / "outputs" / "serpent"
    p = hold(out)
    try:
        with pytest.raises(Busy) as e:
            with output_lock(out, what="train serpent"):
                pass
        msg = str(e.value)
        assert "\n" not in msg
        assert f"pid {p.pid}" in msg and "train serpent" in msg and str(out) in msg
    finally:
        p.kill()
        p.wait()


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    out = tmp_path / "out"
    p = hold(out)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert holder(out)["pid"] == p.pid  # its stale sidecar is still there ...
    with output_lock(out, what="next run"):  # ... and does not stop the next run
        assert holder(out)["pid"] == os.getpid()
    assert holder(out) is None


def test_wait_waits_for_the_holder_to_finish(tmp_path):
    out = tmp_path / "out"
    p = hold(out, seconds=1.5)
    t0 = time.monotonic()
    with output_lock(out, what="cycle", wait=None):
        assert time.monotonic() - t0 > 0.5
    p.wait()


def test_the_lock_is_beside_the_output_and_re_entrant_in_one_process(tmp_path):
    out = tmp_path / "data"
    with output_lock(out, what="extract"):
        with output_lock(out, what="extract: the swap"):
            pass
        assert lock_path(out).exists()
        assert lock_path(out).parent == tmp_path
    assert not out.exists()  # taking the lock creates nothing inside the output
