"""Look at extracted data before training on it: analyze, show, compare, report (plots), export-jsonl.

    python -m extract analyze [--data DIR]             counts by source and specialist, lengths, tools, outcomes
    python -m extract show NAME INDEX [--split test]   one window, rendered readably
    python -m extract compare DIR_A DIR_B              two extractions side by side
    python -m extract report [--data DIR] [--out DIR]  the same as analyze, with PNG plots and report.md
    python -m extract export-jsonl NAME [--out FILE]   OpenAI-style SFT JSONL (arguments as JSON strings)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from core import config
from core.config import ConfigError
from core.data import open_dataset

VERBS = ("analyze", "show", "compare", "report", "export-jsonl")
EPILOG = """looking at extracted data (each also a make target; see docs/data.md):
  python -m extract analyze [--data DIR]             counts by specialist and source, lengths, tools, outcomes
  python -m extract show NAME INDEX [--split test]   one window, rendered readably
  python -m extract compare DIR_A DIR_B              two extractions side by side
  python -m extract report [--data DIR] [--out DIR]  analyze, with PNG plots, written to reports/data/
  python -m extract export-jsonl NAME [--out DIR]    OpenAI-style SFT JSONL (arguments as JSON strings)
  python -m extract export-traces NAME [--out DIR]   the sessions in the Hub's agent-traces format
Run them with the project's environment: .venv/bin/python -m extract ... (or the make targets)."""


STEPS = ("steps: assistant steps (one model response each: its text and tool calls), the `steps` of make extract's "
         "table; a turn is a user prompt and the steps that answer it")


def _names(data: Path) -> list[str]:
    names = [p.name for p in sorted(data.iterdir()) if (p / "data").is_dir()] if data.is_dir() else []
    if not names:
        raise ConfigError(f"no datasets under {data}; run `make extract` first")
    return names


def dataset(data: Path, name: str):
    """data/<name> for show and export-jsonl: a name that is no specialist, or has no dataset here, says so."""
    if not (data / name / "data").is_dir():
        known = config.specialist_names()
        here = [p.name for p in sorted(data.iterdir()) if (p / "data").is_dir()] if data.is_dir() else []
        if name not in known:
            raise ConfigError(f"unknown specialist {name!r}; known: {', '.join(known)}"
                              + (f" (datasets under {data}: {', '.join(here)})" if here else ""))
        if here:
            raise ConfigError(f"{name}: no dataset under {data} (it has {', '.join(here)}): the last extraction "
                              f"found no {name} sessions")
    return open_dataset(name, data / name)


def _rows(data: Path, name: str):
    ds = dataset(data, name)
    for split, part in ds.items():
        for r in part:
            yield split, r


def analyze(data: Path, max_length: int | None) -> dict[str, Any]:
    """Per specialist and source: sessions, windows, turns, tool calls by tool, lengths, outcomes."""
    out: dict[str, Any] = {}
    for name in _names(data):
        by_source: dict[str, dict[str, Any]] = defaultdict(lambda: {
            "sessions": set(), "windows": 0, "steps": 0, "tool_calls": Counter(), "lengths": [],
            "outcomes": Counter(), "splits": Counter()})
        for split, r in _rows(data, name):
            a = by_source[r["source"]]
            if r["session_id"] not in a["sessions"]:
                a["outcomes"][r.get("outcome") or "unknown"] += 1
            a["sessions"].add(r["session_id"])
            a["windows"] += 1
            a["splits"][split] += 1
            a["lengths"].append(r["est_tokens"])
            for m in r["messages"]:
                a["steps"] += m["role"] == "assistant"  # each step is in exactly one window: they add up
                for tc in m.get("tool_calls") or []:
                    a["tool_calls"][tc["function"]["name"]] += 1
        out[name] = {src: {
            "sessions": len(a["sessions"]), "windows": a["windows"], "train_windows": a["splits"]["train"],
            "test_windows": a["splits"]["test"], "steps": a["steps"], "tool_calls": dict(a["tool_calls"].most_common()),
            "tokens": _dist(a["lengths"], max_length), "outcomes": dict(a["outcomes"]),
        } for src, a in sorted(by_source.items())}
    manifest = data / "manifest.json"
    extra = json.loads(manifest.read_text()) if manifest.exists() else {}
    return {"specialists": out, "redactions": extra.get("redactions", {}), "max_length": max_length}


