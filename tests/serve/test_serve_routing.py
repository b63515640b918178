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


def test_a_body_that_is_not_json_is_a_400_with_the_openai_error_body(client):
    r = client.post("/v1/chat/completions", content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert r.json()["error"]["code"] == "invalid_json"


# --- the front door: key, body, fields --------------------------------------------------------------------------------

def keyed(key="s3cret-key", max_body=1 << 20):
    from starlette.testclient import TestClient

    from serve.router import Router

    async def reload():
        return dict(LANGUAGES)

    return TestClient(Router(echo, languages=dict(LANGUAGES), classify=lambda m: None, reload=reload, api_key=key,
                             max_body=max_body))


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret-key"}])
def test_without_the_key_every_route_is_a_401(headers):
    c = keyed()
    for method, path in [("get", "/v1/models"), ("post", "/v1/chat/completions"), ("post", "/admin/reload"),
                         ("get", "/admin/metrics")]:
        r = getattr(c, method)(path, headers=headers)
        assert r.status_code == 401, path
        assert r.json()["error"]["code"] == "invalid_api_key"


def test_with_the_key_the_request_goes_through():
    r = keyed().post("/v1/chat/completions", json={"model": "serpent", "messages": NO_SIGNAL},
                     headers={"authorization": "Bearer s3cret-key"})
    assert r.status_code == 200 and r.json()["model"] == "serpent"


def test_a_body_over_the_limit_is_a_413():
    r = keyed(key=None, max_body=1000).post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": "x" * 5000}]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize("body,param", [
    ({"messages": NO_SIGNAL, "temprature": 0}, "temprature"),  # unknown field
    ({"messages": "hi"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"messages": NO_SIGNAL, "max_tokens": -1}, "max_tokens"),
    ({"messages": NO_SIGNAL, "max_tokens": "10"}, "max_tokens"),
    ({"messages": NO_SIGNAL, "temperature": 9}, "temperature"),
    ({"messages": NO_SIGNAL, "n": 3}, "n"),
    ({"messages": NO_SIGNAL, "tools": [{"type": "function"}]}, "tools[0]"),
    ({"messages": NO_SIGNAL, "tools": [{"type": "function", "function": {"name": "a b"}}]},
     "tools[0].function.name"),
    ({"messages": NO_SIGNAL, "tools": [{"type": "function", "function": {"name": "a", "parameters": []}}]},
     "tools[0].function.parameters"),
    ({"messages": NO_SIGNAL, "tool_choice": {"type": "function", "function": {"name": "x"}}}, "tool_choice"),
    ({"messages": NO_SIGNAL, "stream": "maybe"}, "stream"),
    ({"messages": NO_SIGNAL, "model": 5}, "model"),
])
def test_a_malformed_request_is_a_400_naming_the_field(client, body, param):
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error" and err["message"]


def test_a_model_name_that_looks_like_a_path_is_just_an_unknown_model(client):
    r = chat(client, "../../etc/passwd")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_an_unknown_route_is_a_404_with_the_openai_body(client):
    r = client.post("/v1/responses", json={})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_developer_messages_and_text_parts_reach_the_engine_as_the_templates_take_them(client):
    r = chat(client, "base", [{"role": "developer", "content": "be brief"},
                              {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    assert r.json()["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ab"}]
