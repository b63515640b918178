"""Load configs/: shared defaults, one YAML per specialist, an optional overlay and KEY=VALUE overrides."""
from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import json
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError  # defined apart so that atomic and lock, which config uses, need not import config

CONFIG_DIR = Path(os.environ.get("WORKBENCH_CONFIGS") or Path(__file__).resolve().parents[1] / "configs")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
SECTIONS = ("paths", "extract", "model", "lora", "sft", "train", "eval", "export", "cycle", "serve", "agent")
TOP_LEVEL = ("language", "system_prompt")  # a specialist's own keys, beside the sections
# The sections whose keys are the fields of a library's config class (checked against its type hints).
LIBRARY = {"model": ("trl", "ModelConfig"), "lora": ("peft", "LoraConfig"), "sft": ("trl", "SFTConfig")}
# Keys whose default is null, and the type a value must have when it is set (other keys take their default's type).
NULLABLE = {"extract.window_tokens": int, "extract.tokenizer": str, "extract.workers": int, "eval.max_turns": int}
# Values that are more than a type: (check, what is expected).
RANGES = {"extract.test_fraction": (lambda v: 0 <= v < 1, "a fraction from 0 up to 1 (0.1 holds out 10% of tasks)"),
          "extract.holdout": (lambda v: v in ("hash", "recent"), "'hash' or 'recent'"),
          "extract.tool_output_chars": (lambda v: v > 0, "a whole number above 0"),
          "extract.window_tokens": (lambda v: v is None or v > 0, "a whole number above 0, or null"),
          "extract.workers": (lambda v: v is None or v >= 1, "a whole number >= 1, or null (one per core)"),
          "eval.batch_size": (lambda v: v >= 1, "a whole number >= 1"),
          "train.min_trained_share": (lambda v: 0 <= v < 1, "a fraction from 0 up to 1 (0 turns the check off)"),
          "eval.max_turns": (lambda v: v is None or v >= 0, "a whole number >= 0, or null"),
          "eval.max_new_tokens": (lambda v: v >= 1, "a whole number >= 1")}


@dataclass
class Specialist:
    name: str
    language: str
    system_prompt: str
    config: dict[str, Any]  # the merged sections

    def path(self, kind: str) -> Path:
        """data/<name>, outputs/<name>, reports/<name>, exports/<name> under the configured roots."""
        return Path(self.config["paths"][kind]) / self.name


_YAML_CACHE: dict[tuple[str, int, int], Any] = {}  # a file read once per process while it is unchanged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in _YAML_CACHE:
            _YAML_CACHE[key] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        data = copy.deepcopy(_YAML_CACHE[key])
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


