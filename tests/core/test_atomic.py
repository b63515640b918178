"""All-or-nothing outputs (core.atomic): a kill at any write point leaves the old output or the new one, never a mix;
leftovers are cleaned by the next run; a full disk and Ctrl-C leave the old output."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core import atomic
from core.atomic import DiskFull, Transaction, outputs, settle, write_atomic

REPO = Path(__file__).resolve().parents[2]

# A stage in miniature: two folders, a file, and the removal of a stale folder, in one transaction.
WRITER = """
import json, sys
from pathlib import Path
from core.atomic import Transaction
root, gen = Path(sys.argv[1]), sys.argv[2]
with Transaction(root, what="test writer") as tx:
    for name in ("alpha", "beta"):
        d = tx.path(name)
        d.mkdir()
        (d / "rows.txt").write_text(f"{gen} {name}\\n" * 100)
    tx.write_text("manifest.json", json.dumps({"generation": gen}))
    if gen == "new":
        tx.remove("stale")
"""


def write(root: Path, gen: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WRITER, str(root), gen], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env})


def digest(root: Path) -> dict[str, bytes]:
    """Every output file and folder under root (bookkeeping left out) -> its bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not any(part.startswith(".") for part in rel.parts):
            out[str(rel)] = p.read_bytes() if p.is_file() else b"<folder>"
    return out


@pytest.fixture(scope="module")
def generations(tmp_path_factory):
    base = tmp_path_factory.mktemp("generations")
    old, new = base / "old", base / "new"
    assert write(old, "old").returncode == 0
    (old / "stale").mkdir()
    (old / "stale" / "f").write_text("stale")
    assert write(new, "new").returncode == 0
    trace = base / "trace"
    probe = base / "probe"
    _copy(old, probe)
    assert write(probe, "new", WORKBENCH_KILL_TRACE=str(trace)).returncode == 0
    return {"old": old, "new": new, "points": trace.read_text().splitlines()}


def _copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


def test_every_write_point_is_counted(generations):
    labels = [line.split(" ", 1)[1] for line in generations["points"]]
    assert labels[0].endswith("staging created")
    assert any(label.endswith("committed") for label in labels)
    assert labels[-1].endswith("staging removed")
    assert len(labels) >= 12


@pytest.mark.slow
def test_a_kill_at_any_write_point_leaves_the_old_output_or_after_settling_the_new_one(generations, tmp_path):
    old, new = digest(generations["old"]), digest(generations["new"])
    seen = {"old": 0, "new": 0, "settled to new": 0}
    for k in range(1, len(generations["points"]) + 1):
        root = tmp_path / f"kill-{k}"
        _copy(generations["old"], root)
        r = write(root, "new", WORKBENCH_KILL_AT=str(k))
        assert r.returncode == -signal.SIGKILL, (k, r.stderr)
        now = digest(root)
        if now == old:
            seen["old"] += 1
        elif now == new:
            seen["new"] += 1
        else:  # killed between the commit and the last rename: the next reader or run finishes the swap
            assert any(p.name.startswith(".commit-") for p in root.iterdir()), k
            settle(root)
            assert digest(root) == new, k
            seen["settled to new"] += 1
        settle(root)
        assert not [p.name for p in root.iterdir() if p.name.startswith(".")], k  # leftovers cleaned
        assert write(root, "new").returncode == 0
        assert digest(root) == new, k
    assert seen["old"] and seen["new"] and seen["settled to new"]


