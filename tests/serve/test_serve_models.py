"""Which models a server serves: the base, and each specialist exported for that base with an adapter.gguf."""
from __future__ import annotations

import json

import pytest
import yaml

from core.config import ConfigError
from serve.models import served_models


@pytest.fixture
def overlay(tmp_path):
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump({"paths": {"exports": str(tmp_path / "exports")},
                                    "model": {"model_name_or_path": "org/base"},
                                    "extract": {"agent_files": False}}))
    return str(path)


def export(tmp_path, name, base="org/base", gguf=True):
    out = tmp_path / "exports" / name
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"specialist": name, "base_model": base, "gguf": {}}))
    if gguf:
        (out / "adapter.gguf").write_bytes(b"GGUF")


def test_the_base_and_every_exported_specialist_are_served_in_order(tmp_path, overlay):
    export(tmp_path, "serpent")
    export(tmp_path, "forge")
    _, served = served_models(overlay=overlay, log=lambda line: None)
    assert [(s.name, s.language) for s in served] == [("base", None), ("forge", "ruby"), ("serpent", "python")]
    assert served[2].adapter_gguf == tmp_path / "exports" / "serpent" / "adapter.gguf"


def test_a_specialist_that_cannot_be_served_is_left_out_with_one_line_each(tmp_path, overlay):
    export(tmp_path, "serpent", base="org/other")
    export(tmp_path, "forge", gguf=False)
    lines = []
    _, served = served_models(overlay=overlay, log=lines.append)
    assert [s.name for s in served] == ["base"]
    said = "\n".join(lines)
    assert "serpent left out: exported for the base 'org/other'" in said
    assert "forge left out: no " in said and "oxidizer left out: not exported" in said


def test_naming_models_serves_only_those_and_a_name_that_cannot_be_served_is_an_error(tmp_path, overlay):
    export(tmp_path, "serpent")
    export(tmp_path, "forge")
    _, served = served_models(overlay=overlay, names=["serpent"], log=pytest.fail)
    assert [s.name for s in served] == ["base", "serpent"]
    with pytest.raises(ConfigError, match="oxidizer cannot be served: not exported"):
        served_models(overlay=overlay, names=["oxidizer"], log=lambda line: None)
    with pytest.raises(ConfigError, match="no such model to serve: gpt-4"):
        served_models(overlay=overlay, names=["gpt-4"], log=lambda line: None)
