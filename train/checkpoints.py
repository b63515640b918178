"""Checkpoints a resume can trust: written whole or not at all, checked before use, rotated by step.

What the installed Trainer (transformers 5.23, TRL 1.16) writes into `checkpoint-N/` for a PEFT model, in this order
(`Trainer._save_checkpoint`): `README.md`, `adapter_model.safetensors`, `adapter_config.json`, the tokenizer files,
`training_args.bin`, `optimizer.pt`, `scheduler.pt` (`scaler.pt` with fp16), `rng_state.pth` (`rng_state_<rank>.pth`
per process under a launcher) and `trainer_state.json` last; then it deletes the oldest checkpoints with `rmtree`.
A kill in the middle leaves a folder with some of these, or a half-deleted old one, which `get_last_checkpoint`
(it looks at names only) would pick. `SpecialistTrainer` therefore saves each checkpoint into `.staging-checkpoint/`
and renames it into place when every process is done, and deletes old ones by renaming them aside first; and a
resume uses only the newest checkpoint that passes `problems` (the files above, each readable to its end).
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def step(path: Path) -> int | None:
    m = CHECKPOINT.match(path.name)
    return int(m.group(1)) if m else None


def _torch_file_ok(path: Path) -> bool:
    """torch.save writes a zip archive whose directory is at the end: a cut-off file is not a zip file."""
    return path.is_file() and zipfile.is_zipfile(path)


def _safetensors_ok(path: Path) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            f.keys()
    except Exception:  # noqa: BLE001 (safetensors raises its own error type for a cut-off file)
        return False
    return True


def problems(path: Path) -> list[str]:
    """What makes `path` an incomplete checkpoint; empty when it is complete."""
    out = []
    n = step(path)
    try:
        state = json.loads((path / "trainer_state.json").read_text())
        if state.get("global_step") != n:
            out.append(f"trainer_state.json is at step {state.get('global_step')}")
    except (OSError, ValueError):
        out.append("no readable trainer_state.json")
    weights = [p for p in (path / "adapter_model.safetensors", path / "model.safetensors") if p.exists()]
    bins = [p for p in (path / "adapter_model.bin", path / "pytorch_model.bin") if p.exists()]
    sharded = any(path.glob("*.safetensors.index.json")) or any(path.glob("pytorch_model_fsdp*"))
    if not (weights or bins or sharded):
        out.append("no model weights")
    out += [f"{p.name} is cut off" for p in weights if not _safetensors_ok(p)]
    out += [f"{p.name} is cut off" for p in bins if not _torch_file_ok(p)]
    if (path / "adapter_model.safetensors").exists() or (path / "adapter_model.bin").exists():
        try:
            json.loads((path / "adapter_config.json").read_text())
        except (OSError, ValueError):
            out.append("no readable adapter_config.json")
    engine_state = any(path.glob("global_step*")) or any(path.glob("optimizer_*"))  # DeepSpeed / FSDP optimizer state
    required = ["training_args.bin"] + ([] if engine_state else ["optimizer.pt", "scheduler.pt"])
    for name in required:
        if not (path / name).exists():
            out.append(f"no {name}")
        elif not _torch_file_ok(path / name):
            out.append(f"{name} is cut off")
    rng = sorted(path.glob("rng_state*.pth"))
    if not rng:
        out.append("no rng_state.pth")
    out += [f"{p.name} is cut off" for p in rng if not _torch_file_ok(p)]
    return out


def checkpoints(folder: Path) -> list[Path]:
    """`checkpoint-N` folders, oldest step first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and step(p) is not None), key=step)


def latest_complete(folder: Path) -> tuple[Path | None, list[tuple[Path, list[str]]]]:
    """The newest complete checkpoint, and the incomplete ones newer than it (with what each lacks)."""
    skipped = []
    for p in reversed(checkpoints(folder)):
        wrong = problems(p)
        if not wrong:
            return p, skipped
        skipped.append((p, wrong))
    return None, skipped


def rotate(folder: Path, keep: int | None, newest: Path) -> None:
    """Keep the `keep` newest complete checkpoints (`newest`, just written, always); drop older incomplete ones.

    Each is renamed aside before it is deleted, so a kill never leaves a half-deleted folder under its name."""
    from core.atomic import remove_dir

    older = [p for p in checkpoints(folder) if step(p) < step(newest)]
    complete = [p for p in older if not problems(p)]
    doomed = [p for p in older if p not in complete]
    if keep is not None and keep > 0:
        doomed += complete[:max(len(complete) - (keep - 1), 0)]
    for p in doomed:
        remove_dir(p)
