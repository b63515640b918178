"""End to end, every component real: this project's server serving an adapter whose replies are known, driven by
mini-swe-agent.

The specialist is a LoRA on the tiny base over-fit to answer every agent prompt with known replies
(agent_support.REPLIES), exported as `make export` exports it (adapter.gguf) and served by `python -m serve` (llama.cpp)
as `make serve` serves it; the base is the tiny base itself, which never writes an action. So the specialist solves
`fixable` and not `other`, the base solves neither, and every number in the report is known in advance.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agent_support import FIX_COMMAND, contexts, export_as_specialist, overfit, write_tasks

pytestmark = pytest.mark.slow

AGENT_SETTINGS = {"max_tokens": 256, "format_errors": 1, "step_limit": 3, "command_timeout": 20, "task_timeout": 120,
                  "bootstrap_samples": 2000}


@pytest.fixture(scope="session")
def agent_tasks(tmp_path_factory) -> Path:
    return write_tasks(tmp_path_factory.mktemp("agent-tasks"))


@pytest.fixture(scope="session")
def fix_overlay(tmp_path_factory, tiny_base, agent_tasks) -> Path:
    """An overlay whose `serpent` is the tiny base's LoRA over-fit (a minute or two) so that greedy decoding of each
    agent prompt is its known reply, exported (adapter.gguf) where this project's server finds it."""
    from agent.tasks import load_suite

    tmp = tmp_path_factory.mktemp("fix-model")
    examples = [ex for t in load_suite(agent_tasks) for ex in contexts(t, tmp / "ctx" / t.id)]
    overfit(tiny_base, tmp / "adapter", examples)
    return export_as_specialist(tmp / "adapter", tiny_base, tmp / "workspace", "serpent", {
        "agent": {**AGENT_SETTINGS, "tasks": str(agent_tasks)}, "serve": {"engine": "llama.cpp"}})


@pytest.fixture(scope="session")
def server(fix_overlay):
    """`make serve` for the over-fit workspace: `base` and `serpent`, on a free port."""
    from serve.api import serving

    with serving(["base", "serpent"], overlay=fix_overlay) as s:
        assert s.models == ["base", "serpent", "auto"]
        yield s


def _limits():
    from agent.runner import Limits

    keys = ("max_tokens", "format_errors", "step_limit", "command_timeout", "task_timeout")
    return Limits(**{k: AGENT_SETTINGS[k] for k in keys})


def test_the_served_fix_model_solves_the_task_its_fix_fits_and_not_the_other(server, agent_tasks, tmp_path):
    from agent.runner import Endpoint, attempt
    from agent.tasks import load_suite

    fixable, other = load_suite(agent_tasks)
    ep = Endpoint(server.base_url, "serpent")
    r = attempt(fixable, ep, _limits(), out=tmp_path, iid="fixable", seed=0, origin={"origin": "test"})
    assert (r["resolved"], r["exit_status"], r["steps"]) == (True, "Submitted", 2)
    assert r["prompt_tokens"] > 1000 and r["completion_tokens"] > 10
    traj = json.loads((tmp_path / "fixable" / "fixable.traj.json").read_text())
    assert traj["trajectory_format"] == "mini-swe-agent-1.1" and traj["instance_id"] == "fixable"
    assert [m["role"] for m in traj["messages"]] == ["system", "user", "assistant", "user", "assistant", "exit"]
    assert FIX_COMMAND in traj["messages"][2]["content"]
    assert "+    return a + b" in traj["info"]["patch"] and traj["info"]["workbench"]["resolved"] is True
    report = json.loads((tmp_path / "fixable" / "report.json").read_text())
    assert report["fixable"]["resolved"] is True
    assert not (tmp_path / ".scratch" / "fixable").exists()  # the working copy and HOME are gone

    r = attempt(other, ep, _limits(), out=tmp_path, iid="other", seed=0, origin={"origin": "test"})
    assert (r["resolved"], r["exit_status"]) == (False, "Submitted")  # the same command changes nothing here
    assert json.loads((tmp_path / "other" / "other.traj.json").read_text())["info"]["patch"] == ""


