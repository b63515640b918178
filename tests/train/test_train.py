"""Training: which tokens are trained, what `python -m train` writes, its errors, resume, and failure safety.

Everything runs in-process on the `workspace` fixture (tiny h64 base, 6 steps). Tests that train write under their
own temp roots (an overlay copy with `paths.outputs`/`reports`/`exports` moved), so they never disturb each other.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from train_support import (ASSISTANT_1, ASSISTANT_2, CONVERSATION, EXPECTED_TRAINED, NAME, SYSTEM, TOOL_RESULT, TOOLS,
                           USER, checkpoints, overlay_copy, run_train, runs, train_main, tree_digest)
from train.checkpoints import problems


@pytest.fixture(scope="module")
def tok(tiny_base):
    from core.models import load_tokenizer

    return load_tokenizer({"model_name_or_path": str(tiny_base)})


def sft_labels(workspace, tmp_path, rows) -> list[list[int]]:
    """The labels SFTTrainer builds for `rows` (a Dataset, or a list of dicts) with the project's own SFTConfig and
    LoraConfig, as `python -m train` builds them (assistant_only_loss on)."""
    from datasets import Dataset
    from trl import SFTTrainer

    from core.models import load_model, load_tokenizer
    from train.sft import load_specialist, lora_config, sft_config

    sp = load_specialist(NAME, workspace["overlay"], [])
    args = sft_config(sp, tmp_path / "ckpt")
    assert args.assistant_only_loss
    tok = load_tokenizer(sp.config["model"])
    ds = rows if isinstance(rows, Dataset) else Dataset.from_list(rows)
    trainer = SFTTrainer(model=load_model(sp.config["model"], for_training=True), args=args,
                         train_dataset=ds, processing_class=tok, peft_config=lora_config(sp))
    return [trainer.train_dataset[i]["labels"] for i in range(len(ds))]


# --- masking --------------------------------------------------------------------------------------------------------

def test_tokenize_marks_exactly_the_assistant_outputs_with_their_end_of_turn_token(tok):
    from core.masking import tokenize

    ids, mask = tokenize(tok, CONVERSATION, TOOLS)
    assert len(ids) == len(mask)
    assert [tok.decode(ids[a:b]) for a, b in runs(mask)] == EXPECTED_TRAINED


def test_tokenize_masks_system_user_and_tool_text(tok):
    from core.masking import tokenize

    ids, mask = tokenize(tok, CONVERSATION, TOOLS)
    untrained = tok.decode([i for i, m in zip(ids, mask) if not m])
    for text in (SYSTEM, USER, TOOL_RESULT, '"description": "Read a file"', "<|im_start|>assistant\n"):
        assert text in untrained
    assert ASSISTANT_1 not in untrained and ASSISTANT_2 not in untrained
    # the whole window is the untrained and trained text together, nothing lost or duplicated
    assert len(tok.decode(ids)) == len(untrained) + sum(len(t) for t in EXPECTED_TRAINED)


def test_tokenize_uses_the_base_templates_generation_markers(tok):
    from core.masking import training_template

    assert "{% generation %}" in tok.chat_template or "{%- generation -%}" in tok.chat_template
    assert training_template(tok) is None  # the tokenizer's own template is used as is


def test_tokenize_equals_sfttrainer_labels_on_a_known_conversation(tok, workspace, tmp_path):
    from core.masking import tokenize

    ids, mask = tokenize(tok, CONVERSATION, TOOLS)
    (labels,) = sft_labels(workspace, tmp_path, [{"messages": CONVERSATION, "tools": json.dumps(TOOLS)}])
    assert len(labels) == len(ids)
    assert [int(x != -100) for x in labels] == mask
    assert [x for x in labels if x != -100] == [i for i, m in zip(ids, mask) if m]


def test_tokenize_equals_sfttrainer_labels_on_extracted_windows(tok, workspace, tmp_path):
    from core.data import load_specialist_dataset
    from train.sft import load_specialist
    from core.masking import tokenize

    train = load_specialist_dataset(workspace["data"] / NAME)["train"]
    rows = train.select(range(min(3, len(train))))  # the extracted features (Json messages), as training reads them
    labels = sft_labels(workspace, tmp_path, rows)
    max_length = load_specialist(NAME, workspace["overlay"], []).config["sft"]["max_length"]
    assert len(labels) == len(rows)
    for row, lab in zip(rows, labels):
        ids, mask = tokenize(tok, row["messages"], row["tools"])
        # TRL keeps the first max_length tokens of a longer window (one holding an over-budget step)
        assert [int(x != -100) for x in lab] == mask[:max_length]
        assert sum(mask) > 0


# --- a short training run -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(workspace, tmp_path_factory):
    """One 6-step serpent run under its own outputs root; tests only read what it wrote."""
    import io
    from contextlib import redirect_stdout

    root = tmp_path_factory.mktemp("train")
    overlay = overlay_copy(workspace, root)
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = train_main([NAME, "--overlay", overlay])
    assert rc == 0
    out = root / "outputs" / NAME
    return {"root": root, "overlay": overlay, "out": out, "stdout": buf.getvalue(),
            "summary": json.loads((out / "training_summary.json").read_text())}


def test_training_writes_the_adapter_with_its_tokenizer_and_chat_template(trained):
    adapter = trained["out"] / "adapter"
    for f in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
              "chat_template.jinja"):
        assert (adapter / f).is_file(), f
    assert not (adapter / "training_args.bin").exists()


def test_training_leaves_no_temporary_folders(trained):
    assert sorted(p.name for p in trained["out"].iterdir()) == ["adapter", "checkpoints", "training_summary.json"]


def test_adapter_records_the_resolved_base_and_the_configured_lora(trained, workspace):
    cfg = json.loads((trained["out"] / "adapter" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(Path(workspace["base"]).resolve())
    assert cfg["r"] == 16 and cfg["lora_alpha"] == 32 and cfg["peft_type"] == "LORA"


def test_adapter_tokenizer_keeps_the_training_chat_template(trained, tok):
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(str(trained["out"] / "adapter"))
    assert saved.chat_template == tok.chat_template
    assert saved.encode("def main():\n    return 42") == tok.encode("def main():\n    return 42")


def test_training_summary_records_base_steps_tokens_and_losses(trained, workspace):
    s = trained["summary"]
    assert s["specialist"] == NAME and s["language"] == "python"
    assert s["base_model"] == str(workspace["base"])
    assert s["global_step"] == 6
    assert s["tokens_seen"] > 0
    assert s["resumed_from"] is None
    assert s["wall_seconds"] >= 0 and s["train_loss"] > 0
    assert s["config"]["sft"]["max_steps"] == 6


def test_training_summary_counts_the_dataset_windows(trained, workspace):
    from core.data import load_specialist_dataset

    ds = load_specialist_dataset(workspace["data"] / NAME)
    assert trained["summary"]["train_windows"] == len(ds["train"])
    assert trained["summary"]["test_windows"] == len(ds["test"])


def test_training_writes_nothing_into_the_dataset_folder(trained, workspace):
    """TRL caches beside a dataset loaded from disk unless it is read in memory (stack notes, section 7)."""
    files = sorted(str(p.relative_to(workspace["data"] / NAME)) for p in (workspace["data"] / NAME).rglob("*"))
    assert files == ["README.md", "data", *sorted(f"data/{p.name}" for p in (workspace["data"] / NAME / "data").glob("*.parquet"))]


def test_training_lowers_the_held_out_loss(trained):
    s = trained["summary"]
    assert s["held_out_loss_base"] is not None and s["held_out_loss_adapter"] is not None
    assert s["held_out_loss_adapter"] < s["held_out_loss_base"]


def test_training_prints_one_line_with_steps_and_held_out_loss(trained):
    line = [l for l in trained["stdout"].splitlines() if l.startswith(f"train {NAME}: 6 steps")]
    assert len(line) == 1
    assert "held-out loss" in line[0] and line[0].endswith("adapter")


def test_training_prints_progress_lines_with_the_loss_and_tokens_per_second(trained):
    lines = [line for line in trained["stdout"].splitlines() if "'loss'" in line]
    assert len(lines) == 2 and all("'tokens_per_second'" in line for line in lines)  # logging_steps 3 of 6


def test_training_on_a_cpu_uses_the_plain_loss(trained):
    assert trained["summary"]["lm_head_loss"] == "plain" and trained["summary"]["processes"] == 1


def test_training_reports_windows_over_max_length_in_its_summary(trained):
    t = trained["summary"]["truncation"]
    assert t["max_length"] == 1536 and t["windows"] == trained["summary"]["train_windows"]
    assert t["over_max_length"] == trained["summary"]["windows_over_max_length"]


def test_trained_adapter_changes_the_models_output(trained, workspace):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(workspace["base"]))
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        want = base(input_ids=ids).logits
        got = PeftModel.from_pretrained(base, str(trained["out"] / "adapter"))(input_ids=ids).logits
    assert not torch.allclose(want, got)


# --- --dry-run ------------------------------------------------------------------------------------------------------

@pytest.fixture
def no_model(monkeypatch):
    import core.models

    def boom(*a, **k):
        pytest.fail("a model was loaded")

    monkeypatch.setattr(core.models, "load_model", boom)


def test_dry_run_prints_config_sizes_and_token_lengths_and_trains_nothing(workspace, tmp_path, capsys, no_model):
    overlay = overlay_copy(workspace, tmp_path)
    rc, out, err = run_train([NAME, "--dry-run", "--overlay", overlay, "learning_rate=1e-3"], capsys)
    assert rc == 0, err
    assert f"# {NAME} (python): resolved configuration" in out
    resolved = yaml.safe_load(out.split("resolved configuration\n", 1)[1].split("\ndataset ", 1)[0])
    assert resolved["sft"]["learning_rate"] == 1e-3 and resolved["lora"]["r"] == 16
    assert resolved["model"]["model_name_or_path"] == str(workspace["base"])
    assert "train " in out and " windows, test " in out
    assert "tokens per window: min " in out and "over max_length 1536" in out
    assert not (tmp_path / "outputs").exists()


def test_all_finds_the_datasets_where_a_paths_override_says(workspace, tmp_path, capsys, no_model):
    """`make train-all DATA=dir` passes paths.data=dir: --all must look for datasets there, not in the overlay's."""
    data = tmp_path / "elsewhere"
    shutil.copytree(workspace["data"] / NAME, data / NAME)
    overlay = overlay_copy(workspace, tmp_path)
    rc, out, err = run_train(["--all", "--dry-run", "--overlay", overlay, f"paths.data={data}"], capsys)
    assert rc == 0, err
    assert out.count("resolved configuration") == 1 and f"# {NAME} (python)" in out
    assert f"dataset {data / NAME}: train " in out


