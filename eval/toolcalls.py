"""Read a generated assistant turn back into text and tool calls, and compare tool calls.

Two parsers, tried in this order:
1. TRL's `parse_response` when the tokenizer has a response template: one it ships with (`response_template` or
   `response_schema`), or one `trl.chat_template_utils.add_response_schema` knows for its chat template (Qwen2.5,
   Qwen3, Qwen3.5, Llama 3.1/3.2, GLM-4-MoE, gpt-oss, Gemma 4, LFM2, DeepSeek-R1-distill and Nemotron 3 templates,
   matched exactly).
2. Otherwise, or when TRL's parser finds no call, `parse_text` on the decoded text, which reads:
   - `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks (Hermes/Qwen2.5 style, and the tiny demo base's
     template), whitespace and a ```json fence inside the tags allowed;
   - `<tool_call><function=NAME><parameter=KEY>VALUE</parameter></function></tool_call>` (Qwen3-Coder/Qwen3.5 style);
   - with no `<tool_call>` tag at all: bare JSON objects `{"name": ..., "arguments"|"parameters": {...}}` (Llama 3.1
     style) or `{"type": "function", "function": {...}}`, or a JSON list of them;
   - `<think>...</think>` as reasoning, not text.
   A call cut off by the token limit (no closing tag, JSON incomplete) still counts as a call: its name is read if
   it was written, its arguments are unknown (None) and never match.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

SHELL_TOOLS = ("bash", "shell", "exec_command")  # tools whose `command`/`cmd` argument is a shell command line
COMMAND_KEYS = ("command", "cmd")
_KEEP_TAGS = ("<tool_call>", "</tool_call>", "<think>", "</think>")


@dataclass
class ToolCall:
    name: str | None
    arguments: Any = None  # a dict when complete; None when unknown (cut off or unreadable)


@dataclass
class Parsed:
    text: str
    calls: list[ToolCall] = field(default_factory=list)
    reasoning: str = ""


# --- reading calls ----------------------------------------------------------------------------------------------------

def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value  # a string that is not JSON: compared as it is
    return value


def as_call(obj: Any) -> ToolCall | None:
    """A tool call from a message's `tool_calls` item or a parsed JSON object, if it is one."""
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    name = fn.get("name")
    if not isinstance(name, str):
        return None
    args = fn.get("arguments", fn.get("parameters"))
    return ToolCall(name, {} if args is None else _arguments(args))


def recorded_calls(message: dict[str, Any]) -> list[ToolCall]:
    """The tool calls of a recorded assistant message (OpenAI format, nested `function` or flat)."""
    return [c for c in (as_call(tc) for tc in (message.get("tool_calls") or [])) if c is not None]


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
_NAME = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')
_FUNCTION = re.compile(r"<function=([^>\n]+)>")
_PARAMETER = re.compile(r"<parameter=([^>\n]+)>\n?(.*?)\n?</parameter>", re.S)
_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)\s*", re.S)


def _block_call(body: str) -> ToolCall:
    body = _FENCE.sub("", body.strip())
    m = _FUNCTION.search(body)
    if m:  # XML style
        params = {}
        for key, value in _PARAMETER.findall(body):
            try:
                params[key.strip()] = json.loads(value)
            except ValueError:
                params[key.strip()] = value
        complete = "</function>" in body
        return ToolCall(m.group(1).strip(), params if complete else None)
    try:
        call = as_call(json.loads(body))
        if call is not None:
            return call
    except ValueError:
        pass
    m = _NAME.search(body)  # cut off or malformed: the decision to call stands, the name if it was written
    return ToolCall(json.loads(f'"{m.group(1)}"') if m else None, None)


def _json_calls(text: str) -> tuple[list[ToolCall], list[tuple[int, int]]]:
    """Bare JSON tool calls in text, and the spans they took."""
    dec = json.JSONDecoder()
    calls, spans, i = [], [], 0
    while True:
        starts = [j for j in (text.find("{", i), text.find("[", i)) if j != -1]
        if not starts:
            return calls, spans
        start = min(starts)
        try:
            obj, end = dec.raw_decode(text, start)
        except ValueError:
            i = start + 1
            continue
        objs = obj if isinstance(obj, list) else [obj]
        found = [as_call(o) for o in objs]
        # a name alone is not a call: {"name": "x"} is plain JSON
        shaped = all(isinstance(o, dict) and ("arguments" in o or "parameters" in o
                                              or isinstance(o.get("function"), dict)) for o in objs)
        if found and all(found) and shaped:
            calls += found
            spans.append((start, end))
        i = end if end > start else start + 1


