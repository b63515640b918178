"""Helpers shared by the tests/extract/test_extract_*.py files (this module holds no tests itself).

Stores are built by hand with sample.store.StoreBuilder in tmp_path, extracted through the real command
line entry point (extract.__main__.main), and read back with datasets.load_dataset, as a user would.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from extract.__main__ import main
from sample.store import StoreBuilder

# Flags every extraction in these tests gets: no progress bar, and never the user's own opencode agent files.
HERMETIC = ["--quiet", "extract.agent_files=false"]

# Tool calls that give a session a clear language (a file path in a tool input and a build command).
SIGNAL = {
    "rust": [{"tool": "read", "input": {"filePath": "/w/src/main.rs"}, "output": "1: fn main() {}"},
             {"tool": "bash", "input": {"command": "cargo build", "description": "Build"}, "output": "Finished"}],
    "typescript": [{"tool": "read", "input": {"filePath": "/w/src/app.ts"}, "output": "1: export {}"},
                   {"tool": "bash", "input": {"command": "npx tsc --noEmit", "description": "Typecheck"},
                    "output": ""}],
    "python": [{"tool": "read", "input": {"filePath": "/w/pkg/app.py"}, "output": "1: import os"},
               {"tool": "bash", "input": {"command": "pytest -q", "description": "Test"}, "output": "1 passed"}],
    "ruby": [{"tool": "read", "input": {"filePath": "/w/lib/app.rb"}, "output": "1: class App; end"},
             {"tool": "bash", "input": {"command": "bundle exec rspec", "description": "Test"},
              "output": "1 example, 0 failures"}],
    "swift": [{"tool": "read", "input": {"filePath": "/w/Sources/App/main.swift"}, "output": "1: print(1)"},
              {"tool": "bash", "input": {"command": "swift build", "description": "Build"},
               "output": "Build complete!"}],
}
SPECIALIST = {"rust": "oxidizer", "typescript": "prism", "python": "serpent", "ruby": "forge", "swift": "swiftblade"}


def new_store(path: Path, **kw) -> StoreBuilder:
    path.parent.mkdir(parents=True, exist_ok=True)
    return StoreBuilder(path, **kw)


def add_session(b: StoreBuilder, project: str, prompt: str, *, lang: str | None = "python", steps=None,
                title: str | None = None, agent: str | None = "build", time_created: int | None = None,
                **session_kw) -> str:
    """A build session: one prompt, then the given steps (dicts for assistant_step), by default one step with the
    language's signal tools and a closing text step."""
    sid = b.session(project, directory="/w", title=title or prompt[:40], agent=agent, time_created=time_created,
                    **session_kw)
    u = b.user_message(sid, prompt, agent=agent or "build")
    if steps is None:
        steps = [{"text": "Looking.", "tools": SIGNAL[lang] if lang else []}, {"text": "Done.", "finish": "stop"}]
    for st in steps:
        b.assistant_step(sid, u, agent=agent or "build", **st)
    return sid


def extract(db: Path, out: Path, *args: str) -> int:
    return main(["--db", str(db), "--out", str(out), *HERMETIC, *args])


def load(path: Path):
    """A written dataset as a user loads it: datasets.load_dataset on the folder (Hub layout).

    Each load gets a cache of its own: datasets keys its cache of a local folder with a README `configs` block by
    the folder's name and the file patterns only, so a second folder named data/serpent would be served the first
    one's cached rows.
    """
    import tempfile

    import datasets

    with tempfile.TemporaryDirectory(prefix="extract-tests-cache-") as cache:
        return datasets.load_dataset(str(path), cache_dir=cache, keep_in_memory=True)


def rows(out: Path, name: str) -> list[dict]:
    """Every row of data/<name>, both splits, each with its split under '_split'."""
    d = load(out / name)
    return [dict(r, _split=split) for split in d for r in d[split]]


def session_rows(out: Path, name: str, session_id: str) -> list[dict]:
    return sorted((r for r in rows(out, name) if r["session_id"] == session_id), key=lambda r: r["window_index"])


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root (hidden ones included) -> sha256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def non_system(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["role"] != "system"]
