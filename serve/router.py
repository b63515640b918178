"""ASGI glue in front of the engine's app: model names, `auto`, sampling defaults, and the reload hook.

- `model` must name a served model or `auto` (else 404 `model_not_found`, as OpenAI answers; the engine itself
  would quietly answer with its first model); no `model` means the base.
- `auto`: the conversation's language (extraction's classifier, extract/language.py) picks the specialist, and no
  clear signal, or a language no served specialist has, picks the base. The request goes on under that name, so
  the reply's `model` says who answered; the `x-workbench-model` header says it too, for any endpoint.
- `repeat_penalty` defaults to 1.0 (llama-cpp-python's default is 1.1): an OpenAI client asks for none, and the
  specialists were evaluated without one.
- `GET /v1/models` lists the served names and `auto`; `POST /admin/reload` re-reads the exports (a promoted or new
  adapter) without a restart.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from .models import AUTO, BASE

ROUTED = ("/v1/chat/completions", "/v1/completions")
HEADER = b"x-workbench-model"


class Router:
    def __init__(self, app, *, languages: dict[str, str | None], classify: Callable[[list[dict]], str | None],
                 reload: Callable[[], Awaitable[dict[str, str | None]]]):
        self.app = app
        self.languages = languages  # served name -> language (None: the base)
        self.classify = classify  # messages -> language or None
        self._reload = reload

    def route(self, model: str | None, messages: list[dict[str, Any]]) -> str | None:
        """The served model a request goes to; None when `model` names nothing served."""
        if not model:
            return BASE
        if model == AUTO:
            language = self.classify(messages)
            return next((n for n, lang in self.languages.items() if lang and lang == language), BASE)
        return model if model in self.languages else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/v1/models":
            return await _json(send, 200, {"object": "list", "data": [
                {"id": n, "object": "model", "owned_by": "workbench", "language": lang}
                for n, lang in [*self.languages.items(), (AUTO, None)]]})
        if method == "POST" and path == "/admin/reload":
            self.languages = await self._reload()
            return await _json(send, 200, {"models": list(self.languages)})
        if method != "POST" or path not in ROUTED:
            return await self.app(scope, receive, send)
        body = await _body(receive)
        try:
            req = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            req = None
        if not isinstance(req, dict):  # the engine answers malformed bodies (422)
            return await self.app(scope, _replay(body, receive), send)
        messages = req.get("messages")
        if not isinstance(messages, list):
            messages = [{"role": "user", "content": req.get("prompt") if isinstance(req.get("prompt"), str) else ""}]
        name = self.route(req.get("model"), messages)
        if name is None:
            return await _json(send, 404, {"error": {
                "message": f"model {req.get('model')!r} is not served here; served: "
                           f"{', '.join([*self.languages, AUTO])}",
                "type": "invalid_request_error", "param": "model", "code": "model_not_found"}})
        req["model"] = name
        req.setdefault("repeat_penalty", 1.0)

        async def tagged(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (HEADER, name.encode())]}
            await send(message)

        return await self.app(scope, _replay(json.dumps(req).encode(), receive), tagged)


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
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


async def _json(send, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
