"""One cycle: harvest -> candidates -> gate -> stage and report -> (auto) promote -> history."""
from __future__ import annotations

import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from core import config as cfglib
from core.config import ConfigError, Specialist

from . import adapters, candidates, gate, harvest, notify
from core.lock import output_lock
from core.version import weights_digest
from .report import append_history, markdown, now, summary_line
from .settings import CycleSettings, settings
from .state import State, read_json, write_json


def load(overlay: str | None, overrides: list[str]) -> tuple[CycleSettings, dict[str, Specialist], dict[str, Any]]:
    cfg = cfglib.load(overlay=overlay, overrides=overrides)
    cs = settings(cfg)
    specs = {sp.name: sp for sp in cfglib.specialists(overlay=overlay, overrides=overrides)}
    return cs, specs, cfg


def promoted_adapter(sp: Specialist) -> Path | None:
    d = sp.path("outputs") / "adapter"
    return d if (d / "adapter_config.json").is_file() else None


def locked(cs: CycleSettings, specs: dict[str, Specialist], what: str) -> ExitStack:
    """The cycle lock and every specialist's outputs lock: no other cycle, and no manual train, while held."""
    stack = ExitStack()
    try:
        stack.enter_context(output_lock(cs.root, what))
        for sp in specs.values():
            stack.enter_context(output_lock(sp.path("outputs"), what))
    except BaseException:
        stack.close()
        raise
    return stack


def clean_up(cs: CycleSettings, specs: dict[str, Specialist]) -> list[str]:
    """What a killed cycle left: its staging folder, a cycle folder without a report, a half-done promotion."""
    notes = []
    if cs.root.is_dir():
        for d in cs.root.iterdir():
            if d.is_dir() and (d.name.startswith(".partial-") or not (d / "report.json").exists()):
                shutil.rmtree(d)
                notes.append(f"removed {d} (left by an interrupted cycle)")
    for sp in specs.values():
        did = adapters.recover(sp.path("outputs"), lambda e: append_history(cs.root, e))
        if did:
            notes.append(f"{sp.name}: {did}")
    return notes


def _cycle_id(root: Path) -> str:
    base = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    cid, n = base, 1
    while (root / cid).exists() or (root / f".partial-{cid}").exists():
        n += 1
        cid = f"{base}-{n}"
    return cid


def run(overlay: str | None, source_args: list[str], overrides: list[str]) -> int:
    cs, specs, cfg = load(overlay, overrides)
    if float(cfg["extract"].get("val_fraction") or 0) <= 0:
        raise ConfigError("the cycle decides on validation sessions, and extract.val_fraction is 0: set it (for "
                          "example extract.val_fraction=0.1) in configs/defaults.yaml or your overlay")
    data = Path(cfg["paths"]["data"])
    with locked(cs, specs, "cycle"):
        for note in clean_up(cs, specs):
            print(f"cycle: note: {note}", flush=True)
        state = State(cs.root)
        started = now()
        ledger = harvest.extract(data, state, source_args, overlay, overrides)
        promoted = {n: promoted_adapter(sp) for n, sp in specs.items()}
        growth = harvest.growth(ledger, state, list(specs), {n for n, p in promoted.items() if p})
        todo = [n for n, g in growth.items() if g.train and g.added >= cs.min_new_sessions]
        if not todo:
            state.save(ledger)
            most = max((g.added for g in growth.values()), default=0)
            print(f"cycle: no new data: nothing trained (at most {most} new or changed train sessions for a "
                  f"specialist; cycle.min_new_sessions is {cs.min_new_sessions})")
            return 0
        cid = _cycle_id(cs.root)
        staging = cs.root / f".partial-{cid}"
        staging.mkdir(parents=True)
        cands = {}
        for n in todo:
            start = promoted[n] if cs.start_from == "promoted" else None
            cands[n] = candidates.train(specs[n], staging, start, overlay, overrides)
        results = gate.decide(specs, cands, promoted, cs)
        final = cs.root / cid
        staging.rename(final)  # the candidates in their place; the cycle counts once report.json is written
        report = {"cycle": cid, "started": started, "sources": harvest.per_source(ledger, state),
                  "settings": {k: v for k, v in vars(cs).items() if k != "root"}, "specialists": {}}
        for n, g in sorted(growth.items()):
            entry: dict[str, Any] = {"data": {"train": len(g.train), "new": len(g.new), "changed": len(g.changed),
                                              "validation": g.validation, "test": g.test,
                                              "new_held_out": g.new_held_out, "first_cycle": g.first}}
            if n not in cands:
                entry |= {"decision": "skipped", "reason": (
                    f"no new data ({g.added} new or changed train sessions; cycle.min_new_sessions is "
                    f"{cs.min_new_sessions})" if g.train else "no train sessions")}
            else:
                r = results[n]
                c = final / "candidates" / n
                entry |= {"decision": r["decision"], "reason": r["reason"], "gate": r,
                          "candidate": {"path": str(c), "files": sorted(p.name for p in (c / "adapter").iterdir()),
                                        "start_from": str(promoted[n]) if cs.start_from == "promoted" and promoted[n]
                                        else "base"}}
            report["specialists"][n] = entry
        report["finished"] = now()
        _write_report(final, report)
        for n, entry in sorted(report["specialists"].items()):
            append_history(cs.root, {"event": "decision", "cycle": cid, "specialist": n,
                                     "decision": entry["decision"], "reason": entry["reason"],
                                     "candidate": entry.get("candidate", {}).get("path"),
                                     "candidate_adapter": weights_digest(final / "candidates" / n / "adapter"),
                                     "serving_adapter": weights_digest(specs[n].path("outputs") / "adapter")})
            if n in cands:
                state.baseline[n] = growth[n].train  # decided: the next cycle counts from here
        state.save(ledger)
        warnings = []
        passed = [n for n, e in sorted(report["specialists"].items()) if e["decision"] == "passed"]
        for n in passed:
            entry = report["specialists"][n]
            if cs.auto_promote:
                warnings += promote(specs[n], cs, cid, overlay, overrides, check=False)
                entry["decision"] = "promoted"
            else:
                entry["reason"] += f"; staged: `make promote NAME={n} CYCLE={cid}` adopts it"
        if passed:
            _write_report(final, report)
    for n, entry in sorted(report["specialists"].items()):
        print(summary_line(n, entry))
    for w in warnings:
        print(f"cycle: warning: {w}")
    print(f"cycle {cid}: report -> {final / 'report.md'}")
    return 0


