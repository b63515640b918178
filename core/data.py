"""The dataset contract between stages: the schema extract writes, and the opener train and eval read it with."""
from __future__ import annotations

from pathlib import Path

from datasets import Features, Json, List, Value

from .config import ConfigError

FEATURES = Features({
    "messages": List(Json()),  # per-row JSON keeps each call's argument dict exactly (keys, order, types)
    "tools": List(Json()),
    "session_id": Value("string"),
    "language": Value("string"),
    "specialist": Value("string"),
    "source": Value("string"),
    "agent": Value("string"),
    "model": Value("string"),
    "title": Value("string"),
    "project_dir": Value("string"),
    "started_at": Value("string"),  # ISO-8601 UTC of the session's creation
    "window_index": Value("int32"),
    "window_count": Value("int32"),
    "first_turn": Value("int32"),
    "steps": Value("int32"),
    "est_tokens": Value("int32"),
    "outcome": Value("string"),  # how the session went, judged from its logs (extract/outcome.py)
    "failed_commands": Value("int32"),
    "tool_errors": Value("int32"),
    "origin": Value("string"),  # "real": a logged session; "generated": a trajectory we produced (train side only)
})
# validation decides the cycle's promotions (extract.val_fraction); test is what eval reports
SPLITS = ("train", "validation", "test")


def load_specialist_dataset(path: Path):
    """data/<name> as a DatasetDict in memory, through a private cache (no stale or shared cache entries)."""
    import tempfile

    from datasets import load_dataset

    with tempfile.TemporaryDirectory(prefix="hf-datasets-") as cache:
        return load_dataset(str(path), keep_in_memory=True, cache_dir=cache)


def open_dataset(name: str, path: Path):
    """data/<name> for a stage that needs it, or one ConfigError line saying what to do.

    An extraction killed after its commit is finished first (core.atomic.settle), so no reader sees a dataset beside
    the manifest of another extraction."""
    from .atomic import settle

    settle(Path(path).parent)
    if not (path / "data").is_dir():
        raise ConfigError(f"{name}: no dataset at {path}; run `make extract` first")
    try:
        return load_specialist_dataset(path)
    except ValueError as e:  # e.g. a split file with no rows: datasets says 'Instruction "test" corresponds to no data'
        raise ConfigError(f"{name}: cannot read the dataset at {path} ({str(e).splitlines()[0]}); "
                          f"re-run `make extract`") from None
