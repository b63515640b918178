"""Assign whole sessions to train, validation or test, stably, with duplicates of a task on the same side."""
from __future__ import annotations

import hashlib
import re

from .records import Session

_NON_WORD = re.compile(r"[\W\d_]+", re.UNICODE)


def task_key(session: Session) -> str:
    """What identifies the task: a MinHash of the word trigrams of the first prompt, normalised.

    Normalising drops case, digits, punctuation and spacing, so re-runs of the same task get the same key.
    A prompt with a small edit shares most trigrams with the original, and two prompts get the same MinHash
    with a probability equal to their trigrams' Jaccard similarity (0.9 for one changed word in a 30-word
    prompt), so near-duplicates land on the same side too. The key depends on the session alone, which keeps
    the split stable as sessions are added.
    """
    first = session.turns[0].prompt if session.turns else session.id
    words = _NON_WORD.sub(" ", first.lower()).split()
    shingles = {" ".join(words[i:i + 3]) for i in range(len(words) - 2)} or {" ".join(words)}
    return min(hashlib.sha256(sh.encode()).hexdigest()[:16] for sh in shingles)


def unit_interval(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) / 16**16


def side(session: Session, test_fraction: float, val_fraction: float = 0.0, *, recent_after: int | None = None,
         val_after: int | None = None) -> str:
    """'test', 'validation' or 'train'; a function of the session alone, so adding sessions moves no old one.

    One hash of the task places it: below test_fraction it is test, below test_fraction + val_fraction it is
    validation, so a validation side takes tasks from train and never moves a test one. With recent_after (epoch
    ms), sessions created at or after it are the test side instead, and those from val_after on validation.
    """
    if recent_after is not None or val_after is not None:
        if recent_after is not None and session.time_created >= recent_after:
            return "test"
        return "validation" if val_after is not None and session.time_created >= val_after else "train"
    u = unit_interval("split:" + task_key(session))
    return "test" if u < test_fraction else "validation" if u < test_fraction + val_fraction else "train"


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