def parse_text(text: str) -> Parsed:
    """Text, tool calls and reasoning from a decoded assistant turn (formats in the module docstring)."""
    reasoning = "".join(m.group(1) for m in _THINK.finditer(text)).strip()
    text = _THINK.sub("", text)
    if "<tool_call>" in text:
        calls = [_block_call(m.group(1)) for m in _BLOCK.finditer(text)]
        rest = _BLOCK.sub("", text)
    else:
        calls, spans = _json_calls(text)
        rest = text
        for start, end in reversed(spans):
            rest = rest[:start] + rest[end:]
        rest = re.sub(r"```(?:json)?\s*```", "", rest)
    return Parsed(rest.strip(), calls, reasoning)


class TurnParser:
    """Generated token ids -> Parsed, with the tokenizer's response template when TRL knows one (module docstring)."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.kind = "generic"
        if getattr(tokenizer, "response_template", None) or getattr(tokenizer, "response_schema", None):
            self.kind = "trl"
        else:
            from trl.chat_template_utils import add_response_schema

            try:
                add_response_schema(tokenizer)
                self.kind = "trl"
            except (ValueError, TypeError):
                pass
        specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
        self._drop = sorted((s for s in specials if s and s not in _KEEP_TAGS), key=len, reverse=True)

    def decode(self, ids: list[int]) -> str:
        text = self.tok.decode(ids, skip_special_tokens=False)
        for s in self._drop:  # special tokens out, tool-call tags kept even where a tokenizer made them special
            text = text.replace(s, "")
        return text

    def __call__(self, ids: list[int], prefix: list[int] | None = None, tools: list | None = None) -> Parsed:
        if self.kind == "trl":
            from trl.chat_template_utils import parse_response

            msg = parse_response(self.tok, list(ids), prefix=list(prefix) if prefix is not None else None,
                                 tools=tools or None)
            calls = [c for c in (as_call(tc) for tc in (msg.get("tool_calls") or [])) if c is not None]
            if calls:
                return Parsed(str(msg.get("content") or "").strip(), calls, str(msg.get("reasoning_content") or ""))
        return parse_text(self.decode(ids))


# --- comparing calls --------------------------------------------------------------------------------------------------

def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 60.0 and 60 are the same argument
    return value


def normalise_arguments(args: Any) -> str | None:
    """Arguments as canonical JSON (sorted keys, 1.0 == 1); None when unknown."""
    if args is None:
        return None
    return json.dumps(_canonical(_arguments(args)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _program_of(words: list[str]) -> str | None:
    i = 0
    while i < len(words):
        w = words[i]
        if _ASSIGNMENT.match(w):
            i += 1
        elif w in ("sudo", "env"):
            i += 1
            while i < len(words) and words[i].startswith("-"):  # their options; sudo -u USER takes a value
                i += 2 if words[i] in ("-u", "-g") else 1
        else:
            return w.rsplit("/", 1)[-1] or None
    return None


def shell_program(call: ToolCall | None) -> str | None:
    """The program a shell tool call runs: the first word of its command, past VAR=value, sudo and env; a path's
    basename (/usr/bin/python3 -> python3). `["bash", "-lc", "pytest -q"]` runs pytest. None if not a shell call."""
    if call is None or call.name not in SHELL_TOOLS or not isinstance(call.arguments, dict):
        return None
    cmd = next((call.arguments[k] for k in COMMAND_KEYS if k in call.arguments), None)
    if isinstance(cmd, list) and all(isinstance(w, str) for w in cmd):
        if len(cmd) >= 3 and cmd[0].rsplit("/", 1)[-1] in ("bash", "sh", "zsh") and cmd[1] in ("-c", "-lc"):
            cmd = cmd[2]
        else:
            return _program_of(cmd)
    if not isinstance(cmd, str) or not cmd.strip():
        return None
    try:
        words = shlex.split(cmd, posix=True)
    except ValueError:  # an unbalanced quote
        words = cmd.split()
    return _program_of(words)
