"""`python -m agent`: what the user gets wrong is one line on stderr and exit 2; the SWE-bench path without Docker."""
import json

import pytest
import yaml

from agent import swebench
from agent.__main__ import main


@pytest.fixture
def overlay(tmp_path):
    p = tmp_path / "overlay.yaml"
    p.write_text(yaml.safe_dump({"paths": {k: str(tmp_path / k) for k in ("data", "outputs", "reports", "exports")}}))
    return str(p)


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("cmd", ["eval", "generate"])
def test_a_specialist_without_an_export_to_serve_says_how_to_get_one(capsys, overlay, tmp_path, cmd):
    argv = [cmd, "serpent", "--overlay", overlay, "--quiet"] + (["--out", str(tmp_path / "runs")] * (cmd == "generate"))
    err = _error(capsys, argv)
    assert f"serpent: nothing to serve: not exported (no {tmp_path}/exports/serpent/manifest.json" in err
    assert "make export NAME=serpent" in err and "MERGED" not in err and "agent.endpoint" in err


def test_an_export_without_adapter_gguf_is_not_served_and_says_why(capsys, overlay, tmp_path):
    exports = tmp_path / "exports" / "serpent"
    exports.mkdir(parents=True)
    from core import config

    base = config.load(overlay=overlay)["model"]["model_name_or_path"]
    (exports / "manifest.json").write_text(json.dumps({"base_model": base, "gguf": {"skipped": "DoRA adapters have "
                                                                                            "no GGUF LoRA form"}}))
    err = _error(capsys, ["eval", "serpent", "--overlay", overlay, "--quiet"])
    assert "serpent: nothing to serve: no adapter.gguf (DoRA adapters have no GGUF LoRA form)" in err


def test_eval_all_with_nothing_to_serve(capsys, overlay):
    assert "no specialist has an export to serve (make export-all)" in _error(
        capsys, ["eval", "--all", "--overlay", overlay])


@pytest.mark.parametrize("argv, message", [
    (["eval", "nosuch"], "unknown specialist 'nosuch'"),
    (["eval", "serpent", "--tasks", "/no/such/tasks"], "task set /no/such/tasks: not a folder nor a bundled suite"),
    (["eval", "serpent", "agent.nosuch_key"], None),
    (["generate"], "name a specialist, or give --endpoint, --model and --tasks"),
    (["generate", "base"], "agent generate base: the base has no language; name a task set"),
    (["generate", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--tasks", "python", "--runs", "0"],
     "RUNS and WORKERS must be at least 1"),
    (["generate", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--tasks", "python", "agent.mode=chat"],
     None),
])
def test_bad_input_is_one_line(capsys, overlay, argv, message, tmp_path):
    argv = [*argv, "--overlay", overlay, "--quiet"]
    if argv[0] == "generate":
        argv += ["--out", str(tmp_path / "runs")]
    if message is None:  # a bare word that is no specialist, or an invalid setting: still one line
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
        return
    assert message in _error(capsys, argv)


def test_swebench_task_files_are_checked_before_anything_runs(tmp_path, capsys):
    good = tmp_path / "tasks.jsonl"
    good.write_text('{"instance_id": "a__b-1", "problem_statement": "fix it", "repo": "a/b"}\n'
                    '{"instance_id": "a__b-2", "problem_statement": "and this"}\n')
    assert [r["instance_id"] for r in swebench.read_instances(good)] == ["a__b-1", "a__b-2"]
    as_list = tmp_path / "tasks.json"
    as_list.write_text(json.dumps([{"instance_id": "x", "problem_statement": "y"}]))
    assert len(swebench.read_instances(as_list)) == 1
    for text, message in [('{"instance_id": "a"}\n', "instance 1 has no `problem_statement`"),
                          ('{"instance_id": "a", "problem_statement": "p"}\nnot json\n', "tasks.bad:2: not a JSON"),
                          ('{"instance_id": "a", "problem_statement": "p"}\n' * 2, "appears twice"), ("", "no instances")]:
        bad = tmp_path / "tasks.bad"
        bad.write_text(text)
        argv = ["swebench", str(bad), "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--out", str(tmp_path)]
        assert message in _error(capsys, argv)


def test_swebench_without_docker_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(swebench, "docker_available", lambda: False)
    f = tmp_path / "tasks.jsonl"
    f.write_text('{"instance_id": "a__b-1", "problem_statement": "fix it"}\n')
    argv = ["swebench", str(f), "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--out", str(tmp_path / "o")]
    assert "Docker is not available" in _error(capsys, argv)


def test_swebench_runner_reads_the_dataset_folder_it_is_given(tmp_path):
    """What mini-swe-agent's runner does with the folder we write (its own loading and filtering), no Docker."""
    from datasets import load_dataset
    from minisweagent.run.benchmarks.swebench import filter_instances, get_swebench_docker_image_name

    rows = [{"instance_id": "django__django-1", "problem_statement": "p1"},
            {"instance_id": "sympy__sympy-2", "problem_statement": "p2"}]
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cmd = swebench.command(tmp_path / "ds", tmp_path / "out", endpoint="http://h/v1", model="serpent", workers=2,
                           extra=["agent.step_limit=5"])
    assert cmd[cmd.index("--subset") + 1] == str(tmp_path / "ds") and cmd[cmd.index("--model") + 1] == "openai/serpent"
    assert "model.model_kwargs.api_base=http://h/v1" in cmd and cmd[-1] == "agent.step_limit=5"
    loaded = list(load_dataset(str(tmp_path / "ds"), split="test"))  # exactly as the runner loads --subset
    assert [r["instance_id"] for r in filter_instances(loaded, filter_spec="django")] == ["django__django-1"]
    assert get_swebench_docker_image_name(loaded[0]) == "docker.io/swebench/sweb.eval.x86_64.django_1776_django-1:latest"


def test_overrides_after_the_overlay_are_taken_as_make_passes_them(capsys, overlay, tmp_path):
    """make runs `python -m agent eval NAME --overlay FILE $(ARGS)`: the overrides come after the options."""
    err = _error(capsys, ["eval", "serpent", "--overlay", overlay, f"paths.exports={tmp_path / 'elsewhere'}"])
    assert f"no {tmp_path}/elsewhere/serpent/manifest.json" in err
    with pytest.raises(SystemExit):
        main(["eval", "serpent", "--overlay", overlay, "--bogus"])


@pytest.mark.parametrize("cmd", ["eval", "generate"])
def test_opencode_with_a_served_context_too_small_for_its_prompt_says_which_setting(capsys, tmp_path, cmd):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    p = tmp_path / "overlay.yaml"
    p.write_text(yaml.safe_dump({"paths": {k: str(tmp_path / k) for k in ("data", "outputs", "reports", "exports")},
                                 "model": {"model_name_or_path": str(base)}}))
    argv = [cmd, "serpent", "--agent", "opencode", "--overlay", str(p), "--quiet"]
    err = _error(capsys, argv + (["--out", str(tmp_path / "runs")] if cmd == "generate" else []))
    assert "served context is 4096" in err and "serve.n_ctx" in err
