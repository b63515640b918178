"""The cross-specialist matrix: the base and every trained adapter, on every specialist's held-out windows.

Rows are models (the base, then each adapter), columns are test splits. A cell is the held-out assistant-token loss
(and, with eval.matrix_next_action, the next-action accuracy) of that model on that split, computed exactly as
`python -m eval NAME` computes it. The diagonal wins a column when the specialist's own adapter is better there than
the base and every other adapter. All adapters are loaded once onto one base, which all of them must share.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from core.config import ConfigError, Specialist

from core.loss import active, encode, mean_loss, window_losses, with_adapters
from .report import MIN_SESSIONS, NothingHeldOut, adapter_dir, check_base, eval_setting, held_out


def build(specs: list[Specialist], *, next_action: bool | None = None) -> dict[str, Any]:
    """The matrix over `specs` (rows: those with a trained adapter; columns: those with a test split)."""
    from core.masking import training_template
    from core.models import config_tokenizer, resolve_base

    from .actions import held_out_turns, run_side
    from .toolcalls import TurnParser

    if not specs:
        raise ConfigError("the matrix needs at least one specialist")
    bases = {sp.name: resolve_base(sp.config["model"]["model_name_or_path"]) for sp in specs}
    if len(set(bases.values())) > 1:
        raise ConfigError("the matrix needs one base for every specialist, but the configs name "
                          + ", ".join(f"{n}: {b}" for n, b in bases.items()))
    if next_action is None:
        next_action = eval_setting(specs[0], "matrix_next_action")
    notes: list[str] = []
    adapters: dict[str, Path] = {}
    for sp in specs:
        try:
            adapters[sp.name] = adapter_dir(sp)
        except ConfigError:
            notes.append(f"{sp.name}: no trained adapter (no row)")
            continue
        check_base(sp, adapters[sp.name])
    tests = {}
    for sp in specs:
        try:
            tests[sp.name] = held_out(sp)
        except NothingHeldOut:
            notes.append(f"{sp.name}: no held-out windows (no column)")
        except ConfigError as e:
            notes.append(f"{sp.name}: no column ({str(e).split(': ', 1)[-1]})")
    if not adapters:
        raise ConfigError("no specialist has a trained adapter; run `make train NAME=...` first")
    if not tests:
        raise ConfigError("no specialist has held-out windows; nothing to fill the matrix with")

    first = specs[0]
    tok = config_tokenizer(first.config)
    names = list(adapters)
    model = with_adapters(first.config["model"], adapters)
    rows, columns = ["base", *names], list(tests)
    by_name = {sp.name: sp for sp in specs}
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    template = training_template(tok)
    parser = TurnParser(tok) if next_action else None
    loss = [[None] * len(columns) for _ in rows]
    acts = [[None] * len(columns) for _ in rows] if next_action else None
    tokens, turns_counted = {}, {}
    for j, col in enumerate(columns):
        sp = by_name[col]
        bs = eval_setting(sp, "batch_size")
        enc = encode(tok, tests[col], template, sp.config["sft"].get("max_length"))
        tokens[col] = sum(sum(1 for x in e[2][1:] if x != -100) for e in enc)
        turns = []
        if next_action and eval_setting(sp, "max_turns") != 0:
            turns, _ = held_out_turns(tests[col], eval_setting(sp, "max_turns"))
        turns_counted[col] = len(turns)
        for i, row in enumerate(rows):
            def cell(i=i, j=j):
                value = mean_loss(window_losses(model, enc, batch_size=bs, pad_id=pad))
                loss[i][j] = None if math.isnan(value) else round(value, 4)
                if turns:
                    scores = run_side(model, tok, parser, turns, batch_size=bs,
                                      max_new_tokens=eval_setting(sp, "max_new_tokens"))[2]
                    acts[i][j] = round(sum(s.values["next_action"] for s in scores) / len(scores), 4)
            with active(model, None if row == "base" else row):
                cell()
    sessions = {col: len(set(tests[col]["session_id"])) for col in columns}
    m = {"rows": rows, "columns": columns, "loss": loss, "next_action": acts, "trained_tokens": tokens,
         "sessions": sessions, "min_sessions": eval_setting(first, "min_sessions"),
         "turns": turns_counted if next_action else None, "notes": notes,
         "base_model": first.config["model"]["model_name_or_path"]}
    m["diagonal"] = diagonal(m)
    return m


def diagonal(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per column with its own adapter: whether that adapter beats the base and every other adapter there (no
    verdict, only {"too_few": n}, on a split of fewer than MIN_SESSIONS held-out sessions)."""
    out = {}
    for j, col in enumerate(m["columns"]):
        if col not in m["rows"]:
            continue
        n = (m.get("sessions") or {}).get(col)
        if n is not None and n < m.get("min_sessions", MIN_SESSIONS):
            out[col] = {"too_few": n}
            continue
        own = m["rows"].index(col)
        entry: dict[str, Any] = {}
        for key, better in (("loss", min), ("next_action", max)):
            if not m.get(key):
                continue
            vals = {r: m[key][i][j] for i, r in enumerate(m["rows"]) if m[key][i][j] is not None}
            if m[key][own][j] is None or not vals:
                continue
            best = better(vals.values())
            rivals = [r for r, v in vals.items() if r != col and (v <= vals[col] if better is min else v >= vals[col])]
            entry[key] = {"wins": not rivals, "own": vals[col], "best": best,
                          "beaten_by": sorted(rivals, key=lambda r: vals[r], reverse=better is max)}
        out[col] = entry
    return out


