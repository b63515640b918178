"""A run that would train too small a share of its tokens is refused before any model loads, naming the cause."""
from __future__ import annotations

import pytest

from train_support import NAME, overlay_copy, run_train


@pytest.fixture
def no_model(monkeypatch):
    import core.models

    monkeypatch.setattr(core.models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))


def test_a_run_under_the_trained_share_floor_is_refused_in_one_line(workspace, tmp_path, capsys, no_model):
    overlay = overlay_copy(workspace, tmp_path)
    rc, out, err = run_train([NAME, "--overlay", overlay, "train.min_trained_share=0.9"], capsys)
    lines = err.strip().splitlines()  # a warning about long windows may come first
    assert rc == 2 and len(lines) <= 2
    assert lines[-1].startswith(f"train: error: {NAME}: only ")
    assert "would be trained, under train.min_trained_share 0.9" in lines[-1]
    assert "to train anyway, set train.min_trained_share=0" in lines[-1]


def test_windows_cut_at_max_length_are_named_as_the_cause(workspace, tmp_path, capsys, no_model):
    overlay = overlay_copy(workspace, tmp_path)
    rc, out, err = run_train([NAME, "--overlay", overlay, "train.min_trained_share=0.9", "max_length=1200"], capsys)
    line = err.strip().splitlines()[-1]
    assert rc == 2 and "windows are longer than max_length 1200, which cuts" in line


def test_the_dry_run_prints_the_share_and_says_training_would_refuse(workspace, tmp_path, capsys):
    overlay = overlay_copy(workspace, tmp_path)
    rc, out, err = run_train([NAME, "--overlay", overlay, "--dry-run", "train.min_trained_share=0.9"], capsys)
    assert rc == 0
    assert "tokens trained (" in out and "training would refuse: only " in out
