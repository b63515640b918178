"""Load configs/: shared defaults, one YAML per specialist, an optional overlay and KEY=VALUE overrides."""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(os.environ.get("WORKBENCH_CONFIGS") or Path(__file__).resolve().parents[1] / "configs")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
SECTIONS = ("paths", "extract", "model", "lora", "sft", "eval", "export", "cycle", "serve", "agent")


class ConfigError(Exception):
    """A configuration the user must fix; the message says what and where."""


@dataclass
class Specialist:
    name: str
    language: str
    system_prompt: str
    config: dict[str, Any]  # the merged sections

    def path(self, kind: str) -> Path:
        """data/<name>, outputs/<name>, reports/<name>, exports/<name> under the configured roots."""
        return Path(self.config["paths"][kind]) / self.name


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def merge(base: dict, top: dict) -> dict:
    """Deep-merge top into a copy of base (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in top.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def parse_value(text: str) -> Any:
    """A command-line value as YAML reads it: 1e-4 -> float, true -> bool, [a, b] -> list, else the string."""
    if text.strip().lower() in ("no", "yes", "on", "off", "y", "n"):  # YAML 1.2: only true/false are booleans
        return text.strip()
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(v, str) and _FLOAT.match(v):  # YAML 1.1 reads 1e-4 (no dot) as a string
        return float(v)
    return v


def apply_overrides(cfg: dict, overrides: list[str], known: dict[str, set[str]] | None = None) -> dict:
    """Apply KEY=VALUE overrides; KEY is SECTION.FIELD, or a bare FIELD that exactly one section knows."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE (for example learning_rate=1e-4)")
        key, value = item.split("=", 1)
        key = key.strip()
        if "." in key and key.split(".", 1)[0] in SECTIONS:
            section, field = key.split(".", 1)
        else:
            owners = [s for s in SECTIONS if key in (cfg.get(s) or {}) or (known and key in known.get(s, ()))]
            if not owners:
                raise ConfigError(f"override {key!r}: no config section knows this key; write SECTION.{key} "
                                  f"with SECTION one of {', '.join(SECTIONS)}")
            if len(owners) > 1:
                raise ConfigError(f"override {key!r}: several sections know it ({', '.join(owners)}); "
                                  f"write {owners[0]}.{key}")
            section, field = owners[0], key
        cfg.setdefault(section, {})[field] = parse_value(value)
    return cfg


def specialist_names(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Every configs/<name>.yaml that declares a language, in a stable order."""
    names = []
    for p in sorted(config_dir.glob("*.yaml")):
        if p.stem != "defaults" and "language" in _read_yaml(p):
            names.append(p.stem)
    return names


def load(name: str | None = None, *, overlay: str | os.PathLike | None = None, overrides: list[str] = (),
         known: dict[str, set[str]] | None = None, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """The merged configuration: defaults < specialist < overlay < overrides."""
    cfg = _read_yaml(config_dir / "defaults.yaml")
    if name is not None:
        path = config_dir / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown specialist {name!r}: no {path}; known: "
                              f"{', '.join(specialist_names(config_dir)) or 'none'}")
        cfg = merge(cfg, _read_yaml(path))
    overlay = overlay or os.environ.get("WORKBENCH_OVERLAY") or None
    if overlay:
        cfg = merge(cfg, _read_yaml(Path(overlay)))
    cfg = apply_overrides(cfg, list(overrides), known)
    for section in SECTIONS:
        cfg.setdefault(section, {})
    return cfg


def agent_file_prompt(language: str, agents_dirs: list[Path] | None = None) -> str | None:
    """The body of the user's opencode agent file for this language (build-rust.md and the like), if any."""
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "opencode"
    for d in agents_dirs or [home / "agents", home / "agent"]:
        p = d / f"build-{language}.md"
        if p.is_file():
            text = p.read_text(encoding="utf-8")
            if text.startswith("---"):  # YAML front matter (model, tools, ...) is opencode's, not the prompt
                end = text.find("\n---", 3)
                text = text[end + 4:] if end != -1 else text
            return text.strip() or None
    return None


def specialist(name: str, **kw) -> Specialist:
    cfg = load(name, **kw)
    language = cfg.get("language")
    if not language:
        raise ConfigError(f"configs/{name}.yaml: no 'language' key")
    prompt = agent_file_prompt(language) if cfg["extract"].get("agent_files", True) else None
    return Specialist(name=name, language=language, system_prompt=(prompt or cfg.get("system_prompt") or "").strip(),
                      config=cfg)


def specialists(names: list[str] | None = None, **kw) -> list[Specialist]:
    return [specialist(n, **kw) for n in (names or specialist_names(kw.get("config_dir", CONFIG_DIR)))]


def select_names(names: list[str], every: bool, ready, none_ready: str, **kw) -> list[str]:
    """The named specialists; with `every`, those whose `ready(specialist)` holds (config layers from **kw)."""
    if every:
        names = [n for n in specialist_names() if ready(specialist(n, **kw))]
        if not names:
            raise ConfigError(none_ready)
    if not names:
        raise ConfigError("name a specialist (" + ", ".join(specialist_names()) + ") or pass --all")
    return names
