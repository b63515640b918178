"""The chat handler llama.cpp serves with: the model's own Jinja template, and its `<tool_call>`s as `tool_calls`.

llama-cpp-python 0.3.36 renders the GGUF's chat template (tools included) but returns tool calls as raw text, and
its `chatml-function-calling` format swaps in a prompt of its own that the specialists never saw. This handler
keeps llama.cpp's rendering and generation (`llama._chat_handlers["chat_template.default"]`) and only rewrites the
reply: see serve/toolcalls.py for the rule.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llama_cpp import llama_chat_format

from .toolcalls import OPEN, arguments_as_objects, held_back, parse, template_writes_tool_calls

NAME = "workbench-tool-calls"  # the chat_format the server's model settings name
TEMPLATE = "chat_template.default"


def template_of(llama) -> str | None:
    """The chat template a served base renders with: the one place that chooses it (the GGUF's own today)."""
    return llama.metadata.get("tokenizer.chat_template")


def _formatter(llama):
    """The Jinja formatter llama-cpp-python builds for `chat_template.default` (same template, tokens, options)."""
    f = getattr(llama, "_workbench_formatter", None)
    if f is None:
        eos_id, bos_id = llama.token_eos(), llama.token_bos()
        f = llama_chat_format.Jinja2ChatFormatter(
            template=template_of(llama) or "",
            eos_token=llama._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=llama._model.token_get_text(bos_id) if bos_id != -1 else "", stop_token_ids=[eos_id])
        llama._workbench_formatter = f
    return f


def prompt_tokens(llama, messages, tools=None, tool_choice=None) -> int:
    """How many tokens `handle` will feed the engine for this request: rendered and tokenized as it does."""
    choice = tool_choice if isinstance(tool_choice, str) else None
    result = _formatter(llama)(messages=arguments_as_objects(messages), tools=tools, tool_choice=choice)
    return len(llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True))


@llama_chat_format.register_chat_completion_handler(NAME)
def handle(*, llama, messages, tools=None, tool_choice=None, stream: bool = False, **kwargs: Any):
    rendered = llama._chat_handlers.get(TEMPLATE)
    if rendered is None:
        raise ValueError("the served GGUF has no tokenizer.chat_template")
    # A forced function (tool_choice as an object) would make llama.cpp constrain the reply to bare JSON arguments,
    # not the model's own <tool_call> format: the template sees the tools, and the model chooses.
    choice = tool_choice if isinstance(tool_choice, str) else None
    out = rendered(llama=llama, messages=arguments_as_objects(messages), tools=tools, tool_choice=choice,
                   stream=stream, **kwargs)
    if not tools or choice == "none" or not template_writes_tool_calls(template_of(llama)):
        return out
    return _stream(out) if stream else _complete(out)


def _complete(completion: dict[str, Any]) -> dict[str, Any]:
    choice = completion["choices"][0]
    parsed = parse(choice["message"].get("content") or "")
    if parsed.tool_calls:
        choice["message"]["content"] = parsed.content
        choice["message"]["tool_calls"] = parsed.tool_calls
        choice["finish_reason"] = "tool_calls"
    return completion


def _stream(chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Text streams as it comes until a `<tool_call>` starts; from there the reply is held and judged at the end."""
    pending = ""  # streamed text not sent yet: it may be the start of <tool_call>
    call = None  # the reply from the first <tool_call> on, once one has started
    for chunk in chunks:
        choice = chunk["choices"][0]
        text = choice["delta"].get("content")
        if choice.get("finish_reason") is None:
            if text is None:
                yield chunk  # the role chunk
                continue
            if call is not None:
                call += text
                continue
            pending += text
            at = pending.find(OPEN)
            if at != -1:
                send, call = pending[:at], pending[at:]
                pending = ""
            else:
                keep = held_back(pending)
                send, pending = pending[:len(pending) - keep], pending[len(pending) - keep:]
            if send:
                yield _delta(chunk, {"content": send}, logprobs=choice.get("logprobs"))
            continue
        # the last chunk: finish_reason set, no text
        if call is not None:
            parsed = parse(call)
            if parsed.tool_calls:
                calls = [{"index": i, **c} for i, c in enumerate(parsed.tool_calls)]
                yield _delta(chunk, {"tool_calls": calls})
                yield _delta(chunk, {}, finish="tool_calls")
                return
            pending += call
        if pending:
            yield _delta(chunk, {"content": pending})
        yield chunk


def _delta(like: dict[str, Any], delta: dict[str, Any], *, finish: str | None = None, logprobs=None) -> dict[str, Any]:
    return {**like, "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}
