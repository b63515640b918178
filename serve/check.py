"""`make serve-check`: one chat with a tool to every model a running server lists, and a table of what came back."""
from __future__ import annotations

import time
from typing import Any

from .models import AUTO

TOOLS = [{"type": "function", "function": {
    "name": "bash", "description": "Run a shell command in the repository and return its output.",
    "parameters": {"type": "object", "properties": {"command": {"type": "string", "description": "The command"}},
                   "required": ["command"]}}}]
MESSAGES = [{"role": "system", "content": "You are a coding agent. Use the bash tool to look around."},
            {"role": "user", "content": "List the files in this repository."}]


def check_model(client, model: str, max_tokens: int = 64) -> dict[str, Any]:
    """One chat with the bash tool: answered (HTTP 200), who answered, the parsed call, latency."""
    started = time.perf_counter()
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=MESSAGES, tools=TOOLS, max_tokens=max_tokens, temperature=0)
        reply = raw.parse()
    except Exception as e:  # the table reports it; one failing model does not hide the others
        return {"model": model, "answered": False, "by": "", "tool_call": "", "error": str(e).splitlines()[0],
                "seconds": time.perf_counter() - started}
    seconds = time.perf_counter() - started
    message = reply.choices[0].message
    calls = message.tool_calls or []
    call = f"{calls[0].function.name}({calls[0].function.arguments})" if calls else "no"
    return {"model": model, "answered": True, "by": raw.headers.get("x-workbench-model")
            or reply.model, "tool_call": call, "error": "", "seconds": seconds}


def table(rows: list[dict[str, Any]]) -> str:
    head = ["model", "answered", "answered by", "tool call parsed", "latency"]
    body = [[r["model"], "yes" if r["answered"] else f"no: {r['error']}" if r["error"] else "no", r["by"],
             r["tool_call"][:60], f"{r['seconds']:.2f} s"] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(base_url: str) -> tuple[str, bool]:
    """(the table, whether every model answered) for the server at base_url."""
    import os

    from openai import OpenAI

    from .api import KEY_ENV, admin
    from .server import context_line

    client = OpenAI(base_url=base_url, api_key=os.environ.get(KEY_ENV) or "not-needed", max_retries=0, timeout=600)
    names = [m.id for m in client.models.list().data]
    rows = [check_model(client, n) for n in [*[n for n in names if n != AUTO], *[n for n in names if n == AUTO]]]
    text = table(rows)
    n_ctx = admin(base_url, "metrics").get("n_ctx")
    if n_ctx:
        text += "\n" + context_line(int(n_ctx), True).removeprefix("serve: ").replace(" (serve.n_ctx)", "")
    return text, all(r["answered"] for r in rows)
