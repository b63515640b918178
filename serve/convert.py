"""The base model as a GGUF file, made by llama.cpp's own `convert_hf_to_gguf.py`, once per base, then cached.

The converter is not in the llama-cpp-python wheel; `python -m serve.convert --install` copies it (the script, its
`conversion/` package and `gguf-py/`) out of the sdist of the installed llama-cpp-python version into
`<venv>/llama.cpp-convert/` (what `make serve-setup` runs once).

Converting is cached in `<exports>/serve/`: base.<outtype>.gguf and base.<outtype>.json, which records what it was
made from (the base's files: names, sizes and modification times). A changed base converts again; the swap is atomic.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from core.config import ConfigError

CONVERTER = Path(sys.prefix) / "llama.cpp-convert"
OUTTYPES = ("f32", "f16", "bf16", "q8_0")
# torch_dtype in config.json -> the converter's lossless --outtype
_LOSSLESS = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def converter_dir() -> Path:
    script = CONVERTER / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise ConfigError(f"llama.cpp's converter is not installed ({script} is missing); run `make serve-setup`")
    return CONVERTER


def install_converter(dest: Path = CONVERTER) -> Path:
    """Copy convert_hf_to_gguf.py, conversion/ and gguf-py/ out of the installed llama-cpp-python's sdist."""
    from importlib.metadata import version

    v = version("llama-cpp-python")
    with tempfile.TemporaryDirectory(prefix="llama-cpp-sdist-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-binary", ":all:", "--no-deps", f"llama-cpp-python=={v}",
                        "-d", tmp], check=True)
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        top = f"llama_cpp_python-{v}/vendor/llama.cpp/"
        wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/gguf/", "LICENSE")
        staging = Path(tempfile.mkdtemp(prefix=".llama.cpp-convert-", dir=dest.parent))
        try:
            with tarfile.open(sdist) as tar:
                for m in tar.getmembers():
                    rel = m.name[len(top):] if m.name.startswith(top) else None
                    if rel and m.isfile() and rel.startswith(wanted):
                        m.name = rel
                        tar.extract(m, staging, filter="data")
            (staging / "VERSION").write_text(v + "\n")
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def local_base(base: str, revision: str | None = None) -> Path:
    """The base's folder: as configured, a GGUF base's converted folder (core/bases.py), or the Hub snapshot (from the
    cache when HF_HUB_OFFLINE=1)."""
    from core import bases

    if bases.is_gguf(base):
        return bases.prepare(base)
    p = Path(base).expanduser()
    if p.is_dir():
        return p.resolve()
    if p.is_absolute() or base.startswith((".", "~")) or base.count("/") > 1:
        raise ConfigError(f"base model {base!r}: not a folder here")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(base, revision=revision or "main",
                                      allow_patterns=["*.json", "*.safetensors", "*.model", "*.jinja", "*.txt"]))
    except Exception as e:  # offline without a cache, a gated repo, a typo: one line
        raise ConfigError(f"base model {base!r}: not a local folder, and the Hub snapshot could not be had: "
                          f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def outtype_for(folder: Path, wanted: str = "auto") -> str:
    """The GGUF weight type: `wanted`, or with auto the base's own dtype (lossless), f16 when unknown."""
    if wanted != "auto":
        if wanted not in OUTTYPES:
            raise ConfigError(f"serve.gguf_type: {wanted!r} is not one of auto, {', '.join(OUTTYPES)}, source")
        return wanted
    cfg = json.loads((folder / "config.json").read_text())
    dtype = cfg.get("dtype") or cfg.get("torch_dtype") or (cfg.get("text_config") or {}).get("dtype")
    return _LOSSLESS.get(str(dtype), "f16")


def _fingerprint(folder: Path) -> str:
    """What the cached GGUF was made from: every file's name, size and mtime (cheap even for GBs of weights)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _made_from(out: Path, stamp: Path, want: dict) -> bool:
    """Whether the cached `out` was made from `want` (the recipe its stamp records)."""
    try:
        return out.is_file() and json.loads(stamp.read_text()) == want
    except (OSError, json.JSONDecodeError):
        return False


def _make(cmd: list[str], tmp: Path, out: Path, stamp: Path, want: dict, failed: str) -> None:
    """Run a command that writes `tmp`, then move it in as `out` with its recipe stamped (one error line if it fails)."""
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0 or not tmp.is_file():
        lines = [ln for ln in (run.stderr or run.stdout).splitlines() if ln.strip()]
        raise ConfigError(f"{failed}: {lines[-1] if lines else 'no output'}")
    os.replace(tmp, out)
    stamp.write_text(json.dumps(want, indent=2) + "\n")


def template_key(chat_template_path: str | None) -> str:
    """What decides the template the GGUF carries besides the base: the rule (core/templates.py) and the user's file."""
    from core import templates

    h = hashlib.sha256(Path(templates.__file__).read_bytes())
    if chat_template_path:
        p = Path(chat_template_path).expanduser()
        h.update(p.read_bytes() if p.is_file() else str(p).encode())
    return h.hexdigest()


def _with_template(folder: Path, template: str, staging: Path) -> Path:
    """A view of `folder` whose tokenizer carries `template` (the weights linked, not copied), for the converter: the
    served GGUF renders with the template training used (core/templates.py), not a base's own that cannot."""
    staging.mkdir(parents=True)
    for p in folder.iterdir():
        if p.name not in ("tokenizer_config.json", "chat_template.jinja", "chat_template.json"):
            (staging / p.name).symlink_to(p.resolve())
    cfg = json.loads((folder / "tokenizer_config.json").read_text()) if (folder / "tokenizer_config.json").is_file() \
        else {}
    cfg.pop("chat_template", None)
    (staging / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2))
    (staging / "chat_template.jinja").write_text(template)
    return staging


