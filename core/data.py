"""The dataset contract between stages: the schema extract writes, and the opener train and eval read it with."""
from __future__ import annotations

from pathlib import Path

from .config import ConfigError

# The columns, in order: a list of JSON values (each message, each tool definition) or a scalar type.
COLUMNS = {
    "messages": "json_list",  # per-row JSON keeps each call's argument dict exactly (keys, order, types)
    "tools": "json_list",
    "session_id": "string",
    "language": "string",
    "specialist": "string",
    "source": "string",
    "agent": "string",
    "model": "string",
    "title": "string",
    "project_dir": "string",
    "started_at": "string",  # ISO-8601 UTC of the session's creation
    "window_index": "int32",
    "window_count": "int32",
    "first_turn": "int32",
    "steps": "int32",
    "est_tokens": "int32",
    "outcome": "string",  # how the session went, judged from its logs (extract/outcome.py)
    "failed_commands": "int32",
    "tool_errors": "int32",
    "origin": "string",  # "real": a logged session; "generated": a trajectory we produced (train side only)
    "toolset": "string",  # the system prompt and tools the row got: a captured set (opencode-1.18.33) or "fixed"
}


def __getattr__(name: str):
    """FEATURES, the datasets.Features of COLUMNS, built on first use: importing datasets costs a second, which
    extraction (it writes Parquet with pyarrow alone, see arrow_schema) does not pay."""
    if name == "FEATURES":
        from datasets import Features, Json, List, Value

        feats = Features({k: List(Json()) if t == "json_list" else Value(t) for k, t in COLUMNS.items()})
        globals()["FEATURES"] = feats
        return feats
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def arrow_schema():
    """The Arrow schema of COLUMNS with the `huggingface` metadata datasets writes, without importing datasets
    (FEATURES.arrow_schema is the same schema: the tests check it)."""
    import json

    import pyarrow as pa

    fields = [pa.field(k, pa.list_(pa.json_()) if t == "json_list" else pa.string() if t == "string" else pa.int32())
              for k, t in COLUMNS.items()]
    feats = {k: {"feature": {"_type": "Json"}, "_type": "List"} if t == "json_list" else {"dtype": t, "_type": "Value"}
             for k, t in COLUMNS.items()}
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": feats}})})


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
