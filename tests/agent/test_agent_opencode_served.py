"""The real opencode against this project's real server (`make serve`: llama.cpp, the tiny base and an exported
adapter, with a context large enough for opencode's prompt): a bundled Python task to the end of a session with the
generated opencode.json (only its port changed), read back by extraction with the captured tool set; and
`agent eval --agent opencode` printing the paired table."""
from __future__ import annotations

import json
import subprocess

import pytest

from agent import clients

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (clients.install_dir() / "node_modules" / ".bin" / "opencode").exists(),
                                 reason="make agents-setup installs opencode (make test does)")]

# opencode 1.18.33 sends about 7,600 prompt tokens for a build-<lang> agent (the demo tokenizer): the server's context
# must hold them and a reply
N_CTX = "serve.n_ctx=16384"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base):
    """An overlay whose serpent is a (random) LoRA on the tiny base, exported as `make export` exports it, with the
    agent configs it writes; the agent settings short."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from agent_support import export_as_specialist

    tmp = tmp_path_factory.mktemp("served")
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(tmp / "adapter")
    return export_as_specialist(tmp / "adapter", tiny_base, tmp / "workspace", "serpent", {
        "agent": {"max_tokens": 64, "step_limit": 3, "command_timeout": 20, "task_timeout": 240,
                  "bootstrap_samples": 200, "tasks": "python"},
        "serve": {"engine": "llama.cpp", "n_ctx": 16384}})


def test_opencode_runs_a_bundled_task_against_make_serve_and_extraction_reads_it_with_the_captured_set(
        exported, tmp_path):
    import yaml

    from agent.opencode import run, with_url, write_config
    from agent.tasks import load_suite
    from extract import opencode as reader
    from extract.work import served_set
    from serve.api import serving

    root = yaml.safe_load(open(exported))["paths"]["exports"]
    generated = json.loads(open(f"{root}/agents/opencode.json").read())
    task = load_suite("python")[0]
    work = task.checkout(tmp_path / "work")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    home = tmp_path / "home"
    with serving(["base", "serpent"], overlay=exported, overrides=[N_CTX]) as server:
        write_config(home, with_url(generated, server.base_url))  # the generated file, only its port changed
        res = run("build-python", task.instruction, work, home, timeout=300)
    assert res.returncode == 0 and not res.error(), (res.error(), res.stderr[-2000:])
    assert res.steps() >= 1  # (its tokens need the server's usage chunk: the serving work of issue 25)
    db = clients.opencode_db(home)
    stats = reader.ReadStats()
    with reader.open_store(db) as conn:
        sessions = list(reader.read_sessions(conn, reader.ReadOptions(agents=("build-*",)), stats))
    assert [s.id for s in sessions] == [res.session_id], stats
    s = sessions[0]
    assert s.client_version == clients.pinned("opencode") and s.agent == "build-python"
    from core import config

    sp = config.specialist("serpent", overlay=exported)
    system, tools, name = served_set(s, sp, {})
    assert name == f"opencode-{clients.pinned('opencode')}"
    assert f"Working directory: {work}" in system and system.startswith(sp.system_prompt)


def test_agent_eval_with_the_real_opencode_prints_the_paired_table(exported, capsys, tmp_path):
    import shutil

    from agent.__main__ import main
    from agent.tasks import BUNDLED

    tasks = tmp_path / "tasks"  # one bundled task (three opencode sessions: base, serpent, base again)
    shutil.copytree(BUNDLED / "python" / "camel-acronym", tasks / "camel-acronym")
    spec = tasks / "camel-acronym" / "task.yaml"
    spec.write_text(spec.read_text() + "language: python\n")
    assert main(["eval", "serpent", "--agent", "opencode", "--overlay", str(exported), "--quiet", N_CTX,
                 "--tasks", str(tasks)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("agent eval serpent: base ") and "McNemar p" in out
    import yaml

    report = yaml.safe_load(open(exported))["paths"]["reports"]
    md = open(f"{report}/serpent/agent.md").read()
    assert md.startswith(f"# serpent: agent runs on {tasks}") and f"opencode {clients.pinned('opencode')}" in md
    assert "| base resolved |" in md and "McNemar's exact test" in md


def test_over_the_context_opencode_gets_a_4xx_and_stops_instead_of_looping(exported, tmp_path):
    import yaml

    from agent.opencode import run, with_url, write_config
    from serve.api import serving

    root = yaml.safe_load(open(exported))["paths"]["exports"]
    generated = json.loads(open(f"{root}/agents/opencode.json").read())
    work = tmp_path / "work"
    work.mkdir()
    with serving(["serpent"], overlay=exported, overrides=["serve.n_ctx=4096"]) as server:  # the demo's context
        write_config(tmp_path / "home", with_url(generated, server.base_url))
        res = run("build-python", "Fix the failing test", work, tmp_path / "home", timeout=120)
        asked = [ln for ln in server.log.read_text().splitlines() if "POST /v1/chat/completions" in ln]
    # opencode got the refusal (before: HTTP 200 and an empty stream, asked again 882 times in 300 s; then a 400
    # context_length_exceeded, which opencode 1.18 answers by compacting and asking again: 44 times in 120 s) ...
    errors = [e for e in res.events if e.get("type") == "error"]
    assert errors and "serve.n_ctx" in json.dumps(errors[-1]), res.events[-3:]  # the user reads what to change
    asked = [ln for ln in asked if " 400 " in ln]  # the build requests; the short title request may be answered
    assert asked, "the server refused nothing"
    # ... and stopped: it asked once (measured: 1 request, then `opencode run` exits 1 by itself), not a loop
    assert len(asked) <= 3, f"opencode asked {len(asked)} times: the refusal did not stop it"
    assert not res.timed_out and res.returncode != 0, res.stderr[-2000:]
