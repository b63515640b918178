"""End to end, every component real: a served model whose replies are known, driven by mini-swe-agent.

The model is the tiny base over-fit to answer every agent prompt with known replies (agent_support.REPLIES), served by
`transformers serve`; the base is the tiny base itself, which never writes an action. So the specialist solves
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

from agent_support import FIX_COMMAND, contexts, overfit, write_tasks

pytestmark = pytest.mark.slow

AGENT_SETTINGS = {"max_tokens": 256, "format_errors": 1, "step_limit": 3, "command_timeout": 20, "task_timeout": 120,
                  "bootstrap_samples": 2000, "serve_threads": 1}


@pytest.fixture(scope="session")
def agent_tasks(tmp_path_factory) -> Path:
    return write_tasks(tmp_path_factory.mktemp("agent-tasks"))


@pytest.fixture(scope="session")
def fix_model(tmp_path_factory, tiny_base, agent_tasks) -> Path:
    """The tiny base over-fit (a minute or two) so that greedy decoding of each agent prompt is its known reply."""
    from agent.tasks import load_suite

    tmp = tmp_path_factory.mktemp("fix-model")
    examples = [ex for t in load_suite(agent_tasks) for ex in contexts(t, tmp / "ctx" / t.id)]
    overfit(tiny_base, tmp / "model", examples)
    return tmp / "model"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    from agent.serving import transformers_serve

    with transformers_serve(log=tmp_path_factory.mktemp("serve") / "serve.log", dtype="float32", threads=1) as url:
        yield url


def _limits():
    from agent.runner import Limits

    keys = ("max_tokens", "format_errors", "step_limit", "command_timeout", "task_timeout")
    return Limits(**{k: AGENT_SETTINGS[k] for k in keys})


def test_the_served_fix_model_solves_the_task_its_fix_fits_and_not_the_other(server, fix_model, agent_tasks,
                                                                          tmp_path):
    from agent.runner import Endpoint, attempt
    from agent.tasks import load_suite

    fixable, other = load_suite(agent_tasks)
    ep = Endpoint(server, str(fix_model))
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


def test_agent_eval_report_has_the_known_answers(tiny_base, fix_model, agent_tasks, tmp_path, capsys):
    from agent.__main__ import main

    exports = tmp_path / "exports" / "serpent"
    exports.mkdir(parents=True)
    (exports / "merged").symlink_to(fix_model, target_is_directory=True)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "paths": {k: str(tmp_path / k) for k in ("data", "outputs", "reports", "exports")},
        "model": {"model_name_or_path": str(tiny_base), "dtype": "float32"},
        "agent": {**AGENT_SETTINGS, "tasks": str(agent_tasks)}}))
    assert main(["eval", "serpent", "--overlay", str(overlay), "--quiet"]) == 0
    line = capsys.readouterr().out
    assert "agent eval serpent: base 0/2 -> serpent 1/2 resolved (A/A 0/2); McNemar p 1;" in line

    reports = tmp_path / "reports" / "serpent"
    r = json.loads((reports / "agent.json").read_text())
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


def _generate(server, fix_model, agent_tasks, out, runs):
    overrides = [f"agent.{k}={v}" for k, v in AGENT_SETTINGS.items()]
    return subprocess.Popen([sys.executable, "-m", "agent", "generate", "--endpoint", server, "--model",
                             str(fix_model), "--tasks", str(agent_tasks), "--runs", str(runs), "--out", str(out),
                             "--quiet", *overrides], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_generate_resumes_after_a_kill_and_extract_reads_the_resolved_runs_back(server, fix_model, agent_tasks,
                                                                            tmp_path):
    out = tmp_path / "runs" / "fix"
    proc = _generate(server, fix_model, agent_tasks, out, runs=3)
    deadline = time.monotonic() + 300
    while not list(out.glob("*/report.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    first = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/report.json")}
    assert 1 <= len(first) < 6

    proc = _generate(server, fix_model, agent_tasks, out, runs=3)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert f"6 attempts on 2 tasks ({len(first)} already finished, {6 - len(first)} run now), 3 resolved" in stdout
    reports = {p.parent.name: p for p in out.glob("*/report.json")}
    assert sorted(reports) == [f"{t}-r{k}" for t in ("fixable", "other") for k in (1, 2, 3)]
    assert {n: reports[n].stat().st_mtime_ns for n in first} == first  # finished attempts were not run again
    for name in reports:
        traj = json.loads((out / name / f"{name}.traj.json").read_text())
        assert traj["info"]["origin"] == "generated" and traj["info"]["workbench"]["attempt"] == int(name[-1])
    assert not (out / ".scratch").exists() or not any((out / ".scratch").iterdir())

    data = tmp_path / "data"
    ex = subprocess.run([sys.executable, "-m", "extract", "--swe-dir", str(out), "--resolved-only", "--out",
                         str(data), "--quiet"], capture_output=True, text=True, env={**os.environ})
    assert ex.returncode == 0, ex.stderr
    from core.data import load_specialist_dataset

    splits = load_specialist_dataset(data / "serpent")
    sessions = {row["session_id"] for split in splits.values() for row in split}
    assert sessions and sessions <= {"fixable-r1", "fixable-r2", "fixable-r3"}  # only resolved runs come back
    rows = [row for split in splits.values() for row in split]
    assert all(row["source"] == "mini-swe-agent" for row in rows)
    assert any(FIX_COMMAND in json.dumps(row["messages"]) for row in rows)


def test_agent_eval_replays_a_held_out_opencode_session(tiny_base, fix_model, tmp_path, capsys, monkeypatch):
    """TASKS=replay through the real path: a held-out opencode session whose first prompt is the fixable task's, its
    project materialised from a real snapshot store, judged by the session's own `python3 -m unittest`."""
    from agent.__main__ import main
    from agent_support import TASKS
    from replay_support import one_session

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # only the store the test built
    data, sid = one_session(tmp_path / "home", TASKS["fixable"][0])
    exports = tmp_path / "exports" / "serpent"
    exports.mkdir(parents=True)
    (exports / "merged").symlink_to(fix_model, target_is_directory=True)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "paths": {"data": str(data), **{k: str(tmp_path / k) for k in ("outputs", "reports", "exports")}},
        "model": {"model_name_or_path": str(tiny_base), "dtype": "float32"},
        "agent": {**AGENT_SETTINGS, "tasks": "replay"}}))
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
