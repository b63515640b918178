"""Serving figures for `make serve` on this machine: startup, first reply, steady reply, switching specialists.

    .venv/bin/python bench/serve.py                          # the demo's exports (after `make demo`)
    .venv/bin/python bench/serve.py --overlay my.yaml --prompt-tokens 1000 --new-tokens 64

Starts the real server (python -m serve, llama.cpp engine) on a free 127.0.0.1 port and prints:
- startup: seconds from launch to /v1/models answering, the base GGUF already converted (a first run converts it
  first and says so);
- first and steady latency: one chat of about --prompt-tokens tokens and --new-tokens greedy tokens, first after
  startup, then the same request again (llama.cpp reuses the cached prefix) and a fresh prompt;
- switch: the same chat to each specialist in turn (llama-cpp-python loads the base with that adapter).
The best of --repeats counts for the steady figures. Nothing is asserted; the figures move with the machine's load.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def chat(client, model: str, words: int, new_tokens: int, salt: str = "") -> float:
    text = salt + " ".join(f"src/module_{i}.py" for i in range(words))
    started = time.perf_counter()
    client.chat.completions.create(model=model, max_tokens=new_tokens, temperature=0,
                                   messages=[{"role": "user", "content": f"Look at these files: {text}"}])
    return time.perf_counter() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--overlay", default=str(REPO / "configs" / "demo.yaml"))
    p.add_argument("--prompt-tokens", type=int, default=1000)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    from openai import OpenAI

    from core import config
    from serve import serving
    from serve.convert import base_gguf
    from serve.models import exports_root

    cfg = config.load(overlay=a.overlay)
    started = time.perf_counter()
    base_gguf(cfg["model"]["model_name_or_path"], exports_root(cfg) / "serve",
              outtype=cfg["serve"].get("gguf_type") or "auto", log=lambda line: print(line, flush=True))
    print(f"base GGUF ready: {time.perf_counter() - started:.1f} s (converted once, then cached)")
    words = max(1, a.prompt_tokens // 6)  # "src/module_12.py " is about 6 tokens for the demo tokenizer
    started = time.perf_counter()
    with serving(overlay=a.overlay, engine="llama.cpp") as server:
        print(f"startup: {time.perf_counter() - started:.2f} s to /v1/models")
        client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=600)
        names = [n for n in server.models if n != "auto"]
        print(f"first reply (base): {chat(client, 'base', words, a.new_tokens):.2f} s")
        same = min(chat(client, "base", words, a.new_tokens) for _ in range(a.repeats))
        print(f"same prompt again (cached prefix): {same:.2f} s")
        fresh = min(chat(client, "base", words, a.new_tokens, salt=f"run {i}: ") for i in range(a.repeats))
        print(f"fresh prompt: {fresh:.2f} s  (~{a.prompt_tokens} prompt tokens, {a.new_tokens} new)")
        for name in names[1:] + names[:1]:
            print(f"switch to {name}: {chat(client, name, words, a.new_tokens):.2f} s (load + reply)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
