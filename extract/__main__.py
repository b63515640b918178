"""`python -m extract`: read agent logs and write one dataset per specialist (see README)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import config

from . import datatools, opencode
from .datatools import VERBS
from .outcome import OUTCOMES
from .pipeline import Settings, run, summary_table
from .sources import Source, default_sources


def _outcomes(value) -> tuple[str, ...]:
    names = [x.strip() for x in (value.split(",") if isinstance(value, str) else value or []) if x.strip()]
    bad = [n for n in names if n not in OUTCOMES]
    if bad:
        raise config.ConfigError(f"drop_outcomes: unknown outcome {bad[0]!r}; known: {', '.join(OUTCOMES)}")
    return tuple(names)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in VERBS:  # looking at extracted data rather than extracting
        return datatools.main(argv)
    p = argparse.ArgumentParser(prog="python -m extract", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=datatools.EPILOG)
    src = p.add_argument_group("sources (name any to read only those; name none to read every default location)")
    src.add_argument("--db", type=Path, default=None,
                     help="opencode database (default: $OPENCODE_DB, else ~/.local/share/opencode/opencode.db)")
    src.add_argument("--opencode-storage", type=Path, default=None,
                     help="opencode's legacy JSON tree (default ~/.local/share/opencode/storage)")
    src.add_argument("--claude-dir", type=Path, default=None, help="Claude Code transcripts (default ~/.claude/projects)")
    src.add_argument("--codex-dir", type=Path, default=None, help="Codex CLI rollouts (default ~/.codex/sessions)")
    src.add_argument("--swe-dir", type=Path, default=None, help="a mini-swe-agent run's output folder")
    src.add_argument("--swe-reports", type=Path, default=None,
                     help="SWE-bench reports for --swe-dir (default: found under it)")
    src.add_argument("--resolved-only", action="store_true", help="mini-swe-agent: only instances SWE-bench resolved")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: paths.data from configs/)")
    p.add_argument("--lang", default=None, help="extract one language (rust, python, ...) or specialist name")
    p.add_argument("--agents", default=None, help="comma-separated agent names or globs (default: build,build-*)")
    p.add_argument("--drop-outcomes", default=None, metavar="A,B",
                   help="leave out sessions with these outcomes: " + ", ".join(OUTCOMES))
    p.add_argument("--reasoning", action="store_true", default=None, help="keep reasoning as reasoning_content")
    p.add_argument("--overlay", default=None, help="a config overlay on top of configs/ (e.g. configs/demo.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. extract.test_fraction=0.2")
    a = p.parse_intermixed_args(argv)
    try:
        cfg = config.load(overlay=a.overlay, overrides=a.overrides)
        ex = cfg["extract"]
        specs = config.specialists(overlay=a.overlay, overrides=a.overrides)
        if a.lang:
            specs = [sp for sp in specs if a.lang in (sp.language, sp.name)]
            if not specs:
                raise config.ConfigError(f"--lang {a.lang}: no specialist for it; known: "
                                         f"{', '.join(sorted({s.language for s in config.specialists()}))}")
        config.check_folder(a.out, "--out")
        listed = ex.get("agents") or ["build", "build-*"]
        agents = tuple(x.strip() for x in (a.agents or (listed if isinstance(listed, str) else ",".join(listed)))
                       .split(",") if x.strip())
        named = [Source(kind, path) for kind, path in (
            ("opencode", a.db), ("opencode-json", a.opencode_storage), ("claude-code", a.claude_dir),
            ("codex", a.codex_dir), ("mini-swe-agent", a.swe_dir)) if path is not None]
        for s in named:
            if s.kind == "mini-swe-agent":
                s.reports = a.swe_reports
        settings = Settings(
            db=None, sources=named or default_sources(), out=a.out or Path(cfg["paths"]["data"]), specialists=specs,
            agents=agents, reasoning=bool(a.reasoning if a.reasoning is not None else ex.get("reasoning", False)),
            tool_output_chars=int(ex.get("tool_output_chars", 8000)),
            window_tokens=int(ex.get("window_tokens") or cfg["sft"].get("max_length") or 4096),
            tokenizer=ex.get("tokenizer"), test_fraction=float(ex.get("test_fraction", 0.1)),
            holdout=str(ex.get("holdout", "hash")), min_score=float(ex.get("min_score", 3.0)),
            margin=float(ex.get("margin", 2.0)), full_run=a.lang is None, resolved_only=a.resolved_only,
            drop_outcomes=_outcomes(a.drop_outcomes if a.drop_outcomes is not None else ex.get("drop_outcomes")))
        if settings.holdout not in ("hash", "recent"):
            raise config.ConfigError(f"extract.holdout: {settings.holdout!r}; expected 'hash' or 'recent'")
        manifest = run(settings, progress=not a.quiet)
    except (config.ConfigError, opencode.StoreError) as e:
        print(f"extract: error: {e}", file=sys.stderr)
        return 2
    for note in manifest["notes"]:
        print(f"extract: note: {note}", file=sys.stderr)
    for reason, n in manifest["rows_skipped"].items():
        where = manifest["skipped_examples"].get(reason)
        print(f"extract: warning: skipped {n} {reason}" + (f" (in {', '.join(where)})" if where else ""),
              file=sys.stderr)
    print(summary_table(manifest))
    print(f"datasets -> {settings.out}/<specialist>/  (manifest: {settings.out / 'manifest.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
