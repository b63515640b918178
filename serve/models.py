"""What a server serves: the base, and every exported specialist of that base, each under its own name."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core import config as cfglib
from core.config import ConfigError

BASE = "base"  # the name the base answers to
AUTO = "auto"  # routes to a specialist by the conversation's language


@dataclass(frozen=True)
class Served:
    name: str
    language: str | None  # None: the base
    adapter_gguf: Path | None  # llama.cpp's LoRA file (exports/<name>/adapter.gguf); None: the base
    adapter_dir: Path | None  # the PEFT adapter (vLLM serves this one)


def served_models(*, overlay=None, names: list[str] | None = None, log=print,
                  overrides: list[str] = ()) -> tuple[dict, list[Served]]:
    """(the merged config, [base, every exported specialist]) for a server; `names` restricts to those models.

    A specialist is served when exports/<name>/ has a manifest and an adapter.gguf for the configured base; others
    are left out with one line saying why. A name asked for that cannot be served is an error. `overrides`: KEY=VALUE
    config overrides, as every stage takes them.
    """
    cfg = cfglib.load(overlay=overlay, overrides=overrides)
    base = cfg["model"]["model_name_or_path"]
    wanted = set(names or [])
    unknown = wanted - {BASE, *cfglib.specialist_names()}
    if unknown:
        raise ConfigError(f"no such model to serve: {', '.join(sorted(unknown))} (the specialists: "
                          f"{', '.join(cfglib.specialist_names())}, and {BASE})")
    served = [Served(BASE, None, None, None)]
    for sp in cfglib.specialists(overlay=overlay, overrides=overrides):
        if wanted and sp.name not in wanted:
            continue
        why = not_servable(sp, base)
        if why:
            if wanted:
                raise ConfigError(f"{sp.name} cannot be served: {why}")
            log(f"serve: {sp.name} left out: {why}")
            continue
        out = sp.path("exports")
        served.append(Served(sp.name, sp.language, out / "adapter.gguf", out / "adapter"))
    return cfg, served


def not_servable(sp, base: str) -> str | None:
    """Why `make serve` would leave this specialist out (not exported, another base, no adapter.gguf); None: served."""
    out = sp.path("exports")
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return f"not exported (no {manifest}; run `make export NAME={sp.name}`)"
    try:
        m = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError):
        return f"{manifest} is not readable JSON; export it again (FORCE=1)"
    if m.get("base_model") != base:
        return f"exported for the base {m.get('base_model')!r}, the server's base is {base!r}"
    if not (out / "adapter.gguf").is_file():
        skipped = (m.get("gguf") or {}).get("skipped")
        return f"no adapter.gguf ({skipped})" if skipped else f"no {out / 'adapter.gguf'}"
    return None


def exports_root(cfg: dict) -> Path:
    return Path(cfg["paths"]["exports"])
