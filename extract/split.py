"""Assign whole sessions to train, validation or test, stably, with duplicates of a task on the same side."""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Iterable

from .records import Session

_NON_WORD = re.compile(r"[\W\d_]+", re.UNICODE)
# Text in the first prompts of at least this many different tasks is a template (a harness's instructions, a
# team's boilerplate), not what tells tasks apart. Three, not two: two variants of one prompt (a re-run with an
# edit) share most of their text and must stay one task; three different tasks sharing text is a template.
TEMPLATE_TASKS = 3


def first_prompt(session: Session) -> str:
    return session.turns[0].prompt if session.turns else session.id


def shingles(text: str) -> set[str]:
    """The normalised word trigrams of a text (case, digits, punctuation and spacing dropped)."""
    words = _NON_WORD.sub(" ", text.lower()).split()
    return {" ".join(words[i:i + 3]) for i in range(len(words) - 2)} or {" ".join(words)}


def task_digest(session: Session) -> str:
    """One digest per different task, as Templates counts them: its task id, or its normalised first prompt."""
    text = first_prompt(session)
    who = "task:" + session.task if session.task else "prompt:" + " ".join(_NON_WORD.sub(" ", text.lower()).split())
    return hashlib.sha256(who.encode()).hexdigest()[:16]


def prompt_keys(session: Session) -> list[tuple[str, str]]:
    """(hash, trigram) for the trigrams of the first prompt, smallest hash first (what task_key chooses from)."""
    return sorted((hashlib.sha256(x.encode()).hexdigest()[:16], x) for x in shingles(first_prompt(session)))


class Templates:
    """The word trigrams that the first prompts of TEMPLATE_TASKS or more different tasks share.

    mini-swe-agent and SWE-bench style runs open every session with the same hundreds of words of instructions and
    a few dozen words of issue text; hashed whole, every instance is the same task. With the shared text set aside,
    what is left (the issue) tells the tasks apart. Different tasks are counted once per distinct prompt and per
    known task id, so re-runs of one prompt never turn its own text into a template.
    """

    def __init__(self, sessions: Iterable[Session] = ()):
        self.common: set[str] = set()
        self._seen: set[str] = set()  # a digest per different task: a task id, or a normalised prompt
        self._df: Counter = Counter()  # trigram -> different tasks whose first prompt has it
        for s in sessions:
            self.add(s)

    def add(self, session: Session) -> None:
        self.add_digest(task_digest(session), shingles(first_prompt(session)))

    def add_digest(self, digest: str, trigrams: Iterable[str]) -> None:
        """A task's first prompt, as its digest and its trigrams: counted once per task (the first one seen)."""
        if digest not in self._seen:
            self._seen.add(digest)
            self._df.update(trigrams)

    def freeze(self) -> "Templates":
        self.common = {sh for sh, n in self._df.items() if n >= TEMPLATE_TASKS}
        self._seen, self._df = set(), Counter()
        return self


def task_key(session: Session, templates: Templates | None = None) -> str:
    """What identifies the task: the source's task id when it has one (a SWE-bench instance id: several runs of one
    instance are one task), else a MinHash of the word trigrams of the first prompt, normalised, leaving out the
    trigrams that are a template's (see Templates) when anything is left.

    Normalising drops case, digits, punctuation and spacing, so re-runs of the same task get the same key.
    A prompt with a small edit shares most trigrams with the original, and two prompts get the same MinHash
    with a probability equal to their trigrams' Jaccard similarity (0.9 for one changed word in a 30-word
    prompt), so near-duplicates land on the same side too. Without templates the key depends on the session alone;
    with them, on the session and the template text of the sessions around it, which only grows as sessions are
    added, so an old session moves only when its own text becomes a template's.
    """
    return _task_key(session.task, None if session.task else prompt_keys(session), templates)


def _task_key(task: str | None, keys: list[tuple[str, str]] | None, templates: Templates | None) -> str:
    if task:
        return hashlib.sha256(("task:" + task).encode()).hexdigest()[:16]
    common = templates.common if templates is not None else ()
    return next((h for h, x in keys if x not in common), keys[0][0])  # all template text: the smallest of all


def unit_interval(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) / 16**16


def side(session: Session, test_fraction: float, val_fraction: float = 0.0, *, recent_after: int | None = None,
         val_after: int | None = None, templates: Templates | None = None) -> str:
    """'test', 'validation' or 'train', by task (see task_key); a function of the session alone, so adding
    sessions moves no old one.

    One hash of the task places it: below test_fraction it is test, below test_fraction + val_fraction it is
    validation, so a validation side takes tasks from train and never moves a test one. With recent_after (epoch
    ms), sessions created at or after it are the test side instead, and those from val_after on validation.
    """
    return side_of_keys(session.task, None if session.task else prompt_keys(session), session.time_created,
                        test_fraction, val_fraction, recent_after=recent_after, val_after=val_after,
                        templates=templates)


def side_of_keys(task: str | None, keys: list[tuple[str, str]] | None, time_created: int,
                 test_fraction: float, val_fraction: float = 0.0, *, recent_after: int | None = None,
                 val_after: int | None = None, templates: Templates | None = None) -> str:
    """side() from what a worker kept of a session: its task id, or its prompt_keys, and its creation time."""
    if recent_after is not None or val_after is not None:
        if recent_after is not None and time_created >= recent_after:
            return "test"
        return "validation" if val_after is not None and time_created >= val_after else "train"
    u = unit_interval("split:" + _task_key(task, keys, templates))
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
