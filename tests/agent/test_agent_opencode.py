"""The real opencode (the pinned CLI, `make agents-setup`) driven by a scripted model through read, edit and bash,
with the opencode.json `make export` writes; its store is then read back by `make extract`'s code, and the row
equals what opencode sent and received, step for step, under the system prompt and tools it sent."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent import clients
from agent.capture import Recorder, RecordingServer, Reply
from agent.opencode import run, write_config
from export.agents import opencode as opencode_config

pytestmark = [pytest.mark.slow,  # the real client: about 2 minutes for the three tests on a busy 2-core machine
              pytest.mark.skipif(not (clients.install_dir() / "node_modules" / ".bin" / "opencode").exists(),
                                 reason="make agents-setup installs opencode (make test does)")]

BUGGY = "def add(a, b):\n    return a - b\n"


def _script(work: Path) -> list[Reply]:
    calc = str(work / "calc.py")
    return [Reply("Reading calc.py first.", [("read", {"filePath": calc})]),
            Reply("", [("edit", {"filePath": calc, "oldString": "return a - b", "newString": "return a + b"})]),
            Reply("", [("bash", {"command": "python3 -c 'import calc; print(calc.add(2, 3))'",
                                 "description": "Check add"})]),
            Reply("Fixed: add() now adds.")]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from core import config

    tmp = tmp_path_factory.mktemp("opencode")
    work, home = tmp / "work", tmp / "home"
    work.mkdir()
    (work / "calc.py").write_text(BUGGY)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    sp = config.specialist("serpent")
    rec = Recorder(script=_script(work), models=["serpent"])
    with RecordingServer(rec) as srv:
        write_config(home, opencode_config(srv.base_url, [{"name": sp.name, "language": sp.language,
                                                            "system_prompt": sp.system_prompt}], "base"))
        res = run("build-python", "add() in calc.py subtracts. Fix it.", work, home, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    return {"rec": rec, "res": res, "work": work, "home": home, "tmp": tmp, "sp": sp}


def test_opencode_runs_the_scripted_tools_in_the_working_copy(session):
    assert (session["work"] / "calc.py").read_text() == BUGGY.replace("a - b", "a + b")
    assert session["res"].steps() == 4 and session["res"].session_id
    asked = session["rec"].agent_requests()
    assert len(asked) == 4
    last = asked[-1]["messages"]
    assert last[-1]["role"] == "tool" and last[-1]["content"].strip() == "5"  # bash ran in the task's folder
    assert clients.opencode_db(session["home"]).is_file()


def test_the_extracted_row_is_what_opencode_sent_and_received_step_for_step(session, tmp_path):
    from extract.__main__ import main

    db = clients.opencode_db(session["home"])
    out = tmp_path / "data"
    assert main(["--db", str(db), "--out", str(out), "--quiet", "extract.agent_files=false",
                 "extract.test_fraction=0", "extract.window_tokens=32000"]) == 0
    import datasets

    rows = list(datasets.load_dataset(str(out / "serpent"), cache_dir=str(tmp_path / "cache"))["train"])
    assert len(rows) == 1
    row = rows[0]
    asked = session["rec"].agent_requests()
    sent = asked[-1]  # opencode's last request holds the whole conversation before the last reply
    # the system prompt and tools: what the client sent (the captured set, filled with this session's values)
    assert row["toolset"] == f"opencode-{clients.pinned('opencode')}"
    assert row["messages"][0] == sent["messages"][0]
    assert row["tools"] == sent["tools"]
    # every message after it: the prompt, each reply as the model gave it, each tool output as opencode sent it
    expected = [_plain(m) for m in sent["messages"][1:]] + [_plain(session["rec"].answers[-1])]
    assert [_plain(m) for m in row["messages"][1:]] == expected


def _plain(m: dict) -> dict:
    """A chat message in one form: text content, tool calls as (id, name, argument dict)."""
    content = m.get("content")
    if isinstance(content, list):
        content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
    out = {"role": m["role"], "content": (content or "").strip()}
    if m.get("tool_calls"):
        out["tool_calls"] = [(c["id"], c["function"]["name"],
                              c["function"]["arguments"] if isinstance(c["function"]["arguments"], dict)
                              else json.loads(c["function"]["arguments"])) for c in m["tool_calls"]]
    if m.get("tool_call_id"):
        out["tool_call_id"] = m["tool_call_id"]
    return out


def _fixing_script(root: Path) -> Recorder:
    """A model that fixes calc.py by editing it in whatever folder opencode runs (it reads the path from the
    system prompt's working directory, as a model would)."""

    class Scripted(Recorder):
        def answer(self, body):
            system = body["messages"][0]["content"] if body.get("messages") else ""
            work = next((ln.split(":", 1)[1].strip() for ln in system.splitlines()
                         if ln.strip().startswith("Working directory:")), "")
            self.script = [Reply("", [("edit", {"filePath": f"{work}/calc.py", "oldString": "return a - b",
                                                "newString": "return a + b"})]), Reply("Fixed.")]
            if body.get("tools") and body["messages"][-1]["role"] == "user":  # a new session: the script anew
                self.requests = [r for r in self.requests if not r.get("tools")]
            return super().answer(body)

    return Scripted(models=["serpent"])


def test_generate_with_the_real_opencode_writes_judged_sessions_that_extract_as_generated(tmp_path, capsys):
    from agent.__main__ import main as agent_main
    from extract.__main__ import main as extract_main

    from agent_support import write_tasks

    import yaml

    tasks = write_tasks(tmp_path / "tasks")
    out = tmp_path / "runs"
    overlay = tmp_path / "overlay.yaml"  # every folder the run may touch under tmp_path
    overlay.write_text(yaml.safe_dump({"paths": {k: str(tmp_path / k) for k in ("data", "outputs", "reports",
                                                                                 "exports", "cycles")}}))
    rec = _fixing_script(tmp_path)
    with RecordingServer(rec) as srv:
        assert agent_main(["generate", "serpent", "--agent", "opencode", "--endpoint", srv.base_url, "--model",
                           "serpent", "--tasks", str(tasks), "--out", str(out), "--quiet", "--overlay",
                           str(overlay)]) == 0
    printed = capsys.readouterr().out
    db = clients.opencode_db(out / "opencode-home")
    assert f"make extract DB={db} RESOLVED_ONLY=1" in printed
    reports = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/report.json")}
    assert {k: v[k]["resolved"] for k, v in reports.items()} == {"fixable-r1": True, "other-r1": False}
    assert reports["fixable-r1"]["fixable-r1"]["agent"] == f"opencode {clients.pinned('opencode')}"
    runs = [json.loads(ln) for ln in (db.parent / "workbench-runs.jsonl").read_text().splitlines()]
    assert sorted((r["task"], r["origin"], r["resolved"]) for r in runs) == [
        ("fixable", "generated", True), ("other", "generated", False)]
    data = tmp_path / "data"
    assert extract_main(["--db", str(db), "--out", str(data), "--quiet", "extract.agent_files=false",
                         "extract.window_tokens=32000", "--resolved-only"]) == 0
    ledger = json.loads((data / "sessions.json").read_text())["sources"]["opencode"]
    assert [(e["origin"], e["side"]) for e in ledger.values()] == [("generated", "train")]
