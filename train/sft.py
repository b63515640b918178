"""Config in, SFTTrainer built, adapter out: one specialist's LoRA fit on its extracted dataset."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from extract import config as cfglib
from extract.config import ConfigError, Specialist


class NoTrainingData(ConfigError):
    """The specialist's train split is missing or empty (`--all` skips it)."""


def known_fields() -> dict[str, set[str]]:
    """The field names of the library config objects each section feeds."""
    from peft import LoraConfig
    from trl import ModelConfig, SFTConfig

    return {"sft": {f.name for f in dataclasses.fields(SFTConfig)},
            "lora": {f.name for f in dataclasses.fields(LoraConfig)},
            "model": {f.name for f in dataclasses.fields(ModelConfig)}}


def check_keys(cfg: dict[str, Any], known: dict[str, set[str]], where: str) -> None:
    for section, fields in known.items():
        unknown = sorted(set(cfg.get(section) or {}) - fields)
        if unknown:
            raise ConfigError(f"{where}: {section}.{unknown[0]} is not a field of "
                              f"{ {'sft': 'trl.SFTConfig', 'lora': 'peft.LoraConfig', 'model': 'trl.ModelConfig'}[section]}"
                              + (f" (also unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""))


def load_specialist(name: str, overlay: str | None, overrides: list[str]) -> Specialist:
    known = known_fields()
    sp = cfglib.specialist(name, overlay=overlay, overrides=overrides, known=known)
    check_keys(sp.config, known, f"configs/{name}.yaml" + (f" + {overlay}" if overlay else ""))
    return sp


def load_splits(sp: Specialist):
    """The specialist's DatasetDict from data/<name>, read in memory (TRL must not write caches beside it)."""
    from extract.writer import open_dataset

    path = sp.path("data")
    ds = open_dataset(sp.name, path)
    if "train" not in ds or len(ds["train"]) == 0:
        raise NoTrainingData(f"{sp.name}: the train split at {path} is empty; no {sp.language} sessions were extracted")
    return ds


def sft_config(sp: Specialist, output_dir: Path):
    import torch
    from trl import SFTConfig

    args = dict(sp.config["sft"])
    if "bf16" not in args and not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        args["bf16"] = False  # TRL defaults to bf16, which raises on a CPU
    if not torch.cuda.is_available():
        args.setdefault("dataloader_pin_memory", False)
    args.setdefault("include_num_input_tokens_seen", "non_padding")
    args.setdefault("run_name", sp.name)
    return SFTConfig(output_dir=str(output_dir), **args)


def lora_config(sp: Specialist):
    from peft import LoraConfig

    return LoraConfig(**sp.config["lora"])


def token_lengths(tok, rows, chat_template=None, limit: int = 2000) -> list[int]:
    from .masking import tokenize

    return [len(tokenize(tok, r["messages"], r["tools"], chat_template)[0]) for r in rows.select(
        range(min(limit, len(rows))))]


def describe_lengths(lengths: list[int], max_length: int | None) -> str:
    if not lengths:
        return "no windows"
    q = statistics.quantiles(lengths, n=20) if len(lengths) > 1 else [lengths[0]] * 19
    over = sum(n > max_length for n in lengths) if max_length else 0
    return (f"tokens per window: min {min(lengths)}, median {int(statistics.median(lengths))}, p95 {int(q[18])}, "
            f"max {max(lengths)}; {over} of {len(lengths)} over max_length {max_length}")


def dry_run(sp: Specialist) -> None:
    from .masking import training_template
    from .model import load_tokenizer

    ds = load_splits(sp)
    tok = load_tokenizer(sp.config["model"])
    print(f"# {sp.name} ({sp.language}): resolved configuration")
    print(yaml.safe_dump({k: sp.config[k] for k in ("model", "lora", "sft", "paths")}, sort_keys=False).rstrip())
    print(f"dataset {sp.path('data')}: train {len(ds['train'])} windows, test {len(ds.get('test', []))} windows")
    print(describe_lengths(token_lengths(tok, ds["train"], training_template(tok)), sp.config["sft"].get("max_length")))


def train(sp: Specialist, *, resume: bool = False) -> dict[str, Any]:
    """Fit and save the adapter; the previous adapter stays in place until the new one is complete."""
    from trl import SFTTrainer

    from .masking import training_template
    from .model import load_model, load_tokenizer, resolve_base

    ds = load_splits(sp)
    out = sp.path("outputs")
    ckpt = out / "checkpoints"
    last = _last_checkpoint(ckpt)
    if resume and last is None:
        print(f"{sp.name}: RESUME asked but no checkpoint in {ckpt}; starting from step 0", file=sys.stderr)
    if not resume and ckpt.exists():
        shutil.rmtree(ckpt)  # a fresh run; checkpoints of an earlier run would be mixed into this one
    args = sft_config(sp, ckpt)
    tok = load_tokenizer(sp.config["model"])
    lengths = token_lengths(tok, ds["train"], training_template(tok))
    over = sum(n > args.max_length for n in lengths) if args.max_length else 0
    if over:
        print(f"{sp.name}: {over} of {len(lengths)} train windows are longer than max_length {args.max_length}; "
              f"TRL keeps their first {args.max_length} tokens (rows left without assistant tokens are dropped). "
              f"Re-extract with extract.window_tokens <= max_length to avoid it.", file=sys.stderr)
    model = load_model(sp.config["model"], for_training=True)
    test = ds["test"] if "test" in ds and len(ds["test"]) else None
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=test,
                         processing_class=tok, peft_config=lora_config(sp))
    before = trainer.evaluate()["eval_loss"] if test is not None and not (resume and last) else None
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=str(last) if resume and last else None)
    wall = time.time() - t0
    after = trainer.evaluate()["eval_loss"] if test is not None else None
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    base = sp.config["model"]["model_name_or_path"]
    summary = {
        "specialist": sp.name, "language": sp.language, "base_model": base, "base_model_path": resolve_base(base),
        "resumed_from": last.name if resume and last else None, "global_step": trainer.state.global_step,
        "train_windows": len(ds["train"]), "test_windows": len(test) if test is not None else 0,
        "tokens_seen": tokens, "train_loss": round(result.training_loss, 4), "wall_seconds": round(wall, 1),
        "tokens_per_second": round(tokens / wall, 1) if wall else None,
        "eval_loss_before": before, "eval_loss_after": after, "windows_over_max_length": over,
        "data_fingerprint": _fingerprint(sp), "config": {k: sp.config[k] for k in ("model", "lora", "sft")},
    }
    _save(trainer, tok, out, summary)
    return summary


def _last_checkpoint(ckpt: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    return Path(get_last_checkpoint(str(ckpt))) if ckpt.is_dir() and get_last_checkpoint(str(ckpt)) else None


def _fingerprint(sp: Specialist) -> str | None:
    manifest = Path(sp.config["paths"]["data"]) / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text()).get("specialists", {}).get(sp.name, {}).get("fingerprint")
    return None


def _save(trainer, tok, out: Path, summary: dict[str, Any]) -> None:
    """Write adapter/ and training_summary.json beside the checkpoints, replacing the old ones only when complete."""
    tmp = out / f".adapter-{uuid.uuid4().hex[:8]}"
    try:
        trainer.save_model(str(tmp))
        tok.save_pretrained(str(tmp))
        (tmp / "training_args.bin").unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a half-written adapter must not linger beside the real one
        raise
    old = out / f".old-{uuid.uuid4().hex[:8]}"
    if (out / "adapter").exists():
        (out / "adapter").rename(old)
    tmp.rename(out / "adapter")
    shutil.rmtree(old, ignore_errors=True)
    st = out / f".summary-{uuid.uuid4().hex[:8]}.json"
    st.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(st, out / "training_summary.json")