def base_gguf(base: str, cache: Path, *, revision: str | None = None, outtype: str = "auto",
              chat_template_path: str | None = None, log=print) -> Path:
    """The cached GGUF of `base` under `cache`, converted first when missing or stale. Its chat template is the one
    every stage trains and evaluates with (core.models.load_tokenizer), `chat_template_path` honoured."""
    folder = local_base(base, revision)
    if outtype == SOURCE:
        return source_gguf(base, folder, cache, chat_template_path=chat_template_path, log=log)
    kind = outtype_for(folder, outtype)
    out, stamp = cache / f"base.{kind}.gguf", cache / f"base.{kind}.json"
    want = {"base": base, "folder": str(folder), "fingerprint": _fingerprint(folder), "outtype": kind,
            "converter": (converter_dir() / "VERSION").read_text().strip(),
            "template": template_key(chat_template_path)}
    if _made_from(out, stamp, want):
        return out
    cache.mkdir(parents=True, exist_ok=True)
    log(f"serve: converting the base {base} to GGUF ({kind}) with llama.cpp's convert_hf_to_gguf.py -> {out}")
    tmp = cache / f".base.{kind}.{os.getpid()}.gguf"
    view = cache / f".base-view.{os.getpid()}"
    try:
        from core.models import load_tokenizer

        resolved = load_tokenizer({"model_name_or_path": str(folder)}, chat_template_path=chat_template_path,
                                  log=log).chat_template
        source = folder
        if resolved != _own_template(folder):
            shutil.rmtree(view, ignore_errors=True)
            source = _with_template(folder, resolved, view)
        _make([sys.executable, "-m", "serve.convert", "--run", str(source), "--outfile", str(tmp), "--outtype", kind],
              tmp, out, stamp, want, f"llama.cpp's converter failed on {folder}")
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(view, ignore_errors=True)
    return out


SOURCE = "source"  # serve.gguf_type: the GGUF file a GGUF base came from (its own quantization), not a conversion