def _dist(xs: list[int], max_length: int | None) -> dict[str, Any]:
    if not xs:
        return {}
    # inclusive: the quantiles of the values themselves, never past the largest (the default extrapolates)
    q = statistics.quantiles(xs, n=20, method="inclusive") if len(xs) > 1 else [xs[0]] * 19
    return {"min": min(xs), "median": int(statistics.median(xs)), "p95": int(q[18]), "max": max(xs),
            "over_max_length": sum(x > max_length for x in xs) if max_length else None}


def analysis_text(a: dict[str, Any]) -> str:
    lines = [f"{'specialist':<11} {'source':<15} {'sessions':>8} {'windows':>8} {'train/test':>10} {'steps':>6} "
             f"{'calls':>6} {'tokens med/p95/max':>19} {'>max_len':>8}  outcomes"]
    for name, sources in a["specialists"].items():
        for src, v in sources.items():
            t = v["tokens"]
            split = f"{v['train_windows']}/{v['test_windows']}"
            tokens = f"{t.get('median')}/{t.get('p95')}/{t.get('max')}"
            outcomes = ", ".join(f"{k} {n}" for k, n in sorted(v["outcomes"].items()))
            lines.append(f"{name:<11} {src:<15} {v['sessions']:>8} {v['windows']:>8} {split:>10} {v['steps']:>6} "
                         f"{sum(v['tool_calls'].values()):>6} {tokens:>19} {str(t.get('over_max_length')):>8}  "
                         f"{outcomes}")
    tools: Counter = Counter()
    for sources in a["specialists"].values():
        for v in sources.values():
            tools.update(v["tool_calls"])
    lines.append("tool calls: " + (", ".join(f"{k} {n}" for k, n in tools.most_common(15)) or "none"))
    lines.append("redactions: " + (", ".join(f"{k} {n}" for k, n in sorted(a["redactions"].items())) or "none"))
    lines.append(STEPS)
    return "\n".join(lines)


def show(data: Path, name: str, index: int, split: str, max_lines: int = 20) -> str:
    ds = dataset(data, name)
    if split not in ds:
        raise ConfigError(f"{name}: no {split} split (splits: {', '.join(ds)})")
    if not 0 <= index < len(ds[split]):
        raise ConfigError(f"{name} {split}: index {index} out of range (0..{len(ds[split]) - 1})")
    r = ds[split][index]
    head = (f"{name} {split}[{index}]  session {r['session_id']} ({r['source']}, {r.get('outcome') or 'unknown'})  "
            f"window {r['window_index'] + 1}/{r['window_count']}  ~{r['est_tokens']} tokens  {r['project_dir']}")
    out = [head, "tools: " + ", ".join(t["function"]["name"] for t in r["tools"])]
    for m in r["messages"]:
        label = m["role"] + (f" ({m.get('name')})" if m["role"] == "tool" and m.get("name") else "")
        out.append(f"── {label} " + "─" * max(0, 60 - len(label)))
        if m.get("reasoning_content"):
            out.append("[reasoning] " + _clip(m["reasoning_content"], max_lines))
        if m.get("content"):
            out.append(_clip(m["content"], max_lines))
        for tc in m.get("tool_calls") or []:
            out.append(f"→ {tc['function']['name']}({json.dumps(tc['function']['arguments'], ensure_ascii=False)})")
    return "\n".join(out)


def _clip(text: str, max_lines: int) -> str:
    lines = text.splitlines()
    return text if len(lines) <= max_lines else "\n".join(lines[:max_lines] + [f"[... {len(lines) - max_lines} more lines]"])