def _write_report(final: Path, report: dict[str, Any]) -> None:
    write_json(final / "report.json", report)
    tmp = final / ".report.md.partial"
    tmp.write_text(markdown(report), encoding="utf-8")
    tmp.replace(final / "report.md")


def promote(sp: Specialist, cs: CycleSettings, cid: str, overlay: str | None, overrides: list[str], *,
            check: bool = True, force: bool = False) -> list[str]:
    """Install cycles/<cid>/candidates/<name> as the promoted adapter; re-export; tell the server."""
    cand = cs.root / cid / "candidates" / sp.name
    if check:
        rep = read_json(cs.root / cid / "report.json", None)
        if rep is None:
            raise ConfigError(f"cycle {cid}: no {cs.root / cid / 'report.json'}; `ls {cs.root}` lists the cycles")
        entry = rep["specialists"].get(sp.name)
        if entry is None or "candidate" not in entry:
            raise ConfigError(f"cycle {cid}: no candidate for {sp.name} ({(entry or {}).get('reason', 'not in it')})")
        if entry["decision"] not in ("passed", "promoted") and not force:
            raise ConfigError(f"cycle {cid}: the gate did not pass {sp.name}'s candidate ({entry['decision']}: "
                              f"{entry['reason']}); add FORCE=1 (--force) to promote it anyway")
    if not (cand / "adapter" / "adapter_config.json").is_file():
        raise ConfigError(f"{cand / 'adapter'}: no candidate adapter there")
    adapters.install(cand / "adapter", sp.path("outputs"), {"event": "promote", "cycle": cid, "specialist": sp.name,
                                                             "candidate": str(cand)},
                     lambda e: append_history(cs.root, e), summary=cand / "training_summary.json")
    print(f"cycle {sp.name}: promoted the candidate of cycle {cid} -> {sp.path('outputs') / 'adapter'}"
          + (" (the one it replaced: adapter.previous)" if (sp.path("outputs") / "adapter.previous").exists() else ""),
          flush=True)
    return notify.refresh(sp, cs, overlay, overrides)


def promote_command(name: str, cid: str, overlay: str | None, overrides: list[str], force: bool) -> int:
    cs, specs, _ = load(overlay, overrides)
    sp = _named(specs, name)
    with locked(cs, {name: sp}, f"promote {name}"):
        warnings = promote(sp, cs, cid, overlay, overrides, force=force)
    for w in warnings:
        print(f"cycle: warning: {w}")
    return 0


def rollback_command(name: str, overlay: str | None, overrides: list[str]) -> int:
    cs, specs, _ = load(overlay, overrides)
    sp = _named(specs, name)
    out = sp.path("outputs")
    with locked(cs, {name: sp}, f"rollback {name}"):
        if not (out / "adapter.previous" / "adapter_config.json").is_file():
            raise ConfigError(f"{name}: no previous adapter at {out / 'adapter.previous'} to roll back to")
        adapters.rollback(out, {"event": "rollback", "specialist": name},
                          lambda e: append_history(cs.root, e))
        print(f"cycle {name}: rolled back: {out / 'adapter'} is the adapter before the last promotion "
              f"(the one it replaced is adapter.previous; rollback again to undo)", flush=True)
        warnings = notify.refresh(sp, cs, overlay, overrides)
    for w in warnings:
        print(f"cycle: warning: {w}")
    return 0


def _named(specs: dict[str, Specialist], name: str) -> Specialist:
    if name not in specs:
        raise ConfigError(f"unknown specialist {name!r}; known: {', '.join(specs)}")
    return specs[name]
