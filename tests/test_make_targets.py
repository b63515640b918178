"""Every make target honours ARGS, and the data tools have targets (issue 18, points 8 and 12); the default Hub base
with no Hub fails at once with one line (point 10).

The Makefile is read with `make -n` (print the commands, run nothing)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = "probe.key=1"

STAGE_TARGETS = ["extract", "data-report", "analyze", "show", "compare", "export-jsonl", "train", "train-all",
                 "inspect", "eval", "eval-all", "export", "export-all", "demo", "serve", "agent-eval", "agent-eval-all",
                 "generate"]


def _dry(target: str) -> list[str]:
    run = subprocess.run(["make", "-n", target, "NAME=serpent", "A=data-old", "B=data", f"ARGS={PROBE}"], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return [line for line in run.stdout.replace("\\\n", " ").splitlines() if " -m " in line and ".venv/bin/" in line
            and " pip " not in line]


@pytest.mark.parametrize("target", STAGE_TARGETS)
def test_every_stage_target_passes_args_to_its_entry_point(target):
    # the demo's sample store and base take none, nor does the engine's install step
    commands = [c for c in _dry(target) if " -m sample." not in c and " -m serve.convert" not in c]
    assert commands, target
    for c in commands:
        assert PROBE in c, c


@pytest.mark.parametrize("target,verb", [("analyze", "analyze"), ("show", "show serpent 0"),
                                         ("compare", "compare data-old data"), ("export-jsonl", "export-jsonl serpent")])
def test_each_data_tool_has_a_target(target, verb):
    [command] = _dry(target)
    assert f"-m extract {verb}" in command


def test_export_takes_key_value_overrides(tmp_path, capsys):
    from export.bundle import main

    assert main(["serpent", f"paths.outputs={tmp_path / 'elsewhere'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"export: error: serpent: no trained adapter at {tmp_path / 'elsewhere' / 'serpent' / 'adapter'}; " \
                  "run `make train NAME=serpent` first"


def test_a_hub_base_with_no_hub_fails_at_once_with_one_line(tmp_path, monkeypatch, caplog):
    """No Hub, nothing cached, HF_HUB_OFFLINE unset: one line naming both ways out, and no minute of retries."""
    import socket

    from huggingface_hub import constants

    from core import models
    from core.config import ConfigError

    with socket.socket() as s:  # a port nothing listens on: the connect is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    models.hub_reachable.cache_clear()
    try:
        with pytest.raises(ConfigError) as e:
            models.load_tokenizer({"model_name_or_path": "Qwen/Qwen2.5-Coder-1.5B-Instruct"})
    finally:
        models.hub_reachable.cache_clear()
    msg = str(e.value)
    assert "\n" not in msg and "local folder" in msg and "HF_HUB_OFFLINE=1" in msg
    assert "Retrying" not in caplog.text
