"""Tool calls in the base's `<tool_call>{json}</tool_call>` format become OpenAI `tool_calls`; anything else is text."""
from __future__ import annotations

import json

import pytest

from serve.toolcalls import arguments_as_objects, held_back, parse, template_writes_tool_calls

CALL = '<tool_call>{"name": "bash", "arguments": {"command": "ls -la"}}</tool_call>'


def test_a_well_formed_call_becomes_a_tool_call_and_the_text_before_it_the_content():
    parsed = parse("Listing the files.\n" + CALL)
    assert parsed.content == "Listing the files.\n"
    [call] = parsed.tool_calls
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "bash"
    assert json.loads(call["function"]["arguments"]) == {"command": "ls -la"}  # a JSON string, as OpenAI sends


def test_several_calls_in_a_row_are_all_returned_in_order():
    second = '<tool_call>{"name": "read", "arguments": {"path": "a.py"}}</tool_call>'
    parsed = parse(CALL + "\n" + second + "\n")
    assert [c["function"]["name"] for c in parsed.tool_calls] == ["bash", "read"]
    assert parsed.content is None  # nothing but calls: no content, as OpenAI answers


def test_arguments_written_as_a_json_string_are_accepted():
    parsed = parse('<tool_call>{"name": "bash", "arguments": "{\\"command\\": \\"pwd\\"}"}</tool_call>')
    assert json.loads(parsed.tool_calls[0]["function"]["arguments"]) == {"command": "pwd"}


@pytest.mark.parametrize("text", [
    '<tool_call>{"name": "bash", "arguments": {"command": "ls</tool_call>',  # JSON cut inside the block
    '<tool_call>{"name": "bash", "bash", "bash"',  # never closed (the demo model's habit)
    '<tool_call>{"arguments": {"command": "ls"}}</tool_call>',  # no name
    '<tool_call>["bash"]</tool_call>',  # not an object
    '<tool_call>{"name": "bash", "arguments": [1]}</tool_call>',  # arguments not an object
    CALL + " and then some words",  # text after the call
    CALL + '<tool_call>{"name": 3}</tool_call>',  # one good call, one bad: the reply is not a clean call list
])
def test_a_malformed_call_comes_back_whole_as_plain_content(text):
    parsed = parse(text)
    assert parsed.tool_calls == [] and parsed.content == text


def test_plain_text_is_content():
    assert parse("Just an answer.").content == "Just an answer."


def test_held_back_keeps_only_what_could_still_become_a_tool_call_tag():
    assert held_back("Listing <tool") == len("<tool")
    assert held_back("Listing <") == 1
    assert held_back("a < b") == 0
    assert held_back("Listing the files") == 0


def test_templates_are_recognised_by_the_tool_call_tag_they_write():
    assert template_writes_tool_calls("{{- '<tool_call>' + x }}")
    assert not template_writes_tool_calls("[TOOL_CALLS]") and not template_writes_tool_calls(None)


def test_incoming_json_string_arguments_become_objects_for_the_template_and_nothing_else_changes():
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}},
                    {"id": "c2", "type": "function", "function": {"name": "bash", "arguments": "not json"}}]}]
    out = arguments_as_objects(messages)
    assert out[1]["tool_calls"][0]["function"]["arguments"] == {"command": "ls"}
    assert out[1]["tool_calls"][1]["function"]["arguments"] == "not json"
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == '{"command": "ls"}'  # the request is not mutated
    assert out[0] is messages[0]


# --- streaming: text flows until a call starts; the call is judged at the end ------------------------------------------

def _chunks(pieces: list[str]):
    like = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    yield {**like, "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": None, "finish_reason": None}]}
    for p in pieces:
        yield {**like, "choices": [{"index": 0, "delta": {"content": p}, "logprobs": None, "finish_reason": None}]}
    yield {**like, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}


def _collect(pieces):
    from serve.chat import _stream

    out = list(_stream(_chunks(pieces)))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in out)
    calls = [tc for c in out for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    return out, text, calls, out[-1]["choices"][0]["finish_reason"]


def test_a_streamed_call_arrives_as_one_tool_calls_delta_after_the_text():
    pieces = ["Listing ", "the files.\n<tool", '_call>{"name": "bash", ', '"arguments": {"command": "ls -la"}}',
              "</tool_call>"]
    out, text, calls, finish = _collect(pieces)
    assert text == "Listing the files.\n"
    assert [c["index"] for c in calls] == [0] and calls[0]["function"]["name"] == "bash"
    assert json.loads(calls[0]["function"]["arguments"]) == {"command": "ls -la"}
    assert finish == "tool_calls"
    assert out[0]["choices"][0]["delta"] == {"role": "assistant"}


def test_a_streamed_malformed_call_arrives_as_the_whole_text():
    pieces = ["Listing.", "<tool_call>", '{"name": "bash", "bash"']
    _, text, calls, finish = _collect(pieces)
    assert calls == [] and text == "".join(pieces) and finish == "stop"


def test_streamed_text_with_a_lone_angle_bracket_is_all_sent():
    pieces = ["if a <", " b: pass"]
    _, text, calls, _ = _collect(pieces)
    assert text == "if a < b: pass" and calls == []
