"""Bad requests are the client's problem: each one is a 4xx with the OpenAI error body, checked before any work.

`RequestError.body()` is OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, which the OpenAI SDKs,
LiteLLM and opencode read. The field types are llama-cpp-python's own request models (what its engine takes); this
module adds what they let through: unknown fields, counts out of range, malformed tools, a tool_choice naming no tool.
"""
from __future__ import annotations

import json
import re
from typing import Any

# OpenAI Chat Completions fields the engine has no use for: accepted (clients send them) and dropped.
IGNORED = {"parallel_tool_calls", "metadata", "store", "service_tier", "reasoning_effort", "modalities",
           "prediction", "web_search_options", "audio", "verbosity", "prompt_cache_key", "safety_identifier",
           "stream_options", "max_completion_tokens", "user", "n", "logit_bias_type", "min_tokens"}
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


class RequestError(Exception):
    """A request the server will not serve: HTTP status and the OpenAI error fields."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        req = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestError(400, f"the request body is not valid JSON ({e})", code="invalid_json") from None
    except RecursionError:
        raise RequestError(400, "the request body is nested too deeply", code="invalid_json") from None
    if not isinstance(req, dict):
        raise RequestError(400, f"the request body must be a JSON object, not {type(req).__name__}",
                           code="invalid_json")
    return req


def _pydantic(model, req: dict[str, Any]):
    from pydantic import ValidationError

    try:
        return model.model_validate(req)
    except ValidationError as e:
        err = e.errors()[0]
        # loc holds field names, indexes and, inside unions, the model tried ("ChatCompletionRequestUserMessage")
        loc = [str(x) for x in err["loc"] if isinstance(x, int) or (isinstance(x, str) and not x[:1].isupper())]
        param = ".".join(loc) or None
        raise RequestError(400, f"{param or 'the request'}: {err['msg']}", param=param,
                           code="invalid_type") from None
    except RecursionError:
        raise RequestError(400, "the request is nested too deeply", code="invalid_value") from None


def _unknown(req: dict[str, Any], model) -> None:
    known = set(model.model_fields) | IGNORED
    extra = sorted(k for k in req if k not in known)
    if extra:
        raise RequestError(400, f"Unrecognized request argument supplied: {extra[0]}", param=extra[0],
                           code="unknown_parameter")


def _range(req, key, lo, hi, integer=False):
    v = req.get(key)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise RequestError(400, f"{key}: must be {'an integer' if integer else 'a number'}, got {v!r}"[:300],
                           param=key, code="invalid_type")
    if not lo <= v <= hi:
        raise RequestError(400, f"{key}: {v} is out of range [{lo}, {hi}]", param=key, code="invalid_value")


def _text(content: Any, where: str) -> Any:
    """Content as the templates take it: a string (text parts joined); images are not served by a text model."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, p in enumerate(content):
            if not isinstance(p, dict) or p.get("type") not in ("text", "input_text") or not isinstance(
                    p.get("text"), str):
                raise RequestError(400, f"{where}.content[{i}]: only text parts are served (a text model)",
                                   param=f"{where}.content", code="invalid_value")
            parts.append(p["text"])
        return "".join(parts)
    raise RequestError(400, f"{where}.content: must be a string or a list of text parts", param=f"{where}.content",
                       code="invalid_type")