def test_agent_eval_serves_base_and_adapter_itself_and_the_report_has_the_known_answers(fix_overlay, capsys):
    from agent.__main__ import main

    assert main(["eval", "serpent", "--overlay", str(fix_overlay), "--quiet"]) == 0
    line = capsys.readouterr().out
    assert "agent eval serpent: base 0/2 -> serpent 1/2 resolved (A/A 0/2); McNemar p 1;" in line

    reports = fix_overlay.parent / "reports" / "serpent"
    r = json.loads((reports / "agent.json").read_text())
    assert [r["sides"][s]["model"] for s in ("base", "specialist", "base_aa")] == ["base", "serpent", "base"]
    assert "python -m serve" in r["serving"] and str(fix_overlay.parent / "exports" / "serpent" / "adapter.gguf") \
        in r["serving"]
    assert [r["sides"][s]["resolved"] for s in ("base", "specialist", "base_aa")] == [0, 1, 0]
    assert r["paired"]["table"] == {"both": 0, "only_a": 0, "only_b": 1, "neither": 1}
    assert r["paired"]["mcnemar_p"] == 1.0 and r["paired"]["difference"] == 0.5
    assert r["paired"]["interval"] == [0.0, 1.0]  # two tasks: the resampled differences are 0, 1/2 and 1
    assert r["paired"]["verdict"] == "no clear difference"  # the interval touches zero: no verdict
    assert r["aa"]["table"]["only_a"] + r["aa"]["table"]["only_b"] == 0 and r["aa"]["interval"] == [0.0, 0.0]
    assert r["sides"]["specialist"]["exit_statuses"] == {"Submitted": 2}
    assert r["sides"]["base"]["exit_statuses"] == {"RepeatedFormatError": 2}  # the base never writes an action
    assert r["sides"]["specialist"]["steps"] == 4 and r["sides"]["specialist"]["completion_tokens"] > 0
    assert [(t["task"], t["base"], t["specialist"], t["base_aa"]) for t in r["per_task"]] == \
        [("fixable", False, True, False), ("other", False, False, False)]
    assert r["skipped"]["count"] == 0 and r["limits"]["step_limit"] == 3
    for t in r["per_task"]:
        for side, rel in t["trajectories"].items():
            traj = json.loads((reports / rel).read_text())
            assert traj["info"]["workbench"]["side"] == side and traj["info"]["origin"] == "agent-eval"
    md = (reports / "agent.md").read_text()
    assert "| base resolved | 0 | 0 |" in md and "| base not resolved | 1 | 1 |" in md
    assert "p = 1." in md and "**no clear difference**" in md and "(agent/specialist/fixable/fixable.traj.json)" in md
    assert not [p for p in reports.iterdir() if p.name.startswith(".agent")]  # no temp folder left


def _servers(overlay: Path) -> set[int]:
    """The pids of `python -m serve` processes serving this overlay."""
    pids = set()
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmd and str(overlay).encode() in cmd and d.name.isdigit():
            pids.add(int(d.name))
    return pids


