"""Extraction spec, split: by session, never by window; the side is a stable hash of the normalised first prompt;
adding sessions moves no old one; exact duplicates are removed; holdout=recent holds out the newest sessions."""
from __future__ import annotations

from collections import defaultdict

from extract.records import Session, Turn
from extract.split import task_key
from extract_support import SIGNAL, add_session, extract, manifest, new_store, rows

HALF = "extract.test_fraction=0.5"
TASKS = ["Fix the parser", "Add a --verbose flag", "Speed up the CSV import", "Rename Config to Settings",
         "Handle empty input in tokenize()", "Upgrade the HTTP client", "Write tests for the cache",
         "Remove the deprecated API", "Log slow queries", "Support Python 3.13"]


def _sides(out, name="serpent"):
    sides = defaultdict(set)
    for r in rows(out, name):
        sides[r["session_id"]].add(r["_split"])
    return sides


def _build(db, prompts, *, steps_per_session=1, start_ms=1_777_300_000_000):
    """Python sessions, one per prompt, built in order (the same prompts give the same ids)."""
    ids = []
    with new_store(db, start_ms=start_ms) as b:
        p = b.project("/w")
        for i, prompt in enumerate(prompts):
            steps = [{"text": f"Step {k} of {prompt}.", "tools": SIGNAL["python"] + [
                {"tool": "bash", "input": {"command": f"pytest -k t{k}", "description": "Test"},
                 "output": f"{prompt} {k}: " + "ok\n" * 400}]} for k in range(steps_per_session)]
            ids.append(add_session(b, p, prompt, steps=steps))
    return ids


