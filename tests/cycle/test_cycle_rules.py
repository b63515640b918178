"""Cycle spec, the rules: what counts as new data, how the gate decides from its intervals, which settings are valid,
and the lock that keeps two cycles (or a cycle and a manual train) apart."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import ConfigError
from cycle.gate import judge
from cycle.harvest import growth, per_source
from core.lock import Busy, output_lock
from cycle.settings import settings
from cycle.state import State

REPO = Path(__file__).resolve().parents[2]


def _ledger(**sessions):
    """sessions: id=(specialist, side, hash)"""
    return {"sources": {"opencode": {sid: {"specialist": sp, "side": side, "hash": h, "origin": "real"}
                                     for sid, (sp, side, h) in sessions.items()}}}


def test_new_and_changed_train_sessions_count_against_the_last_decision(tmp_path):
    state = State(tmp_path)
    state.baseline = {"serpent": {"opencode:a": "h1", "opencode:b": "h2"}}
    g = growth(_ledger(a=("serpent", "train", "h1"), b=("serpent", "train", "h2-resumed"), c=("serpent", "train", "h3"),
                       d=("serpent", "validation", "h4"), e=("forge", "test", "h5")), state, ["serpent", "forge"], set())
    assert (g["serpent"].new, g["serpent"].changed, g["serpent"].added) == (["opencode:c"], ["opencode:b"], 2)
    assert (g["serpent"].validation, g["forge"].test, g["forge"].train) == (1, 1, {})


def test_a_first_cycle_takes_a_promoted_adapter_to_know_the_current_train_side(tmp_path):
    state = State(tmp_path)
    ledger = _ledger(a=("serpent", "train", "h1"), b=("forge", "train", "h2"))
    g = growth(ledger, state, ["serpent", "forge"], promoted={"serpent"})
    assert (g["serpent"].first, g["serpent"].added) == (True, 0)  # trained by hand before the first cycle
    assert (g["forge"].first, g["forge"].added) == (False, 1)  # nothing promoted: every session is new


def test_per_source_counts_say_what_is_new_or_changed_since_the_last_cycle(tmp_path):
    state = State(tmp_path)
    state.ledger = _ledger(a=("serpent", "train", "h1"), b=("serpent", "train", "h2"))
    assert per_source(_ledger(a=("serpent", "train", "h1"), b=("serpent", "train", "x"), c=("serpent", "test", "h")),
                      state) == {"opencode": {"sessions": 3, "new": 1, "changed": 1}}


AA_OK, AA_BAD = [-0.0, 0.0], [0.0012, 0.0031]


@pytest.mark.parametrize("v, regressions, has_ref, decision, words", [
    ({"aa": AA_OK, "vs_base": [-0.3, -0.1], "vs_promoted": [-0.2, -0.05]}, {}, True, "passed", "below zero"),
    ({"aa": AA_OK, "vs_base": [-0.3, -0.1], "vs_promoted": None}, {}, False, "passed", "nothing promoted yet"),
    ({"aa": AA_OK, "vs_base": [-0.3, -0.1], "vs_promoted": [-0.2, 0.01]}, {}, True, "rejected",
     "against the promoted adapter is [-0.2000, +0.0100]: not below zero"),
    ({"aa": AA_OK, "vs_base": [0.1, 0.4], "vs_promoted": [-0.2, -0.1]}, {}, True, "rejected", "against the base"),
    ({"aa": AA_OK, "vs_base": [-0.3, -0.1], "vs_promoted": [-0.2, -0.1]},
     {"forge": {"interval": [0.02, 0.09], "worse": True}}, True, "rejected", "forge's validation sessions"),
    ({"aa": AA_BAD, "vs_base": [-0.3, -0.1], "vs_promoted": [-0.2, -0.1]}, {}, True, "undecided", "A/A check failed"),
    ({"aa": AA_OK, "vs_base": [], "vs_promoted": [], "loss": {"candidate": None, "promoted": 4.17, "base": 4.66}}, {},
     True, "rejected", "the candidate's validation loss is not a number: its training diverged"),
])
def test_the_gate_promotes_only_below_zero_and_refuses_when_a_a_finds_a_difference(v, regressions, has_ref,
                                                                                     decision, words):
    out = judge(v, regressions, has_ref=has_ref)
    assert out["decision"] == decision and words in out["reason"], out


@pytest.mark.parametrize("cycle, words", [
    ({"min_new_sessions": 0}, "cycle.min_new_sessions"), ({"start_from": "latest"}, "cycle.start_from"),
    ({"auto_promote": "yes"}, "cycle.auto_promote"), ({"min_new_session": 3}, "cycle.min_new_session: not a"),
])
def test_a_bad_cycle_setting_is_one_config_error(cycle, words):
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        settings({"cycle": cycle})


HOLD = """
import sys, time
sys.path.insert(0, {repo!r})
from core.lock import output_lock
with output_lock(__import__('pathlib').Path({path!r}), 'cycle'):
    print('held', flush=True)
    time.sleep(60)
"""


@pytest.fixture
def held(tmp_path):
    """A separate process holding tmp/outputs/serpent as a cycle would; killed (SIGKILL) at the end."""
    path = tmp_path / "outputs" / "serpent"
    p = subprocess.Popen([sys.executable, "-c", HOLD.format(repo=str(REPO), path=str(path))], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "held"
    yield path, p
    p.kill()
    p.wait()


def test_a_second_holder_is_refused_with_one_line_naming_the_first(held):
    path, p = held
    with pytest.raises(Busy) as e:
        with output_lock(path, "train serpent"):
            pass
    assert f"pid {p.pid}" in str(e.value) and "cycle" in str(e.value) and "\n" not in str(e.value)


def test_a_killed_holder_never_blocks_the_next_run(held):
    path, p = held
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with output_lock(path, "train serpent"):
        pass


def test_a_manual_train_refuses_while_a_cycle_holds_the_specialist(held, workspace, capsys):
    import yaml

    from train.__main__ import main

    path, _ = held
    overlay = Path(workspace["root"]) / "lock-overlay.yaml"
    cfg = yaml.safe_load(Path(workspace["overlay"]).read_text())
    cfg["paths"]["outputs"] = str(path.parent)
    overlay.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    t0 = time.time()
    assert main(["serpent", "--overlay", str(overlay)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err[-1].startswith("train: error: ") and "is being written by pid" in err[-1] and "cycle" in err[-1], err
    assert not (path / "adapter").exists() and time.time() - t0 < 60


def _specialist_with_server_at(port: int):
    from core.config import Specialist

    return Specialist(name="serpent", language="python", system_prompt="",
                      config={"serve": {"host": "127.0.0.1", "port": port}, "paths": {"outputs": "o", "exports": "e"}})


def test_with_no_server_running_a_promotion_tells_nobody():
    import socket

    from cycle.notify import tell_server

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert tell_server(_specialist_with_server_at(port), settings({})) == []


def test_a_listener_at_the_serve_address_is_asked_to_reload_and_a_refusal_is_one_warning():
    import socket

    from cycle.notify import tell_server

    import threading

    with socket.socket() as s:  # listening, but not a workbench server: it hangs up on every request
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]

        def hang_up():
            for _ in range(3):  # the probe, the reload request, a retry at most
                try:
                    conn, _ = s.accept()
                except OSError:
                    return
                conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        warnings = tell_server(_specialist_with_server_at(port), settings({}))
    assert len(warnings) == 1 and f"127.0.0.1:{port} did not reload" in warnings[0] and "\n" not in warnings[0]
