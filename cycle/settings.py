"""The `cycle` config section: its keys, their defaults and one-line errors for bad values."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import ConfigError

DEFAULTS: dict[str, Any] = {
    "min_new_sessions": 5, "start_from": "promoted", "no_regression": True, "auto_promote": False,
    "min_val_sessions": 3, "bootstrap_samples": 1000, "reexport": True, "on_promote": None,
}


@dataclass
class CycleSettings:
    min_new_sessions: int
    start_from: str  # "promoted": continue the promoted adapter; "base": a fresh adapter on the base
    no_regression: bool  # no other specialist's val split may get worse beyond its interval
    auto_promote: bool
    min_val_sessions: int  # fewer validation sessions than this: the gate refuses to decide
    bootstrap_samples: int
    reexport: bool  # promotion and rollback re-run eval and export for the specialist
    on_promote: str | None  # a shell command run after a promotion or rollback (NAME, ADAPTER, EXPORT in its env)
    root: Path  # paths.cycles


def settings(cfg: dict[str, Any]) -> CycleSettings:
    raw = {**DEFAULTS, **(cfg.get("cycle") or {})}
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"cycle.{unknown[0]}: not a cycle setting; known: {', '.join(DEFAULTS)}")
    for key in ("min_new_sessions", "min_val_sessions", "bootstrap_samples"):
        v = raw[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"cycle.{key}: expected a whole number >= 1, got {v!r}")
    for key in ("no_regression", "auto_promote", "reexport"):
        if not isinstance(raw[key], bool):
            raise ConfigError(f"cycle.{key}: expected true or false, got {raw[key]!r}")
    if raw["start_from"] not in ("promoted", "base"):
        raise ConfigError(f"cycle.start_from: expected 'promoted' or 'base', got {raw['start_from']!r}")
    if raw["on_promote"] is not None and not isinstance(raw["on_promote"], str):
        raise ConfigError(f"cycle.on_promote: expected a shell command or null, got {raw['on_promote']!r}")
    root = Path((cfg.get("paths") or {}).get("cycles") or "cycles")
    return CycleSettings(root=root, **raw)