def test_a_failure_inside_the_block_keeps_the_old_output_and_no_staging(tmp_path):
    write_atomic(tmp_path / "keep.txt", "old")
    with pytest.raises(RuntimeError):
        with Transaction(tmp_path, what="test") as tx:
            tx.write_text("keep.txt", "new")
            raise RuntimeError("boom")
    assert (tmp_path / "keep.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_full_disk_is_one_error_naming_the_output_and_the_old_output_stays(tmp_path, monkeypatch):
    root = tmp_path / "out"
    with Transaction(root, what="test") as tx:
        tx.write_text("a.txt", "old")
    real = Path.write_text

    def full(self, *a, **k):
        if ".staging-" in str(self):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(DiskFull) as e:
        with Transaction(root, what="test") as tx:
            tx.write_text("a.txt", "new")
    assert str(root) in str(e.value) and "no space left" in str(e.value)
    assert "\n" not in str(e.value)
    monkeypatch.setattr(Path, "write_text", real)
    assert (root / "a.txt").read_text() == "old"
    assert [p.name for p in root.iterdir()] == ["a.txt"]


def test_a_full_disk_while_replacing_one_file_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "serve.sh"
    write_atomic(target, "old")
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    with pytest.raises(DiskFull, match="serve.sh"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["serve.sh"]


def test_ctrl_c_during_the_swap_waits_until_the_new_output_is_whole(tmp_path, monkeypatch):
    root = tmp_path / "out"
    with Transaction(root, what="test") as tx:
        for name in ("a", "b"):
            tx.write_text(name, "old")
    real_point = atomic.point

    def interrupt_when_moving(label):
        if label.endswith("a moved in"):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the renames
        real_point(label)

    monkeypatch.setattr(atomic, "point", interrupt_when_moving)
    with pytest.raises(KeyboardInterrupt):
        with Transaction(root, what="test") as tx:
            for name in ("a", "b"):
                tx.write_text(name, "new")
    assert {p.name: p.read_text() for p in outputs(root)} == {"a": "new", "b": "new"}
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def test_sigterm_during_the_swap_waits_until_the_new_output_is_whole(tmp_path, monkeypatch):
    from core.entry import stop_on_sigterm
    from core.errors import Terminated

    root = tmp_path / "out"
    with Transaction(root, what="test") as tx:
        for name in ("a", "b"):
            tx.write_text(name, "old")
    real_point = atomic.point

    def terminate_when_moving(label):
        if label.endswith("a moved in"):
            os.kill(os.getpid(), signal.SIGTERM)  # `systemctl stop` in the middle of the renames
        real_point(label)

    monkeypatch.setattr(atomic, "point", terminate_when_moving)
    previous = signal.getsignal(signal.SIGTERM)
    stop_on_sigterm()
    try:
        with pytest.raises(Terminated):
            with Transaction(root, what="test") as tx:
                for name in ("a", "b"):
                    tx.write_text(name, "new")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert {p.name: p.read_text() for p in outputs(root)} == {"a": "new", "b": "new"}
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


STAGE = """
import sys, time
from pathlib import Path
from core import entry
from core.atomic import Transaction

def main():
    with Transaction(Path(sys.argv[1]), what="test stage") as tx:
        tx.write_text("out.txt", "new")
        print("staged", flush=True)
        time.sleep(60)
sys.exit(entry.run("stage", main, interrupted="the previous output is unchanged"))
"""


@pytest.mark.parametrize("sig, line, code", [(signal.SIGINT, "stage: interrupted; ", 130),
                                             (signal.SIGTERM, "stage: terminated; ", 143)])
def test_a_stage_stopped_by_ctrl_c_or_sigterm_says_so_in_one_line_and_keeps_the_old_output(tmp_path, sig, line, code):
    root = tmp_path / "out"
    root.mkdir()
    (root / "out.txt").write_text("old")
    p = subprocess.Popen([sys.executable, "-c", STAGE, str(root)], cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.stdout.readline().strip() == "staged"
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert err.strip().splitlines() == [line + "the previous output is unchanged"]
    assert (root / "out.txt").read_text() == "old" and [x.name for x in root.iterdir()] == ["out.txt"]


def test_replace_all_leaves_exactly_the_staged_entries(tmp_path):
    root = tmp_path / "export"
    with Transaction(root, what="test") as tx:
        tx.write_text("old-only", "x")
        tx.write_text("both", "old")
    with Transaction(root, what="test", replace_all=True) as tx:
        tx.write_text("both", "new")
    assert {p.name: p.read_text() for p in outputs(root)} == {"both": "new"}


def test_settle_leaves_a_root_alone_while_another_run_holds_it(tmp_path):
    root = tmp_path / "out"
    (root / ".staging-someone").mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom core.lock import output_lock\n"
                               "with output_lock(sys.argv[1], what='test'):\n    print('held', flush=True)\n"
                               "    time.sleep(30)\n", str(root)],
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert settle(root) == []
        assert (root / ".staging-someone").is_dir()  # a live run's staging folder is not touched
    finally:
        holder.kill()
        holder.wait()
    assert settle(root) == ["removed the leftover .staging-someone"]
