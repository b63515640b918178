"""One line per mistake, in every stage (issue 18, points 7, 8, 9 and 13).

Every stage checks every config key and every value's type before any work: unknown keys (with a close match
named), values of the wrong type, a key without its value, and a folder that is a file each stop the run with one
line and exit 2. `configs/tiny.yaml` is the tiny base alone; `configs/demo.yaml` adds the demo's own folders.
"""
from __future__ import annotations

import pytest

from core import config as cfglib
from core.config import ConfigError


def _one_line(capsys, stage: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{stage}: error: "), err
    return err


def _extract(argv):
    from extract.__main__ import main

    return main(["--quiet", *argv])


def _train(argv):
    from train.__main__ import main

    return main(argv)


def _eval(argv):
    from eval.__main__ import main

    return main(argv)


def _export(argv):
    from export.bundle import main

    return main(argv)


STAGES = {"extract": _extract, "train": _train, "eval": _eval, "export": _export}


@pytest.mark.parametrize("stage,argv,says", [
    ("extract", ["extract.test_fractoin=0.3"], "unknown key extract.test_fractoin (did you mean extract.test_fraction?)"),
    ("extract", ["extract.test_fraction=abc"], "extract.test_fraction='abc' is not a number"),
    ("extract", ["extract.test_fraction=2"], "extract.test_fraction=2: expected a fraction"),
    ("extract", ["model.bogus=2"], "unknown key model.bogus; it is not a field of trl.ModelConfig"),
    ("train", ["serpent", "learning_rate=abc", "--dry-run"], "sft.learning_rate='abc' is not a number"),
    ("train", ["serpent", "learning_rate"], "'learning_rate' looks like a config key without a value"),
    ("train", ["serpent", "lora.r=big"], "lora.r='big' is not a whole number"),
    ("eval", ["serpent", "eval.max_turn=3"], "unknown key eval.max_turn (did you mean eval.max_turns?)"),
    ("eval", ["serpent", "model.bogus=2"], "unknown key model.bogus"),
    ("eval", ["serpent", "eval.batch_size=0"], "eval.batch_size=0: expected a whole number >= 1"),
    ("export", ["serpent", "model.bogus=2"], "unknown key model.bogus"),
    ("export", ["serpent", "sft.max_steps"], "'sft.max_steps' looks like a config key without a value"),
])
def test_every_stage_rejects_a_bad_key_or_value_with_one_line(stage, argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing to read here: the config is checked before any work
    assert STAGES[stage](argv) == 2
    assert says in _one_line(capsys, stage)


def test_a_bad_key_in_a_config_file_names_the_file(tmp_path):
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("extract:\n  test_fractoin: 0.3\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml: unknown key extract\.test_fractoin"):
        cfglib.load("serpent", overlay=overlay)


def test_library_fields_are_checked_against_their_types():
    cfg = cfglib.load("serpent", overrides=["max_steps=5", "lora.target_modules=[q_proj, v_proj]",
                                            "report_to=[tensorboard]", "model.dtype=bfloat16"])
    assert cfg["sft"]["max_steps"] == 5 and cfg["lora"]["target_modules"] == ["q_proj", "v_proj"]
    for bad in ("max_steps=1.5", "sft.bf16=maybe", "lora.lora_dropout=high", "model.load_in_4bit=2"):
        with pytest.raises(ConfigError, match="is not"):
            cfglib.load("serpent", overrides=[bad])


@pytest.mark.parametrize("stage,argv", [
    ("extract", ["--db", "store.db", "--out", "afile"]),
    ("train", ["serpent", "paths.data=afile", "--dry-run"]),
    ("eval", ["serpent", "paths.data=afile"]),
])
def test_a_data_folder_that_is_a_file_is_one_line(stage, argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    assert STAGES[stage](argv) == 2
    err = _one_line(capsys, stage)
    assert "afile" in err and "is a file" in err


def test_the_data_tools_take_overrides_and_a_file_for_data_is_one_line(capsys, tmp_path, monkeypatch):
    from extract.__main__ import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert main(["analyze", "paths.data=afile"]) == 2
    assert "paths.data=afile is a file" in _one_line(capsys, "extract analyze")
    assert main(["analyze", "--data", "afile"]) == 2
    assert "--data afile: is a file" in _one_line(capsys, "extract analyze")


@pytest.mark.parametrize("verb", [["show", "serpnet", "0"], ["export-jsonl", "serpnet"]])
def test_a_typod_specialist_name_is_named_not_run_make_extract(verb, capsys, tmp_path, monkeypatch):
    from extract.__main__ import main

    monkeypatch.chdir(tmp_path)
    assert main([*verb, "--data", str(tmp_path)]) == 2
    err = _one_line(capsys, f"extract {verb[0]}")
    assert "unknown specialist 'serpnet'" in err and "serpent" in err and "make extract" not in err


def test_extract_help_lists_the_data_tools(capsys):
    from extract.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for verb in ("analyze", "show", "compare", "report", "export-jsonl"):
        assert f"python -m extract {verb}" in out
    assert ".venv/bin/python -m extract" in out


# --- the tiny base apart from the demo's folders (point 13) --------------------------------------------------------

def test_tiny_overlay_moves_no_folder_and_the_demo_overlay_is_tiny_plus_the_demos_folders():
    defaults = cfglib.load("serpent")
    tiny = cfglib.load("serpent", overlay=cfglib.CONFIG_DIR / "tiny.yaml")
    demo = cfglib.load("serpent", overlay=cfglib.CONFIG_DIR / "demo.yaml")
    assert tiny["paths"] == defaults["paths"]  # your data and outputs stay yours
    assert tiny["model"]["model_name_or_path"] == "demo/base"
    assert all(v.startswith("demo/") for v in demo["paths"].values())
    for section in ("model", "sft", "lora", "eval"):
        assert demo[section] == tiny[section]


def test_the_readmes_overlay_example_for_your_own_data_is_the_tiny_one():
    root = cfglib.CONFIG_DIR.parent
    readme = "".join(page.read_text() for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    assert "`CONFIG=configs/tiny.yaml`" in readme
    assert "a config overlay, such as `configs/demo.yaml`" not in readme
