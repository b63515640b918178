"""Write per-specialist datasets in the Hub's Parquet layout, in shards, swapped in atomically at the end."""
from __future__ import annotations

import json
from array import array
from itertools import accumulate
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.atomic import Transaction, point
from core.data import COLUMNS, SPLITS, arrow_schema

try:
    import msgspec

    _encode = msgspec.json.Encoder().encode
except ImportError:  # pragma: no cover - a dependency
    _encode = None

BUFFER_BYTES = 4 << 20  # rows are handed to Parquet in row groups of about this much JSON: memory stays flat
SHARD_BYTES = 512 << 20  # a new shard file starts after about this much JSON
_JSON_LISTS = [k for k, t in COLUMNS.items() if t == "json_list"]


def encode_json(value: Any) -> str:
    """One value of a JSON column as compact JSON text: keys in their order, numbers exact (the shortest text that
    reads back as the same float), non-ASCII as itself. A value msgspec cannot write (a lone surrogate) is written
    by json, escaped."""
    if _encode is not None:
        try:
            return _encode(value).decode()
        except (TypeError, ValueError, UnicodeEncodeError):
            pass
    return json.dumps(value, separators=(",", ":"))


# Arrays are built from buffers: pyarrow's conversion of Python lists (pa.array) imports pandas, half a second.
assert array("i").itemsize == 4, "int32 offsets"
def _buffer_array(kind, values: array) -> pa.Array:
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def _strings(values: list[str | None]) -> pa.Array:
    """A string array (None: null) from its UTF-8 bytes, offsets and validity bitmap."""
    nulls = values.count(None)
    texts = [v or "" for v in values] if nulls else values
    joined = "".join(texts)
    if joined.isascii():  # one encode, and the offsets from the lengths in C
        data = joined.encode()
        offsets = array("i", accumulate(map(len, texts), initial=0))
    else:
        encoded = [t.encode() for t in texts]
        data = b"".join(encoded)
        offsets = array("i", accumulate(map(len, encoded), initial=0))
    validity = None
    if nulls:
        bits = bytearray((len(values) + 7) // 8)
        if nulls < len(values):  # (all null: every bit 0)
            for i, v in enumerate(values):
                if v is not None:
                    bits[i >> 3] |= 1 << (i & 7)
        validity = pa.py_buffer(bytes(bits))
    return pa.Array.from_buffers(pa.string(), len(values), [validity, pa.py_buffer(offsets), pa.py_buffer(data)],
                                 null_count=nulls)


class SpecialistWriter:
    """Streams rows per split into Parquet shards in a staging folder, a row group at a time.

    A row is a dict of COLUMNS whose JSON-list columns (messages, tools) are already lists of JSON texts
    (encode_json); the row groups are built column by column with pyarrow, in the schema datasets reads."""

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
        self.schema = arrow_schema()

    def add(self, split: str, row: dict[str, Any], size: int) -> None:
        """Queue a row whose JSON is `size` bytes; flush a row group once enough is queued."""
        self.buffers[split].append(row)
        self.buffered[split] += size
        self.rows[split] += 1
        if self.buffered[split] >= BUFFER_BYTES:
            self._flush(split)

    def _table(self, rows: list[dict]) -> pa.Table:
        arrays = []
        for name in self.schema.names:
            if name in _JSON_LISTS:
                lists = [r[name] for r in rows]
                offsets = array("i", accumulate(map(len, lists), initial=0))
                values = pa.ExtensionArray.from_storage(pa.json_(), _strings([x for v in lists for x in v]))
                arrays.append(pa.ListArray.from_arrays(_buffer_array(pa.int32(), offsets), values))
            elif self.schema.field(name).type == pa.int32():
                arrays.append(_buffer_array(pa.int32(), array("i", [r[name] for r in rows])))
            else:
                arrays.append(_strings([r[name] for r in rows]))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _flush(self, split: str) -> None:
        rows, self.buffers[split] = self.buffers[split], []
        table = self._table(rows)
        writer = self.writers.get(split)
        if writer is None or self.written[split] >= SHARD_BYTES:
            if writer is not None:
                writer.close()
            path = self.dir / "data" / f".{split}-{len(self.shards[split]):05d}.parquet"
            writer = self.writers[split] = pq.ParquetWriter(str(path), table.schema)
            self.shards[split].append(path)
            self.written[split] = 0
        writer.write_table(table)
        point(f"{self.name}: {split} row group written")
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
        point(f"{self.name}: staged")


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


def swap_in(tx: Transaction, names: list[str], remove: list[str], manifest: dict[str, Any],
            extra: dict[str, Any] | None = None) -> None:
    """Put the datasets staged in `tx` (`names`), the removal of stale ones and the new manifest in place at once.

    `extra` maps file names to JSON written beside the manifest (the session ledger), swapped in with it.

    All or nothing, even if the run is killed (core.atomic): before the commit data/ is as it was, after it the next
    run or reader finishes the swap, and a dataset is never seen beside the manifest of another extraction."""
    missing = [n for n in names if not tx.path(n).is_dir()]
    if missing:
        raise RuntimeError(f"datasets not staged: {missing}")
    for name, value in (extra or {}).items():
        tx.write_text(name, json.dumps(value, indent=1, sort_keys=True) + "\n")
    tx.write_text("manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for name in remove:
        tx.remove(name)
    tx.commit()
