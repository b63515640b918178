"""What the cycle remembers between runs: each session's side, and what each specialist's last decision saw."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a temp file beside it, then a rename (a kill leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


class State:
    """The cycle's memory under paths.cycles:

    - `sides.json`: "<source>:<session id>" -> train / validation / test, for every session a cycle has extracted.
      Extraction takes it (`--keep-sides`), so a session keeps its side forever, even if the split rule or the
      fractions change later or the session's first prompt is edited.
    - `state.json` `baseline`: per specialist, "<source>:<session id>" -> content hash of the train sessions its
      last decision saw; new or changed train sessions are counted against it.
    - `ledger.json`: extraction's per-source session ledger as of the last cycle that decided something (what
      "new" and "changed" per source mean in the report).
    """

    def __init__(self, root: Path):
        self.root = root
        self.sides_path = root / "sides.json"
        self.sides: dict[str, str] = read_json(self.sides_path, {})
        self.baseline: dict[str, dict[str, str]] = read_json(root / "state.json", {}).get("baseline", {})
        self.ledger: dict[str, Any] = read_json(root / "ledger.json", {})

    def save_sides(self) -> None:
        write_json(self.sides_path, self.sides)

    def save(self, ledger: dict[str, Any]) -> None:
        write_json(self.root / "ledger.json", ledger)
        write_json(self.root / "state.json", {"baseline": self.baseline})
