"""ASGI front door before the engine: the key, the body, the model names, `auto`, sampling defaults, admin routes.

- `serve.api_key` (or WORKBENCH_API_KEY): every request needs `Authorization: Bearer <key>` (401 otherwise).
- Bad requests are answered here, before the engine sees them: a body over serve.max_body_mb (413), not JSON or
  wrong fields (400, serve/validate.py), an unknown path (404); always the OpenAI error body.
- `model` must name a served model or `auto` (else 404 `model_not_found`); no `model` means the base. A name is
  only ever looked up among the served names, never used as a path.
- `auto`: the conversation's language (extraction's classifier, extract/language.py) picks the specialist, and no
  clear signal, or a language no served specialist has, picks the base. The request goes on under that name, so
  the reply's `model` says who answered; the `x-workbench-model` header says it too.
- `repeat_penalty` defaults to 1.0 (llama-cpp-python's default is 1.1): an OpenAI client asks for none, and the
  specialists were evaluated without one.
- `GET /v1/models` lists the served names and `auto`; `POST /admin/reload` re-reads the exports (a promoted or new
  adapter) without a restart; `GET /admin/metrics` gives the engine's counters (base loads, adapter switches, ...).
- One log line per request: method, path, model, status, seconds.
"""
from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .models import AUTO, BASE
from .validate import RequestError, chat_request, completion_request, error_body, parse_json

ROUTED = {"/v1/chat/completions": chat_request, "/v1/completions": completion_request}
HEADER = b"x-workbench-model"


class Router:
    def __init__(self, app, *, languages: dict[str, str | None], classify: Callable[[list[dict]], str | None],
                 reload: Callable[[], Awaitable[dict[str, str | None]]], api_key: str | None = None,
                 max_body: int = 16 << 20, metrics: Callable[[], dict[str, Any]] | None = None, log=None):
        self.app = app
        self.languages = languages  # served name -> language (None: the base)
        self.classify = classify  # messages -> language or None
        self._reload = reload
        self.api_key = api_key
        self.max_body = max_body
        self.metrics = metrics or (lambda: {})
        self.log = log  # one line per request; None: silent

    def route(self, model: str | None, messages: list[dict[str, Any]]) -> str | None:
        """The served model a request goes to; None when `model` names nothing served."""
        if not model:
            return BASE
        if model == AUTO:
            language = self.classify(messages)
            return next((n for n, lang in self.languages.items() if lang and lang == language), BASE)
        return model if model in self.languages else None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":  # nothing to start or stop: the engine is loaded before the server runs
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        started = time.monotonic()
        seen = {"status": 0, "model": "-"}

        async def logged(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                if seen["model"] != "-":
                    message = {**message, "headers": [*message.get("headers", []), (HEADER, seen["model"].encode())]}
            await send(message)

        try:
            await self._handle(scope, receive, logged, seen)
        except RequestError as e:
            if not seen["status"]:
                await _json(logged, e.status, e.body(), e.headers)
        except Exception as e:  # a bug of ours: still the OpenAI body, and the server goes on
            if self.log:
                import traceback

                self.log("serve: internal error: " + "".join(traceback.format_exception(e)).rstrip())
            if not seen["status"]:
                await _json(logged, 500, error_body(f"internal server error: {type(e).__name__}: {e}"[:500],
                                                    type="server_error"))
        finally:
            if self.log:
                client = scope.get("client") or ("-", 0)
                self.log(f"serve: {client[0]} {scope['method']} {scope['path']} {seen['model']} {seen['status']} "
                         f"{time.monotonic() - started:.2f} s")

    def _authorized(self, scope) -> bool:
        if not self.api_key:
            return True
        got = dict(scope.get("headers") or []).get(b"authorization", b"")
        return hmac.compare_digest(got, b"Bearer " + self.api_key.encode())

    async def _handle(self, scope, receive, send, seen):
        method, path = scope["method"], scope["path"]
        if not self._authorized(scope):
            raise RequestError(401, "a valid API key is needed: Authorization: Bearer <serve.api_key>",
                               code="invalid_api_key", headers={"www-authenticate": "Bearer"})
        if method == "GET" and path == "/v1/models":
            return await _json(send, 200, {"object": "list", "data": [
                {"id": n, "object": "model", "owned_by": "workbench", "language": lang}
                for n, lang in [*self.languages.items(), (AUTO, None)]], "workbench": self.metrics()})
        if method == "GET" and path in ("/admin/metrics", "/health"):
            return await _json(send, 200, self.metrics())
        if method == "POST" and path == "/admin/reload":
            await _read(receive, self.max_body)
            self.languages = await self._reload()
            return await _json(send, 200, {"models": list(self.languages)})
        check = ROUTED.get(path)
        if check is None:
            raise RequestError(404, f"no route {method} {path} here (served: POST /v1/chat/completions, "
                               f"POST /v1/completions, GET /v1/models)", code="not_found")
        if method != "POST":
            raise RequestError(405, f"{path} takes POST", code="method_not_allowed")
        req = parse_json(await _read(receive, self.max_body))
        model = req.get("model")
        if model is not None and not isinstance(model, str):
            raise RequestError(400, "model: must be a string", param="model", code="invalid_type")
        req = check(req)
        name = self.route(model, req.get("messages") or [{"role": "user", "content": req.get("prompt") or ""}])
        if name is None:
            raise RequestError(404, f"model {model!r} is not served here; served: "
                               f"{', '.join([*self.languages, AUTO])}"[:1000], param="model", code="model_not_found")
        seen["model"] = name
        req["model"] = name
        req.setdefault("repeat_penalty", 1.0)
        return await self.app(scope, _replay(json.dumps(req).encode(), receive), send)


async def _read(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "the client left before sending the whole body", code="client_closed")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the request body is over {limit >> 20} MiB (serve.max_body_mb)",
                               code="request_too_large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive=None):
    """A receive channel that gives `body` first, then the client's own (so a real disconnect is still seen)."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _json(send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
        *[(k.encode(), v.encode()) for k, v in (headers or {}).items()]]})
    await send({"type": "http.response.body", "body": data})


__all__ = ["Router", "error_body"]
