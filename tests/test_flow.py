"""The demo flow at small scale on the workspace: train --all, eval --all, export --all, then eval --summary.

One pass over every specialist (6 steps each on the tiny base), under a private outputs/reports/exports root. The
stages run in-process, as `make train-all eval-all export-all` would run them one after another; the summary runs
as the real command line (`python -m eval --summary`), the one subprocess of the suite.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SPECIALISTS = ["forge", "oxidizer", "prism", "serpent", "swiftblade"]
WITH_TEST_SPLIT = ["forge", "oxidizer", "serpent", "swiftblade"]  # prism has no held-out sessions here


def _stage(main, argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def flow(workspace, tmp_path_factory):
    from eval.__main__ import main as eval_main
    from train.__main__ import main as train_main
    from export.bundle import main as export_main

    root = tmp_path_factory.mktemp("flow")
    cfg = yaml.safe_load(Path(workspace["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(root / k)
    overlay = root / "overlay.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    ov = ["--overlay", str(overlay)]
    stages = {"train": _stage(train_main, ["--all", *ov]),
              "eval": _stage(eval_main, ["--all", *ov]),
              "export": _stage(export_main, ["--all", *ov])}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    summary = subprocess.run([sys.executable, "-m", "eval", "--summary", *ov], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120)
    return {"root": root, "stages": stages, "summary": summary}


def test_every_stage_succeeds(flow):
    for stage, (rc, out, err) in flow["stages"].items():
        assert rc == 0, f"{stage} --all failed:\n{err}"
    assert flow["summary"].returncode == 0, flow["summary"].stderr


def test_train_all_trains_every_specialist_with_a_dataset(flow):
    for name in SPECIALISTS:
        summary = json.loads((flow["root"] / "outputs" / name / "training_summary.json").read_text())
        assert summary["global_step"] == 6 and summary["tokens_seen"] > 0, name
        assert (flow["root"] / "outputs" / name / "adapter" / "adapter_model.safetensors").is_file()


def test_a_specialist_without_held_out_data_trains_without_a_held_out_loss(flow):
    summary = json.loads((flow["root"] / "outputs" / "prism" / "training_summary.json").read_text())
    assert summary["test_windows"] == 0
    assert summary["held_out_loss_base"] is None and summary["held_out_loss_adapter"] is None
    assert "train prism: 6 steps" in flow["stages"]["train"][1] and "n/a (no test split)" in flow["stages"]["train"][1]


def test_eval_all_evaluates_every_adapter_with_held_out_data_and_skips_prism(flow):
    rc, out, err = flow["stages"]["eval"]
    assert sorted(p.name for p in (flow["root"] / "reports").iterdir() if p.is_dir()) == WITH_TEST_SPLIT
    assert "skipped prism" in err


def test_every_evaluated_adapter_beats_its_base(flow):
    for name in WITH_TEST_SPLIT:
        r = json.loads((flow["root"] / "reports" / name / "eval.json").read_text())
        assert r["adapter"]["loss"] < r["base"]["loss"], name


def test_export_all_exports_every_trained_adapter_and_one_serving_script(flow):
    exports = flow["root"] / "exports"
    assert sorted(p.name for p in exports.iterdir() if p.is_dir()) == sorted([*SPECIALISTS, "agents"])
    script = (exports / "serve_vllm.sh").read_text()
    assert f"--max-loras {len(SPECIALISTS)}" in script
    for name in SPECIALISTS:
        assert f'{name}="$here/{name}/adapter"' in script  # found from the script's own folder
        assert (exports / name / "manifest.json").is_file() and (exports / name / "Modelfile").is_file()


def test_export_all_writes_agent_configs_naming_every_specialist(flow):
    agents = flow["root"] / "exports" / "agents"
    opencode = json.loads((agents / "opencode.json").read_text())
    assert set(SPECIALISTS) <= set(opencode["provider"]["workbench"]["models"])
    assert {a["model"] for a in opencode["agent"].values()} == {f"workbench/{n}" for n in SPECIALISTS}
    assert opencode["provider"]["workbench"]["options"]["baseURL"] == "http://127.0.0.1:8000/v1"
    assert all((agents / "codex" / f"{n}.config.toml").is_file() for n in SPECIALISTS)
    assert set(SPECIALISTS) <= {p.stem for p in (agents / "mini-swe-agent").glob("*.yaml")}


def test_summary_prints_a_row_per_specialist_with_base_and_adapter_losses(flow):
    lines = flow["summary"].stdout.strip().splitlines()
    assert lines[0].split() == ["specialist", "train/test", "windows", "test", "sessions", "base", "loss", "adapter",
                                "loss", "loss", "verdict", "adapter", "files"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert sorted(rows) == SPECIALISTS
    for name in WITH_TEST_SPLIT:  # name, windows, sessions, base, adapter, the verdict's words, files
        r = rows[name]
        windows, base, adapter, files = r[1], r[3], r[4], r[-1]
        assert float(adapter) < float(base), name
        assert files == str(flow["root"] / "exports" / name / "adapter")
        assert windows.split("/")[1] != "0" and int(r[2]) > 0
    assert rows["prism"][3:] == ["-", "-", "-", "not", "evaluated"]
