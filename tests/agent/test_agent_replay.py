"""Replay: held-out opencode sessions become tasks from opencode's own snapshot store (agent/replay.py).

The user's data folder is built in tmp_path as opencode builds it (replay_support: a real git project, a snapshot store
made with opencode's git invocations, a database whose step parts hold those trees), extracted by the real extractor,
then surveyed: every held-out session is replayable or counted out with its reason.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from agent import replay
from agent.__main__ import main as agent_main
from extract.__main__ import main as extract_main
from replay_support import BUGGY, FIXED, UNITTEST, digest, fix_steps, project, session, store_dir, track
from sample.store import StoreBuilder

HERMETIC = ["--quiet", "extract.agent_files=false"]
CLAUDE_SID = "6f1c2a9e-0000-4000-8000-00000000abcd"
SECRET = "sk-proj-" + "Zq7" * 14


def _held_out(path: Path, ids, source: str = "opencode") -> list[str]:
    """--keep-sides: every given session on the test side (extraction's own way to pin sides)."""
    path.write_text(json.dumps({**{f"{source}:{s}": "test" for s in ids}, f"claude-code:{CLAUDE_SID}": "test"}))
    return ["--keep-sides", str(path)]


@pytest.fixture(autouse=True)
def _no_user_data(tmp_path, monkeypatch):
    """opencode's default data folder is an empty one: only the stores a test builds can be found."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _claude_transcript(root: Path) -> Path:
    """A Claude Code session on a Python project: held out like the others, but no snapshot store can exist."""
    sid = CLAUDE_SID
    base = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/u/calc",
            "sessionId": sid, "version": "2.0.31", "gitBranch": "main"}
    lines = [
        {**base, "type": "user", "uuid": "u1", "timestamp": "2026-03-02T10:00:00.000Z",
         "message": {"role": "user", "content": "the calc tests fail, fix calc.py"}},
        {**base, "type": "assistant", "uuid": "u2", "timestamp": "2026-03-02T10:00:05.000Z", "requestId": "r1",
         "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                     "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash",
                                  "input": {"command": "python3 -m unittest test_calc.py"}}]}},
        {**base, "type": "user", "uuid": "u3", "timestamp": "2026-03-02T10:00:09.000Z",
         "message": {"role": "user", "content": [{"tool_use_id": "toolu_1", "type": "tool_result",
                                                  "content": "OK", "is_error": False}]}},
        {**base, "type": "assistant", "uuid": "u4", "timestamp": "2026-03-02T10:00:12.000Z", "requestId": "r2",
         "message": {"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                     "content": [{"type": "text", "text": "Fixed calc.py; the tests pass."}]}},
    ]
    path = root / "-home-u-calc" / f"{sid}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """opencode's data folder with one session built to replay and one built to fail each way; extracted."""
    tmp = tmp_path_factory.mktemp("replay")
    data = tmp / "share" / "opencode"
    data.mkdir(parents=True)
    work, pid = project(tmp / "calc")
    start = track(data, pid, work)  # the bug, as the user found it
    (work / "calc.py").write_text(BUGGY + "# tried something\n")
    still = track(data, pid, work)  # an edit that fixes nothing
    (work / "calc.py").write_text(FIXED)
    fixed = track(data, pid, work)  # the fix
    (work / "calc.py").write_text(BUGGY)
    other, other_pid = project(tmp / "other", calc=BUGGY + "# the other one\n")  # never snapshotted: no store

    def steps(start_tree, end_tree, *, where=work, **kw):
        return fix_steps(where, start_tree, end_tree, **kw)

    ids = {}
    with StoreBuilder(data / "opencode.db") as b:
        b.project(str(work), id=pid)
        b.project(str(other), id=other_pid)
        ids["replayable"] = session(b, pid, work, "add() in calc.py subtracts; the tests fail. Fix it.",
                                    steps(start, fixed))
        ids["no snapshot"] = session(b, pid, work, "calc tests are red, please fix add",
                                     steps(start, fixed, snapshots=False))
        ids["no store"] = session(b, other_pid, other, "the other project's calc tests fail, fix add there",
                                  steps(start, fixed, where=other))
        ids["tree gone"] = session(b, pid, work, "fix add so that test_calc passes (old session)",
                                   steps("0123456789abcdef0123456789abcdef01234567", fixed))
        ids["no test passed"] = session(b, pid, work, "make add work, I tried and gave up halfway",
                                        steps(start, fixed, last_exit=1))
        ids["toolchain"] = session(b, pid, work, "fix add; run the suite with testrb as we do on CI",
                                   steps(start, fixed, command="testrb test_calc.py"))
        ids["already passing"] = session(b, pid, work, "double-check add after yesterday's fix",
                                         steps(fixed, fixed))
        ids["end fails"] = session(b, pid, work, "add is wrong again, fix it (the log says it passed)",
                                   steps(start, still))
    claude = _claude_transcript(tmp / "claude")
    out = tmp / "data"
    assert extract_main(["--db", str(data / "opencode.db"), "--claude-dir", str(claude), "--out", str(out),
                         *HERMETIC, *_held_out(tmp / "sides.json", ids.values())]) == 0
    assert shutil.which("testrb") is None  # the toolchain session needs a program this machine lacks
    return {"data": data, "work": work, "pid": pid, "out": out, "ids": ids, "trees": (start, still, fixed),
            "tmp": tmp}


def _survey(home, **kw):
    return replay.survey(home["out"] / "serpent", "serpent", data_dirs=kw.pop("data_dirs", []), sandbox="auto", **kw)


def test_held_out_sessions_are_counted_and_each_one_that_cannot_be_replayed_says_why(home):
    before = digest(home["data"])
    tasks, summary = _survey(home)
    ids = home["ids"]
    by_id = {e["session"]: e for e in summary["sessions"]}
    assert summary["held_out"] == 9 and summary["replayable"] == 1
    assert [t.id for t in tasks] == [ids["replayable"]]
    assert summary["not_replayable"] == {
        replay.NOT_OPENCODE: 1, replay.NO_SNAPSHOT: 1, replay.NO_STORE: 1, replay.TREE_MISSING: 1,
        replay.NO_TEST: 1, replay.NO_TOOLCHAIN: 1, replay.ALREADY_PASSING: 1, replay.END_FAILS: 1}
    expect = {"no snapshot": replay.NO_SNAPSHOT, "no store": replay.NO_STORE, "tree gone": replay.TREE_MISSING,
              "no test passed": replay.NO_TEST, "toolchain": replay.NO_TOOLCHAIN,
              "already passing": replay.ALREADY_PASSING, "end fails": replay.END_FAILS}
    assert {k: by_id[ids[k]]["reason"] for k in expect} == expect
    assert by_id[ids["toolchain"]]["detail"] == "testrb"
    assert by_id[ids["no test passed"]]["detail"].startswith("its last test run failed")
    assert [e["source"] for e in summary["sessions"] if e["reason"] == replay.NOT_OPENCODE] == ["claude-code"]
    assert summary["sessions"][[e["session"] for e in summary["sessions"]].index(ids["replayable"])]["test"] == UNITTEST
    assert replay.summary_line(summary).startswith("9 held-out sessions, 1 replayable (not: not an opencode session 1,")
    assert digest(home["data"]) == before  # the database and the snapshot store were only read


def test_the_task_starts_from_the_first_snapshot_fails_its_judge_there_and_passes_at_the_end(home, tmp_path):
    from agent.runner import judge, prove
    from agent.sandbox import environment

    tasks, _ = _survey(home, check=False)  # unproven: the already-passing and end-failing sessions are tasks too
    assert len(tasks) == 3
    [task] = [t for t in tasks if t.id == home["ids"]["replayable"]]
    start, _, fixed = home["trees"]
    assert (task.start, task.end, task.language) == (start, fixed, "python")
    assert task.store == str(store_dir(home["data"], home["pid"], home["work"]))
    assert task.instruction == "add() in calc.py subtracts; the tests fail. Fix it."  # the dataset's first prompt
    work = task.checkout(tmp_path / "start")
    assert sorted(p.name for p in work.iterdir()) == [".gitignore", "calc.py", "test_calc.py"]
    assert (work / "calc.py").read_text() == BUGGY
    verdict = judge(task, work, environment("auto", work, tmp_path / "s1", timeout=60))
    assert verdict["resolved"] is False and "FAILED (failures=1)" in verdict["test_output"]
    end = task.checkout(tmp_path / "end", fixed=True)
    assert (end / "calc.py").read_text() == FIXED  # a blob only the store holds (the others via its alternates)
    assert judge(task, end, environment("auto", end, tmp_path / "s2", timeout=60))["resolved"] is True
    assert prove(task, tmp_path / "prove") == {"unfixed_passes": False, "fixed_passes": True}


def test_a_worktree_subfolder_and_the_projects_absolute_path_are_read_in_the_copy():
    cmd = replay.judge_command("cd /home/u/calc && python3 -m pytest /home/u/calc/tests -q", "/home/u/calc",
                               "/home/u/calc/pkg", None)
    assert cmd == 'REPLAY_ROOT="$PWD"; cd pkg && cd "$REPLAY_ROOT" && python3 -m pytest "$REPLAY_ROOT"/tests -q'
    assert replay.judge_command("cargo test", "/w", "/w", "/w/crates/core") == "cd crates/core && cargo test"
    assert replay.judge_command("npm test", "/w", "/w2", None) == "npm test"  # not under the worktree: as run


def test_the_rewritten_command_runs_in_the_copy(tmp_path):
    copy = tmp_path / "a copy"  # a space in the path: the root stays one word
    (copy / "pkg").mkdir(parents=True)
    (copy / "tests").mkdir()
    cmd = replay.judge_command("cd /home/u/calc && ls /home/u/calc/tests && pwd", "/home/u/calc", "/home/u/calc/pkg",
                               None)
    r = subprocess.run(["sh", "-c", cmd], cwd=copy, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == str(copy)


@pytest.mark.parametrize("command, is_test", [
    ("python3 -m unittest", True), ("cd /w && python -m pytest -q tests/", True), ("uv run pytest -x", True),
    ("cargo test --offline", True), ("npm test", True), ("npm run test:unit", True), ("npx vitest run", True),
    ("node --test", True), ("bundle exec rspec spec/a_spec.rb", True), ("go test ./...", True),
    ("rake test", True), ("make check", True), ("swift test", True),
    ("cargo build", False), ("python3 calc.py", False), ("npm install", False), ("git status", False),
    ("pip install pytest", False), ("cat test_calc.py", False),
])
def test_test_runs_are_recognised(command, is_test):
    assert replay.is_test_run(command) is is_test


def test_a_legacy_json_tree_session_replays_from_the_store_beside_it(home, tmp_path):
    """opencode's JSON tree (storage/session/<project id>/<session>.json, storage/project/<id>.json): the project id
    comes from the folder, the worktree from the project file, the store from storage/'s data folder."""
    import sqlite3

    src = home["data"] / "opencode.db"
    data = tmp_path / "opencode"
    storage = data / "storage"
    sid = home["ids"]["replayable"]
    c = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    pid, directory, title, created = c.execute(
        "SELECT project_id, directory, title, time_created FROM session WHERE id = ?", (sid,)).fetchone()
    (storage / "session" / pid).mkdir(parents=True)
    (storage / "session" / pid / f"{sid}.json").write_text(json.dumps(
        {"id": sid, "projectID": pid, "directory": directory, "title": title, "version": "0.15.0",
         "time": {"created": created, "updated": created}}))
    (storage / "project").mkdir()
    (storage / "project" / f"{pid}.json").write_text(json.dumps({"id": pid, "worktree": str(home["work"]),
                                                                 "vcs": "git", "time": {"created": created}}))
    for mid, data_text in c.execute("SELECT id, data FROM message WHERE session_id = ?", (sid,)):
        (storage / "message" / sid).mkdir(parents=True, exist_ok=True)
        (storage / "message" / sid / f"{mid}.json").write_text(json.dumps({"id": mid, "sessionID": sid,
                                                                           **json.loads(data_text)}))
        for prt, part in c.execute("SELECT id, data FROM part WHERE message_id = ?", (mid,)).fetchall():
            (storage / "part" / mid).mkdir(parents=True, exist_ok=True)
            (storage / "part" / mid / f"{prt}.json").write_text(json.dumps({"id": prt, **json.loads(part)}))
    c.close()
    shutil.copytree(home["data"] / "snapshot", data / "snapshot", symlinks=True)  # the store beside storage/
    out = tmp_path / "out"
    assert extract_main(["--opencode-storage", str(storage), "--out", str(out), *HERMETIC,
                         *_held_out(tmp_path / "sides.json", [sid], "opencode-json")]) == 0
    tasks, summary = replay.survey(out / "serpent", "serpent", check=True)
    assert (summary["held_out"], summary["replayable"]) == (1, 1)
    assert tasks[0].store == str(store_dir(data, pid, home["work"])) and tasks[0].start == home["trees"][0]


def test_a_store_elsewhere_is_found_through_agent_opencode_data(home, tmp_path):
    """A database copied away from its data folder: the store is found in the folder agent.opencode_data names."""
    db = tmp_path / "copied.db"
    shutil.copyfile(home["data"] / "opencode.db", db)
    out = tmp_path / "out"
    assert extract_main(["--db", str(db), "--out", str(out), *HERMETIC,
                         *_held_out(tmp_path / "sides.json", home["ids"].values())]) == 0
    _, summary = replay.survey(out / "serpent", "serpent", check=False)
    assert summary["replayable"] == 0 and summary["not_replayable"][replay.NO_STORE] >= 1
    tasks, summary = replay.survey(out / "serpent", "serpent", data_dirs=[home["data"]], check=False)
    assert home["ids"]["replayable"] in [t.id for t in tasks]


def _overlay(tmp_path: Path, home) -> str:
    p = tmp_path / "overlay.yaml"
    p.write_text(yaml.safe_dump({"paths": {"data": str(home["out"]), "reports": str(tmp_path / "reports"),
                                           "exports": str(tmp_path / "exports"), "outputs": str(tmp_path / "o")}}))
    return str(p)


def test_replay_check_lists_each_session_and_the_totals(home, tmp_path, capsys):
    assert agent_main(["replay-check", "serpent", "--overlay", _overlay(tmp_path, home)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"opencode {home['ids']['replayable']}: replayable, judged by: {UNITTEST}" in out
    assert any(line.startswith(f"opencode {home['ids']['tree gone']}: {replay.TREE_MISSING} (tree 0123456789ab")
               for line in out)
    assert out[-1].startswith("replay-check serpent: 9 held-out sessions, 1 replayable (not: ")


def test_none_replayable_is_one_line_and_exit_2(home, tmp_path, capsys):
    db = tmp_path / "copied.db"  # a database with no store beside it nor named
    shutil.copyfile(home["data"] / "opencode.db", db)
    out = tmp_path / "data"
    assert extract_main(["--db", str(db), "--out", str(out), *HERMETIC,
                         *_held_out(tmp_path / "sides.json", home["ids"].values())]) == 0
    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"paths": {"data": str(out), "reports": str(tmp_path / "r")}}))
    assert agent_main(["replay-check", "serpent", "--overlay", str(overlay), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: serpent: none of the 8 held-out sessions can be replayed (")
    assert f"{replay.NO_STORE}: " in err


def test_replay_is_no_task_set_for_generate(capsys, tmp_path):
    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"paths": {"data": str(tmp_path / "d")}}))
    assert agent_main(["generate", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--tasks", "replay",
                       "--out", str(tmp_path / "runs"), "--overlay", str(overlay), "--quiet"]) == 2
    assert "would train on the test split" in capsys.readouterr().err


def test_make_passes_args_with_tasks_replay():
    """`make agent-eval NAME=serpent TASKS=replay ARGS=...`: the overrides reach the config check (argparse refused
    KEY=VALUE after --tasks before)."""
    repo = Path(__file__).resolve().parents[2]
    dry = subprocess.run(["make", "-n", "agent-eval", "NAME=serpent", "TASKS=replay", "ARGS=agent.nosuch_key=1"], cwd=repo,
                         capture_output=True, text=True)
    [line] = [x for x in dry.stdout.splitlines() if " -m agent " in x]
    run = subprocess.run(line.split(), cwd=repo, capture_output=True, text=True)
    assert run.returncode == 2 and "unknown key agent.nosuch_key" in run.stderr, run.stderr


def test_a_secret_in_the_test_command_is_redacted_in_the_report_not_in_the_judge(tmp_path, monkeypatch):
    from replay_support import one_session

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    data, sid = one_session(tmp_path / "home", "fix add", command=f"OPENAI_API_KEY={SECRET} {UNITTEST}")
    tasks, summary = replay.survey(data / "serpent", "serpent")
    assert tasks[0].test == f"OPENAI_API_KEY={SECRET} {UNITTEST}"  # the judge runs what the session ran
    assert SECRET not in json.dumps(summary) and "<REDACTED" in summary["sessions"][0]["test"]
