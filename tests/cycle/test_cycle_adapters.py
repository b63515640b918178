"""Cycle spec, the promoted adapter: promotion keeps the one before, rollback swaps it back, and a kill at any step
of either leaves a complete adapter that the next run finishes or undoes, with one history line per change."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.version import weights_digest
from cycle import adapters


def _adapter(path: Path, weights: str) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}")
    (path / "adapter_model.safetensors").write_text(weights)
    return path


def _weights(path: Path) -> str | None:
    f = path / "adapter_model.safetensors"
    return f.read_text() if f.is_file() else None


@pytest.fixture
def out(tmp_path):
    out = tmp_path / "outputs" / "serpent"
    _adapter(out / "adapter", "v1")
    (out / "training_summary.json").write_text('{"run": 1}')
    return out


def test_promotion_keeps_the_previous_adapter_and_rollback_restores_it(out, tmp_path):
    log = []
    cand = tmp_path / "cand"
    _adapter(cand / "adapter", "v2")
    (cand / "training_summary.json").write_text('{"run": 2}')
    adapters.install(cand / "adapter", out, {"event": "promote"}, log.append, summary=cand / "training_summary.json")
    assert (_weights(out / "adapter"), _weights(out / "adapter.previous")) == ("v2", "v1")
    assert (out / "training_summary.json").read_text() == '{"run": 2}'
    adapters.rollback(out, {"event": "rollback"}, log.append)
    assert (_weights(out / "adapter"), _weights(out / "adapter.previous")) == ("v1", "v2")
    assert (out / "training_summary.json").read_text() == '{"run": 1}'  # the manual run's summary travelled along
    assert [e["event"] for e in log] == ["promote", "rollback"]
    assert [e["adapter"] for e in log] == [weights_digest(out / "adapter.previous"), weights_digest(out / "adapter")]
    assert sorted(p.name for p in out.iterdir()) == ["adapter", "adapter.previous", "training_summary.json"]


class Killed(BaseException):
    """Stands for a SIGKILL at one step: nothing after it runs, no cleanup either."""


def _kill_at(monkeypatch, n: int) -> list[int]:
    """Make the n-th filesystem step of an install (copy, record, rename, summary, history, drop) die."""
    count = [0]

    def step():
        count[0] += 1
        if count[0] == n:
            raise Killed

    for target, name in ((shutil, "copytree"), (shutil, "copy2"), (shutil, "rmtree"), (Path, "rename"),
                         (Path, "replace"), (adapters, "write_json")):
        real = getattr(target, name)

        def wrapped(*a, _real=real, **kw):
            step()
            return _real(*a, **kw)
        monkeypatch.setattr(target, name, wrapped)
    return count


@pytest.mark.parametrize("what", ["promote", "rollback"])
def test_a_kill_at_any_step_leaves_a_complete_adapter_that_the_next_run_settles(out, tmp_path, monkeypatch, what):
    cand = tmp_path / "cand"
    _adapter(cand / "adapter", "v2")
    adapters.install(cand / "adapter", out, {"event": "setup"}, lambda e: None)  # v2 promoted, v1 previous
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    new = _adapter(tmp_path / "new" / "adapter", "v3")
    before, after = ("v2", "v1"), {"promote": ("v3", "v2"), "rollback": ("v1", "v2")}[what]
    n, seen_kill = 1, True
    while seen_kill:
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
        log: list[dict] = []
        with monkeypatch.context() as m:
            _kill_at(m, n)
            try:
                if what == "promote":
                    adapters.install(new, out, {"event": what}, log.append)
                else:
                    adapters.rollback(out, {"event": what}, log.append)
                seen_kill = False
            except Killed:
                pass
        # the adapter a server loads is complete at every kill point, old or new
        assert _weights(out / "adapter") in {before[0], after[0]} or not (out / "adapter").exists() and \
            (out / ".adapter-incoming" / adapters.RECORD).is_file(), n
        adapters.recover(out, log.append)
        state = (_weights(out / "adapter"), _weights(out / "adapter.previous"))
        assert state in (before, after), (n, state)
        assert [e["event"] for e in log] == ([what] if state == after else []), n
        assert sorted(p.name for p in out.iterdir() if p.name != "training_summary.json") == \
            ["adapter", "adapter.previous"], n
        n += 1
    assert n > 6  # every step was a kill point at least once