# --- errors ---------------------------------------------------------------------------------------------------------

def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("train: error: ")
    return lines[0]


def test_missing_dataset_exits_2_telling_to_run_extract(workspace, tmp_path, capsys, no_model):
    overlay = overlay_copy(workspace, tmp_path)
    cfg = yaml.safe_load(Path(overlay).read_text())
    cfg["paths"]["data"] = str(tmp_path / "no-data")
    Path(overlay).write_text(yaml.safe_dump(cfg))
    rc, out, err = run_train([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    assert "make extract" in _one_error_line(err)
    assert not (tmp_path / "outputs" / NAME / "adapter").exists()


def test_all_without_any_dataset_exits_2(workspace, tmp_path, capsys, no_model):
    overlay = overlay_copy(workspace, tmp_path)
    cfg = yaml.safe_load(Path(overlay).read_text())
    cfg["paths"]["data"] = str(tmp_path / "no-data")
    Path(overlay).write_text(yaml.safe_dump(cfg))
    rc, out, err = run_train(["--all", "--overlay", overlay], capsys)
    assert rc == 2
    assert "make extract" in _one_error_line(err)


def _data_with_test_only(workspace, tmp_path, zero_row_train: bool, name: str = NAME) -> Path:
    """data/<name> with no train rows: either no train file (what extraction writes) or a 0-row train file.

    No dataset card: `datasets` finds the splits from the Hub's file names (data/test-*.parquet)."""
    from core.data import load_specialist_dataset

    data = tmp_path / "data"
    files = data / name / "data"
    files.mkdir(parents=True)
    ds = load_specialist_dataset(workspace["data"] / name)
    ds["test"].to_parquet(str(files / "test-00000-of-00001.parquet"))
    if zero_row_train:
        ds["train"].select([]).to_parquet(str(files / "train-00000-of-00001.parquet"))
    return data


def _overlay_with_data(workspace, tmp_path, data: Path) -> str:
    overlay = overlay_copy(workspace, tmp_path)
    cfg = yaml.safe_load(Path(overlay).read_text())
    cfg["paths"]["data"] = str(data)
    Path(overlay).write_text(yaml.safe_dump(cfg))
    return overlay


def test_empty_train_split_exits_2_with_one_line(workspace, tmp_path, capsys, no_model):
    """What extraction writes when a specialist got only held-out sessions: a test split and no train split."""
    overlay = _overlay_with_data(workspace, tmp_path, _data_with_test_only(workspace, tmp_path, zero_row_train=False))
    rc, out, err = run_train([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert "train split" in line and "is empty" in line


def test_zero_row_train_file_exits_2_with_one_line(workspace, tmp_path, capsys, no_model):
    overlay = _overlay_with_data(workspace, tmp_path, _data_with_test_only(workspace, tmp_path, zero_row_train=True))
    rc, out, err = run_train([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert str(tmp_path / "data" / NAME) in line and "make extract" in line


def test_train_all_skips_a_specialist_without_train_data_and_trains_the_others(workspace, tmp_path, capsys):
    data = _data_with_test_only(workspace, tmp_path, zero_row_train=False, name="forge")
    shutil.copytree(workspace["data"] / NAME, data / NAME)
    overlay = _overlay_with_data(workspace, tmp_path, data)
    rc, out, err = run_train(["--all", "--overlay", overlay, "max_steps=1"], capsys)
    assert rc == 0, err
    assert "train: skipped forge: the train split" in err
    assert (tmp_path / "outputs" / NAME / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "outputs" / "forge" / "adapter").exists()


def test_base_model_that_does_not_exist_exits_2_with_one_line(workspace, tmp_path, capsys):
    overlay = overlay_copy(workspace, tmp_path)
    rc, out, err = run_train([NAME, "--overlay", overlay, f"model.model_name_or_path={tmp_path}/no-such-base"], capsys)
    assert rc == 2
    assert "no-such-base" in _one_error_line(err)


# --- resume ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def resumed(workspace, tmp_path_factory):
    """Interrupted at step 3 (a 3-step run that checkpoints at 3), adapter deleted, then `--resume` to step 6."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    root = tmp_path_factory.mktemp("resume")
    overlay = overlay_copy(workspace, root, save_steps=3, save_total_limit=2)
    out = root / "outputs" / NAME
    err1 = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err1):
        assert train_main([NAME, "--overlay", overlay, "--resume", "max_steps=3"]) == 0  # nothing to resume yet
    first = json.loads((out / "training_summary.json").read_text())
    checkpoints_after_interruption = checkpoints(out / "checkpoints")
    shutil.rmtree(out / "adapter")
    (out / "training_summary.json").unlink()
    with redirect_stdout(io.StringIO()) as out2:
        assert train_main([NAME, "--overlay", overlay, "--resume", "max_steps=6"]) == 0
    return {"out": out, "first": first, "first_stderr": err1.getvalue(), "stdout": out2.getvalue(),
            "checkpoints_after_interruption": checkpoints_after_interruption,
            "summary": json.loads((out / "training_summary.json").read_text())}


def test_resume_without_a_checkpoint_warns_and_starts_from_step_0(resumed):
    assert "no complete checkpoint" in resumed["first_stderr"]
    assert resumed["first"]["resumed_from"] is None and resumed["first"]["global_step"] == 3
    assert resumed["checkpoints_after_interruption"] == ["checkpoint-3"]


def test_resume_continues_from_the_latest_checkpoint_to_max_steps(resumed):
    s = resumed["summary"]
    assert s["resumed_from"] == "checkpoint-3"
    assert s["global_step"] == 6
    assert "(resumed from checkpoint-3)" in resumed["stdout"]


def test_resume_rewrites_the_adapter_and_keeps_the_checkpoints(resumed):
    assert (resumed["out"] / "adapter" / "adapter_model.safetensors").is_file()
    assert checkpoints(resumed["out"] / "checkpoints") == ["checkpoint-3", "checkpoint-6"]


def test_resumed_run_still_scores_the_held_out_split(resumed):
    assert resumed["summary"]["held_out_loss_adapter"] is not None


def test_resumed_run_ends_with_the_same_adapter_as_an_uninterrupted_run(resumed, trained):
    """Steps 1-3, interruption, steps 4-6 == steps 1-6 in one go (same seed, data order and dropout RNG restored)."""
    import torch
    from safetensors.torch import load_file

    got = load_file(str(resumed["out"] / "adapter" / "adapter_model.safetensors"))
    want = load_file(str(trained["out"] / "adapter" / "adapter_model.safetensors"))
    assert got.keys() == want.keys()
    for k in want:
        assert torch.allclose(got[k], want[k], atol=1e-6), k


def test_resume_at_max_steps_has_nothing_to_do_and_keeps_the_summary(resumed, capsys):
    out = resumed["out"]
    summary, adapter = (out / "training_summary.json").read_bytes(), tree_digest(out / "adapter")
    overlay = str(out.parents[1] / "overlay.yaml")
    rc, stdout, err = run_train([NAME, "--overlay", overlay, "--resume", "max_steps=6"], capsys)
    assert rc == 0
    assert "nothing to do" in stdout and "checkpoint-6 is at max_steps 6" in stdout
    assert (out / "training_summary.json").read_bytes() == summary
    assert tree_digest(out / "adapter") == adapter


def test_a_resumed_run_counts_tokens_per_second_over_the_steps_it_trained(resumed):
    s, first = resumed["summary"], resumed["first"]
    assert s["steps_this_run"] == 3
    assert s["tokens_this_run"] == s["tokens_seen"] - first["tokens_seen"] > 0  # steps 1-3 saw the same windows
    assert s["tokens_per_second"] == pytest.approx(s["tokens_this_run"] / s["wall_seconds"], rel=0.1)
    assert "6 steps (3 in this run)" in resumed["stdout"]


@pytest.fixture(scope="module")
def resumed_past_a_torn_checkpoint(resumed, workspace, tmp_path_factory):
    """The resumed run's outputs, with checkpoint-6 cut off as a kill while writing it leaves it, and no adapter."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    root = tmp_path_factory.mktemp("torn")
    out = root / "outputs" / NAME
    shutil.copytree(resumed["out"], out)
    overlay = overlay_copy(workspace, root, save_steps=3, save_total_limit=2)
    optimizer = out / "checkpoints" / "checkpoint-6" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])
    shutil.rmtree(out / "adapter")
    (out / "training_summary.json").unlink()
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert train_main([NAME, "--overlay", overlay, "--resume", "max_steps=6"]) == 0
    return {"out": out, "stderr": err.getvalue(), "summary": json.loads((out / "training_summary.json").read_text())}


def test_resume_skips_an_incomplete_checkpoint_with_one_line_naming_it(resumed_past_a_torn_checkpoint):
    lines = [x for x in resumed_past_a_torn_checkpoint["stderr"].splitlines() if "skipped checkpoint-6" in x]
    assert len(lines) == 1 and "incomplete" in lines[0] and "optimizer.pt is cut off" in lines[0]
    assert resumed_past_a_torn_checkpoint["summary"]["resumed_from"] == "checkpoint-3"
    assert resumed_past_a_torn_checkpoint["summary"]["global_step"] == 6


def test_resuming_past_an_incomplete_checkpoint_ends_with_the_uninterrupted_adapter(resumed_past_a_torn_checkpoint,
                                                                                   trained):
    """Tolerance 1e-6: float32 round-off of the same operations; the measured difference is 0 on CPU."""
    from safetensors.torch import load_file

    got = load_file(str(resumed_past_a_torn_checkpoint["out"] / "adapter" / "adapter_model.safetensors"))
    want = load_file(str(trained["out"] / "adapter" / "adapter_model.safetensors"))
    assert got.keys() == want.keys()
    assert max((got[k] - want[k]).abs().max().item() for k in want) <= 1e-6
    assert checkpoints(resumed_past_a_torn_checkpoint["out"] / "checkpoints") == ["checkpoint-3", "checkpoint-6"]
    assert not problems(resumed_past_a_torn_checkpoint["out"] / "checkpoints" / "checkpoint-6")  # rewritten whole


def test_resume_with_only_incomplete_checkpoints_says_so_and_starts_from_step_0(workspace, tmp_path, capsys):
    overlay = overlay_copy(workspace, tmp_path, save_steps=2, max_steps=2)
    empty = tmp_path / "outputs" / NAME / "checkpoints" / "checkpoint-5"
    empty.mkdir(parents=True)  # what a kill while writing the first checkpoint left before (issue 12)
    rc, stdout, err = run_train([NAME, "--overlay", overlay, "--resume"], capsys)
    assert rc == 0
    assert "skipped checkpoint-5: incomplete (no readable trainer_state.json" in err
    assert "no complete checkpoint" in err and "starting from step 0" in err
    assert "Traceback" not in err
    s = json.loads((tmp_path / "outputs" / NAME / "training_summary.json").read_text())
    assert s["resumed_from"] is None and s["global_step"] == 2
    assert checkpoints(tmp_path / "outputs" / NAME / "checkpoints") == ["checkpoint-2"]


def test_a_fresh_run_discards_checkpoints_of_an_earlier_run(workspace, tmp_path):
    import io
    from contextlib import redirect_stdout

    overlay = overlay_copy(workspace, tmp_path, save_steps=2, max_steps=2)
    ckpt = tmp_path / "outputs" / NAME / "checkpoints"
    (ckpt / "checkpoint-500").mkdir(parents=True)  # a stale checkpoint of some earlier, longer run
    with redirect_stdout(io.StringIO()):
        assert train_main([NAME, "--overlay", overlay]) == 0
    assert checkpoints(ckpt) == ["checkpoint-2"]
    assert json.loads((tmp_path / "outputs" / NAME / "training_summary.json").read_text())["global_step"] == 2


# --- failure safety -------------------------------------------------------------------------------------------------

@pytest.fixture
def previous_output(trained, tmp_path):
    """A copy of the trained run's outputs under a private root, and an overlay pointing at it."""
    cfg = yaml.safe_load(Path(trained["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(tmp_path / k)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    overlay = str(overlay)
    shutil.copytree(trained["out"], tmp_path / "outputs" / NAME)
    out = tmp_path / "outputs" / NAME
    return {"overlay": overlay, "out": out, "adapter": tree_digest(out / "adapter"),
            "summary": (out / "training_summary.json").read_bytes()}


def test_failed_training_leaves_the_previous_adapter_byte_identical(previous_output, monkeypatch):
    from trl import SFTTrainer

    def crash(self, *a, **k):
        raise RuntimeError("simulated crash mid-training")

    monkeypatch.setattr(SFTTrainer, "train", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_main([NAME, "--overlay", previous_output["overlay"]])
    out = previous_output["out"]
    assert tree_digest(out / "adapter") == previous_output["adapter"]
    assert (out / "training_summary.json").read_bytes() == previous_output["summary"]


def test_failure_while_saving_leaves_the_previous_adapter_and_no_temporary_folder(previous_output, monkeypatch):
    from trl import SFTTrainer

    real_save = SFTTrainer.save_model

    def save_then_crash(self, output_dir=None, *a, **k):
        real_save(self, output_dir, *a, **k)
        if not Path(output_dir).name.startswith("checkpoint-"):  # the final adapter, not a checkpoint
            raise OSError("simulated disk full")

    monkeypatch.setattr(SFTTrainer, "save_model", save_then_crash)
    with pytest.raises(OSError, match="disk full"):
        train_main([NAME, "--overlay", previous_output["overlay"], "max_steps=1"])
    out = previous_output["out"]
    assert tree_digest(out / "adapter") == previous_output["adapter"]
    assert (out / "training_summary.json").read_bytes() == previous_output["summary"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]



def _the_error_line(err: str) -> str:
    """The one error line among the progress bars, and no traceback."""
    assert "Traceback" not in err
    lines = [x[x.index("train: error: "):] for x in err.replace("\r", "\n").splitlines() if "train: error: " in x]
    assert len(lines) == 1, err  # (it may follow a progress bar on the same line)
    return lines[0]


def test_a_full_disk_while_checkpointing_is_one_line_naming_the_checkpoint(previous_output, monkeypatch, capsys):
    import errno

    import torch

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)  # optimizer.pt, the first torch.save of a checkpoint
    rc, stdout, err = run_train([NAME, "--overlay", previous_output["overlay"], "max_steps=1", "save_steps=1"], capsys)
    assert rc == 2
    line = _the_error_line(err)
    assert "no space left on device" in line and "checkpoints/checkpoint-1" in line
    out = previous_output["out"]
    assert tree_digest(out / "adapter") == previous_output["adapter"]
    assert (out / "training_summary.json").read_bytes() == previous_output["summary"]
    assert checkpoints(out / "checkpoints") == []
    assert not [p.name for p in (out / "checkpoints").iterdir() if p.name.startswith(".staging")]


def test_a_second_run_on_the_same_output_is_refused_naming_the_first(previous_output, capsys):
    from lock_support import held

    with held(previous_output["out"], "train serpent") as pid:
        rc, stdout, err = run_train([NAME, "--overlay", previous_output["overlay"]], capsys)
    assert rc == 2
    line = _the_error_line(err)
    assert f"pid {pid}" in line and "train serpent" in line
    assert tree_digest(previous_output["out"] / "adapter") == previous_output["adapter"]
