"""The real engine (llama.cpp via llama-cpp-python) on a free 127.0.0.1 port, driven with the `openai` client.

The tiny workspace base with two exported specialists (random LoRAs, exported by `python -m export`); a second
server runs a model over-fit to one tool call, so parsing is checked on real generations whose text is known.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from serve_support import (ASK, EXPORTED, REPLY, TOOLS, export_specialists, overfit_tool_caller, overlay_for_base,
                           peft_greedy)

pytestmark = pytest.mark.slow

RUST = [ASK[0], {"role": "user", "content": "Fix the build."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "cargo build"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "error[E0308]: mismatched types --> src/lib.rs:4:9"}]


@pytest.fixture(scope="module")
def overlay(workspace, tmp_path_factory):
    return export_specialists(workspace, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(overlay):
    from serve import serving

    with serving(overlay=overlay, engine="llama.cpp") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=120)


def test_the_server_listens_on_localhost_and_lists_the_base_every_specialist_and_auto(server, client):
    assert server.base_url.startswith("http://127.0.0.1:")
    assert [m.id for m in client.models.list().data] == ["base", *EXPORTED, "auto"]


@pytest.mark.parametrize("name", ["base", *EXPORTED])
def test_each_model_answers_under_its_own_name(client, name):
    reply = client.chat.completions.create(model=name, messages=ASK, max_tokens=8, temperature=0)
    assert reply.model == name and reply.choices[0].finish_reason in ("stop", "length")


@pytest.mark.parametrize("name", ["base", EXPORTED[0]])
def test_greedy_tokens_and_logprobs_equal_pefts_base_plus_adapter(workspace, overlay, client, name):
    n = 12
    reply = client.chat.completions.create(model=name, messages=ASK, max_tokens=n, temperature=0, logprobs=True,
                                           top_logprobs=1)
    tok, new, want = peft_greedy(workspace, overlay, name, ASK, n)
    got = [t.logprob for t in reply.choices[0].logprobs.content]
    eos = new[-1] == tok.eos_token_id
    assert reply.choices[0].message.content == tok.decode(new[:-1] if eos else new, skip_special_tokens=True)
    assert len(got) == len(new) - (1 if eos else 0) or len(got) == len(new)
    assert max(abs(g - w) for g, w in zip(got, want)) < 1e-4


def test_the_specialists_answer_differently_from_the_base(workspace, overlay):
    _, base, _ = peft_greedy(workspace, overlay, "base", ASK, 6)
    _, spec, _ = peft_greedy(workspace, overlay, EXPORTED[0], ASK, 6)
    assert base != spec  # so the greedy comparison above can tell a served adapter from a missing one


def test_auto_sends_a_rust_conversation_to_oxidizer(client):
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=RUST, max_tokens=4)
    assert raw.headers["x-workbench-model"] == "oxidizer" and raw.parse().model == "oxidizer"


def test_auto_sends_a_conversation_without_signal_to_the_base(client):
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=ASK, max_tokens=4)
    assert raw.headers["x-workbench-model"] == "base" and raw.parse().model == "base"


def test_an_unknown_model_is_a_404_not_another_models_answer(client):
    import openai

    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4", messages=ASK, max_tokens=4)


def test_serve_check_prints_a_row_per_model(server):
    run = subprocess.run([sys.executable, "-m", "serve", "check", "--url", server.base_url], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["model", "answered", "answered", "by", "tool", "call", "parsed", "latency"]
    assert [ln.split()[0] for ln in lines[2:-1]] == ["base", *EXPORTED, "auto"]
    assert all(ln.split()[1] == "yes" for ln in lines[2:-1])
    assert lines[-1].startswith(("context ", "warning: the context is"))


# --- a new adapter without a restart -------------------------------------------------------------------------------------

def test_reload_serves_a_re_exported_adapter_and_a_new_specialist_without_a_restart(workspace, tmp_path):
    from openai import OpenAI

    from export.bundle import main as export_main
    from serve import serving
    from serve_support import random_adapter

    overlay = export_specialists(workspace, tmp_path, names=("serpent",))
    outputs = tmp_path / "outputs"
    with serving(overlay=overlay, engine="llama.cpp") as s:
        client = OpenAI(base_url=s.base_url, api_key="x", max_retries=0)
        ask = dict(messages=ASK, max_tokens=6, temperature=0, logprobs=True, top_logprobs=1)
        before = [t.logprob for t in client.chat.completions.create(model="serpent", **ask).choices[0].logprobs.content]
        pid = s.process.pid
        # the cycle's promotion: a new adapter for serpent, re-exported; and forge exported for the first time
        import shutil

        shutil.rmtree(outputs / "serpent")
        random_adapter(workspace["base"], outputs / "serpent" / "adapter", seed=7)
        random_adapter(workspace["base"], outputs / "forge" / "adapter", seed=8)
        assert export_main(["serpent", "forge", "--overlay", overlay, "--force"]) == 0
        assert s.reload() == ["base", "forge", "serpent"]
        after = [t.logprob for t in client.chat.completions.create(model="serpent", **ask).choices[0].logprobs.content]
        assert after != before
        assert client.chat.completions.create(model="forge", messages=ASK, max_tokens=2).model == "forge"
        assert s.process.pid == pid and s.process.poll() is None  # the same process: no restart


def test_ctrl_c_stops_the_server_cleanly(overlay):
    from serve.api import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "serve", "--overlay", overlay, "--port", str(port),
                             "--engine", "llama.cpp"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "Ctrl-C stops" in out


def test_a_port_in_use_is_one_error_line(overlay):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "serve", "--overlay", overlay, "--port", str(port),
                              "--engine", "llama.cpp"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().startswith("serve: error: cannot listen on 127.0.0.1:") and "Traceback" not in run.stderr


# --- tool calls on real generations ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tool_caller(workspace, tmp_path_factory):
    from sample.tiny_model import corpus_from_store

    root = tmp_path_factory.mktemp("overfit")
    base = overfit_tool_caller(root / "base", [*corpus_from_store(workspace["store"]), REPLY, REPLY])
    overlay = overlay_for_base(base, root, workspace["overlay"])
    from openai import OpenAI

    from serve import serving

    with serving(overlay=overlay, engine="llama.cpp") as s:
        yield OpenAI(base_url=s.base_url, api_key="x", max_retries=0, timeout=120)


def test_the_over_fit_models_call_comes_back_as_tool_calls(tool_caller):
    reply = tool_caller.chat.completions.create(model="base", messages=ASK, tools=TOOLS, temperature=0,
                                                max_tokens=64)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Listing the files.\n"
    [call] = choice.message.tool_calls
    assert call.function.name == "bash" and json.loads(call.function.arguments) == {"command": "ls -la"}


def test_a_streamed_call_comes_back_as_tool_calls(tool_caller):
    chunks = list(tool_caller.chat.completions.create(model="base", messages=ASK, tools=TOOLS, temperature=0,
                                                      max_tokens=64, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert text == "Listing the files.\n"
    assert [(tc.function.name, json.loads(tc.function.arguments)) for tc in calls] == [("bash", {"command": "ls -la"})]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_call_cut_off_mid_way_comes_back_as_plain_content_not_an_error(tool_caller):
    reply = tool_caller.chat.completions.create(model="base", messages=ASK, tools=TOOLS, temperature=0,
                                                max_tokens=10)
    choice = reply.choices[0]
    assert choice.finish_reason == "length" and not choice.message.tool_calls
    assert choice.message.content.startswith("Listing the files.\n<tool_call>")
    assert len(choice.message.content) < len(REPLY)


def test_without_tools_the_reply_is_the_models_raw_text(tool_caller):
    reply = tool_caller.chat.completions.create(model="base", messages=ASK, temperature=0, max_tokens=64)
    assert reply.choices[0].message.content == REPLY and not reply.choices[0].message.tool_calls