def _generate(overlay, out, runs):
    """`make generate NAME=serpent` on the over-fit workspace: it serves the exported adapter itself."""
    return subprocess.Popen([sys.executable, "-m", "agent", "generate", "serpent", "--overlay", str(overlay),
                             "--runs", str(runs), "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_generate_resumes_after_a_kill_and_extract_reads_the_resolved_runs_back_as_generated_train_rows(
        fix_overlay, tmp_path):
    out = tmp_path / "runs" / "fix"
    others = _servers(fix_overlay)  # the session's own server, when it runs
    proc = _generate(fix_overlay, out, runs=3)
    deadline = time.monotonic() + 300
    while not list(out.glob("*/report.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers(fix_overlay) - others  # generate started its own server
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    deadline = time.monotonic() + 60
    while _servers(fix_overlay) - others and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _servers(fix_overlay) - others  # the killed run's server went with it
    first = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/report.json")}
    assert 1 <= len(first) < 6

    proc = _generate(fix_overlay, out, runs=3)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert f"6 attempts on 2 tasks ({len(first)} already finished, {6 - len(first)} run now), 3 resolved" in stdout
    assert json.loads((out / "generate.json").read_text())["model"] == "serpent"
    reports = {p.parent.name: p for p in out.glob("*/report.json")}
    assert sorted(reports) == [f"{t}-r{k}" for t in ("fixable", "other") for k in (1, 2, 3)]
    assert {n: reports[n].stat().st_mtime_ns for n in first} == first  # finished attempts were not run again
    for name in reports:
        traj = json.loads((out / name / f"{name}.traj.json").read_text())
        assert traj["info"]["origin"] == "generated" and traj["info"]["workbench"]["attempt"] == int(name[-1])
    assert not (out / ".scratch").exists() or not any((out / ".scratch").iterdir())

    data = tmp_path / "data"  # a test fraction that would hold out nearly every real session
    ex = subprocess.run([sys.executable, "-m", "extract", "--swe-dir", str(out), "--resolved-only", "--out",
                         str(data), "--quiet", "extract.test_fraction=0.9"], capture_output=True, text=True,
                        env={**os.environ})
    assert ex.returncode == 0, ex.stderr
    from core.data import load_specialist_dataset

    splits = load_specialist_dataset(data / "serpent")
    rows = {split: list(rows) for split, rows in splits.items()}
    sessions = {row["session_id"] for split in rows.values() for row in split}
    # only resolved runs come back (greedy runs of one task are identical: extraction keeps one of them)
    assert sessions and sessions <= {"fixable-r1", "fixable-r2", "fixable-r3"}
    assert {row["session_id"] for row in rows["train"]} == sessions  # generated rows always train
    assert all(row["source"] == "mini-swe-agent" and row["origin"] == "generated" for split in rows.values()
               for row in split)
    assert any(FIX_COMMAND in json.dumps(row["messages"]) for row in rows["train"])


def test_generate_for_the_base_serves_the_base_alone(fix_overlay, tmp_path, capsys):
    from agent.__main__ import main

    out = tmp_path / "runs" / "base"
    assert main(["generate", "base", "--overlay", str(fix_overlay), "--out", str(out), "--quiet"]) == 0
    assert "2 attempts on 2 tasks (0 already finished, 2 run now), 0 resolved" in capsys.readouterr().out
    assert json.loads((out / "generate.json").read_text())["model"] == "base"
    for task in ("fixable", "other"):
        info = json.loads((out / f"{task}-r1" / f"{task}-r1.traj.json").read_text())["info"]
        assert info["workbench"]["model"] == "base" and info["workbench"]["exit_status"] == "RepeatedFormatError"


def test_agent_eval_replays_a_held_out_opencode_session(fix_overlay, tmp_path, capsys, monkeypatch):
    """TASKS=replay through the real path: a held-out opencode session whose first prompt is the fixable task's, its
    project materialised from a real snapshot store, judged by the session's own `python3 -m unittest`."""
    from agent.__main__ import main
    from agent_support import TASKS
    from replay_support import one_session

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # only the store the test built
    data, sid = one_session(tmp_path / "home", TASKS["fixable"][0])
    cfg = yaml.safe_load(fix_overlay.read_text())  # the over-fit workspace's exported serpent, served as always
    cfg["paths"].update(data=str(data), reports=str(tmp_path / "reports"))
    cfg["agent"]["tasks"] = "replay"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    assert main(["eval", "serpent", "--overlay", str(overlay), "--quiet"]) == 0
    line = capsys.readouterr().out
    assert "agent eval serpent: base 0/1 -> serpent 1/1 resolved (A/A 0/1);" in line
    assert "; replay: 1 held-out sessions, 1 replayable ->" in line
    reports = tmp_path / "reports" / "serpent"
    r = json.loads((reports / "agent.json").read_text())
    assert r["task_set"] == "replay" and [t["task"] for t in r["per_task"]] == [sid]
    assert r["replay"]["sessions"] == [{"source": "opencode", "session": sid, "replayable": True,
                                        "reason": "replayable", "detail": "python3 -m unittest",
                                        "test": "python3 -m unittest"}]
    traj = json.loads((reports / "agent" / "specialist" / sid / f"{sid}.traj.json").read_text())
    assert "+    return a + b" in traj["info"]["patch"] and traj["info"]["judge"]["resolved"] is True
    assert f"| {sid} | opencode | yes | `python3 -m unittest` |" in (reports / "agent.md").read_text()
