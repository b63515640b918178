"""`make demo`, as the Makefile runs it, under a temp folder: every stage succeeds, every adapter beats the base on
its own split, every specialist holds out enough sessions for five verdicts, and training records eval's losses.

The commands are the demo target's own (`make -n demo` prints them), so this test and the Makefile cannot drift
apart. Each `demo/...` path moves under a temp folder, and `configs/demo.yaml` (with the `tiny.yaml` it extends)
becomes a copy whose `demo/` paths
point there too; nothing else changes: the same stores, tiny base (pretrained), configs, steps and seeds.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import forkrun

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SPECIALISTS = ["forge", "oxidizer", "prism", "serpent", "swiftblade"]


def demo_commands(py: str) -> list[list[str]]:
    """The demo recipe's commands, `$(PY)` set to `py`, echo lines left out."""
    # ARGS= and no MAKEFLAGS: under `make test ARGS=...` the parent make passes its ARGS down, and the demo's
    # commands would get pytest's options
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    printed = subprocess.run(["make", "-s", "-n", "-o", ".venv/.installed", "demo", f"PY={py}", "ARGS=", "BASE="],
                             cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
    commands = []
    for line in printed.replace("\\\n", " ").splitlines():
        argv = shlex.split(line)
        if argv and argv[0] != "echo":
            commands.append(argv)
    return commands


def moved(argv: list[str], root: Path, overlay: Path) -> list[str]:
    out = []
    for arg in argv:
        if arg == "configs/demo.yaml":
            arg = str(overlay)
        elif arg.startswith("demo/"):
            arg = str(root / arg[len("demo/"):])
        out.append(arg)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = tmp_path_factory.mktemp("demo")
    overlay = root / "demo.yaml"
    for name in ("demo.yaml", "tiny.yaml"):  # the demo overlay and the tiny.yaml it extends (the base is demo/base)
        (root / name).write_text((REPO / "configs" / name).read_text().replace(" demo/", f" {root}/"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    runs = []
    for argv in demo_commands(sys.executable):
        argv = moved(argv, root, overlay)
        if argv[:2] == [sys.executable, "-m"]:  # `python -m ...`, forked with the libraries imported (forkrun)
            runs.append(forkrun.run(argv[2:], env=env, cwd=REPO))
        else:
            runs.append(subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600))
        if runs[-1].returncode != 0:
            break
    return {"root": root, "runs": runs}


def test_the_demo_recipe_is_what_this_test_runs():
    commands = [" ".join(c[1:4]) for c in demo_commands("PY")]
    assert commands[0].startswith("-m sample.store --out")
    assert any(c.startswith("-m sample.tiny_model") for c in commands)
    assert ["-m", "eval", "--all"] == demo_commands("PY")[-3][1:4]


def test_every_demo_command_succeeds(demo):
    for run in demo["runs"]:
        assert run.returncode == 0, f"{shlex.join(run.args)} failed:\n{run.stderr[-3000:]}"
    assert len(demo["runs"]) == len(demo_commands("PY"))


def test_the_tiny_base_is_pretrained_on_sessions_that_are_not_the_users(demo):
    record = json.loads((demo["root"] / "base" / "pretraining.json").read_text())
    assert record["store"] == str(demo["root"] / "pretrain" / "opencode.db")
    assert record["steps"] > 0 and record["last_loss"] < record["first_loss"]


def test_every_adapter_beats_the_base_on_its_own_held_out_sessions(demo):
    for name in SPECIALISTS:
        r = json.loads((demo["root"] / "reports" / name / "eval.json").read_text())
        assert r["adapter"]["loss"] < r["base"]["loss"], name


def test_the_matrix_has_the_base_and_every_adapter_on_every_split_and_the_diagonal_wins(demo):
    m = json.loads((demo["root"] / "reports" / "matrix.json").read_text())
    assert m["rows"] == ["base", *SPECIALISTS] and m["columns"] == SPECIALISTS
    assert [len(row) for row in m["loss"]] == [len(SPECIALISTS)] * (1 + len(SPECIALISTS))
    for j, name in enumerate(SPECIALISTS):
        column = {row: m["loss"][i][j] for i, row in enumerate(m["rows"])}
        own = column.pop(name)
        assert own < column["base"], f"{name}: own adapter {own}, base {column['base']}"
        # the demo's store holds out eval.min_sessions (6) sessions or more of every specialist: each column is judged
        assert m["sessions"][name] >= m["min_sessions"] == 6, (name, m["sessions"])
        assert "too_few" not in m["diagonal"][name] and "wins" in m["diagonal"][name]["loss"], name
    summary = (demo["root"] / "reports" / "summary.md").read_text()
    assert "too few held-out sessions" not in summary


def test_the_demo_ends_with_five_verdicts(demo):
    """Every specialist's report judges its loss and next action (whatever the verdicts say): none is too few."""
    for name in SPECIALISTS:
        r = json.loads((demo["root"] / "reports" / name / "eval.json").read_text())
        assert r["test_sessions"] >= 6, (name, r["test_sessions"])
        assert r["verdict"].startswith(("better than base", "worse than base", "no clear difference")), name
        assert "too few" not in (r.get("next_action") or {}).get("verdict", ""), name
    printed = demo["runs"][-1].stdout
    assert "too few" not in printed and sum(printed.count(v) for v in ("better than base", "worse than base",
                                                                       "no clear difference")) >= 5


def test_training_records_the_held_out_losses_eval_reports(demo):
    """One held-out loss under one name: training_summary.json's base and adapter losses are eval.json's."""
    for name in SPECIALISTS:
        s = json.loads((demo["root"] / "outputs" / name / "training_summary.json").read_text())
        r = json.loads((demo["root"] / "reports" / name / "eval.json").read_text())
        assert s["held_out_loss_base"] == pytest.approx(r["base"]["loss"], abs=2e-4), name  # rounded to 4 places
        assert s["held_out_loss_adapter"] == pytest.approx(r["adapter"]["loss"], abs=2e-4), name


def test_the_demo_exports_every_adapter_and_prints_the_table(demo):
    for name in SPECIALISTS:
        assert (demo["root"] / "exports" / name / "adapter" / "adapter_model.safetensors").is_file(), name
    table = demo["runs"][-1].stdout
    assert all(name in table for name in SPECIALISTS)
