"""Tool calls in the base's own `<tool_call>{json}</tool_call>` format, turned into OpenAI `tool_calls`.

The rule a client can rely on: a reply whose every `<tool_call>` block holds a JSON object with a string `name`
becomes `tool_calls` (the text before the first block is the content); anything else (a block that is not
JSON, has no name, or is cut off before `</tool_call>`) comes back unchanged as plain content. Never an error.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(re.escape(OPEN) + r"(.*?)" + re.escape(CLOSE), re.S)


@dataclass
class Parsed:
    content: str | None  # the text before the first call (None when empty and there are calls)
    tool_calls: list[dict[str, Any]]  # OpenAI shape: {"id", "type": "function", "function": {"name", "arguments"}}


def template_writes_tool_calls(chat_template: str | None) -> bool:
    """Whether a chat template writes calls in the format this module parses (Hermes, Qwen2.5/3, the demo base)."""
    return bool(chat_template) and OPEN in chat_template


def parse(text: str) -> Parsed:
    """Split a generated reply into content and tool calls; a malformed reply is all content, no calls."""
    start = text.find(OPEN)
    if start == -1:
        return Parsed(text, [])
    head, rest = text[:start], text[start:]
    calls = []
    pos = 0
    for m in _BLOCK.finditer(rest):
        if rest[pos:m.start()].strip():  # text between or after calls: not a clean sequence of calls
            return Parsed(text, [])
        call = _call(m.group(1))
        if call is None:
            return Parsed(text, [])
        calls.append(call)
        pos = m.end()
    if not calls or rest[pos:].strip():  # an unclosed block, or trailing text after the last call
        return Parsed(text, [])
    return Parsed(head if head.strip() else None, calls)


def _call(body: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        return None
    args = obj.get("arguments", {})
    if isinstance(args, str):  # some models write the arguments as a JSON string already
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return {"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
            "function": {"name": obj["name"], "arguments": json.dumps(args, ensure_ascii=False)}}


def held_back(text: str) -> int:
    """How many characters at the end of streamed text could still be the start of `<tool_call>`."""
    for n in range(min(len(OPEN) - 1, len(text)), 0, -1):
        if OPEN.startswith(text[-n:]):
            return n
    return 0


def arguments_as_objects(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assistant tool calls with JSON-string arguments as objects, as the training data rendered them.

    OpenAI clients send `arguments` as a JSON string; the datasets hold objects, and templates such as Qwen2.5's
    write `arguments | tojson`, which would quote a string a second time. A string that is not a JSON object is kept.
    """
    out = []
    for m in messages:
        calls = m.get("tool_calls") if isinstance(m, dict) else None
        if m.get("role") == "assistant" and calls:
            m = dict(m)
            fixed = []
            for c in calls:
                fn = c.get("function") if isinstance(c, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    try:
                        parsed = json.loads(fn["arguments"])
                    except json.JSONDecodeError:
                        parsed = None
                    if isinstance(parsed, dict):
                        c = {**c, "function": {**fn, "arguments": parsed}}
                fixed.append(c)
            m["tool_calls"] = fixed
        out.append(m)
    return out
