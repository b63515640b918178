"""`python -m eval NAME [NAME ...]`: score each adapter against its base on held-out sessions (see README).

    python -m eval serpent                       # reports/serpent/eval.json, eval.md and metrics.png
    python -m eval --all                         # every specialist with an adapter, then the cross-specialist
                                                 # matrix: reports/summary.md, matrix.png and matrix.json
    python -m eval --matrix                      # the matrix and summary.md alone, from the reports already written
    python -m eval --all --matrix-actions        # the matrix with next-action accuracy too (eval.matrix_next_action)
    python -m eval --summary                     # the table of all reports (and exports), nothing evaluated
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import config as cfglib
from core.config import ConfigError


def summary_rows(overlay: str | None) -> list[tuple]:
    rows = []
    for name in cfglib.specialist_names():
        sp = cfglib.specialist(name, overlay=overlay)
        rep = sp.path("reports") / "eval.json"
        manifest = Path(sp.config["paths"]["data"]) / "manifest.json"
        counts = json.loads(manifest.read_text()).get("specialists", {}).get(name, {}) if manifest.exists() else {}
        if rep.exists():
            r = json.loads(rep.read_text())
            exported = sp.path("exports") / "adapter"
            where = exported if exported.exists() else r.get("adapter_path", "?")  # older reports lack it
            rows.append((name, f"{counts.get('train_windows', '?')}/{counts.get('test_windows', '?')}",
                         str(r.get("test_sessions", "?")), f"{r['base']['loss']:.3f}", f"{r['adapter']['loss']:.3f}",
                         r["verdict"].split(" (")[0], str(where)))
        else:
            reason = "no data" if not counts else "not evaluated"
            rows.append((name, f"{counts.get('train_windows', 0)}/{counts.get('test_windows', 0)}",
                         str(counts.get("test_sessions", 0)), "-", "-", "-", reason))
    return rows


def table(rows: list[tuple]) -> str:
    head = ("specialist", "train/test windows", "test sessions", "base loss", "adapter loss", "loss verdict",
            "adapter files")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(tuple("-" * w for w in widths)), *map(fmt, rows)])


def line(sp, r: dict) -> str:
    """One line per evaluated specialist: the losses, the next action, the verdicts and where the report is."""
    na = r.get("next_action")
    action = ""
    if na:
        b, t = na["base"]["metrics"]["next_action"], na["adapter"]["metrics"]["next_action"]
        action = (f"; next action {b['rate']:.0%} -> {t['rate']:.0%} of {na['turns']} turns, "
                  f"{na['verdict'].split(' (')[0]}")
    return (f"eval {sp.name}: base loss {r['base']['loss']:.3f} -> adapter {r['adapter']['loss']:.3f} on "
            f"{r['test_windows']} held-out windows; {r['verdict']}{action} -> {sp.path('reports')}/eval.md")


def build_matrix(names: list[str], a, overrides: list[str]) -> int:
    """The cross-specialist matrix over `names`; writes reports/summary.md, matrix.png, matrix.json; prints it all."""
    from . import matrix as mx
    from . import summary

    specs = [cfglib.specialist(n, overlay=a.overlay, overrides=overrides) for n in names]
    m = mx.build(specs, next_action=True if a.matrix_actions else None)
    root = Path(specs[0].config["paths"]["reports"])
    reps = summary.reports(specs)
    mx.write(root, m, summary.markdown(reps, m))
    print("\n" + summary.text(reps, m) + f"\n-> {root}/summary.md, {root}/matrix.png", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("items", nargs="*", metavar="NAME|KEY=VALUE")
    p.add_argument("--all", action="store_true", help="every specialist that has a trained adapter")
    p.add_argument("--overlay", default=None, help="config overlay, e.g. configs/demo.yaml")
    p.add_argument("--matrix", action="store_true",
                   help="only the cross-specialist matrix (and reports/summary.md); --all builds it after the reports")
    p.add_argument("--matrix-actions", action="store_true",
                   help="next-action accuracy in the matrix too (slow: generates for every model and split)")
    p.add_argument("--summary", action="store_true", help="print the table of existing reports and exit")
    a = p.parse_intermixed_args(argv)
    from core.models import quiet_libraries

    quiet_libraries()
    names = [x for x in a.items if "=" not in x]
    overrides = [x for x in a.items if "=" in x]
    try:
        if a.summary:
            print(table(summary_rows(a.overlay)))
            return 0
        if (a.matrix or a.matrix_actions) and not a.all:  # the matrix alone: the named specialists, or every one
            return build_matrix(names or cfglib.specialist_names(), a, overrides)
        names = cfglib.select_names(  # the overrides count: `paths.outputs=DIR` says where the adapters are
            names, a.all, lambda sp: (sp.path("outputs") / "adapter").is_dir(),
            "no specialist has a trained adapter; run `make train NAME=...` first", overlay=a.overlay,
            overrides=overrides)
        from .report import NothingHeldOut, evaluate

        specs = [cfglib.specialist(n, overlay=a.overlay, overrides=overrides) for n in names]
        for sp in specs:
            try:
                r = evaluate(sp)
            except NothingHeldOut as e:
                if not a.all:
                    raise
                print(f"eval: skipped {e}", file=sys.stderr, flush=True)  # --all goes on with the others
                continue
            print(line(sp, r), flush=True)
        if a.all:
            return build_matrix(cfglib.specialist_names(), a, overrides)
    except ConfigError as e:
        print(f"eval: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from core import entry

    sys.exit(entry.run("eval", main))
