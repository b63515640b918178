"""Serving figures for `make serve` under several clients: same specialist or different ones, against reloading.

    .venv/bin/python bench/serve.py                        # the demo's exports (after `make demo`)
    .venv/bin/python bench/serve.py --overlay my.yaml --clients 1,2,4,8 --requests 4 --new-tokens 32
    .venv/bin/python bench/serve.py --base smollm2 --clients 1,2 --opencode ../shared/real-clients/opencode-1.18.33.build-python.request.json
                                                           # a real base (make demo BASE=smollm2's exports), and
                                                           # opencode's own request: time to first token

Starts the real server (python -m serve, llama.cpp engine) on a free 127.0.0.1 port and, for each number of
concurrent clients, runs every client's --requests chats (about --prompt-tokens prompt tokens, --new-tokens greedy
new tokens, a prompt of its own so no client reuses another's cache):
- same: every client asks the same specialist;
- different: client i asks specialist i (round robin over the served specialists), so the engine switches adapter
  between requests.
Then the same `different` load against today's engine before this change (llama-cpp-python's own server, one model
entry per specialist, which reloads the base on every switch), for the reload-per-switch baseline.
Prints one markdown row per run: requests/s, new tokens/s, p50/p95 latency, errors. Nothing is asserted; the figures
move with the machine's load. Loopback only; bounded by --requests and a 600 s timeout per request.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_load(base_url: str, names: list[str], clients: int, requests: int, words: int, new_tokens: int,
             tag: str) -> dict:
    """`clients` threads, each sending `requests` chats to names[i % len(names)]; the figures of the whole run."""
    from openai import OpenAI

    latencies, tokens, errors = [], [], []
    lock = threading.Lock()

    def client(i: int):
        api = OpenAI(base_url=base_url, api_key=os.environ.get("WORKBENCH_API_KEY") or "x", max_retries=0,
                     timeout=600)
        name = names[i % len(names)]
        for r in range(requests):
            text = f"{tag} client {i} request {r}: " + " ".join(f"src/module_{k}.py" for k in range(words))
            started = time.perf_counter()
            try:
                reply = api.chat.completions.create(model=name, max_tokens=new_tokens, temperature=0,
                                                    messages=[{"role": "user", "content": f"Look at: {text}"}])
                with lock:
                    latencies.append(time.perf_counter() - started)
                    tokens.append(reply.usage.completion_tokens if reply.usage else 0)
            except Exception as e:  # counted, not raised: the row says how many
                with lock:
                    errors.append(str(e).splitlines()[0])

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    lat = sorted(latencies)
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan"))
    return {"clients": clients, "requests": len(lat), "rps": len(lat) / wall, "tps": sum(tokens) / wall,
            "p50": statistics.median(lat) if lat else float("nan"), "p95": pct(0.95), "errors": len(errors),
            "first_error": errors[0] if errors else ""}


def opencode_request(base_url: str, body: dict, model: str, new_tokens: int) -> dict:
    """One streamed request as opencode sends it (its system prompt, tools and settings; `max_tokens` lowered): time to
    first token, prompt and generated tokens per second, from the usage chunk."""
    import urllib.request

    body = {**body, "model": model, "max_tokens": new_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    headers = {"content-type": "application/json"}
    if os.environ.get("WORKBENCH_API_KEY"):
        headers["authorization"] = f"Bearer {os.environ['WORKBENCH_API_KEY']}"
    req = urllib.request.Request(base_url + "/chat/completions", data=json.dumps(body).encode(), headers=headers)
    started = time.perf_counter()
    first = usage = None
    with urllib.request.urlopen(req, timeout=900) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            delta = (chunk.get("choices") or [{}])[0].get("delta") or {}
            if first is None and (delta.get("content") or delta.get("tool_calls")):
                first = time.perf_counter() - started
    total = time.perf_counter() - started
    first = first if first is not None else total
    prompt, gen = (usage or {}).get("prompt_tokens", 0), (usage or {}).get("completion_tokens", 0)
    return {"model": model, "prompt_tokens": prompt, "ttft": first, "prompt_tps": prompt / first if first else 0,
            "new_tokens": gen, "gen_tps": (gen - 1) / (total - first) if gen > 1 and total > first else 0.0}


def row(engine: str, load: str, r: dict, single: float) -> str:
    return (f"| {engine} | {load} | {r['clients']} | {r['requests']} | {r['rps']:.2f} | {r['tps']:.0f} | "
            f"{r['p50']:.2f} | {r['p95']:.2f} | {r['errors']} | {r['rps'] / single:.2f}x |")


def old_server(cfg: dict, gguf: Path, names: list[str], port: int):
    """llama-cpp-python's own server, one entry per specialist (base GGUF + its adapter.gguf): the engine before."""
    from serve.models import exports_root

    models = [{"model": str(gguf), "model_alias": "base", "n_ctx": int(cfg["serve"].get("n_ctx") or 0),
               "verbose": False}]
    for n in names:
        if n != "base":
            models.append({**models[0], "model_alias": n,
                           "lora_path": str(exports_root(cfg) / n / "adapter.gguf")})
    conf = Path(tempfile.mkstemp(suffix=".json")[1])
    conf.write_text(json.dumps({"host": "127.0.0.1", "port": port, "interrupt_requests": False, "models": models}))
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--config_file", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, conf


