"""Shared by the training and masking tests: a known conversation, what of it is trained, and run helpers.

Lives at the top of tests/ so that tests/train/ and tests/core/ both import it (this module holds no tests)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

NAME = "serpent"

SYSTEM = "You are serpent, a Python coding agent."
USER = "Fix the failing test in src/app.py."
ASSISTANT_1 = "Let me read the file first."
ARGS = {"path": "src/app.py", "limit": 200}
TOOL_RESULT = "def main():\n    return 41\n"
ASSISTANT_2 = "The function returned 41; it now returns 42."
CONVERSATION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": USER},
    {"role": "assistant", "content": ASSISTANT_1,
     "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "read_file", "arguments": ARGS}}]},
    {"role": "tool", "tool_call_id": "call_0", "content": TOOL_RESULT},
    {"role": "assistant", "content": ASSISTANT_2},
]
TOOLS = [{"type": "function", "function": {
    "name": "read_file", "description": "Read a file",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                   "required": ["path"]}}}]
# What the assistant produced, exactly as the template renders it, the end-of-turn token included.
EXPECTED_TRAINED = [
    ASSISTANT_1 + '<tool_call>{"name": "read_file", "arguments": {"path": "src/app.py", "limit": 200}}</tool_call>'
    + "<|im_end|>",
    ASSISTANT_2 + "<|im_end|>",
]


# --- helpers --------------------------------------------------------------------------------------------------------

def overlay_copy(workspace, root: Path, **sft) -> str:
    """The workspace overlay with outputs/reports/exports under `root` (data shared, read only) and sft changes."""
    cfg = yaml.safe_load(Path(workspace["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(root / k)
    cfg["sft"].update(sft)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "overlay.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def train_main(argv) -> int:
    from train.__main__ import main

    return main(argv)


def run_train(argv, capsys) -> tuple[int, str, str]:
    rc = train_main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def checkpoints(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.name.startswith("checkpoint-"))


def runs(mask: list[int]) -> list[tuple[int, int]]:
    """[start, end) of each run of 1s."""
    out, start = [], None
    for i, m in enumerate([*mask, 0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    return out
