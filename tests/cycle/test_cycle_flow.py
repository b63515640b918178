"""Cycle spec, end to end on a tiny store (oxidizer and prism, the tiny base, 3 steps a candidate): with nothing new a
cycle trains nothing; new sessions train candidates that the gate decides on, and a candidate wrecked by its learning
rate is rejected with its reason; promote and rollback round-trip; a cycle killed mid-way leaves the promoted adapter
intact and the next one completes. Every run is the real command line, `python -m cycle`, in its own process."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import forkrun

from core.version import weights_digest as digest
from sample.store import add_sample_sessions, build_sample_store
from core.config import read_overlay

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NAMES = ("oxidizer", "prism")


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("cycle")
    configs = root / "configs"
    configs.mkdir()
    for f in ("defaults.yaml", *(f"{n}.yaml" for n in NAMES)):
        shutil.copy(REPO / "configs" / f, configs / f)
    cfg = read_overlay(REPO / "configs" / "demo.yaml")  # with the tiny.yaml it extends
    cfg["paths"] = {k: str(root / k) for k in ("data", "outputs", "reports", "exports", "cycles")}
    cfg["extract"].update(tokenizer=str(tiny_base), test_fraction=0.1, val_fraction=0.4)
    cfg["model"]["model_name_or_path"] = str(tiny_base)
    cfg["sft"].update(max_steps=3, logging_steps=3, save_steps=1, disable_tqdm=True)
    cfg["eval"].update(max_turns=2, max_new_tokens=8)
    cfg["cycle"] = {"min_new_sessions": 2, "min_val_sessions": 2, "reexport": False, "auto_promote": False}
    (root / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    store = build_sample_store(root / "store" / "opencode.db", seed=0, sessions_per_language=4)
    env = {**os.environ, "WORKBENCH_CONFIGS": str(configs), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    w = {"root": root, "store": store, "env": env, "runs": {}}
    # extracted and oxidizer trained by hand before any cycle, as after `make demo`
    w["runs"]["extract"] = _run(w, "-m", "extract", "--db", str(store), "--quiet")
    w["runs"]["train"] = _run(w, "-m", "train", "oxidizer")
    w["runs"]["first"] = _cycle(w)
    w["state_after_first"] = json.loads((root / "cycles" / "state.json").read_text())
    add_sample_sessions(store, seed=2, sessions_per_language=2)
    w["adapter_before"] = digest(root / "outputs" / "oxidizer" / "adapter")
    w["runs"]["wrecked"] = _cycle(w, "learning_rate=5.0")
    return w


def _run(w, *args):
    assert args[0] == "-m"  # python -m <stage>, forked with the libraries imported (tests/forkrun.py)
    return forkrun.run([*args[1:], "--overlay", str(w["root"] / "overlay.yaml")], env=w["env"], cwd=REPO)


def _cycle(w, *args):
    return _run(w, "-m", "cycle", "--db", str(w["store"]), *args)


def _cycles(w) -> list[Path]:
    return sorted(p for p in (w["root"] / "cycles").iterdir() if p.is_dir() and not p.name.startswith("."))


def _history(w) -> list[dict]:
    return [json.loads(line) for line in (w["root"] / "cycles" / "history.jsonl").read_text().splitlines()]


def test_with_nothing_new_a_cycle_trains_nothing_and_says_so_in_one_line(ws):
    for step in ("extract", "train"):
        assert ws["runs"][step].returncode == 0, ws["runs"][step].stderr[-2000:]
    run = ws["runs"]["first"]
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines() == [
        "cycle: no new data: nothing trained (at most 1 new or changed train sessions for a specialist; "
        "cycle.min_new_sessions is 2)"]
    assert set(ws["state_after_first"]["baseline"]) == {"oxidizer"}  # the hand-trained adapter is taken to know today's sessions


def test_new_sessions_train_candidates_and_a_wrecked_one_is_rejected_with_its_reason(ws):
    run = ws["runs"]["wrecked"]
    assert run.returncode == 0, run.stderr[-3000:]
    [cycle] = _cycles(ws)
    report = json.loads((cycle / "report.json").read_text())
    ox = report["specialists"]["oxidizer"]
    assert ox["data"]["new"] == 2 and ox["gate"]["validation"]["sessions"] == 2 and ox["candidate"]["start_from"].endswith("oxidizer/adapter")
    assert ox["decision"] == "rejected"
    assert "validation loss change against the promoted adapter is [+" in ox["reason"]
    assert ox["gate"]["validation"]["vs_promoted"][0] > 0 and ox["gate"]["validation"]["aa"] == [0.0, 0.0]
    assert report["specialists"]["prism"]["candidate"]["start_from"] == "base"  # nothing promoted for prism yet
    assert f"cycle oxidizer: rejected: {ox['reason']}" in run.stdout
    assert digest(ws["root"] / "outputs" / "oxidizer" / "adapter") == ws["adapter_before"]  # nothing promoted
    decisions = [h for h in _history(ws) if h["event"] == "decision"]
    assert {(h["specialist"], h["decision"]) for h in decisions} == \
        {(n, e["decision"]) for n, e in report["specialists"].items()}
    md = (cycle / "report.md").read_text()
    assert "| oxidizer | validation | 2 |" in md and ox["reason"] in md


def test_promote_refuses_a_rejected_candidate_unless_forced_and_rollback_round_trips(ws):
    [cycle] = _cycles(ws)
    out = ws["root"] / "outputs" / "oxidizer"
    refused = _run(ws, "-m", "cycle", "promote", "oxidizer", cycle.name)
    assert refused.returncode == 2 and refused.stderr.strip().startswith("cycle: error: ")
    assert "FORCE=1" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    forced = _run(ws, "-m", "cycle", "promote", "oxidizer", cycle.name, "--force", "cycle.reexport=true")
    assert forced.returncode == 0, forced.stderr[-2000:]
    candidate = digest(cycle / "candidates" / "oxidizer" / "adapter")
    assert (digest(out / "adapter"), digest(out / "adapter.previous")) == (candidate, ws["adapter_before"])
    manifest = json.loads((ws["root"] / "exports" / "oxidizer" / "manifest.json").read_text())
    assert manifest["files"]["adapter/adapter_model.safetensors"]  # re-exported
    back = _run(ws, "-m", "cycle", "rollback", "oxidizer")
    assert back.returncode == 0, back.stderr[-2000:]
    assert (digest(out / "adapter"), digest(out / "adapter.previous")) == (ws["adapter_before"], candidate)
    events = [(h["event"], h.get("adapter")) for h in _history(ws) if h["event"] in ("promote", "rollback")]
    assert events == [("promote", candidate[:16]), ("rollback", ws["adapter_before"][:16])]


def test_a_cycle_killed_mid_way_leaves_the_promoted_adapter_and_the_next_one_completes(ws):
    root = ws["root"]
    add_sample_sessions(ws["store"], seed=3, sessions_per_language=2)
    before = digest(root / "outputs" / "oxidizer" / "adapter")
    p = subprocess.Popen([sys.executable, "-m", "cycle", "--db", str(ws["store"]), "--overlay",
                          str(root / "overlay.yaml")], cwd=REPO, env=ws["env"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and not list((root / "cycles").glob(".partial-*/candidates/*/checkpoints")):
            time.sleep(0.5)
        assert list((root / "cycles").glob(".partial-*")), "the cycle never started training"
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the cycle and the training it started, mid-step
        p.wait()
    assert digest(root / "outputs" / "oxidizer" / "adapter") == before
    n = len(_cycles(ws))
    rerun = _cycle(ws)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "left by an interrupted cycle" in rerun.stdout
    assert not list((root / "cycles").glob(".partial-*")) and len(_cycles(ws)) == n + 1
    report = json.loads((_cycles(ws)[-1] / "report.json").read_text())
    assert report["specialists"]["oxidizer"]["decision"] in ("passed", "rejected", "undecided")
    assert f"cycle {report['cycle']}: report -> " in rerun.stdout
