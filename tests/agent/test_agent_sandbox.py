"""Where commands run: the working copy, a temporary HOME inside the run's folder, time limits, no secrets."""
import os
import shutil
import time
from pathlib import Path

import pytest

from agent import sandbox


def _env(tmp_path, **kw):
    work = tmp_path / "scratch" / "work"
    work.mkdir(parents=True)
    return work, sandbox.environment("none", work, tmp_path / "scratch", timeout=kw.get("timeout", 10))


def test_commands_run_in_the_working_copy_with_home_and_temp_inside_the_scratch_folder(tmp_path):
    work, env = _env(tmp_path)
    out = env.execute({"command": "pwd; echo hi > ~/written; touch \"$TMPDIR/t\"; echo $HOME"})
    assert out["returncode"] == 0
    lines = out["output"].split()
    assert Path(lines[0]) == work and Path(lines[1]) == tmp_path / "scratch" / "home"
    assert (tmp_path / "scratch" / "home" / "written").read_text() == "hi\n"
    assert (tmp_path / "scratch" / "tmp" / "t").exists()
    assert not (Path.home() / "written").exists()


def test_secret_variables_never_reach_a_command(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    _, env = _env(tmp_path)
    out = env.execute({"command": "echo \"[$OPENAI_API_KEY][$GITHUB_TOKEN]\""})
    assert out["output"].strip() == "[][]"


def test_a_command_past_its_time_limit_is_killed(tmp_path):
    _, env = _env(tmp_path, timeout=1)
    start = time.monotonic()
    out = env.execute({"command": "sleep 30"})
    assert time.monotonic() - start < 10
    assert out["returncode"] == -1 and "TimeoutExpired" in out["extra"]["exception_type"]


@pytest.mark.skipif(shutil.which("cargo") is None, reason="no cargo")
def test_rust_toolchains_stay_reachable_with_the_temporary_home(tmp_path):
    _, env = _env(tmp_path)
    out = env.execute({"command": "cargo --version"})
    assert out["returncode"] == 0, out["output"]


def test_sandbox_setting(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert sandbox.mode("auto") == "none" and sandbox.mode("none") == "none"
    with pytest.raises(ValueError, match="no `bwrap` on PATH"):
        sandbox.mode("bubblewrap")
    with pytest.raises(ValueError, match="not one of auto, bubblewrap, none"):
        sandbox.mode("docker")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/bwrap")
    assert sandbox.mode("auto") == "bubblewrap"
    args = sandbox.bubblewrap_args(Path("/runs/x/.scratch/t"))
    assert args[args.index("--ro-bind") + 1] == "/" and "--unshare-net" in args
    assert args[args.index("--bind") + 1] == "/runs/x/.scratch/t"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_under_bubblewrap_only_the_scratch_folder_is_writable_and_there_is_no_network(tmp_path):
    work = tmp_path / "scratch" / "work"
    work.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    env = sandbox.environment("bubblewrap", work, tmp_path / "scratch", timeout=20)
    out = env.execute({"command": f"echo ok > ~/home-file && echo ok > in-work && (touch {outside}/x 2>&1; "
                                  "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 80), 2)' "
                                  "2>&1 | tail -1)"})
    assert (tmp_path / "scratch" / "home" / "home-file").exists() and (work / "in-work").exists()
    assert "cannot touch" in out["output"] and not (outside / "x").exists()
    assert "unreachable" in out["output"] or "Errno" in out["output"]