def misses(m: dict[str, Any]) -> list[str]:
    """One sentence for each column where the diagonal does not win."""
    lines = []
    for col, entry in m["diagonal"].items():
        if "too_few" in entry:
            continue
        for key, what, fmt in (("loss", "loss", "{:.3f}"), ("next_action", "next-action accuracy", "{:.0%}")):
            e = entry.get(key)
            if e and not e["wins"]:
                j = m["columns"].index(col)
                rivals = ", ".join(f"{'the base' if r == 'base' else r + ' adapter'} "
                                   f"{fmt.format(m[key][m['rows'].index(r)][j])}" for r in e["beaten_by"])
                lines.append(f"on {col}'s test split, {col}'s own adapter ({what} {fmt.format(e['own'])}) is "
                             f"matched or beaten by {rivals}")
    return lines


def too_few(m: dict[str, Any]) -> list[str]:
    """The columns with too few held-out sessions for a verdict on the diagonal: "forge (2 sessions)"."""
    return [f"{col} ({e['too_few']} session{'s' if e['too_few'] != 1 else ''})"
            for col, e in m["diagonal"].items() if "too_few" in e]


def diagonal_lines(m: dict[str, Any]) -> list[str]:
    """What the summary says about the diagonal: where it loses, where there is too little to judge, or that it wins."""
    lost, few = misses(m), too_few(m)
    lines = [f"the diagonal does not win {x}" for x in lost]
    if few:
        lines.append(f"too few held-out sessions to judge the diagonal (a verdict needs "
                     f"{m.get('min_sessions', MIN_SESSIONS)}, eval.min_sessions): "
                     + ", ".join(few))
    judged = [c for c, e in m["diagonal"].items() if "too_few" not in e]
    if not lost and judged:
        lines.insert(0, "the diagonal wins: each specialist's own adapter is the best model on its own test split"
                     + (f" ({', '.join(judged)})" if few else ""))
    return lines


def table(m: dict[str, Any], key: str = "loss") -> str:
    """The matrix as a Markdown table; the diagonal in bold."""
    fmt = (lambda v: f"{v:.3f}") if key == "loss" else (lambda v: f"{v:.0%}")
    head = "| model \\ test split | " + " | ".join(m["columns"]) + " |"
    lines = [head, "|---" * (len(m["columns"]) + 1) + "|"]
    for i, row in enumerate(m["rows"]):
        cells = []
        for j, col in enumerate(m["columns"]):
            v = m[key][i][j]
            cells.append("-" if v is None else (f"**{fmt(v)}**" if row == col else fmt(v)))
        lines.append(f"| {row if row == 'base' else row + ' adapter'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def text_table(m: dict[str, Any], key: str = "loss") -> str:
    """The matrix for a terminal; the diagonal marked with *."""
    fmt = (lambda v: f"{v:.3f}") if key == "loss" else (lambda v: f"{v:.0%}")
    head = ["model \\ test", *m["columns"]]
    body = [[r if r == "base" else f"{r} adapter",
             *["-" if m[key][i][j] is None else fmt(m[key][i][j]) + ("*" if r == c else "")
               for j, c in enumerate(m["columns"])]] for i, r in enumerate(m["rows"])]
    widths = [max(len(x[k]) for x in [head, *body]) for k in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip() for x in [head, *body])


def write(root: Path, m: dict[str, Any], summary_md: str) -> None:
    """reports/matrix.json, reports/matrix.png and reports/summary.md, swapped in together when all are complete."""
    from core.atomic import Transaction

    from .plots import matrix_png

    with Transaction(root, what="eval matrix") as tx:
        matrix_png(m, tx.path("matrix.png"))
        tx.write_text("matrix.json", json.dumps(m, indent=2) + "\n")
        tx.write_text("summary.md", summary_md)
