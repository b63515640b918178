"""Extraction spec, outputs: the Hub's Parquet layout with a dataset card, a manifest of what was seen, kept and
skipped, and a run that fails half-way leaves the previous output exactly as it was."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from core import atomic, config
from extract import pipeline, writer
from sample.store import StoreBuilder
from extract_support import add_session, extract, manifest, new_store, rows, tree_digest

COLUMNS = ["messages", "tools", "session_id", "language", "specialist", "source", "agent", "model", "title",
           "project_dir", "started_at", "window_index", "window_count", "first_turn", "steps", "est_tokens",
           "outcome", "failed_commands", "tool_errors", "origin", "toolset"]


TASKS = ["Fix the crash", "Add a flag", "Speed up parsing", "Rename the module", "Handle empty input",
         "Document the API"]


def _store(path, langs=("python", "python", "rust"), prefix="Task"):
    with new_store(path) as b:
        p = b.project("/w")
        return [add_session(b, p, f"{prefix} {TASKS[i]}: the {lang} build", lang=lang) for i, lang in enumerate(langs)]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("output")
    db = tmp / "store" / "opencode.db"
    with new_store(db) as b:
        p = b.project("/w")
        ids = [add_session(b, p, f"{task} in the parser", lang="python") for task in TASKS]
        ids.append(add_session(b, p, "Port the lexer", lang="rust"))
        plan = b.session(p, directory="/w", title="plan", agent="plan")
        b.assistant_step(plan, b.user_message(plan, "Plan it", agent="plan"), agent="plan", text="Plan.")
    out = tmp / "out"
    assert extract(db, out, "extract.test_fraction=0.5") == 0
    return out, ids


def test_each_specialist_is_a_hub_folder_with_a_card_and_parquet_shards(written):
    out, _ = written
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "oxidizer", "serpent", "sessions.json"]
    files = sorted(str(p.relative_to(out / "serpent")) for p in (out / "serpent").rglob("*") if p.is_file())
    tag = json.loads((out / "manifest.json").read_text())["specialists"]["serpent"]["fingerprint"][:8]
    assert files == ["README.md", f"data/test-{tag}-00000-of-00001.parquet", f"data/train-{tag}-00000-of-00001.parquet"]


def test_the_card_front_matter_names_the_split_files(written):
    out, _ = written
    card = (out / "serpent" / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    tag = json.loads((out / "manifest.json").read_text())["specialists"]["serpent"]["fingerprint"][:8]
    assert front["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": f"data/train-{tag}-*"}, {"split": "test", "path": f"data/test-{tag}-*"}]}]
    assert "python" in front["tags"]


def test_a_specialist_without_test_sessions_declares_only_train(written):
    out, _ = written
    front = yaml.safe_load((out / "oxidizer" / "README.md").read_text().split("---\n")[1])
    assert [f["split"] for f in front["configs"][0]["data_files"]] == ["train"]


def test_load_dataset_gives_the_documented_columns(written):
    out, ids = written
    found = rows(out, "serpent")
    assert list(found[0])[:-1] == COLUMNS  # '_split' is added by the test helper
    assert {r["session_id"] for r in found} == set(ids[:6])
    r = found[0]
    assert (r["language"], r["specialist"], r["source"], r["agent"]) == ("python", "serpent", "opencode", "build")
    assert r["model"] == "claude-sonnet-4-5" and r["project_dir"] == "/w"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", r["started_at"])
    system = config.specialist("serpent", overrides=["extract.agent_files=false"]).system_prompt
    assert r["messages"][0] == {"role": "system", "content": system}


def test_the_manifest_counts_what_was_seen_kept_and_skipped(written):
    out, _ = written
    m = manifest(out)
    assert (m["sessions_seen"], m["sessions_kept"]) == (8, 7)
    assert m["sessions_skipped"] == {"agent plan": 1}
    assert m["duplicates_removed"] == 0
    serpent = m["specialists"]["serpent"]
    found = rows(out, "serpent")
    for split in ("train", "test"):
        assert serpent[f"{split}_windows"] == sum(r["_split"] == split for r in found)
        assert serpent[f"{split}_sessions"] == len({r["session_id"] for r in found if r["_split"] == split})
    assert serpent["train_sessions"] + serpent["test_sessions"] == 6
    assert serpent["tool_calls"] == 12 and serpent["assistant_steps"] == 12
    assert re.fullmatch(r"[0-9a-f]{16}", serpent["fingerprint"])
    assert m["specialists"]["oxidizer"]["train_sessions"] + m["specialists"]["oxidizer"]["test_sessions"] == 1


def test_no_hidden_staging_or_shard_files_are_left(written):
    out, _ = written
    assert [p for p in out.rglob(".*")] == []


def test_the_same_store_extracts_to_the_same_fingerprints(written, tmp_path):
    out, _ = written
    db = out.parent / "store" / "opencode.db"
    assert extract(db, tmp_path / "again", "extract.test_fraction=0.5") == 0
    fps = lambda o: {k: v["fingerprint"] for k, v in manifest(o)["specialists"].items()}  # noqa: E731
    assert fps(tmp_path / "again") == fps(out)


def test_a_full_run_removes_datasets_of_specialists_that_no_longer_have_sessions(tmp_path):
    out = tmp_path / "out"
    assert extract(_store_at(tmp_path / "a", ("python", "rust")), out) == 0
    assert (out / "oxidizer").is_dir()
    assert extract(_store_at(tmp_path / "b", ("python",)), out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "serpent", "sessions.json"]
    assert set(manifest(out)["specialists"]) == {"serpent"}


def _store_at(folder, langs, prefix="Task"):
    db = folder / "opencode.db"
    _store(db, langs, prefix)
    return db


# -- atomic: a failing run leaves the previous output in place ---------------------------------------------------

@pytest.fixture
def previous(tmp_path):
    """An output folder from a first run, its digest, and a different store for the second run."""
    out = tmp_path / "out"
    assert extract(_store_at(tmp_path / "a", ("python", "rust")), out) == 0
    second = _store_at(tmp_path / "b", ("python", "python", "ruby"), prefix="Other")
    return out, tree_digest(out), second


class Boom(RuntimeError):
    pass


def _boom(*a, **k):
    raise Boom("disk full")


@pytest.mark.parametrize("failing", [
    (writer.SpecialistWriter, "close"),  # while closing a writer
    (pipeline, "swap_in"),  # before the swap
    (atomic.os, "replace"),  # committing: the journal's rename
], ids=["closing-a-writer", "before-the-swap", "committing"])
def test_a_failure_leaves_the_previous_output(previous, monkeypatch, failing):
    out, before, second = previous
    monkeypatch.setattr(*failing, _boom)
    with pytest.raises(Boom):
        extract(second, out)
    assert tree_digest(out) == before


def test_a_failure_after_the_commit_is_finished_by_the_next_reader_never_a_mix(previous, monkeypatch):
    """Once the journal is committed the new output counts: a move that fails half-way is redone, not undone."""
    from core.atomic import outputs, settle

    out, before, second = previous
    real_rename = type(out).rename
    moved = []

    def rename(self, target):
        if self.parent.name.startswith(".staging-"):
            moved.append(self.name)
            if len(moved) == 2:
                raise Boom("disk full")
        return real_rename(self, target)

    monkeypatch.setattr(type(out), "rename", rename)
    with pytest.raises(Boom):
        extract(second, out)
    monkeypatch.setattr(type(out), "rename", real_rename)
    assert settle(out)  # what a reader (open_dataset) or the next run does first
    assert [p.name for p in outputs(out)] == ["forge", "manifest.json", "serpent", "sessions.json"]
    assert {r["title"][:5] for r in rows(out, "serpent")} == {"Other"}
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_a_full_disk_is_one_line_naming_the_output_and_the_previous_output_stays(previous, monkeypatch, capsys):
    import errno

    out, before, second = previous

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.pq.ParquetWriter, "write_table", full)
    assert extract(second, out) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("extract: error: ")]
    assert len(lines) == 1 and "no space left on device" in lines[0] and str(out) in lines[0], err
    assert "Traceback" not in err
    assert tree_digest(out) == before


def test_a_second_extraction_into_the_same_folder_is_refused_naming_the_first(previous, capsys):
    from lock_support import held

    out, before, second = previous
    with held(out, "extract") as pid:
        assert extract(second, out) == 2
    err = capsys.readouterr().err
    assert f"pid {pid}" in err and "extract: error: " in err
    assert tree_digest(out) == before


def test_a_successful_second_run_replaces_the_output(previous):
    out, before, second = previous
    assert extract(second, out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["forge", "manifest.json", "serpent", "sessions.json"]  # no bookkeeping left
    assert {r["title"][:5] for r in rows(out, "serpent")} == {"Other"}


def test_plain_load_dataset_sees_a_re_extraction_not_a_cached_earlier_one(tmp_path, monkeypatch):
    """datasets caches a local folder by name and file patterns; the fingerprint in the names defeats that."""
    import datasets

    def store(n: int):
        db = tmp_path / f"s{n}.db"
        with StoreBuilder(db) as b:
            p = b.project("/w")
            for i in range(n):
                s = b.session(p, directory="/w", title=f"t{i}", agent="build")
                b.assistant_step(s, b.user_message(s, f"task {'abcdefghij'[i]} in app.py"), finish="stop",
                                 text="Done.", tools=[{"tool": "read", "input": {"filePath": f"/w/m{i}.py"},
                                                       "output": "x = 1"}])
        return db

    out, cache = tmp_path / "out", str(tmp_path / "cache")
    sizes = []
    for n in (8, 9):  # the same splits (train only) both times: only the content differs
        assert extract(store(n), out, "extract.test_fraction=0.0") == 0
        sizes.append({k: len(v) for k, v in datasets.load_dataset(str(out / "serpent"), cache_dir=cache).items()})
    assert sizes == [{"train": 8}, {"train": 9}]
