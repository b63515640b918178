"""Score a specialist's adapter against its base on held-out windows and write reports/<name>/."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.atomic import Transaction
from core.config import ConfigError, Specialist
from core.version import code_version, weights_digest

from core.loss import bits_per_byte, bootstrap, encode, mean_loss, window_losses

from .verdicts import MIN_SESSIONS, judge

# eval.* keys and their defaults (configs/defaults.yaml sets them; these apply where a config predates a key)
DEFAULTS = {"batch_size": 8, "max_turns": 200, "max_new_tokens": 256, "matrix_next_action": False,
            "min_sessions": MIN_SESSIONS}


class NothingHeldOut(ConfigError):
    """The specialist's test split is missing or empty: there is nothing to evaluate on (`--all` skips it)."""


def eval_setting(sp: Specialist, key: str):
    value = sp.config.get("eval", {}).get(key, DEFAULTS[key])
    if key == "max_turns" and value is None:
        return None  # every held-out turn
    if isinstance(DEFAULTS[key], bool):
        if not isinstance(value, bool):
            raise ConfigError(f"eval.{key}: expected true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "max_turns" else 1):
        raise ConfigError(f"eval.{key}: expected a whole number {'>= 0' if key == 'max_turns' else '>= 1'}, "
                          f"got {value!r}")
    return value


def adapter_dir(sp: Specialist) -> Path:
    d = sp.path("outputs") / "adapter"
    if not (d / "adapter_config.json").exists():
        raise ConfigError(f"{sp.name}: no trained adapter at {d}; run `make train NAME={sp.name}` first")
    return d


def check_base(sp: Specialist, adapter: Path) -> None:
    """The adapter must have been trained on the base the config names now."""
    from core.models import resolve_base

    recorded = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    wanted = resolve_base(sp.config["model"]["model_name_or_path"])
    if recorded and recorded != wanted:
        raise ConfigError(f"{sp.name}: the adapter at {adapter} was trained on {recorded}, but the config's base is "
                          f"{wanted}; retrain, or set model.model_name_or_path to the adapter's base")


def held_out(sp: Specialist):
    """The specialist's test split, or NothingHeldOut (one line) when it is missing or empty."""
    from core.data import open_dataset

    data = sp.path("data")
    ds = open_dataset(sp.name, data)
    if "test" not in ds or len(ds["test"]) == 0:
        raise NothingHeldOut(f"{sp.name}: the test split at {data} is empty; nothing held out to evaluate on "
                             f"(raise extract.test_fraction or extract more sessions)")
    return ds["test"]


def evaluate(sp: Specialist) -> dict[str, Any]:
    """Base vs adapter on the held-out windows: loss (the training mask) and next action; writes reports/<name>/.

    Holds reports/<name>/'s lock throughout (a second eval of the same specialist is refused), and first finishes
    whatever a killed training run left committed in outputs/<name>/ (core.atomic.settle)."""
    from core.atomic import settle
    from core.lock import output_lock

    with output_lock(sp.path("reports"), what=f"eval {sp.name}"):
        settle(sp.path("outputs"))
        return _evaluate(sp)


def _evaluate(sp: Specialist) -> dict[str, Any]:
    from peft import PeftModel

    from core.masking import training_template
    from core.models import load_model, config_tokenizer, resolve_base

    from .actions import evaluate_turns, held_out_turns

    settings = {k: eval_setting(sp, k) for k in ("batch_size", "max_turns", "max_new_tokens", "min_sessions")}
    adapter = adapter_dir(sp)
    check_base(sp, adapter)
    test = held_out(sp)
    tok = config_tokenizer(sp.config, who=sp.name)
    enc = encode(tok, test, training_template(tok), sp.config["sft"].get("max_length"))
    model = PeftModel.from_pretrained(load_model(sp.config["model"]), str(adapter))
    bs = settings["batch_size"]
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    tuned = window_losses(model, enc, batch_size=bs, pad_id=pad, progress=f"{sp.name}: held-out loss, adapter")
    with model.disable_adapter():
        base = window_losses(model, enc, batch_size=bs, pad_id=pad, progress=f"{sp.name}: held-out loss, base")
    ci = bootstrap(base, tuned)
    lb, la = mean_loss(base), mean_loss(tuned)
    next_action = None
    if settings["max_turns"] != 0:
        turns, available = held_out_turns(test, settings["max_turns"])
        if turns:
            next_action = evaluate_turns(model, tok, turns, available, batch_size=bs,
                                         max_new_tokens=settings["max_new_tokens"],
                                         min_sessions=settings["min_sessions"], progress=sp.name)
    summary_path = sp.path("outputs") / "training_summary.json"
    training = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    result = {
        "specialist": sp.name, "language": sp.language,
        "base_model": sp.config["model"]["model_name_or_path"],
        "base_model_path": resolve_base(sp.config["model"]["model_name_or_path"]),
        "adapter_path": str(adapter), "adapter_sha256": weights_digest(adapter),
        "data_fingerprint": training.get("data_fingerprint"), "code_version": code_version(),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {**settings, "max_length": sp.config["sft"].get("max_length")},
        "test_windows": len(enc), "test_sessions": len({w.session_id for w in base}),
        "trained_tokens": sum(w.tokens for w in base), "train_windows": training.get("train_windows"),
        "base": {"loss": round(lb, 4), "perplexity": round(math.exp(lb), 3), "bits_per_byte": round(bits_per_byte(base), 4),
                 "loss_ci95": ci.get("a")},
        "adapter": {"loss": round(la, 4), "perplexity": round(math.exp(la), 3),
                    "bits_per_byte": round(bits_per_byte(tuned), 4), "loss_ci95": ci.get("b")},
        "delta_loss_ci95": ci.get("delta"),
        "next_action": next_action,
    }
    result["verdict"] = verdict(result)
    write_report(sp.path("reports"), result)
    return result


def verdict(r: dict[str, Any]) -> str:
    """The loss verdict (the next-action one is r["next_action"]["verdict"])."""
    return judge(r.get("test_sessions"), (r.get("settings") or {}).get("min_sessions", MIN_SESSIONS),
                 r.get("delta_loss_ci95") or [], better="below", measure="loss")


def _pct(m: dict[str, Any]) -> str:
    if not m["total"]:
        return "n/a (0 turns)"
    ci = m.get("ci95") or []
    interval = f" [{ci[0]:.0%}, {ci[1]:.0%}]" if ci else ""
    return f"{m['rate']:.0%} ({m['correct']}/{m['total']}){interval}"


def _cell(text: str, limit: int = 90) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|").replace("`", "'") or " "


def _calls(side: dict[str, Any]) -> str:
    calls = side["calls"]
    if not calls:
        return _cell("(no call) " + side["text"]) if side["text"] else "(no call, no text)"
    parts = [f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False) if c['arguments'] is not None else '?'})"
             for c in calls]
    return _cell("; ".join(parts) + (" [cut off]" if side.get("truncated") else ""))


def next_action_md(na: dict[str, Any]) -> str:
    from .actions import METRICS

    cap = f"a seeded sample of {na['turns']} of {na['turns_available']}" if na["turns"] < na["turns_available"] \
        else f"all {na['turns']}"
    lines = [
        "## Next action",
        "",
        f"Each held-out assistant turn ({cap} turns, from {na['sessions']} sessions; {na['recorded_with_call']} of "
        f"them call a tool) is generated greedily from the window's history before it, with the tools, up to "
        f"{na['max_new_tokens']} new tokens, and parsed back into text and tool calls ({na['parser']} parser). The "
        f"first call of a turn is its next action. Rates with counts and 95% bootstrap intervals over sessions.",
        "",
        "| metric | counted on | base | adapter | change (95% interval) |",
        "|---|---|---|---|---|",
    ]
    for key, label, what in METRICS:
        b, a = na["base"]["metrics"][key], na["adapter"]["metrics"][key]
        d = na["delta_ci95"].get(key) or []
        change = f"{a['rate'] - b['rate']:+.0%} [{d[0]:+.0%}, {d[1]:+.0%}]" if b["total"] and d else "n/a"
        lines.append(f"| {label} | {what} | {_pct(b)} | {_pct(a)} | {change} |")
    lines += [
        "",
        f"Turns with a tool call: base {na['base']['with_call']}, adapter {na['adapter']['with_call']}, recorded "
        f"{na['recorded_with_call']}. Cut off by the token limit: base {na['base']['truncated']}, adapter "
        f"{na['adapter']['truncated']}. Verdict: **{na['verdict']}**.",
    ]
    if na.get("samples"):
        lines += ["", "First turns, side by side:", "", "| recorded | base | adapter |", "|---|---|---|"]
        for s in na["samples"]:
            lines.append(f"| {_calls(s['recorded'])} | {_calls(s['base'])} | {_calls(s['adapter'])} |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, r: dict[str, Any]) -> None:
    from .plots import metrics_png

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

"""
    md += (next_action_md(r["next_action"]) if r.get("next_action") else
           "## Next action\n\nNot measured (`eval.max_turns: 0`, or no assistant turn held out).\n")
    md += f"""
![base vs adapter](metrics.png)

Data fingerprint `{r['data_fingerprint']}`, adapter `{r.get('adapter_sha256')}` (sha256 of its weights), code
`{r['code_version']}`, evaluated {r['evaluated_at']}.
"""
    with Transaction(out, what=f"eval {r['specialist']}") as tx:  # the three files change together or not at all
        metrics_png(r, tx.path("metrics.png"))
        tx.write_text("eval.json", json.dumps(r, indent=2) + "\n")
        tx.write_text("eval.md", md)
