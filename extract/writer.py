"""Write per-specialist datasets in the Hub's Parquet layout, in shards, swapped in atomically at the end."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import Dataset

from core.data import FEATURES, SPLITS



BUFFER_BYTES = 4 << 20  # rows are handed to Parquet in row groups of about this much JSON: memory stays flat
SHARD_BYTES = 512 << 20  # a new shard file starts after about this much JSON


class SpecialistWriter:
    """Streams rows per split into Parquet shards in a staging folder, a row group at a time."""

    def __init__(self, staging: Path, name: str):
        self.dir = staging / name
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self.name = name
        self.buffers: dict[str, list[dict]] = {s: [] for s in SPLITS}
        self.buffered = {s: 0 for s in SPLITS}  # JSON bytes waiting in the buffer
        self.written = {s: 0 for s in SPLITS}  # JSON bytes in the open shard
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.shards: dict[str, list[Path]] = {s: [] for s in SPLITS}
        self.rows = {s: 0 for s in SPLITS}

    def add(self, split: str, row: dict[str, Any], size: int) -> None:
        """Queue a row whose JSON is `size` bytes; flush a row group once enough is queued."""
        self.buffers[split].append(row)
        self.buffered[split] += size
        self.rows[split] += 1
        if self.buffered[split] >= BUFFER_BYTES:
            self._flush(split)

    def _flush(self, split: str) -> None:
        rows, self.buffers[split] = self.buffers[split], []
        table = Dataset.from_list(rows, features=FEATURES).data.table  # encoded as datasets would, Json included
        writer = self.writers.get(split)
        if writer is None or self.written[split] >= SHARD_BYTES:
            if writer is not None:
                writer.close()
            path = self.dir / "data" / f".{split}-{len(self.shards[split]):05d}.parquet"
            writer = self.writers[split] = pq.ParquetWriter(str(path), table.schema)
            self.shards[split].append(path)
            self.written[split] = 0
        writer.write_table(table)
        self.written[split] += self.buffered[split]
        self.buffered[split] = 0

    def splits(self) -> list[str]:
        """The splits with rows; an empty one gets no file (datasets cannot load a split with no data)."""
        return [s for s in SPLITS if self.rows[s]]

    def close(self, card: str, tag: str) -> None:
        """Name the shards <split>-<tag>-NNNNN-of-NNNNN.parquet (tag: the data fingerprint) and write the card.

        The tag changes with the content, so `datasets.load_dataset(folder)`, which caches a local folder by
        its name and file patterns, never serves the rows of an earlier extraction.
        """
        for split in SPLITS:
            if self.buffers[split]:
                self._flush(split)
            if split in self.writers:
                self.writers.pop(split).close()
            n = len(self.shards[split])
            for i, p in enumerate(self.shards[split]):
                p.rename(p.with_name(f"{split}-{tag}-{i:05d}-of-{n:05d}.parquet"))
        (self.dir / "README.md").write_text(card, encoding="utf-8")


def dataset_card(name: str, language: str, stats: dict[str, Any], splits: list[str], tag: str) -> str:
    """A Hub dataset card: YAML front matter naming the splits' files, then what the data is."""
    files = "".join(f"  - split: {s}\n    path: data/{s}-{tag}-*\n" for s in splits)
    return f"""---
configs:
- config_name: default
  data_files:
{files}task_categories:
- text-generation
tags:
- agent-traces
- tool-use
- {language}
---
# {name}: {language} coding-agent sessions

Chat windows cut from real coding-agent sessions that worked in {language}, for supervised fine-tuning of a
LoRA specialist. Each row is one window: the specialist's system prompt, the user prompt it answers, then
the agent's steps as it took them (assistant text and tool calls, one `tool` message per call).

- `messages`: chat messages; tool call `arguments` are JSON objects exactly as the agent recorded them.
- `tools`: the tool definitions (JSON schema) the agent had.
- The split is by session: all windows of a session, and of re-runs of the same task, are on one side.

```json
{json.dumps(stats, indent=2, sort_keys=True)}
```
"""


def swap_in(staging: Path, out: Path, names: list[str], remove: list[str], manifest: dict[str, Any],
            extra: dict[str, Any] | None = None) -> None:
    """Replace out/<name> for each produced dataset, drop stale ones, then write the manifest atomically.

    `extra` maps file names to JSON written beside the manifest (the session ledger), swapped in just before it.

    All or nothing: the manifest is written before anything moves, and if any move fails, the moves made so far
    are undone in reverse, so a run that fails here leaves the previous output as it was.
    """
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".manifest-{uuid.uuid4().hex[:8]}.json"
    extras = {out / f".{name}-{uuid.uuid4().hex[:8]}": name for name in extra or {}}
    done: list[tuple[Path, Path]] = []  # (from, to) of every rename made, to undo on failure
    try:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for path, name in extras.items():
            path.write_text(json.dumps(extra[name], indent=1, sort_keys=True) + "\n", encoding="utf-8")
        for name in names + remove:
            target = out / name
            if target.exists():
                old = out / f".old-{name}-{uuid.uuid4().hex[:8]}"
                target.rename(old)
                done.append((target, old))
            if name in names:
                (staging / name).rename(target)
                done.append((staging / name, target))
        for path, name in extras.items():
            os.replace(path, out / name)
        os.replace(tmp, out / "manifest.json")
    except BaseException:
        for src, dst in reversed(done):
            dst.rename(src)
        tmp.unlink(missing_ok=True)
        for path in extras:
            path.unlink(missing_ok=True)
        raise
    for src, dst in done:
        if dst.name.startswith(".old-"):
            shutil.rmtree(dst, ignore_errors=True)
