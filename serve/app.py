"""The HTTP side of the engine: Chat Completions and Completions over serve/engine.py, streamed or not.

What a request goes through, in order: its prompt is rendered and counted (over the context: 400
`context_length_exceeded`, before any byte of a reply; 400 `context_too_small_for_agent` where the system prompt,
tools and first message alone fill it, which no compaction can fix); it waits for its turn (503 + Retry-After past
serve.queue_timeout); its specialist's adapter is set; llama-cpp-python generates. A streamed reply starts only once
the first chunk exists, so whatever fails before it is a plain 4xx/5xx with the OpenAI error body; a failure after it
ends the stream with an `error` event, then `[DONE]`. `stream_options.include_usage` adds OpenAI's usage chunk. A
client that goes away stops its generation at the next token and frees the engine.
"""
from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

from .engine import Busy, Cancelled, Engine
from .validate import RequestError, error_body

EXCLUDED = {"n", "best_of", "logit_bias_type", "user", "min_tokens", "stream_options", "model"}


class EngineApp:
    def __init__(self, engine: Engine):
        self.engine = engine

    async def __call__(self, scope, receive, send):
        path = scope["path"]
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        req = json.loads(body)
        loop = asyncio.get_running_loop()
        gone = loop.create_future()

        async def watch():
            while True:
                m = await receive()
                if m["type"] == "http.disconnect":
                    if not gone.done():
                        gone.set_result(True)
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            await self._serve(path, req, send, gone)
        except RequestError as e:
            await json_response(send, e.status, e.body(), e.headers)
        finally:
            watcher.cancel()

    async def _serve(self, path: str, req: dict[str, Any], send, gone: asyncio.Future) -> None:
        from . import chat

        engine, llama = self.engine, self.engine.llama
        name = req["model"]
        chatting = path.endswith("/chat/completions")
        kwargs = _kwargs(req, chatting)
        try:
            if chatting:  # what the engine will get: the messages and tools as llama-cpp-python's types keep them
                prompt = await asyncio.to_thread(chat.prompt_tokens, llama, kwargs["messages"], kwargs.get("tools"),
                                                 kwargs.get("tool_choice"))
            else:
                prompt = len(await asyncio.to_thread(llama.tokenize, req["prompt"].encode(), True, True))
        except Exception as e:  # the template's raise_exception, or messages it cannot render: the client's input
            raise RequestError(400, f"the model's chat template cannot render these messages: "
                               f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
                               param="messages", code="invalid_value") from None
        if chatting and prompt >= engine.n_ctx - RESERVE:  # what no compaction of the history can shrink
            fixed = await asyncio.to_thread(chat.prompt_tokens, llama, fixed_part(kwargs["messages"]),
                                            kwargs.get("tools"), kwargs.get("tool_choice"))
            check_fixed_part(fixed, prompt, engine.n_ctx)
        kwargs["max_tokens"] = check_fits(prompt, req.get("max_tokens"), engine.n_ctx)
        check_logit_bias(req.get("logit_bias"), llama.n_vocab())
        try:
            ticket = await engine.turn(gone)
        except Busy as e:
            retry = str(max(1, int(engine.queue_timeout // 10)))
            raise RequestError(503, f"the server is busy: {e}; retry later", type="server_error",
                               code="server_busy", headers={"retry-after": retry}) from None
        except asyncio.CancelledError:
            return  # the client left while queued: nobody to answer

        gone.add_done_callback(lambda _: ticket.cancel.set())
        call = llama.create_chat_completion if chatting else llama.create_completion
        try:
            await engine.run(engine.use, name)
            if not kwargs.get("stream"):
                try:
                    reply = await engine.run(call, **kwargs)
                except Cancelled:
                    if not gone.done():
                        raise RequestError(503, "the server shut down before the reply was done",
                                           type="server_error", code="server_shutting_down") from None
                    return
                except ValueError as e:  # llama.cpp or the template refused this input
                    raise RequestError(400, str(e).splitlines()[0][:500]) from None
                await json_response(send, 200, reply)
                return
            await self._stream(call, kwargs, req, prompt, send, gone, chatting)
        finally:
            engine.done(ticket)

    async def _stream(self, call, kwargs, req, prompt, send, gone, chatting) -> None:
        engine = self.engine
        try:
            stream = await engine.run(call, **kwargs)  # renders the prompt; generation starts at the first next()
        except ValueError as e:
            raise RequestError(400, str(e).splitlines()[0][:500] if str(e) else "the engine refused the request") \
                from None
        first = await _next_or_error(engine, stream, gone, started=False)
        if first is None:
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no")]})
        chunk, finish = first, None
        try:
            while chunk is not None:
                finish = (chunk.get("choices") or [{}])[0].get("finish_reason") or finish
                await send({"type": "http.response.body", "body": _event(chunk), "more_body": True})
                chunk = await _next_or_error(engine, stream, gone, started=True)
                if gone.done():
                    return
            if (req.get("stream_options") or {}).get("include_usage"):
                done = engine.llama.n_tokens - prompt + (1 if finish == "length" else 0)
                usage = {"prompt_tokens": prompt, "completion_tokens": max(done, 0),
                         "total_tokens": prompt + max(done, 0)}
                await send({"type": "http.response.body", "more_body": True, "body": _event({
                    "id": first.get("id") or f"chatcmpl-{uuid.uuid4().hex}", "created": first.get("created"),
                    "object": "chat.completion.chunk" if chatting else "text_completion",
                    "model": req["model"], "choices": [], "usage": usage})})
        except _Failed as e:
            await send({"type": "http.response.body", "more_body": True, "body": _event(e.body)})
        finally:
            await engine.run(stream.close)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


class _Failed(Exception):
    def __init__(self, body: dict[str, Any]):
        self.body = body


async def _next_or_error(engine: Engine, stream, gone, *, started: bool):
    """The next chunk (None at the end); before the stream started a failure is a RequestError, after it _Failed."""
    sentinel = object()
    try:
        chunk = await engine.run(next, stream, sentinel)
    except Cancelled:
        if gone.done():
            return None
        err = error_body("the server shut down before the reply was done", type="server_error",
                         code="server_shutting_down")
        if started:
            raise _Failed(err) from None
        raise RequestError(503, err["error"]["message"], type="server_error", code="server_shutting_down") from None
    except ValueError as e:
        msg = str(e).splitlines()[0][:500] if str(e) else type(e).__name__
        if started:
            raise _Failed(error_body(msg)) from None
        raise RequestError(400, msg) from None
    except Exception as e:
        msg = f"the engine failed: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        if started:
            raise _Failed(error_body(msg, type="server_error")) from None
        raise RequestError(500, msg, type="server_error") from None
    return None if chunk is sentinel else chunk


# llama-cpp-python 0.3.36 may write a token or two past the max_tokens it computed at the end of the context (we
# measured 76 tokens where 75 were left), and llama_decode then fails: the reply stops this many tokens short.
RESERVE = 4


def check_fits(prompt: int, max_tokens: int | None, n_ctx: int) -> int:
    """Refuse what can never be answered (a prompt that fills the context, more new tokens than it holds); return
    the new tokens the reply may have (at most what the context has left)."""
    if prompt >= n_ctx - RESERVE:
        raise RequestError(400, f"This model's maximum context length is {n_ctx} tokens; your messages are {prompt} "
                           f"tokens. Shorten them, or restart the server with a larger serve.n_ctx",
                           param="messages", code="context_length_exceeded")
    if max_tokens is not None and max_tokens > n_ctx:
        raise RequestError(400, f"max_tokens: {max_tokens} is more than the model's context ({n_ctx} tokens)",
                           param="max_tokens", code="invalid_value")
    return min(max_tokens or n_ctx, n_ctx - RESERVE - prompt)


def fixed_part(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an agent sends however it compacts its history: the system messages and the first user message."""
    head = [m for m in messages if m.get("role") in ("system", "developer")]
    first = next((m for m in messages if m.get("role") == "user"), None)
    return head + ([first] if first else [])


def check_fixed_part(fixed: int, prompt: int, n_ctx: int) -> None:
    """A request whose system prompt, tool definitions and first message alone fill the context can never be
    answered, however the agent compacts its history. It is refused as an ordinary invalid request, not as
    `context_length_exceeded`: agents (opencode 1.18) take that code, and messages like it, as a cue to compact
    and ask again, forever. The message carries no figures: opencode retries any error whose text holds 429, 500,
    502, 503, 504 or 524, and a token count can; the server's log line has them."""
    if fixed >= n_ctx - RESERVE:
        print(f"serve: refused: the system prompt, tools and first message take {fixed} of the {n_ctx}-token "
              f"context (the whole request {prompt}); raise serve.n_ctx", file=sys.stderr, flush=True)
        raise RequestError(400, "This server's context cannot hold the system prompt, tool definitions and first "
                           "message of this request alone, so no compaction of the conversation can make it fit. "
                           "Restart the server with a larger serve.n_ctx (make serve-check prints what each agent "
                           "needs) or serve a model with a longer context",
                           param="messages", code="context_too_small_for_agent")


def check_logit_bias(bias: dict | None, n_vocab: int) -> None:
    """logit_bias is refused: llama-cpp-python 0.3.36 applies it through a custom sampler its own source calls
    "probably broken", and no agent client sends it."""
    if bias:
        raise RequestError(400, "logit_bias: not served by this engine", param="logit_bias",
                           code="unsupported_parameter")


def _kwargs(req: dict[str, Any], chatting: bool) -> dict[str, Any]:
    """The request as llama-cpp-python's create_(chat_)completion takes it, with its server's defaults."""
    from llama_cpp.server.types import CreateChatCompletionRequest, CreateCompletionRequest

    from .validate import IGNORED

    model = CreateChatCompletionRequest if chatting else CreateCompletionRequest
    body = model.model_validate({k: v for k, v in req.items() if k not in IGNORED})
    kwargs = body.model_dump(exclude=EXCLUDED)
    kwargs["model"] = req["model"]  # the reply says who answered
    if kwargs.get("seed") is not None:
        kwargs["seed"] &= 0xFFFFFFFF  # llama.cpp's sampler seed is 32 bits
    kwargs.pop("logit_bias", None)  # refused when not empty (check_logit_bias)
    return {k: v for k, v in kwargs.items() if v is not None or k in ("max_tokens",)}


def _plain(o: Any) -> Any:
    """numpy scalars (llama-cpp-python's logprobs) as JSON numbers."""
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, default=_plain).encode() + b"\n\n"


async def json_response(send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload, default=_plain).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
        *[(k.encode(), v.encode()) for k, v in (headers or {}).items()]]})
    await send({"type": "http.response.body", "body": data})
