"""`model: auto` and the model names: the router in front of the engine, with a stand-in engine that echoes requests.

The stand-in only tests the glue (what reaches the engine and what the client gets); the real engine answers in
test_serve_engine.py.
"""
from __future__ import annotations

import json

import pytest

from extract.language import language_of, session_of

RUST = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": "The build fails, please fix it."},
    {"role": "assistant", "content": "Let me build it.", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "cargo build"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "error[E0425]: cannot find value `x` in this scope\n"
                                                        " --> src/main.rs:3:5"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c2", "type": "function", "function": {"name": "read", "arguments": '{"filePath": "src/main.rs"}'}}]},
]
NO_SIGNAL = [{"role": "user", "content": "What is a good name for a cat?"}]
LANGUAGES = {"base": None, "oxidizer": "rust", "serpent": "python"}


def test_a_rust_conversation_is_rust_by_extractions_rules():
    verdict = language_of(RUST)
    assert verdict.language == "rust" and verdict.reason == "clear"


def test_a_conversation_without_code_has_no_language():
    assert language_of(NO_SIGNAL).language is None


def test_the_system_prompt_is_not_evidence():
    assert language_of([{"role": "system", "content": "cargo build src/main.rs Cargo.toml"}, *NO_SIGNAL]).language \
        is None


def test_tool_results_join_their_calls_by_id():
    session = session_of(RUST)
    [turn] = session.turns
    assert [c.name for c in session.tool_calls] == ["bash", "read"]
    assert "error[E0425]" in session.tool_calls[0].output and session.tool_calls[0].arguments == {"command": "cargo build"}
    assert len(turn.steps) == 2


# --- the router ----------------------------------------------------------------------------------------------------------

async def echo(scope, receive, send):
    """A stand-in engine: answers with the JSON body it received."""
    message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": message.get("body") or b"{}"})


@pytest.fixture
def client():
    from starlette.testclient import TestClient

    from serve.router import Router

    reloaded = []

    async def reload():
        reloaded.append(True)
        return {**LANGUAGES, "forge": "ruby"}

    router = Router(echo, languages=dict(LANGUAGES), classify=lambda m: language_of(m).language, reload=reload)
    c = TestClient(router)
    c.reloaded = reloaded
    return c


def chat(client, model, messages=NO_SIGNAL, **extra):
    return client.post("/v1/chat/completions", json={"model": model, "messages": messages, **extra})


def test_auto_sends_a_rust_conversation_to_oxidizer_and_says_so(client):
    r = chat(client, "auto", RUST)
    assert r.status_code == 200
    assert r.json()["model"] == "oxidizer"  # what the engine was asked for, so the reply's model says it
    assert r.headers["x-workbench-model"] == "oxidizer"


def test_auto_sends_a_conversation_without_a_clear_language_to_the_base(client):
    r = chat(client, "auto")
    assert r.json()["model"] == "base" and r.headers["x-workbench-model"] == "base"


def test_auto_sends_a_language_no_served_specialist_has_to_the_base(client):
    ruby = [{"role": "user", "content": "fix it"}, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "bash", "arguments": '{"command": "bundle exec rspec"}'}}]}]
    assert language_of(ruby).language == "ruby"
    assert chat(client, "auto", ruby).json()["model"] == "base"


def test_a_named_model_goes_through_unchanged(client):
    r = chat(client, "serpent")
    assert r.json()["model"] == "serpent" and r.headers["x-workbench-model"] == "serpent"


def test_no_model_means_the_base(client):
    r = client.post("/v1/chat/completions", json={"messages": NO_SIGNAL})
    assert r.json()["model"] == "base"


def test_an_unknown_model_is_a_404_naming_what_is_served(client):
    r = chat(client, "gpt-4")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and "'gpt-4'" in err["message"]
    assert "oxidizer" in err["message"] and "auto" in err["message"]


def test_repeat_penalty_defaults_to_none_at_all_and_a_given_one_is_kept(client):
    assert chat(client, "base").json()["repeat_penalty"] == 1.0
    assert chat(client, "base", repeat_penalty=1.3).json()["repeat_penalty"] == 1.3


def test_models_lists_every_served_name_and_auto(client):
    data = client.get("/v1/models").json()["data"]
    assert [m["id"] for m in data] == ["base", "oxidizer", "serpent", "auto"]
    assert {m["id"]: m["language"] for m in data}["oxidizer"] == "rust"


def test_reload_swaps_in_the_new_model_list(client):
    r = client.post("/admin/reload")
    assert r.status_code == 200 and r.json()["models"] == ["base", "oxidizer", "serpent", "forge"]
    assert client.reloaded == [True]
    assert "forge" in [m["id"] for m in client.get("/v1/models").json()["data"]]


def test_a_body_that_is_not_json_goes_to_the_engine_as_it_came(client):
    r = client.post("/v1/chat/completions", content=b"not json", headers={"content-type": "application/json"})
    assert r.content == b"not json"
