"""A recording model server: an OpenAI chat-completions endpoint that keeps every request a client sends and answers
from a script (fixed replies and tool calls), streamed or not.

Two uses: capturing what a real client (opencode) sends for each agent, so that training sees the system prompt and
tool schemas serving will get (`python -m agent capture`), and the tests' scripted model, which drives a real client
through known tool calls. It is a harness, not a model: the replies are whatever the script says.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TITLE = "Scripted session"


@dataclass
class Reply:
    """One scripted answer: text, and tool calls as (name, arguments)."""
    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Recorder:
    """What the server saw and what it answered, in order; `script` is consumed by requests that offer tools."""
    script: list[Reply] = field(default_factory=list)
    last: Reply = field(default_factory=lambda: Reply("Done."))  # once the script is used up
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # the assistant message sent for each request
    models: list[str] = field(default_factory=lambda: ["scripted"])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict[str, Any]) -> tuple[int, Reply]:
        with self.lock:
            self.requests.append(body)
            n = len(self.requests) - 1
            # a request without tools is a client's own side request (opencode's session title): not the agent's step
            if not body.get("tools"):
                reply = Reply(TITLE)
            else:
                steps = sum(1 for r in self.requests[:-1] if r.get("tools"))
                reply = self.script[steps] if steps < len(self.script) else self.last
            msg: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
            if reply.tool_calls:
                msg["tool_calls"] = [{"id": f"call_{n}_{i}", "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(args)}}
                                     for i, (name, args) in enumerate(reply.tool_calls)]
            self.answers.append(msg)
            return n, reply

    def agent_requests(self) -> list[dict[str, Any]]:
        """The requests that offered tools (the agent's steps), in order."""
        return [r for r in self.requests if r.get("tools")]


def _chunks(n: int, model: str, msg: dict[str, Any], usage: dict[str, int] | None) -> list[dict[str, Any]]:
    base = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    if msg.get("content"):
        out.append({**base, "choices": [{"index": 0, "delta": {"content": msg["content"]}, "finish_reason": None}]})
    for i, call in enumerate(msg.get("tool_calls") or []):
        out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{**call, "index": i}]},
                                         "finish_reason": None}]})
    finish = "tool_calls" if msg.get("tool_calls") else "stop"
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if usage is not None:
        out.append({**base, "choices": [], "usage": usage})
    return out


def _usage(body: dict[str, Any], msg: dict[str, Any]) -> dict[str, int]:
    prompt = len(json.dumps(body.get("messages", []))) // 4  # a size, not a tokenizer's count
    completion = len(json.dumps(msg)) // 4
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def handler(rec: Recorder):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the recorder is the log
            pass

        def _json(self, code: int, obj: Any) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "scripted"}
                                                            for m in rec.models]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self):
            size = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(size) or b"{}")
            except ValueError:
                self._json(400, {"error": {"message": "the body is not JSON", "type": "invalid_request_error"}})
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            n, _ = rec.answer(body)
            msg = rec.answers[n]
            model = str(body.get("model") or "scripted")
            usage = _usage(body, msg)
            if not body.get("stream"):
                finish = "tool_calls" if msg.get("tool_calls") else "stop"
                self._json(200, {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
                                 "model": model, "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                                 "usage": usage})
                return
            want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            for chunk in _chunks(n, model, msg, usage if want_usage else None):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


class RecordingServer:
    """`with RecordingServer(recorder) as s: s.base_url` — on 127.0.0.1, a free port, stopped when the block ends."""

    def __init__(self, recorder: Recorder, host: str = "127.0.0.1", port: int = 0):
        self.recorder = recorder
        self.httpd = ThreadingHTTPServer((host, port), handler(recorder))
        self.httpd.daemon_threads = True
        self.base_url = f"http://{host}:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RecordingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