def wait_up(url: str, proc, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the baseline server exited ({proc.returncode})")
        try:
            urllib.request.urlopen(url + "/models", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the baseline server did not come up")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--overlay", default=str(REPO / "configs" / "demo.yaml"))
    p.add_argument("--base", default=None, help="a real base: the exports of `make demo BASE=...` "
                                                "(--overlay configs/demo-<base>.yaml)")
    p.add_argument("--opencode", type=Path, default=None, metavar="REQUEST.json",
                   help="also time opencode's own request (../shared/real-clients/...) on every served model")
    p.add_argument("--clients", default="1,2,4,8", help="comma-separated numbers of concurrent clients")
    p.add_argument("--requests", type=int, default=4, help="chats per client per run")
    p.add_argument("--prompt-tokens", type=int, default=300)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--no-baseline", action="store_true", help="skip the reload-per-switch engine")
    a = p.parse_args()
    if a.base:
        a.overlay = str(REPO / "configs" / f"demo-{a.base}.yaml")
    from core import config
    from serve import serving
    from serve.api import free_port, stop
    from serve.convert import base_gguf
    from serve.models import exports_root

    cfg = config.load(overlay=a.overlay)
    gguf = base_gguf(cfg["model"]["model_name_or_path"], exports_root(cfg) / "serve",
                     outtype=cfg["serve"].get("gguf_type") or "auto", log=lambda line: print(line, flush=True))
    words = max(1, a.prompt_tokens // 6)  # "src/module_12.py " is about 6 tokens for the demo tokenizer
    counts = [int(c) for c in a.clients.split(",")]
    head = ("| engine | load | clients | requests | req/s | new tok/s | p50 s | p95 s | errors | vs 1 client |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    print(head, flush=True)
    with serving(overlay=a.overlay, engine="llama.cpp") as server:
        specialists = [n for n in server.models if n not in ("auto", "base")]
        if not specialists:
            print("no exported specialist: the base alone (`make demo`, or export some, for the switching rows)",
                  flush=True)
        single = None
        loads = (("same", specialists[:1]), ("different", specialists)) if specialists else (("same", ["base"]),)
        for load, names in loads:
            for c in counts:
                r = run_load(server.base_url, names, c, a.requests, words, a.new_tokens, f"{load}{c}")
                single = single or r["rps"]
                lines.append(row("shared base", load, r, single))
                print(lines[-1], flush=True)
        if a.opencode:
            body = json.loads(a.opencode.read_text())
            print("\n| model | prompt tokens | time to first token s | prompt tok/s | new tokens | new tok/s |\n"
                  "|---|---|---|---|---|---|", flush=True)
            for name in ["base", *specialists, (specialists or ["base"])[0]]:  # the last: the same model again, its prompt cached
                o = opencode_request(server.base_url, body, name, a.new_tokens)
                print(f"| {o['model']} | {o['prompt_tokens']} | {o['ttft']:.2f} | {o['prompt_tps']:.0f} | "
                      f"{o['new_tokens']} | {o['gen_tps']:.1f} |", flush=True)
        m = server.metrics()
        print(f"counters: base loaded {m['base_loads']}x, adapters loaded {m['adapter_loads']}x, "
              f"{m['adapter_switches']} adapter switches, {m['busy_rejections']} busy", flush=True)
    if not a.no_baseline and specialists:
        port = free_port()
        proc, conf = old_server(cfg, gguf, specialists, port)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            wait_up(url, proc)
            for c in [c for c in counts if c <= 4]:
                r = run_load(url, specialists, c, a.requests, words, a.new_tokens, f"old{c}")
                lines.append(row("reload per switch", "different", r, single))
                print(lines[-1], flush=True)
        finally:
            stop(proc)
            conf.unlink(missing_ok=True)
    print(f"\n(~{a.prompt_tokens} prompt tokens, {a.new_tokens} new tokens greedy, {a.requests} chats per client; "
          f"'vs 1 client' divides by the single-client same-specialist req/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
