"""The gate: candidate against the promoted adapter and the base on validation sessions, paired, bootstrapped.

Every number is the held-out assistant-token loss `python -m eval` computes (same mask, same cut at max_length,
same batching), and every interval is its bootstrap over sessions (a session's windows move together), of the
per-window losses of two models on the same windows: a paired change. Validation decides; test is only reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import ConfigError, Specialist

from .settings import CycleSettings


@dataclass
class Models:
    """The base, with every adapter the gate needs loaded onto it once under its own name."""

    model: Any
    tok: Any
    template: str | None

    def losses(self, adapter: str | None, enc, batch_size: int, *, plain: bool = False):
        """Per-window losses of `adapter` (None: the base); `plain`: one window at a time, no shared prefix."""
        from core.loss import active, window_losses

        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        kw = dict(batch_size=1, share_prefix=False) if plain else dict(batch_size=batch_size)
        with active(self.model, adapter):
            return window_losses(self.model, enc, pad_id=pad, **kw)


def _load(sp: Specialist, adapters: dict[str, Path]) -> Models:
    from core.loss import with_adapters
    from core.masking import training_template
    from core.models import config_tokenizer

    tok = config_tokenizer(sp.config, who=sp.name)
    model = with_adapters(sp.config["model"], adapters)
    model.eval()
    return Models(model, tok, training_template(tok))


def _split(sp: Specialist, split: str):
    from core.data import open_dataset

    try:
        ds = open_dataset(sp.name, sp.path("data"))
    except ConfigError:
        return None
    return ds[split] if split in ds and len(ds[split]) else None


def _interval(a, b, samples: int) -> list[float]:
    """95% bootstrap interval over sessions of the change in loss from a to b (b - a), paired window by window."""
    from core.loss import bootstrap

    return bootstrap(a, b, samples=samples)["delta"]


def _mean(ws) -> float | None:
    from core.loss import mean_loss

    v = mean_loss(ws)
    return None if v != v else round(v, 4)


def _contains_zero(ci: list[float]) -> bool:
    return bool(ci) and ci[0] <= 0 <= ci[1]


def _fmt(ci: list[float]) -> str:
    return f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def decide(specs: dict[str, Specialist], candidates: dict[str, Path], promoted: dict[str, Path | None],
           cs: CycleSettings) -> dict[str, dict[str, Any]]:
    """Per candidate: decision (passed / rejected / undecided), its reason, and the numbers behind it."""
    from core.models import quiet_libraries, resolve_base
    from core.loss import encode

    quiet_libraries()
    first = specs[next(iter(candidates))]
    bases = {resolve_base(specs[n].config["model"]["model_name_or_path"]) for n in candidates}
    if len(bases) > 1:
        raise ConfigError("the gate loads one base for every candidate, but the configs name " + ", ".join(sorted(bases)))
    adapters = {f"cand_{n}": p / "adapter" for n, p in candidates.items()}
    adapters |= {f"prom_{n}": p for n, p in promoted.items() if p is not None and n in candidates}
    m = _load(first, adapters)

    def bs(sp: Specialist) -> int:
        return int(sp.config.get("eval", {}).get("batch_size") or 8)

    def encoded(sp: Specialist, split: str):
        rows = _split(sp, split)
        if rows is None:
            return None, 0
        return encode(m.tok, rows, m.template, sp.config["sft"].get("max_length")), len(set(rows["session_id"]))

    val = {n: encoded(sp, "validation") for n, sp in specs.items()}
    results = {}
    for name in candidates:
        sp = specs[name]
        ref = f"prom_{name}" if promoted.get(name) else None  # no promoted adapter yet: the base is what serves
        enc, sessions = val[name]
        r: dict[str, Any] = {"validation": {"sessions": sessions, "windows": len(enc or [])}, "regressions": {}}
        results[name] = r
        if not enc or sessions < cs.min_val_sessions:
            r.update(decision="undecided", reason=f"{sessions} validation sessions, fewer than cycle.min_val_sessions "
                     f"{cs.min_val_sessions}: too few to judge (raise extract.val_fraction, or wait for more sessions)")
            continue
        cand = m.losses(f"cand_{name}", enc, bs(sp))
        base = m.losses(None, enc, bs(sp))
        refl = m.losses(ref, enc, bs(sp)) if ref else base
        # A/A: the reference scored again, one window at a time: the same model must come out "no difference"
        again = m.losses(ref, enc, bs(sp), plain=True)
        aa = _interval(refl, again, cs.bootstrap_samples)
        r["validation"] |= {"loss": {"candidate": _mean(cand), "promoted": _mean(refl) if ref else None,
                                     "base": _mean(base)},
                            "vs_promoted": _interval(refl, cand, cs.bootstrap_samples) if ref else None,
                            "vs_base": _interval(base, cand, cs.bootstrap_samples), "aa": aa}
        v = r["validation"]
        if cs.no_regression:
            for other, (oenc, _) in val.items():
                if other == name or not oenc:
                    continue
                ci = _interval(m.losses(ref, oenc, bs(specs[other])),
                               m.losses(f"cand_{name}", oenc, bs(specs[other])), cs.bootstrap_samples)
                r["regressions"][other] = {"interval": ci, "worse": bool(ci) and ci[0] > 0}
        test, test_sessions = encoded(sp, "test")
        if test:
            tc, tb = m.losses(f"cand_{name}", test, bs(sp)), m.losses(None, test, bs(sp))
            tr = m.losses(ref, test, bs(sp)) if ref else tb
            r["test"] = {"sessions": test_sessions, "windows": len(test),
                         "loss": {"candidate": _mean(tc), "promoted": _mean(tr) if ref else None, "base": _mean(tb)},
                         "vs_promoted": _interval(tr, tc, cs.bootstrap_samples) if ref else None,
                         "vs_base": _interval(tb, tc, cs.bootstrap_samples)}
        r.update(judge(v, r["regressions"], has_ref=ref is not None))
    return results


def judge(v: dict[str, Any], regressions: dict[str, dict[str, Any]], *, has_ref: bool) -> dict[str, str]:
    """The decision from the validation numbers: undecided (A/A), rejected (with the first reason), or passed.

    `v` holds the intervals (lists [low, high]) `aa`, `vs_base` and, with a promoted adapter (`has_ref`),
    `vs_promoted`; `regressions` maps other specialists to {"interval", "worse"}.
    """
    ref_name = "the promoted adapter" if has_ref else "the base (nothing promoted yet)"
    primary = v["vs_promoted"] if has_ref else v["vs_base"]
    worse = [o for o, x in regressions.items() if x["worse"]]
    if not _contains_zero(v["aa"]):
        return dict(decision="undecided", reason=f"A/A check failed: {ref_name} against itself (batched, then one "
                    f"window at a time) changes the loss by {_fmt(v['aa'])}, not 'no difference'; the gate cannot be "
                    f"trusted to compare here")
    if (v.get("loss") or {}).get("candidate", 0) is None:  # a loss that is not a number (NaN or inf)
        return dict(decision="rejected", reason="the candidate's validation loss is not a number: its training "
                    "diverged (a learning rate too high for it; its training_summary.json has the run)")
    if not primary or primary[1] >= 0:
        return dict(decision="rejected", reason=f"validation loss change against {ref_name} is "
                    f"{_fmt(primary) if primary else 'unknown'}: not below zero")
    if has_ref and v["vs_base"][1] >= 0:
        return dict(decision="rejected", reason=f"validation loss change against the base is {_fmt(v['vs_base'])}: "
                    f"not below zero")
    if worse:
        return dict(decision="rejected", reason=f"worse than {ref_name} on {worse[0]}'s validation sessions "
                    f"({_fmt(regressions[worse[0]]['interval'])}, cycle.no_regression)")
    return dict(decision="passed", reason=f"validation loss change {_fmt(primary)} against {ref_name}"
                + (f", {_fmt(v['vs_base'])} against the base" if has_ref else "") + ": below zero"
                + (", and no other specialist's validation loss worse" if regressions else ""))
