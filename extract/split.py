"""Assign whole sessions to train or test, stably, with duplicates of a task on the same side."""
from __future__ import annotations

import hashlib
import re

from .records import Session

_NON_WORD = re.compile(r"[\W\d_]+", re.UNICODE)


def task_key(session: Session) -> str:
    """What identifies the task: the first prompt with case, digits, punctuation and spacing removed.

    Re-runs of the same task, and prompts that differ only in numbers, paths' punctuation or whitespace, get
    the same key, so they land on the same side of the split.
    """
    first = session.turns[0].prompt if session.turns else session.id
    norm = _NON_WORD.sub(" ", first.lower()).strip()
    return hashlib.sha256(norm.encode()).hexdigest()[:16]


def unit_interval(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) / 16**16


def side(session: Session, test_fraction: float, *, recent_after: int | None = None) -> str:
    """'test' or 'train'; a function of the session alone, so adding sessions moves no old one.

    With recent_after (epoch ms), sessions created at or after it are the test side instead.
    """
    if recent_after is not None:
        return "test" if session.time_created >= recent_after else "train"
    return "test" if unit_interval("split:" + task_key(session)) < test_fraction else "train"


def content_hash(session: Session) -> str:
    """Identical sessions (an exact copy of every turn, step and call) hash the same."""
    h = hashlib.sha256()
    for turn in session.turns:
        h.update(b"\x00U" + turn.prompt.encode())
        for step in turn.steps:
            h.update(b"\x00A" + step.text.encode() + b"\x00R" + (step.reasoning or "").encode())
            for c in step.tool_calls:
                h.update(b"\x00T" + c.name.encode() + repr(sorted(c.arguments.items())).encode() + c.output.encode())
    return h.hexdigest()
