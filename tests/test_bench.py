"""Every bench/ script runs to its figures at its smallest size, so that none breaks unseen (a bench nobody runs
broke when configs/demo.yaml began to extend tiny.yaml). Nothing here times anything: the figures are the scripts'."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import yaml

import forkrun

from core.config import read_overlay

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def bench(script: str, *args: str, tmp: Path) -> str:
    # TMPDIR: the stores, bases and datasets the scripts cache in the temp folder stay this test's own
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TMPDIR": str(tmp)}
    r = forkrun.run([str(REPO / "bench" / script), *args], env=env, cwd=REPO)
    assert r.returncode == 0, f"bench/{script} failed:\n{r.stderr[-3000:]}"
    return r.stdout


def test_every_bench_script_has_a_smoke_run_here():
    tested = {name.split("test_bench_")[1] for name in globals() if name.startswith("test_bench_")}
    assert tested == {p.stem for p in (REPO / "bench").glob("*.py")}


def test_bench_extract(tmp_path):
    out = bench("extract.py", "--sizes", "30", "--workers", "1", tmp=tmp_path)
    assert "| sessions | ours s |" in out


def test_bench_redact(tmp_path):
    out = bench("redact.py", tmp=tmp_path)
    assert "recall: " in out and "false redactions: " in out


def test_bench_train(tmp_path):
    out = bench("train.py", "--steps", "1", "--warmup", "1", "--repeats", "1", "--hidden-size", "32", tmp=tmp_path)
    assert "unpacked: trainer" in out and "packed: trainer" in out


def test_bench_eval(tmp_path):
    out = bench("eval.py", "--repeats", "1", tmp=tmp_path)
    assert "batched" in out


def test_bench_serve(tmp_path, tiny_base):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("the serve extra is not installed (make serve-setup; make test installs it)")
    cfg = read_overlay(REPO / "configs" / "demo.yaml")
    cfg["model"]["model_name_or_path"] = str(tiny_base)
    cfg["paths"] = {k: str(tmp_path / k) for k in ("data", "outputs", "reports", "exports", "cycles")}
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    out = bench("serve.py", "--overlay", str(tmp_path / "overlay.yaml"), "--clients", "1", "--requests", "1",
                "--prompt-tokens", "60", "--new-tokens", "2", tmp=tmp_path)
    # no specialist exported: the base alone, one row, no switching or reload baseline rows
    row = next(line for line in out.splitlines() if line.startswith("| shared base | same | 1 | 1 |"))
    assert row.split("|")[9].strip() == "0", row  # no errors
    assert "| shared base | different" not in out and "reload per switch" not in out