def source_gguf(base: str, folder: Path, cache: Path, *, chat_template_path: str | None = None, log=print) -> Path:
    """`serve.gguf_type: source`: the GGUF a GGUF base came from (the shipped Q4 file, say), as it is but for its
    `tokenizer.chat_template`, which becomes the template the adapters trained with (gguf's own gguf_new_metadata)."""
    from core import bases

    record = bases.provenance(folder)
    if not record:
        raise ConfigError(f"serve.gguf_type: source serves the GGUF a GGUF base came from; {base!r} is not one "
                          f"(model.model_name_or_path: gguf:smollm2, gguf:gemma3 or a .gguf file)")
    out, stamp = cache / "base.source.gguf", cache / "base.source.json"
    want = {"base": base, "gguf": record["gguf_path"], "sha256": record["gguf_sha256"],
            "template": template_key(chat_template_path)}
    if _made_from(out, stamp, want):
        return out
    cache.mkdir(parents=True, exist_ok=True)
    log(f"serve: the base's own GGUF ({record['quantization']}) with the training template -> {out}")
    from core.models import load_tokenizer

    template = load_tokenizer({"model_name_or_path": str(folder)}, chat_template_path=chat_template_path,
                              log=log).chat_template
    tmp, jinja = cache / f".base.source.{os.getpid()}.gguf", cache / f".template.{os.getpid()}.jinja"
    try:
        jinja.write_text(template)
        _make([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", record["gguf_path"], str(tmp),
               "--chat-template-file", str(jinja), "--force"], tmp, out, stamp, want,
              f"gguf_new_metadata failed on {record['gguf_path']}")
    finally:
        tmp.unlink(missing_ok=True)
        jinja.unlink(missing_ok=True)
    return out


def _own_template(folder: Path) -> str | None:
    from transformers import AutoTokenizer

    template = AutoTokenizer.from_pretrained(str(folder)).chat_template
    return template.get("default") if isinstance(template, dict) else template


def _byte_level_bpe(folder: Path) -> bool:
    """GPT-2's byte-level BPE: a ByteLevel pre-tokenizer with GPT-2's regex and no prefix space, and nothing else."""
    try:
        pre = json.loads((folder / "tokenizer.json").read_text()).get("pre_tokenizer") or {}
    except (OSError, json.JSONDecodeError):
        return False
    return (pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space", False))


def _run_converter(argv: list[str]) -> None:
    """convert_hf_to_gguf.py's own main, knowing one more tokenizer: GPT-2 byte-level BPE under a new hash.

    The converter names the pre-tokenizer by hashing the ids of a probe text, so any tokenizer it has not seen is
    refused, even one that splits text exactly as GPT-2 does (the workbench's tiny base). That one is named gpt-2
    (the tests check the ids equal Hugging Face's); any other unknown tokenizer is still refused.
    """
    import runpy

    root = converter_dir()
    sys.path[:0] = [str(root), str(root / "gguf-py")]  # the converter's own gguf-py, as the script itself would
    from conversion import base as conv  # noqa: E402  (the converter's own package)

    known = conv.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return known(self, tokenizer)
        except NotImplementedError:
            if _byte_level_bpe(Path(self.dir_model)):
                return "gpt-2"
            raise

    conv.TextModel.get_vocab_base_pre = get_vocab_base_pre
    sys.argv = [str(root / "convert_hf_to_gguf.py"), *argv]
    runpy.run_path(str(root / "convert_hf_to_gguf.py"), run_name="__main__")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serve.convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--install", action="store_true", help="copy the converter out of llama-cpp-python's sdist")
    p.add_argument("--run", action="store_true", help="run the converter (its own arguments follow)")
    a, rest = p.parse_known_args(argv)
    try:
        if a.install:
            print(f"llama.cpp converter -> {install_converter()}")
            return 0
        if a.run:
            _run_converter(rest)
            return 0
    except ConfigError as e:
        print(f"serve: error: {e}", file=sys.stderr)
        return 2
    p.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
