"""Score a specialist's adapter against its base on held-out windows and write reports/<name>/."""
from __future__ import annotations

import json
import math
import os
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from extract.config import ConfigError, Specialist

from .loss import bits_per_byte, bootstrap, encode, mean_loss, window_losses


class NothingHeldOut(ConfigError):
    """The specialist's test split is missing or empty: there is nothing to evaluate on (`--all` skips it)."""


def code_version() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
        return (rev + ("-dirty" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def adapter_dir(sp: Specialist) -> Path:
    d = sp.path("outputs") / "adapter"
    if not (d / "adapter_config.json").exists():
        raise ConfigError(f"{sp.name}: no trained adapter at {d}; run `make train NAME={sp.name}` first")
    return d


def check_base(sp: Specialist, adapter: Path) -> None:
    """The adapter must have been trained on the base the config names now."""
    from train.model import resolve_base

    recorded = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    wanted = resolve_base(sp.config["model"]["model_name_or_path"])
    if recorded and recorded != wanted:
        raise ConfigError(f"{sp.name}: the adapter at {adapter} was trained on {recorded}, but the config's base is "
                          f"{wanted}; retrain, or set model.model_name_or_path to the adapter's base")


def evaluate(sp: Specialist) -> dict[str, Any]:
    from peft import PeftModel

    from extract.writer import open_dataset

    from train.masking import training_template
    from train.model import load_model, load_tokenizer

    adapter = adapter_dir(sp)
    check_base(sp, adapter)
    data = sp.path("data")
    ds = open_dataset(sp.name, data)
    if "test" not in ds or len(ds["test"]) == 0:
        raise NothingHeldOut(f"{sp.name}: the test split at {data} is empty; nothing held out to evaluate on "
                             f"(raise extract.test_fraction or extract more sessions)")
    tok = load_tokenizer(sp.config["model"])
    enc = encode(tok, ds["test"], training_template(tok), sp.config["sft"].get("max_length"))
    model = PeftModel.from_pretrained(load_model(sp.config["model"]), str(adapter))
    bs = int(sp.config["eval"].get("batch_size", 8))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    tuned = window_losses(model, enc, batch_size=bs, pad_id=pad)
    with model.disable_adapter():
        base = window_losses(model, enc, batch_size=bs, pad_id=pad)
    ci = bootstrap(base, tuned)
    lb, la = mean_loss(base), mean_loss(tuned)
    summary_path = sp.path("outputs") / "training_summary.json"
    training = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    result = {
        "specialist": sp.name, "language": sp.language,
        "base_model": sp.config["model"]["model_name_or_path"], "adapter_path": str(adapter),
        "data_fingerprint": training.get("data_fingerprint"), "code_version": code_version(),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "test_windows": len(enc), "test_sessions": len({w.session_id for w in base}),
        "trained_tokens": sum(w.tokens for w in base), "train_windows": training.get("train_windows"),
        "base": {"loss": round(lb, 4), "perplexity": round(math.exp(lb), 3), "bits_per_byte": round(bits_per_byte(base), 4),
                 "loss_ci95": ci.get("a")},
        "adapter": {"loss": round(la, 4), "perplexity": round(math.exp(la), 3),
                    "bits_per_byte": round(bits_per_byte(tuned), 4), "loss_ci95": ci.get("b")},
        "delta_loss_ci95": ci.get("delta"),
    }
    result["verdict"] = verdict(result)
    write_report(sp.path("reports"), result)
    return result


def verdict(r: dict[str, Any]) -> str:
    d = r.get("delta_loss_ci95") or []
    if d and d[1] < 0:
        return "better than base (95% interval of the loss change below 0)"
    if d and d[0] > 0:
        return "worse than base"
    return "no clear difference from base"


def write_report(out: Path, r: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    md = f"""# {r['specialist']} ({r['language']}): held-out evaluation

Base `{r['base_model']}` against the adapter at `{r['adapter_path']}`, on {r['test_windows']} held-out windows from
{r['test_sessions']} sessions ({r['trained_tokens']} assistant tokens, the same mask as training).
Intervals: 95% bootstrap over sessions.

| metric | base | adapter |
|---|---|---|
| assistant-token loss | {r['base']['loss']} {r['base']['loss_ci95']} | {r['adapter']['loss']} {r['adapter']['loss_ci95']} |
| perplexity | {r['base']['perplexity']} | {r['adapter']['perplexity']} |
| bits per byte | {r['base']['bits_per_byte']} | {r['adapter']['bits_per_byte']} |

Loss change (adapter - base): 95% interval {r['delta_loss_ci95']}. Verdict: **{r['verdict']}**.

Data fingerprint `{r['data_fingerprint']}`, code `{r['code_version']}`, evaluated {r['evaluated_at']}.
"""
    for name, text in (("eval.json", json.dumps(r, indent=2) + "\n"), ("eval.md", md)):
        tmp = out / f".{name}-{uuid.uuid4().hex[:8]}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
