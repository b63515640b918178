"""Train a candidate adapter per specialist into the cycle's staging folder, with `python -m train`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from core.config import ConfigError, Specialist


def train(sp: Specialist, staging: Path, start_from: Path | None, overlay: str | None,
          overrides: list[str]) -> Path:
    """`python -m train NAME` with paths.outputs in the staging folder; returns the candidate's folder.

    With `start_from` (the promoted adapter) training continues from its weights instead of a fresh LoRA. The
    checkpoints are dropped once the adapter is written: a killed cycle starts the candidate again.
    """
    out_root = staging / "candidates"
    cmd = [sys.executable, "-m", "train", sp.name, *(["--overlay", overlay] if overlay else []),
           *(["--init-adapter", str(start_from)] if start_from else []), *overrides, f"paths.outputs={out_root}"]
    print(f"cycle {sp.name}: training a candidate from {'the promoted adapter' if start_from else 'the base'}",
          flush=True)
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ConfigError(f"{sp.name}: candidate training failed: {last.removeprefix('train: error: ')}")
    cand = out_root / sp.name
    shutil.rmtree(cand / "checkpoints", ignore_errors=True)
    if not (cand / "adapter" / "adapter_config.json").is_file():
        raise ConfigError(f"{sp.name}: candidate training wrote no adapter at {cand / 'adapter'}")
    return cand
