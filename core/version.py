"""What produced an output: the git revision of this checkout (code_version), and the adapter weights (weights_digest)."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def code_version() -> str:
    """The git revision of this checkout, "-dirty" when it has local changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
        return (rev + ("-dirty" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def weights_digest(adapter: Path) -> str | None:
    """A short digest of an adapter's weights (adapter_model.safetensors): which adapter an eval scored, which one
    served when (the cycle's history). None when the folder holds no weights."""
    f = Path(adapter) / "adapter_model.safetensors"
    if not f.is_file():
        return None
    h = hashlib.sha256()
    with f.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