@functools.cache
def library_hints() -> dict[str, dict[str, Any]]:
    """{section: {field: type hint}} of trl.ModelConfig, peft.LoraConfig and trl.SFTConfig.

    Importing trl and peft costs seconds (they import transformers and torch), which stages that never touch a model
    (extract, serve, the agent) should not pay to check a config. The hints are therefore kept, as plain typing
    objects (enums as Literal of their values and names, dataclasses as dict, other classes as Any), in a cache file
    named after the installed versions of the libraries; it is rebuilt when a version changes."""
    cache = _hints_cache_path()
    if cache is not None:
        try:
            return {section: {k: _hint_from_json(v) for k, v in fields.items()}
                    for section, fields in json.loads(cache.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    import importlib

    out = {}
    for section, (module, name) in LIBRARY.items():
        cls = getattr(importlib.import_module(module), name)
        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # a hint that does not resolve: field names only, values left to the library
            hints = {}
        out[section] = {f.name: _plain_hint(hints.get(f.name, Any)) for f in dataclasses.fields(cls)}
    if cache is not None:
        try:
            from .atomic import write_atomic

            cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cache, json.dumps({s: {k: _hint_to_json(h) for k, h in f.items()} for s, f in out.items()}))
        except OSError:
            pass  # a read-only cache folder: the next run imports the libraries again
    return out


def user_cache() -> Path:
    """The workbench's folder in the user's cache: ~/.cache/lora-workbench ($XDG_CACHE_HOME honoured)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lora-workbench"


def _hints_cache_path() -> Path | None:
    """The hints cache for the installed trl/peft/transformers versions (None when one is not installed)."""
    from importlib import metadata

    try:
        versions = "-".join(metadata.version(d) for d in ("trl", "peft", "transformers"))
    except metadata.PackageNotFoundError:
        return None
    return user_cache() / f"config-fields-{SCHEMA_VERSION}-{re.sub(r'[^A-Za-z0-9.+-]', '_', versions)}.json"


SCHEMA_VERSION = 1  # of the hints cache file


def _plain_hint(hint: Any) -> Any:
    """A type hint rebuilt from builtins and typing only, so that it can be cached as JSON (see library_hints)."""
    if hint is Any or hint is object or hint in (bool, int, float, str, list, dict) or hint is None:
        return hint
    if hint is type(None):
        return type(None)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_plain_hint(h) for h in typing.get_args(hint))]
    if origin is typing.Literal:
        args = tuple(a for a in typing.get_args(hint) if a is None or isinstance(a, (bool, int, float, str)))
        return typing.Literal[args] if args else Any
    if origin in (list, tuple, set):
        args = tuple(Ellipsis if a is Ellipsis else _plain_hint(a) for a in typing.get_args(hint))
        base = list if origin is set else origin
        return base[args] if args else base
    if origin is dict or hint is dict:
        return dict
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [m.value for m in hint if isinstance(m.value, (bool, int, float, str))] + list(hint.__members__)
        return typing.Literal[tuple(dict.fromkeys(values))] if values else Any
    if dataclasses.is_dataclass(hint):
        return dict
    return Any  # a class a YAML value cannot be: the library checks it


_NAMED = {"any": Any, "none": type(None), "bool": bool, "int": int, "float": float, "str": str, "list": list,
          "dict": dict}


def _hint_to_json(hint: Any) -> Any:
    for name, t in _NAMED.items():
        if hint is t:
            return name
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        return {"union": [_hint_to_json(h) for h in typing.get_args(hint)]}
    if origin is typing.Literal:
        return {"literal": list(typing.get_args(hint))}
    if origin in (list, tuple):
        return {origin.__name__: ["..." if a is Ellipsis else _hint_to_json(a) for a in typing.get_args(hint)]}
    return "any"


def _hint_from_json(data: Any) -> Any:
    if isinstance(data, str):
        return _NAMED[data]
    (kind, args), = data.items()
    if kind == "union":
        return typing.Union[tuple(_hint_from_json(a) for a in args)]
    if kind == "literal":
        return typing.Literal[tuple(args)]
    items = tuple(Ellipsis if a == "..." else _hint_from_json(a) for a in args)
    return {"list": list, "tuple": tuple}[kind][items]


def known_fields() -> dict[str, set[str]]:
    """The field names of the library config objects each section feeds."""
    return {section: set(hints) for section, hints in library_hints().items()}


def fits(value: Any, hint: Any) -> bool:
    """Whether a YAML value can be a field of this type hint (unions, Optional, Literal, lists; see _plain_hint)."""
    if hint is Any or hint is object:
        return True
    if hint is type(None) or hint is None:
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple, set):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and len(args) > 1 and Ellipsis not in typing.get_args(hint):
            return len(value) == len(args) and all(fits(v, a) for v, a in zip(value, args))
        return not args or all(fits(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is list:
        return isinstance(value, list)
    return True  # library hints come as _plain_hint made them: enums are Literal, dataclasses dict, classes Any


def _type_name(hint: Any) -> str:
    if hint is type(None) or hint is None:
        return "null"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_type_name(h) for h in typing.get_args(hint)))
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin in (list, tuple, set) or hint is list:
        return "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _default_hint(key: str, default: Any) -> Any:
    """The type a stage's own key takes: its default's (a number for a float, a list or one string for a list)."""
    if key in NULLABLE:
        return NULLABLE[key] | None
    if default is None:
        return Any
    if isinstance(default, bool):
        return bool
    if isinstance(default, float):
        return float
    if isinstance(default, list):
        return list[str] | str  # `extract.agents=build` on the command line is one string
    return type(default)


def validate(cfg: dict[str, Any], *, config_dir: Path = CONFIG_DIR, where: str = "") -> None:
    """Every key known and every value of the right type, or one ConfigError line naming the first that is not.

    The keys of model, lora and sft are the fields of trl.ModelConfig, peft.LoraConfig and trl.SFTConfig, checked
    against their type hints; every other section's keys are those configs/defaults.yaml sets, of the same type."""
    defaults = _read_yaml(config_dir / "defaults.yaml")
    where = f"{where}: " if where else ""
    for key in cfg:
        if key not in SECTIONS and key not in TOP_LEVEL:
            raise ConfigError(f"{where}unknown key {key!r} at the top level; expected the sections "
                              f"{', '.join(SECTIONS)} (or language, system_prompt in configs/<name>.yaml)")
    hints = library_hints()
    for section in SECTIONS:
        values = cfg.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{where}{section} must be a mapping of keys, got {values!r}")
        if section in LIBRARY:
            known = hints[section]
            owner = ".".join(LIBRARY[section])
        else:
            base = defaults.get(section) or {}
            known = {k: _default_hint(f"{section}.{k}", v) for k, v in base.items()}
            owner = f"configs/defaults.yaml's {section} section"
        for key, value in values.items():
            name = f"{section}.{key}"
            if key not in known:
                close = _close(key, known)
                raise ConfigError(f"{where}unknown key {name}" + (f" (did you mean {section}.{close}?)" if close
                                  else "") + f"; it is not a field of {owner}")
            if section == "sft" and key == "packing" and value == "auto":
                continue  # resolved by train before SFTConfig sees it
            if not fits(value, known[key]):
                raise ConfigError(f"{where}{name}={value!r} is not {_type_name(known[key])}")
            if name in RANGES and value is not None and not RANGES[name][0](value):
                raise ConfigError(f"{where}{name}={value!r}: expected {RANGES[name][1]}")
    for key, value in (cfg.get("paths") or {}).items():
        if value is not None and Path(str(value)).expanduser().exists() and not Path(str(value)).expanduser().is_dir():
            raise ConfigError(f"{where}paths.{key}={value} is a file; it must be a folder (or not exist yet)")


def _close(key: str, known) -> str | None:
    import difflib

    match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.8)
    return match[0] if match else None


