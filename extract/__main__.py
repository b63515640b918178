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
from .redact import Redactor
from .sources import Source, default_sources


def _outcomes(value) -> tuple[str, ...]:
    names = [x.strip() for x in (value.split(",") if isinstance(value, str) else value or []) if x.strip()]
    bad = [n for n in names if n not in OUTCOMES]
    if bad:
        raise config.ConfigError(f"drop_outcomes: unknown outcome {bad[0]!r}; known: {', '.join(OUTCOMES)}")
    return tuple(names)


def _redactor(ex: dict) -> Redactor:
    """The user's own secrets on top of the detectors: .env files, literal values, patterns (one line if bad)."""
    lists = {}
    for key in ("redact_env_files", "redact_values", "redact_patterns"):
        v = ex.get(key) or []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            raise config.ConfigError(f"extract.{key}: expected a list, got {v!r}")
        lists[key] = v
    try:
        return Redactor.from_config(lists["redact_env_files"], lists["redact_values"], lists["redact_patterns"])
    except ValueError as e:
        raise config.ConfigError(str(e)) from None


def _keep_sides(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    import json

    try:
        sides = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise config.ConfigError(f"--keep-sides {path}: cannot read it as JSON ({e})") from None
    bad = next((k for k, v in sides.items() if v not in ("train", "validation", "test")), None) \
        if isinstance(sides, dict) else "(not a mapping)"
    if bad:
        raise config.ConfigError(f"--keep-sides {path}: {bad}: expected a side (train, validation or test)")
    return sides


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in VERBS:  # looking at extracted data rather than extracting
        return datatools.main(argv)
    if argv and argv[0] == "export-traces":  # a specialist's sessions for the Hub's trace viewer
        from .traces import main as traces_main

        return traces_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m extract", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=datatools.EPILOG)
    src = p.add_argument_group("sources (name any to read only those; name none to read every default location)")
    # Each source flag may be given several times (two machines' opencode databases, several Claude folders).
    src.add_argument("--db", type=Path, action="append", default=None,
                     help="opencode database (default: $OPENCODE_DB, else ~/.local/share/opencode/opencode.db)")
    src.add_argument("--opencode-storage", type=Path, action="append", default=None,
                     help="opencode's JSON trees: the pre-SQLite storage/ or 0.x's project/ "
                          "(default ~/.local/share/opencode/storage and .../project)")
    src.add_argument("--opencode-export", type=Path, action="append", default=None,
                     help="`opencode export` JSON files: a file or a folder of them")
    src.add_argument("--claude-dir", type=Path, action="append", default=None,
                     help="Claude Code transcripts (default ~/.claude/projects)")
    src.add_argument("--codex-dir", type=Path, action="append", default=None,
                     help="Codex CLI rollouts (default ~/.codex/sessions)")
    src.add_argument("--swe-dir", type=Path, action="append", default=None,
                     help="a mini-swe-agent (or SWE-agent) run's output folder")
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
    p.add_argument("--keep-sides", type=Path, default=None, metavar="FILE",
                   help="a JSON map \"<source>:<session id>\" -> train/validation/test: those sessions keep that side "
                        "(the cycle passes its sides.json)")
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
        named = [Source(kind, path) for kind, paths in (
            ("opencode", a.db), ("opencode-json", a.opencode_storage), ("opencode-export", a.opencode_export),
            ("claude-code", a.claude_dir), ("codex", a.codex_dir), ("mini-swe-agent", a.swe_dir))
            for path in paths or []]
        if a.swe_reports is not None and not a.swe_dir:
            raise config.ConfigError("--swe-reports (SWE_REPORTS) needs --swe-dir (SWE_DIR): the reports say which of "
                                     "that run's instances were resolved")
        for s in named:
            if s.kind == "mini-swe-agent":
                s.reports = a.swe_reports
        settings = Settings(
            db=None, sources=named or default_sources(), out=a.out or Path(cfg["paths"]["data"]), specialists=specs,
            agents=agents, reasoning=bool(a.reasoning if a.reasoning is not None else ex.get("reasoning", False)),
            tool_output_chars=int(ex.get("tool_output_chars", 8000)),
            window_tokens=int(ex.get("window_tokens") or cfg["sft"].get("max_length") or 4096),
            tokenizer=ex.get("tokenizer"), chat_template_path=cfg["sft"].get("chat_template_path"),
            test_fraction=float(ex.get("test_fraction", 0.1)),
            val_fraction=float(ex.get("val_fraction") or 0.0), keep_sides=_keep_sides(a.keep_sides),
            holdout=str(ex.get("holdout", "hash")), min_score=float(ex.get("min_score", 3.0)),
            margin=float(ex.get("margin", 2.0)), full_run=a.lang is None, resolved_only=a.resolved_only,
            drop_outcomes=_outcomes(a.drop_outcomes if a.drop_outcomes is not None else ex.get("drop_outcomes")))
        settings.redactor = _redactor(ex)
        settings.workers = ex.get("workers")
        settings.cache = bool(ex.get("cache", True))
        if settings.holdout not in ("hash", "recent"):
            raise config.ConfigError(f"extract.holdout: {settings.holdout!r}; expected 'hash' or 'recent'")
        if not 0 <= settings.val_fraction or settings.test_fraction + settings.val_fraction > 1:
            raise config.ConfigError(f"extract.val_fraction: {settings.val_fraction}; expected 0 or more, with "
                                     f"test_fraction + val_fraction at most 1")
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
    if manifest.get("written") is False:
        print(f"extract: error: no session was kept (see the reasons above); nothing was written and the datasets "
              f"in {settings.out}/ are as they were", file=sys.stderr)
        return 1
    for name, why in manifest.get("removed", {}).items():
        print(f"extract: note: removed {settings.out / name}/: {why} (its sessions are skipped above, or the "
              f"sources no longer hold them)", file=sys.stderr)
    print(f"datasets -> {settings.out}/<specialist>/  (manifest: {settings.out / 'manifest.json'})")
    return 0


if __name__ == "__main__":
    from core import entry

    sys.exit(entry.run("extract", main))
