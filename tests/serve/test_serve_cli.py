"""`python -m serve` on bad input: one error line saying what and where, exit 2, never a traceback."""
from __future__ import annotations

import pytest
import yaml

from serve.__main__ import main


@pytest.mark.parametrize("action", ["check", "reload"])
def test_asking_a_server_that_is_not_there_is_one_line(action, capsys):
    assert main([action, "--url", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("serve: error: no server answers at http://127.0.0.1:9/v1") and "\n" not in err


def test_a_base_folder_that_is_not_there_is_one_line(tmp_path, capsys):
    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"paths": {"exports": str(tmp_path / "exports")},
                                       "model": {"model_name_or_path": str(tmp_path / "no-base")}}))
    assert main(["--overlay", str(overlay), "--engine", "llama.cpp", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"serve: error: base model {str(tmp_path / 'no-base')!r}: not a folder here"]


def test_an_unknown_model_to_serve_is_one_line(capsys):
    assert main(["--models", "gpt-4"]) == 2
    assert "no such model to serve: gpt-4" in capsys.readouterr().err


def test_an_unknown_engine_is_one_line(tmp_path, capsys):
    assert main(["--engine", "tgi"]) == 2
    assert "serve.engine: 'tgi' is not one of auto, llama.cpp, vllm" in capsys.readouterr().err


def test_serving_from_python_raises_with_the_servers_own_error_line(tmp_path):
    from serve import ServeError, serving

    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"paths": {"exports": str(tmp_path / "exports")},
                                       "model": {"model_name_or_path": str(tmp_path / "no-base")}}))
    with pytest.raises(ServeError, match=r"exited \(2\): serve: error: base model .*: not a folder here"):
        with serving(overlay=overlay, engine="llama.cpp", timeout=60):
            pytest.fail("the block must not run")


def test_key_value_overrides_reach_the_server_as_every_stage_takes_them(tmp_path, capsys):
    from serve import ServeError, serving

    argv = [f"paths.exports={tmp_path / 'exports'}", f"model.model_name_or_path={tmp_path / 'other-base'}"]
    assert main(["--engine", "llama.cpp", "--port", "0", *argv]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"serve: error: base model {str(tmp_path / 'other-base')!r}: not a folder here"]
    with pytest.raises(ServeError, match=r"exited \(2\): serve: error: base model .*other-base.*: not a folder here"):
        with serving(engine="llama.cpp", timeout=60, overrides=argv):
            pytest.fail("the block must not run")
    assert main(["run", "serve.nosuch=1"]) == 2
    assert "serve.nosuch" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # two actions: argparse's usage error
        main(["check", "reload"])
