"""Configuration: layering, KEY=VALUE overrides, and config errors that stop `python -m train` before any model loads.

The README's contract: defaults.yaml < configs/<name>.yaml < an overlay < KEY=VALUE overrides; the keys of `model`,
`lora` and `sft` are the fields of trl.ModelConfig, peft.LoraConfig and trl.SFTConfig; a bare key goes to the one
section that knows it; a key no config object knows stops the run before any model is loaded.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core import config as cfglib
from core.config import ConfigError


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """A private configs/ folder: defaults plus one specialist, each setting a different subset of sft keys."""
    d = tmp_path / "configs"
    d.mkdir()
    _write(d / "defaults.yaml", {
        "paths": {"data": "data", "outputs": "outputs"},
        "lora": {"r": 16, "lora_alpha": 32},
        "sft": {"learning_rate": 0.1, "max_steps": 1, "seed": 1, "logging_steps": 1},
    })
    _write(d / "lizard.yaml", {"language": "lizardscript", "system_prompt": "You are lizard.",
                               "sft": {"max_steps": 2, "seed": 2, "logging_steps": 2}})
    return d


# --- layering -----------------------------------------------------------------------------------------------------

def test_later_layers_win_defaults_then_specialist_then_overlay_then_overrides(config_dir, tmp_path):
    overlay = _write(tmp_path / "overlay.yaml", {"sft": {"seed": 3, "logging_steps": 3}})
    cfg = cfglib.load("lizard", overlay=overlay, overrides=["logging_steps=4"], config_dir=config_dir)
    assert cfg["sft"] == {"learning_rate": 0.1,  # defaults only
                          "max_steps": 2,        # specialist over defaults
                          "seed": 3,             # overlay over specialist
                          "logging_steps": 4}    # override over overlay


def test_layers_merge_per_key_so_untouched_siblings_survive(config_dir, tmp_path):
    overlay = _write(tmp_path / "overlay.yaml", {"lora": {"r": 8}, "paths": {"data": "elsewhere"}})
    cfg = cfglib.load("lizard", overlay=overlay, config_dir=config_dir)
    assert cfg["lora"] == {"r": 8, "lora_alpha": 32}
    assert cfg["paths"] == {"data": "elsewhere", "outputs": "outputs"}
    assert cfg["language"] == "lizardscript"


def test_the_shipped_specialists_are_the_five_languages():
    assert {n: cfglib.load(n)["language"] for n in cfglib.specialist_names()} == {
        "forge": "ruby", "oxidizer": "rust", "prism": "typescript", "serpent": "python", "swiftblade": "swift"}


def test_shipped_defaults_match_the_readme():
    cfg = cfglib.load("serpent")
    assert cfg["lora"]["r"] == 16 and cfg["lora"]["target_modules"] == "all-linear"
    assert cfg["sft"]["learning_rate"] == pytest.approx(1e-4)
    assert cfg["sft"]["assistant_only_loss"] is True
    assert cfg["extract"]["test_fraction"] == pytest.approx(0.1)


def test_the_demo_overlay_applies_on_top_of_a_specialist():
    cfg = cfglib.load("serpent", overlay=cfglib.CONFIG_DIR / "demo.yaml")
    assert cfg["language"] == "python"
    assert cfg["model"]["model_name_or_path"] == "demo/base"
    assert cfg["sft"]["learning_rate"] == pytest.approx(5e-3)
    assert cfg["sft"]["assistant_only_loss"] is True  # from defaults, untouched by the overlay


# --- KEY=VALUE overrides ------------------------------------------------------------------------------------------

def test_bare_learning_rate_goes_to_sft_as_a_float():
    cfg = cfglib.load("serpent", overrides=["learning_rate=1e-4"])
    assert cfg["sft"]["learning_rate"] == 1e-4
    assert type(cfg["sft"]["learning_rate"]) is float
    assert "learning_rate" not in cfg["lora"] and "learning_rate" not in cfg["model"]


@pytest.mark.parametrize("text,value", [("1e-4", 1e-4), ("5E-3", 5e-3), ("-2e+1", -20.0), ("3.0e-5", 3e-5)])
def test_exponent_numbers_are_floats_even_without_a_dot(text, value):
    v = cfglib.parse_value(text)
    assert v == value and type(v) is float


def test_section_qualified_override_lora_r():
    cfg = cfglib.load("serpent", overrides=["lora.r=32"])
    assert cfg["lora"]["r"] == 32 and type(cfg["lora"]["r"]) is int
    assert cfg["lora"]["lora_alpha"] == 32  # siblings untouched


@pytest.mark.parametrize("key", ["save_strategy", "eval_strategy"])
def test_no_stays_the_string_no(key):
    cfg = cfglib.load("serpent", overrides=[f"{key}=no"])
    assert cfg["sft"][key] == "no"


def test_true_and_false_are_booleans_and_lists_are_lists():
    cfg = cfglib.load("serpent", overrides=["packing=true", "assistant_only_loss=false", "lora.target_modules=[q_proj, v_proj]"])
    assert cfg["sft"]["packing"] is True and cfg["sft"]["assistant_only_loss"] is False
    assert cfg["lora"]["target_modules"] == ["q_proj", "v_proj"]


def test_a_value_may_contain_an_equals_sign():
    cfg = cfglib.load("serpent", overrides=["sft.run_name=a=b"])
    assert cfg["sft"]["run_name"] == "a=b"


def test_bare_key_known_only_to_the_library_config_goes_to_its_section():
    """weight_decay is in no YAML, but SFTConfig knows it: with the known fields the bare key is routed to sft."""
    known = {"sft": {"weight_decay", "learning_rate"}, "lora": {"r"}, "model": {"dtype"}}
    cfg = cfglib.load("serpent", overrides=["weight_decay=0.1"], known=known)
    assert cfg["sft"]["weight_decay"] == 0.1


def test_bare_key_no_section_knows_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match="no_such_key"):
        cfglib.load("serpent", overrides=["no_such_key=1"])


def test_bare_key_two_sections_know_is_an_error_asking_for_the_section():
    known = {"sft": {"seed"}, "model": {"seed"}}
    with pytest.raises(ConfigError, match=r"several sections know it \(model, sft\); write model\.seed"):
        cfglib.load("serpent", overrides=["seed=1"], known=known)


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        cfglib.apply_overrides({}, ["learning_rate"])


def test_unknown_specialist_is_an_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown specialist 'cobra'.*serpent"):
        cfglib.load("cobra")


def test_overlay_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        cfglib.load("serpent", overlay=tmp_path / "missing.yaml")


# --- python -m train: config errors stop before any model loads ---------------------------------------------------

@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if anything loads a model or tokenizer or starts training."""
    import core.models
    import train.sft

    def boom(*a, **k):
        pytest.fail("a model was loaded or training started although the configuration is invalid")

    monkeypatch.setattr(core.models, "load_model", boom)
    monkeypatch.setattr(core.models, "load_tokenizer", boom)
    monkeypatch.setattr(train.sft, "train", boom)
    monkeypatch.setattr(train.sft, "dry_run", boom)


