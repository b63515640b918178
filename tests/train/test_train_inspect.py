"""`python -m train NAME --inspect [N]` (make inspect): training windows with the trained tokens coloured, the trained
share, and what happens to windows longer than max_length (also in --dry-run and at training)."""
from __future__ import annotations

import re
import subprocess

from pathlib import Path

import pytest

from train_support import NAME, overlay_copy, run_train

REPO = Path(__file__).resolve().parents[2]

GREEN, DIM, RESET = "\033[32m", "\033[2m", "\033[0m"


@pytest.fixture
def no_model(monkeypatch):
    import core.models

    monkeypatch.setattr(core.models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))


@pytest.fixture
def rows(workspace):
    from core.data import load_specialist_dataset

    return load_specialist_dataset(workspace["data"] / NAME)["train"]


def inspect(workspace, tmp_path, capsys, *extra, color=True, monkeypatch=None) -> str:
    if not color:
        monkeypatch.setenv("NO_COLOR", "1")
    rc, out, err = run_train([NAME, "--overlay", overlay_copy(workspace, tmp_path), *extra], capsys)
    assert rc == 0, err
    return out


def test_inspect_colours_the_trained_tokens_green_and_the_masked_ones_dim(workspace, tmp_path, capsys, no_model,
                                                                          rows, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = inspect(workspace, tmp_path, capsys, "--inspect", "2")
    windows = out.split("\n## window ")[1:]
    assert len(windows) == 2
    for text in windows:
        trained = re.findall(re.escape(GREEN) + "(.*?)" + re.escape(RESET), text, flags=re.S)
        masked = re.findall(re.escape(DIM) + "(.*?)" + re.escape(RESET), text, flags=re.S)
        assert trained and masked
        if "more tokens past max_length" in text:  # the window is cut at max_length, maybe inside a turn
            trained = trained[:-1]
        assert all(t.endswith("<|im_end|>") for t in trained)  # each assistant turn with its end-of-turn token
        assert not any("<|im_start|>user" in t or "<|im_start|>tool" in t for t in trained)
    assert rows[0]["messages"][1]["content"] in windows[0].split(GREEN)[0]  # the first user prompt is masked


def test_inspect_with_no_color_brackets_the_trained_text(workspace, tmp_path, capsys, no_model, monkeypatch):
    out = inspect(workspace, tmp_path, capsys, "--inspect", "1", color=False, monkeypatch=monkeypatch)
    assert "\033[" not in out
    assert re.search(r"⟦[^⟧]*<\|im_end\|>⟧", out)


def test_inspect_prints_the_share_of_trained_tokens(workspace, tmp_path, capsys, no_model, rows):
    from core.masking import tokenize
    from core.models import load_tokenizer

    tok = load_tokenizer({"model_name_or_path": str(workspace["base"])})
    masks = [tokenize(tok, r["messages"], r["tools"])[1] for r in rows]
    out = inspect(workspace, tmp_path, capsys, "--inspect")  # N left out: 3 windows
    assert out.count("\n## window ") == 3
    trained, total = sum(sum(m[:1536]) for m in masks), sum(min(len(m), 1536) for m in masks)
    assert f"{NAME}: {trained} of {total} tokens trained ({100 * trained / total:.1f}%) over {len(rows)} train windows" \
        in out
    first = re.search(r"## window 0: .*: (\d+) tokens, (\d+) trained", out)
    assert (int(first[1]), int(first[2])) == (len(masks[0]), sum(masks[0][:1536]))


def test_inspect_and_dry_run_say_what_happens_to_windows_over_max_length(workspace, tmp_path, capsys, no_model, rows):
    from core.masking import tokenize
    from core.models import load_tokenizer

    tok = load_tokenizer({"model_name_or_path": str(workspace["base"])})
    L = 256
    masks = [tokenize(tok, r["messages"], r["tools"])[1] for r in rows]
    over = [m for m in masks if len(m) > L]
    cut, dropped = sum(sum(m[L:]) for m in over), sum(1 for m in over if not any(m[:L]))
    assert over and cut
    want = (f"{len(over)} of {len(rows)} train windows are longer than max_length {L}; TRL keeps the first {L} "
            f"tokens of each: {cut} trained tokens are cut and {dropped} windows left with no trained token are "
            f"dropped.")
    out = inspect(workspace, tmp_path, capsys, "--inspect", "1", f"max_length={L}")
    assert want in out and f"more tokens past max_length {L}" in out
    rc, out, err = run_train([NAME, "--dry-run", "--overlay", overlay_copy(workspace, tmp_path), f"max_length={L}"],
                             capsys)
    assert rc == 0 and want in out


def test_packing_that_splits_long_windows_is_reported_as_cutting_nothing(workspace, tmp_path, capsys, no_model):
    rc, out, err = run_train([NAME, "--dry-run", "--overlay", overlay_copy(workspace, tmp_path), "max_length=256",
                              "packing=true", "packing_strategy=bfd_split"], capsys)
    assert rc == 0 and "packing (bfd_split) splits each into pieces of at most 256 tokens; nothing is cut" in out


def test_training_stops_before_loading_a_model_when_max_length_leaves_nothing_trained(workspace, tmp_path, capsys,
                                                                                       no_model):
    rc, out, err = run_train([NAME, "--overlay", overlay_copy(workspace, tmp_path), "max_length=8"], capsys)
    lines = [l for l in err.strip().splitlines() if l.startswith("train: error:")]
    assert rc == 2 and len(lines) == 1 and "no train window has a trained token" in lines[0]
    assert not (tmp_path / "outputs" / NAME / "adapter").exists()


def test_make_inspect_runs_the_inspect_entry_point():

    out = subprocess.run(["make", "-o", ".venv/.installed", "-n", "inspect", "NAME=serpent", "N=2",
                          "CONFIG=configs/demo.yaml"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert "-m train serpent --inspect 2 --overlay configs/demo.yaml" in out