def _tools(req: dict[str, Any]) -> None:
    tools = req.get("tools")
    if tools is None:
        if isinstance(req.get("tool_choice"), dict):
            raise RequestError(400, "tool_choice names a function but the request has no tools", param="tool_choice",
                               code="invalid_value")
        return
    if not isinstance(tools, list):
        raise RequestError(400, "tools: must be a list", param="tools", code="invalid_type")
    names = set()
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(fn, dict):
            raise RequestError(400, f"tools[{i}]: must be {{\"type\": \"function\", \"function\": {{...}}}}",
                               param=f"tools[{i}]", code="invalid_value")
        name = fn.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise RequestError(400, f"tools[{i}].function.name: must be 1-128 letters, digits, _ . : or -, got "
                               f"{name!r}"[:300], param=f"tools[{i}].function.name", code="invalid_value")
        if name in names:
            raise RequestError(400, f"tools[{i}].function.name: {name!r} is given twice",
                               param=f"tools[{i}].function.name", code="invalid_value")
        names.add(name)
        params = fn.get("parameters")
        if params is not None and (not isinstance(params, dict) or not isinstance(params.get("type", "object"), str)):
            raise RequestError(400, f"tools[{i}].function.parameters: must be a JSON Schema object",
                               param=f"tools[{i}].function.parameters", code="invalid_value")
        if fn.get("description") is not None and not isinstance(fn["description"], str):
            raise RequestError(400, f"tools[{i}].function.description: must be a string",
                               param=f"tools[{i}].function.description", code="invalid_type")
    choice = req.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), dict) else None
        if name not in names:
            raise RequestError(400, f"tool_choice: {name!r} is not one of the request's tools", param="tool_choice",
                               code="invalid_value")
    elif choice is not None and choice not in ("none", "auto", "required"):
        raise RequestError(400, f"tool_choice: must be none, auto, required or a function, got {choice!r}"[:300],
                           param="tool_choice", code="invalid_value")


def chat_request(req: dict[str, Any]) -> dict[str, Any]:
    """A checked chat request, normalised for the engine (developer -> system, text parts joined); RequestError."""
    from llama_cpp.server.types import CreateChatCompletionRequest

    _unknown(req, CreateChatCompletionRequest)
    req = dict(req)
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages: must be a non-empty list", param="messages",
                           code="invalid_type" if not isinstance(messages, list) else "invalid_value")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RequestError(400, f"messages[{i}].role: must be one of {', '.join(sorted(ROLES))}",
                               param=f"messages[{i}].role", code="invalid_value")
        m = {**m, "role": "system" if m["role"] == "developer" else m["role"]}
        m["content"] = _text(m.get("content"), f"messages[{i}]")
        clean.append(m)
    req["messages"] = clean
    if req.get("max_tokens") is None and req.get("max_completion_tokens") is not None:
        req["max_tokens"] = req["max_completion_tokens"]
    _range(req, "max_tokens", 1, 1 << 31, integer=True)
    _range(req, "n", 1, 1, integer=True)
    _range(req, "temperature", 0, 2)
    _range(req, "top_p", 0, 1)
    _range(req, "top_logprobs", 0, 20, integer=True)
    _range(req, "presence_penalty", -2, 2)
    _range(req, "frequency_penalty", -2, 2)
    _range(req, "top_k", 0, 1 << 20, integer=True)
    _range(req, "seed", -(1 << 63), (1 << 64) - 1, integer=True)
    opts = req.get("stream_options")
    if opts is not None and (not isinstance(opts, dict) or not isinstance(opts.get("include_usage", False), bool)):
        raise RequestError(400, "stream_options: must be {\"include_usage\": true|false}", param="stream_options",
                           code="invalid_value")
    _tools(req)
    if req.get("grammar") is not None:
        raise RequestError(400, "grammar: not served here (a bad grammar stops llama.cpp)", param="grammar",
                           code="unsupported_parameter")
    _pydantic(CreateChatCompletionRequest, {k: v for k, v in req.items() if k not in IGNORED})
    return req


def completion_request(req: dict[str, Any]) -> dict[str, Any]:
    """A checked text-completion request (a prompt string); RequestError."""
    from llama_cpp.server.types import CreateCompletionRequest

    _unknown(req, CreateCompletionRequest)
    if not isinstance(req.get("prompt"), str):
        raise RequestError(400, "prompt: must be a string", param="prompt", code="invalid_type")
    _range(req, "max_tokens", 0, 1 << 31, integer=True)
    _range(req, "n", 1, 1, integer=True)
    _range(req, "best_of", 1, 1, integer=True)
    _range(req, "temperature", 0, 2)
    _range(req, "top_p", 0, 1)
    _range(req, "logprobs", 0, 20, integer=True)
    if req.get("grammar") is not None:
        raise RequestError(400, "grammar: not served here", param="grammar", code="unsupported_parameter")
    _pydantic(CreateCompletionRequest, {k: v for k, v in req.items() if k not in IGNORED})
    return dict(req)