def check_folder(path: Path | None, what: str) -> None:
    """A folder a stage reads or writes: one line when the path is a file."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(f"{what} {path}: is a file; give a folder")


def apply_overrides(cfg: dict, overrides: list[str], known: dict[str, set[str]] | None = None) -> dict:
    """Apply KEY=VALUE overrides; KEY is SECTION.FIELD, or a bare FIELD that exactly one section knows."""
    cfg = copy.deepcopy(cfg)
    known = known_fields() if known is None else known
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
        cfg = merge(cfg, read_overlay(Path(overlay)))
    where = " + ".join(["configs/defaults.yaml"] + ([f"configs/{name}.yaml"] if name else [])
                       + ([str(overlay)] if overlay else []))
    validate(cfg, config_dir=config_dir, where=where)  # the files first: an error names them
    cfg = apply_overrides(cfg, list(overrides), known)
    if overrides:
        validate(cfg, config_dir=config_dir, where="")  # an override: the error names its key
    for section in SECTIONS:
        cfg.setdefault(section, {})
    return cfg


def read_overlay(path: Path, depth: int = 0) -> dict[str, Any]:
    """An overlay file; `extends: other.yaml` (relative to it) applies another overlay under it first."""
    data = _read_yaml(path)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str) or depth > 4:
        raise ConfigError(f"{path}: extends must name one overlay file (and overlays may not extend in a loop)")
    return merge(read_overlay(path.parent / base, depth + 1), data)


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
    known_names = specialist_names()
    for n in names:
        if n not in known_names and _is_config_key(n):  # ARGS='learning_rate' without its value
            raise ConfigError(f"{n!r} looks like a config key without a value: write {n}=VALUE")
    if every:
        names = [n for n in specialist_names() if ready(specialist(n, **kw))]
        if not names:
            raise ConfigError(none_ready)
    if not names:
        raise ConfigError("name a specialist (" + ", ".join(specialist_names()) + ") or pass --all")
    return names


def _is_config_key(item: str) -> bool:
    section, _, field = item.partition(".")
    if field:
        return section in SECTIONS
    return any(item in fields for fields in known_fields().values()) or any(
        item in (v or {}) for v in _read_yaml(CONFIG_DIR / "defaults.yaml").values() if isinstance(v, dict))