def compare(a: Path, b: Path) -> str:
    """Per specialist: counts in A, in B and the change; medians of window length."""
    ra, rb = analyze(a, None)["specialists"], analyze(b, None)["specialists"]

    def totals(sources: dict) -> dict[str, float]:
        t = Counter()
        lengths = []
        for v in sources.values():
            t.update({k: v[k] for k in ("sessions", "windows", "train_windows", "test_windows", "steps")})
            t["tool_calls"] += sum(v["tool_calls"].values())
            lengths.append(v["tokens"].get("median", 0))
        t["median_tokens"] = int(statistics.median(lengths)) if lengths else 0
        return t

    keys = ("sessions", "windows", "train_windows", "test_windows", "steps", "tool_calls", "median_tokens")
    lines = [f"{'specialist':<11} " + " ".join(f"{k:>22}" for k in keys)]
    for name in sorted(set(ra) | set(rb)):
        ta, tb = totals(ra.get(name, {})), totals(rb.get(name, {}))
        lines.append(f"{name:<11} " + " ".join(f"{f'{ta[k]} -> {tb[k]} ({tb[k] - ta[k]:+})':>22}" for k in keys))
    return f"A = {a}\nB = {b}\n" + "\n".join(lines) + "\n" + STEPS


def report(data: Path, out: Path, max_length: int | None) -> Path:
    """analyze, with plots: window lengths, tool usage, sessions per specialist and source, outcomes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.atomic import Transaction

    a = analyze(data, max_length)
    with Transaction(out, what="extract report") as tx:  # the five files are swapped in together, or none is
        _report_files(tx, data, a, max_length, plt)
    return out


def _report_files(tx, data: Path, a: dict[str, Any], max_length: int | None, plt) -> None:
    specs = a["specialists"]
    lengths = {name: [r["est_tokens"] for _, r in _rows(data, name)] for name in specs}
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, xs in lengths.items():
        ax.hist(xs, bins=30, alpha=0.5, label=name)
    if max_length:
        ax.axvline(max_length, color="red", linestyle="--", label=f"max_length {max_length}")
    ax.set(xlabel="tokens per window", ylabel="windows", title="Window lengths")
    ax.legend()
    fig.tight_layout()
    fig.savefig(tx.path("lengths.png"), dpi=100)
    plt.close(fig)

    tools: Counter = Counter()
    for sources in specs.values():
        for v in sources.values():
            tools.update(v["tool_calls"])
    top = tools.most_common(20)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh([k for k, _ in reversed(top)], [n for _, n in reversed(top)])
    ax.set(xlabel="calls", title="Tool usage")
    fig.tight_layout()
    fig.savefig(tx.path("tools.png"), dpi=100)
    plt.close(fig)

    sources = sorted({s for v in specs.values() for s in v})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    bottom = [0] * len(specs)
    for src in sources:
        vals = [specs[n].get(src, {}).get("sessions", 0) for n in specs]
        axes[0].bar(list(specs), vals, bottom=bottom, label=src)
        bottom = [x + y for x, y in zip(bottom, vals)]
    axes[0].set(ylabel="sessions", title="Sessions per specialist and source")
    axes[0].legend()
    outcomes = sorted({o for v in specs.values() for s in v.values() for o in s["outcomes"]})
    bottom = [0] * len(specs)
    for o in outcomes:
        vals = [sum(s["outcomes"].get(o, 0) for s in specs[n].values()) for n in specs]
        axes[1].bar(list(specs), vals, bottom=bottom, label=o)
        bottom = [x + y for x, y in zip(bottom, vals)]
    axes[1].set(ylabel="sessions", title="Outcomes")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(tx.path("sessions.png"), dpi=100)
    plt.close(fig)

    tx.write_text("report.md", f"# Data report: {data}\n\n```\n{analysis_text(a)}\n```\n\n"
                               "![lengths](lengths.png)\n\n![tools](tools.png)\n\n![sessions](sessions.png)\n")
    tx.write_text("analysis.json", json.dumps(a, indent=2) + "\n")


def export_jsonl(data: Path, name: str, out: Path) -> dict[str, int]:
    """OpenAI chat fine-tuning JSONL, one file per split: tool call arguments as JSON strings, tools as given."""
    from core.atomic import Transaction

    dataset(data, name)  # a typo'd name says so before any folder is made
    counts: Counter = Counter()
    files: dict[str, Any] = {}
    with Transaction(out, what=f"extract export-jsonl {name}") as tx:  # every split's file swapped in at once
        try:
            _jsonl_rows(data, name, tx, files, counts)
        finally:
            for f in files.values():
                f.close()
    return dict(counts)


def _jsonl_rows(data: Path, name: str, tx, files: dict[str, Any], counts: Counter) -> None:
    for split, r in _rows(data, name):
        f = files.get(split) or files.setdefault(split, tx.path(f"{name}.{split}.jsonl").open("w", encoding="utf-8"))
        msgs = []
        for m in r["messages"]:
            m = {k: v for k, v in m.items() if v is not None and k != "reasoning_content"}
            if m.get("tool_calls"):
                m["tool_calls"] = [{"id": tc["id"], "type": "function", "function": {
                    "name": tc["function"]["name"],
                    "arguments": json.dumps(tc["function"]["arguments"], ensure_ascii=False)}}
                    for tc in m["tool_calls"]]
            if m["role"] == "tool":
                m.pop("name", None)
            msgs.append(m)
        f.write(json.dumps({"messages": msgs, "tools": r["tools"]}, ensure_ascii=False) + "\n")
        counts[split] += 1


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m extract", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog="KEY=VALUE config "
                                "overrides go anywhere after the subcommand, as for the other stages.")
    sub = p.add_subparsers(dest="verb", required=True)
    for verb in VERBS:
        s = sub.add_parser(verb)
        s.add_argument("--overlay", default=None)
        if verb != "compare":
            s.add_argument("--data", type=Path, default=None, help="datasets folder (default: paths.data)")
        if verb == "show":
            s.add_argument("name")
            s.add_argument("index", type=int)
            s.add_argument("--split", default="train")
        if verb == "compare":
            s.add_argument("a", type=Path)
            s.add_argument("b", type=Path)
        if verb == "report":
            s.add_argument("--out", type=Path, default=None, help="default: <paths.reports>/data")
        if verb == "export-jsonl":
            s.add_argument("name")
            s.add_argument("--out", type=Path, default=None, help="folder (default: <data>/openai)")
    argv = list(argv)
    overrides = [x for x in argv[1:] if "=" in x and not x.startswith("-")]  # KEY=VALUE anywhere, as other stages
    a = p.parse_args([x for x in argv if x not in overrides])
    a.overrides = overrides
    import datasets

    datasets.disable_progress_bars()
    try:
        cfg = config.load(overlay=a.overlay, overrides=a.overrides)
        data = getattr(a, "data", None) or Path(cfg["paths"]["data"])
        config.check_folder(data, "--data")
        for extra in ("a", "b"):
            config.check_folder(getattr(a, extra, None), f"compare {extra.upper()}")
        max_length = cfg["extract"].get("window_tokens") or cfg["sft"].get("max_length")
        if a.verb == "analyze":
            print(analysis_text(analyze(data, max_length)))
        elif a.verb == "show":
            print(show(data, a.name, a.index, a.split))
        elif a.verb == "compare":
            print(compare(a.a, a.b))
        elif a.verb == "report":
            out = report(data, a.out or Path(cfg["paths"]["reports"]) / "data", max_length)
            print(f"data report -> {out}/report.md (lengths.png, tools.png, sessions.png)")
        else:
            out = a.out or data / "openai"
            counts = export_jsonl(data, a.name, out)
            print(f"export-jsonl {a.name}: " + ", ".join(f"{k} {n} rows -> {out / f'{a.name}.{k}.jsonl'}"
                                                          for k, n in counts.items()))
    except ConfigError as e:
        print(f"extract {a.verb}: error: {e}", file=sys.stderr)
        return 2
    return 0
