"""The real Codex (the pinned CLI, `make agents-setup`) through the Responses bridge (LiteLLM's proxy, `make
serve-bridge`) with the files `make export` writes, driven by a scripted chat-completions model; its rollout is read
back by `make extract CODEX_DIR=...`'s reader."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent import clients
from agent.capture import Recorder, RecordingServer, Reply
from export.agents import BRIDGE_KEY_ENV, write_agent_configs

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (clients.install_dir() / "node_modules" / ".bin" / "codex").exists(),
                                 reason="make agents-setup installs Codex (make test does)")]


def test_codex_completes_a_session_through_the_bridge_and_its_rollout_is_read_back(tmp_path):
    pytest.importorskip("fastapi", reason="the bridge extra (make serve-bridge installs it)")
    from agent.bridge import bridging
    from extract.codex import read
    from extract.opencode import ReadOptions, ReadStats
    from extract.sources import Source
    from serve.api import free_port

    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    (work / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    rec = Recorder(script=[Reply("Let me look.", [("exec_command", {"cmd": "cat calc.py"})]),
                           Reply("", [("exec_command", {"cmd": "sed -i 's/a - b/a + b/' calc.py"})]),
                           Reply("Fixed: add() now adds.")], models=["serpent"])
    key = "test-bridge-key"
    with RecordingServer(rec) as srv:
        port = int(srv.base_url.rsplit(":", 1)[1].split("/")[0])
        bridge_port = free_port()
        agents = write_agent_configs(tmp_path / "exports", {"host": "127.0.0.1", "port": port,
                                                            "bridge_port": bridge_port}, "base",
                                     [{"name": "serpent", "language": "python", "system_prompt": "You are serpent."}],
                                     {"context": 32768, "output": 1024})
        env = clients.codex_env(home, {BRIDGE_KEY_ENV: key, "PWD": str(work)})
        for f in (agents / "codex").glob("*.toml"):  # as docs/agent-runs.md says: the files into $CODEX_HOME
            shutil.copy(f, Path(env["CODEX_HOME"]) / f.name)
        with bridging(agents / "litellm-bridge.yaml", port=bridge_port, key=key):
            p = subprocess.run([str(clients.binary("codex")), "exec", "--profile", "serpent", "--skip-git-repo-check",
                                "-s", "workspace-write", "Fix add() in calc.py"], cwd=work, env=env,
                               capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert (work / "calc.py").read_text() == "def add(a, b):\n    return a + b\n", (p.stdout + p.stderr)[-3000:]
    assert len(rec.agent_requests()) == 3  # every Responses request became one chat completion
    stats = ReadStats()
    sessions = list(read(Source("codex", clients.codex_sessions(home)), ReadOptions(), stats))
    assert len(sessions) == 1, stats
    s = sessions[0]
    assert (s.client_version, s.model, s.directory) == (clients.pinned("codex"), "serpent", str(work))
    assert [t.prompt for t in s.turns] == ["Fix add() in calc.py"]
    assert [(st.text, [c.arguments.get("cmd") for c in st.tool_calls]) for st in s.turns[0].steps] == [
        ("Let me look.", ["cat calc.py"]), ("", ["sed -i 's/a - b/a + b/' calc.py"]), ("Fixed: add() now adds.", [])]
    assert "return a - b" in s.tool_calls[0].output and s.tool_calls[0].exit_code == 0
    assert not [r for r in stats.rows if "unknown" in r], stats.rows


def _fixing_script() -> Recorder:
    """A model that fixes calc.py with one command in whatever folder Codex runs; each session from the start."""

    class Scripted(Recorder):
        def answer(self, body):
            self.script = [Reply("", [("exec_command", {"cmd": "sed -i 's/a - b/a + b/' calc.py"})]),
                           Reply("Fixed.")]
            if body.get("tools") and body["messages"][-1]["role"] == "user":  # a new session: the script anew
                self.requests = [r for r in self.requests if not r.get("tools")]
            return super().answer(body)

    return Scripted(models=["serpent"])


def test_generate_with_the_real_codex_writes_judged_rollouts_that_extract_reads(tmp_path, capsys):
    pytest.importorskip("fastapi", reason="the bridge extra (make serve-bridge installs it)")
    import json

    import yaml
    from agent_support import write_tasks

    from agent.__main__ import main as agent_main
    from extract.__main__ import main as extract_main

    tasks = write_tasks(tmp_path / "tasks")
    out = tmp_path / "runs"
    overlay = tmp_path / "overlay.yaml"  # every folder the run may touch under tmp_path
    overlay.write_text(yaml.safe_dump({"paths": {k: str(tmp_path / k) for k in ("data", "outputs", "reports",
                                                                                 "exports", "cycles")}}))
    rec = _fixing_script()
    with RecordingServer(rec) as srv:  # AGENT=codex: the bridge is started for the run, in front of the endpoint
        assert agent_main(["generate", "serpent", "--agent", "codex", "--endpoint", srv.base_url, "--model",
                           "serpent", "--tasks", str(tasks), "--out", str(out), "--quiet", "--overlay",
                           str(overlay)]) == 0
    printed = capsys.readouterr().out
    sessions = out / "codex-home" / ".codex" / "sessions"
    assert f"make extract CODEX_DIR={sessions}" in printed
    reports = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/report.json")}
    # the same command fixes `fixable` and leaves `other` (another bug) failing its judge
    assert {k: v[k]["resolved"] for k, v in reports.items()} == {"fixable-r1": True, "other-r1": False}
    first = reports["fixable-r1"]["fixable-r1"]
    assert first["agent"] == f"codex {clients.pinned('codex')}" and first["steps"] == 2
    assert first["prompt_tokens"] > 1000 and first["completion_tokens"] > 0  # from Codex's own usage events
    data = tmp_path / "data"
    assert extract_main(["--codex-dir", str(sessions), "--out", str(data), "--quiet", "extract.agent_files=false",
                         "extract.window_tokens=32000"]) == 0
    ledger = json.loads((data / "sessions.json").read_text())["sources"]["codex"]
    assert len(ledger) == 2, ledger  # both rollouts read back