def test_all_windows_of_a_session_are_on_one_side(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    ids = _build(db, TASKS, steps_per_session=4)
    out = tmp_path / "out"
    assert extract(db, out, HALF, "extract.window_tokens=2600") == 0
    found = rows(out, "serpent")
    sides = _sides(out)
    assert set(sides) == set(ids)
    assert all(len(s) == 1 for s in sides.values())
    assert len(found) > len(ids)  # sessions really were cut into several windows
    assert {"train", "test"} == {r["_split"] for r in found}  # and both sides are used


def test_adding_sessions_moves_no_old_session(tmp_path):
    first, second = tmp_path / "a" / "opencode.db", tmp_path / "b" / "opencode.db"
    old_ids = _build(first, TASKS)
    all_ids = _build(second, TASKS + [f"New task {i}: migrate module {chr(97 + i)}" for i in range(10)])
    assert all_ids[:len(old_ids)] == old_ids
    assert extract(first, tmp_path / "out_a", HALF) == 0
    assert extract(second, tmp_path / "out_b", HALF) == 0
    before, after = _sides(tmp_path / "out_a"), _sides(tmp_path / "out_b")
    assert {s for v in before.values() for s in v} == {"train", "test"}
    assert {sid: after[sid] for sid in old_ids} == {sid: before[sid] for sid in old_ids}
    assert len(after) == len(all_ids)


def _prompt_session(prompt: str) -> Session:
    return Session(id="s", source="opencode", agent="build", directory="/w", title="t", time_created=0,
                   turns=[Turn(prompt=prompt)])


VARIANTS = [
    ("Fix issue #12 in the Parser!", "fix issue 345 in the parser"),
    ("Add a --verbose flag", "add a verbose flag."),
    ("Speed up the CSV import", "  SPEED UP   the csv-import  "),
    ("Rename Config to Settings (v2)", "rename config to settings v3"),
    ("Handle empty input in tokenize()", "Handle empty input in tokenize"),
    ("Bump to 1.2.3", "bump to 2.0.0"),
]


def test_prompts_differing_in_case_digits_or_punctuation_are_one_task():
    for a, b in VARIANTS:
        assert task_key(_prompt_session(a)) == task_key(_prompt_session(b)), (a, b)
    keys = {task_key(_prompt_session(a)) for a, _ in VARIANTS}
    assert len(keys) == len(VARIANTS)  # different tasks stay different


def test_reruns_of_a_task_land_on_the_same_side(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    prompts = [p for pair in VARIANTS for p in pair]
    ids = _build(db, prompts)
    out = tmp_path / "out"
    assert extract(db, out, HALF) == 0
    sides = _sides(out)
    assert len(sides) == len(prompts)
    pairs = [(sides[ids[2 * i]], sides[ids[2 * i + 1]]) for i in range(len(VARIANTS))]
    assert all(a == b for a, b in pairs)
    assert {s for a, _ in pairs for s in a} == {"train", "test"}


def test_the_task_is_the_first_prompt_only():
    a = Session(id="a", source="opencode", agent="build", directory="/w", title="t", time_created=0,
                turns=[Turn(prompt="Fix the parser"), Turn(prompt="now the lexer")])
    b = Session(id="b", source="opencode", agent="build", directory="/x", title="u", time_created=9,
                turns=[Turn(prompt="Fix the parser"), Turn(prompt="and the docs")])
    assert task_key(a) == task_key(b)


def test_exact_duplicate_sessions_are_removed_and_counted(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        p = b.project("/w")
        first = add_session(b, p, "Fix the parser", title="first run")
        copy = add_session(b, p, "Fix the parser", title="same session imported twice")
        other = add_session(b, p, "Fix the parser", title="a real re-run", steps=[
            {"text": "Trying another way.", "tools": SIGNAL["python"]}, {"text": "Done.", "finish": "stop"}])
    out = tmp_path / "out"
    assert extract(db, out) == 0
    kept = set(_sides(out))
    assert len(kept) == 2 and other in kept and len(kept & {first, copy}) == 1
    m = manifest(out)
    assert m["duplicates_removed"] == 1
    assert m["sessions_kept"] == 2
    assert m["specialists"]["serpent"]["train_sessions"] + m["specialists"]["serpent"]["test_sessions"] == 2


def test_holdout_recent_puts_the_newest_sessions_in_test(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    start = 1_777_300_000_000
    with new_store(db, start_ms=start) as b:
        p = b.project("/w")
        ids = [add_session(b, p, TASKS[i], time_created=start + i * 3_600_000) for i in range(10)]
    out = tmp_path / "out"
    assert extract(db, out, "extract.holdout=recent", "extract.test_fraction=0.3") == 0
    sides = _sides(out)
    assert {sid: sides[sid] for sid in ids} == {sid: {"test" if i >= 7 else "train"} for i, sid in enumerate(ids)}
    m = manifest(out)
    assert (m["specialists"]["serpent"]["test_sessions"], m["settings"]["holdout"]) == (3, "recent")


def test_an_unknown_holdout_is_a_config_error(tmp_path, capsys):
    db = tmp_path / "store" / "opencode.db"
    _build(db, TASKS[:1])
    capsys.readouterr()
    assert extract(db, tmp_path / "out", "extract.holdout=latest") == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("extract: error: extract.holdout")


def _words(rng, n: int) -> list[str]:
    """Letter-only words (normalisation drops digits)."""
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)) for _ in range(n)]


def test_a_prompt_with_one_word_edited_is_usually_the_same_task():
    """Near-duplicates share the key with probability ~ their trigram Jaccard (~0.85 at 40 words)."""
    import random

    rng = random.Random(0)
    same = 0
    for _ in range(200):
        words = _words(rng, 40)
        edited = list(words)
        edited[rng.randrange(40)] = "changed"
        same += task_key(_prompt_session(" ".join(words))) == task_key(_prompt_session(" ".join(edited)))
    assert same >= 150  # 0.75 or more; an exact-text key gives 0


def test_unrelated_prompts_are_different_tasks():
    import random

    rng = random.Random(1)
    keys = {task_key(_prompt_session(" ".join(_words(rng, 12)))) for _ in range(200)}
    assert len(keys) == 200
