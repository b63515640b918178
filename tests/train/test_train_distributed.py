"""Beyond one process: `accelerate launch` with the shipped configs/accelerate/ddp.yaml, for real, on a CPU.

Two processes (the gloo backend, since there is no GPU) train the tiny model, checkpoint, are resumed, and write the
same kind of adapter as a single process does: once, from the main process only.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from train_support import NAME, checkpoints, overlay_copy

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(overlay: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file", "configs/accelerate/ddp.yaml",
           "--num_processes", "2", "--main_process_port", str(free_port()), "-m", "train", NAME, "--overlay", overlay,
           *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def two_processes(workspace, tmp_path_factory):
    """2 steps and a checkpoint, then `--resume` to step 4, each run as two processes."""
    root = tmp_path_factory.mktemp("ddp")
    overlay = overlay_copy(workspace, root, save_steps=2, save_total_limit=2, logging_steps=1)
    first = launch(overlay, "max_steps=2")
    assert first.returncode == 0, first.stderr[-3000:]
    out = root / "outputs" / NAME
    first_summary = json.loads((out / "training_summary.json").read_text())
    resumed = launch(overlay, "--resume", "max_steps=4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"out": out, "first": first, "first_summary": first_summary, "resumed": resumed,
            "summary": json.loads((out / "training_summary.json").read_text())}


@pytest.mark.slow
def test_two_processes_train_and_write_the_adapter_once(two_processes, workspace):
    out = two_processes["out"]
    assert sorted(p.name for p in out.iterdir()) == ["adapter", "checkpoints", "training_summary.json"]
    for f in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (out / "adapter" / f).is_file(), f
    cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(Path(workspace["base"]).resolve()) and cfg["r"] == 16
    first = two_processes["first_summary"]
    assert first["processes"] == 2 and first["global_step"] == 2 and first["tokens_seen"] > 0
    assert first["held_out_loss_adapter"] < first["held_out_loss_base"]


@pytest.mark.slow
def test_only_the_main_process_prints(two_processes):
    for run, steps in ((two_processes["first"], 2), (two_processes["resumed"], 4)):
        lines = [l for l in run.stdout.splitlines() if l.startswith(f"train {NAME}: ")]
        assert len(lines) == 2, run.stdout  # "train serpent: <base> on <data>", then the result line
        assert lines[1].startswith(f"train {NAME}: {steps} steps")
        assert run.stdout.count("'loss'") == 2  # logging_steps 1, 2 steps a run: a line a step, not one a process


@pytest.mark.slow
def test_two_processes_checkpoint_and_resume(two_processes):
    s = two_processes["summary"]
    assert s["resumed_from"] == "checkpoint-2" and s["global_step"] == 4 and s["processes"] == 2
    assert "(resumed from checkpoint-2)" in two_processes["resumed"].stdout
    ckpt = two_processes["out"] / "checkpoints"
    assert checkpoints(ckpt) == ["checkpoint-2", "checkpoint-4"]
    assert {p.name for p in (ckpt / "checkpoint-4").glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}


def test_make_train_launch_runs_accelerate_with_the_named_config_and_processes():
    out = subprocess.run(["make", "-o", ".venv/.installed", "-n", "train", "NAME=serpent", "LAUNCH=ddp", "GPUS=2"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 -m train serpent" in out


def test_make_train_with_an_unknown_launch_config_says_which_exist():
    run = subprocess.run(["make", "-o", ".venv/.installed", "train", "NAME=serpent", "LAUNCH=nope"], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "LAUNCH=nope: no configs/accelerate/nope.yaml" in run.stdout


@pytest.mark.parametrize("name", ["ddp", "fsdp", "zero2", "zero3"])
def test_shipped_accelerate_configs_are_valid_for_accelerate(name):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(REPO / "configs" / "accelerate" / f"{name}.yaml"))
    assert cfg.distributed_type.value == {"ddp": "MULTI_GPU", "fsdp": "FSDP", "zero2": "DEEPSPEED",
                                          "zero3": "DEEPSPEED"}[name]