def _run_train(argv, capsys) -> tuple[int, str, str]:
    from train.__main__ import main

    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{err}"
    assert lines[0].startswith("train: error: "), lines[0]
    return lines[0]


def test_train_override_no_section_knows_exits_2_with_one_line(no_model, capsys):
    rc, out, err = _run_train(["serpent", "learning_rat=1e-4"], capsys)
    assert rc == 2
    assert "learning_rat" in _one_error_line(err)


def test_train_unknown_specialist_exits_2_with_one_line(no_model, capsys):
    rc, out, err = _run_train(["cobra"], capsys)
    assert rc == 2
    assert "cobra" in _one_error_line(err)


def test_train_without_a_name_exits_2_with_one_line(no_model, capsys):
    rc, out, err = _run_train([], capsys)
    assert rc == 2
    assert "--all" in _one_error_line(err)


def test_train_section_qualified_override_the_library_does_not_know_exits_2(no_model, capsys):
    rc, out, err = _run_train(["serpent", "sft.learning_rat=1e-4"], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert "sft.learning_rat" in line and "trl.SFTConfig" in line


@pytest.mark.parametrize("section,key,owner", [
    ("sft", "max_seq_length", "trl.SFTConfig"),     # renamed to max_length in TRL 1.x
    ("lora", "rank", "peft.LoraConfig"),
    ("model", "torch_dtype_name", "trl.ModelConfig"),
])
def test_train_overlay_key_the_config_class_does_not_know_exits_2(no_model, capsys, tmp_path, section, key, owner):
    overlay = _write(tmp_path / "overlay.yaml", {section: {key: 1}})
    rc, out, err = _run_train(["serpent", "--overlay", str(overlay)], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert f"{section}.{key}" in line and owner in line


def test_train_checks_every_config_before_any_model_loads(no_model, capsys, tmp_path):
    """With several names, a bad key stops the run before the first specialist is trained."""
    overlay = _write(tmp_path / "overlay.yaml", {"sft": {"not_a_field": 1}})
    rc, out, err = _run_train(["forge", "serpent", "--overlay", str(overlay)], capsys)
    assert rc == 2
    _one_error_line(err)


def test_train_one_unknown_name_among_good_ones_stops_before_any_model_loads(no_model, capsys):
    rc, out, err = _run_train(["forge", "cobra"], capsys)
    assert rc == 2
    assert "cobra" in _one_error_line(err)
