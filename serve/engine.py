"""One base loaded once, every specialist's LoRA loaded once over it, the adapter chosen per request (no reload).

llama.cpp keeps LoRA adapters apart from the model (`llama_adapter_lora_init`) and applies the ones set on the
context (`llama_set_adapters_lora`) at every decode, so switching specialists is setting a pointer, not reading the
base again. llama-cpp-python 0.3.36 exposes both in its low-level bindings; its `Llama` does the rest (tokenizing,
the chat template, sampling, logprobs) exactly as before. The KV cache holds activations computed under one adapter,
so a switch drops it (the prefix cache helps the same specialist's next turn only).

One llama.cpp context decodes one sequence at a time here (llama-cpp-python's `Llama` has no parallel slots), so
requests take the engine in turn: a fair FIFO queue, a waiting limit (503 + Retry-After), a waiter that disconnects
leaves the queue, and a running request is stopped when its client goes away or the server shuts down.
"""
from __future__ import annotations

import asyncio
import collections
import ctypes
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import ConfigError

from .models import BASE, Served

GGML_TYPE_F32, GGML_TYPE_F16 = 0, 1


class Cancelled(Exception):
    """Raised inside generation when the running request's ticket is cancelled (client gone, or shutdown)."""


class Busy(Exception):
    """No engine slot within the waiting limit (503), or the server is shutting down."""


@dataclass
class Counters:
    """What the engine did since it started (GET /admin/metrics)."""
    base_loads: int = 0  # the base GGUF read into memory: 1 for the life of a server
    adapter_loads: int = 0  # adapter.gguf files read (once each, again only on /admin/reload)
    adapter_switches: int = 0  # requests whose specialist differed from the one before (a pointer swap)
    requests: int = 0  # requests that got the engine
    busy_rejections: int = 0  # 503s: waited past serve.queue_timeout, or arrived during shutdown
    cancelled: int = 0  # generations stopped early: the client left, or shutdown


@dataclass(eq=False)  # each ticket is its own: hashed by identity
class Ticket:
    """One request's turn: `cancel` stops its generation at the next token."""
    cancel: threading.Event = field(default_factory=threading.Event)


def model_settings(base_gguf: Path, scfg: dict[str, Any]):
    """llama-cpp-python's ModelSettings for the base (its own validation of serve.engine_args), no LoRA."""
    from llama_cpp.server.settings import ModelSettings
    from pydantic import ValidationError

    from . import chat  # registers the chat handler under chat.NAME

    kv = scfg.get("kv_cache") or "auto"
    if kv == "auto":
        kv = "f32" if base_gguf.name.endswith(".f32.gguf") else "f16"
    if kv not in ("f32", "f16"):
        raise ConfigError(f"serve.kv_cache: {kv!r} is not one of auto, f32, f16")
    kv_type = GGML_TYPE_F32 if kv == "f32" else GGML_TYPE_F16
    try:
        return ModelSettings(model=str(base_gguf), model_alias=BASE, chat_format=chat.NAME,
                             n_ctx=int(scfg.get("n_ctx") or 0), type_k=kv_type, type_v=kv_type, verbose=False,
                             **dict(scfg.get("engine_args") or {}))
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(f"serve.engine_args: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


class Engine:
    """The base `Llama`, the adapters over it, whose turn it is, and the counters."""

    def __init__(self, served: list[Served], base_gguf: Path, scfg: dict[str, Any]):
        from llama_cpp.server.model import LlamaProxy

        self.base_gguf = base_gguf
        self.queue_timeout = float(scfg.get("queue_timeout") or 300)
        self.counters = Counters()
        self.llama = LlamaProxy.load_llama_from_model_settings(model_settings(base_gguf, scfg))
        self.counters.base_loads += 1
        self.n_ctx = self.llama.n_ctx()
        self.adapters: dict[str, Any] = {}  # served name -> llama_adapter_lora pointer (None: the base)
        self.languages: dict[str, str | None] = {}
        self.current: str | None = BASE  # the adapter set on the context now (the base: none)
        # every call into llama.cpp's context runs on this one thread, in the order requests got their turn
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self._waiting: collections.deque[asyncio.Future] = collections.deque()
        self._holder: Ticket | None = None
        self._running: set[Ticket] = set()
        self.stopping = False
        self.active: Ticket | None = None  # whose generation the engine thread runs now
        # llama-cpp-python's generate() calls self.eval once per new token: the one place to stop a generation
        self.llama.eval = self._eval
        self.load_adapters(served)

    def _eval(self, tokens):
        if self.active is not None and self.active.cancel.is_set():
            raise Cancelled()
        type(self.llama).eval(self.llama, tokens)

    # --- adapters ------------------------------------------------------------------------------------------------

    def load_adapters(self, served: list[Served]) -> None:
        """Read each specialist's adapter.gguf once (on the engine thread, or before it serves), free the old ones."""
        import llama_cpp

        new: dict[str, Any] = {}
        try:
            for s in served:
                if s.adapter_gguf is None:
                    new[s.name] = None
                    continue
                ptr = llama_cpp.llama_adapter_lora_init(self.llama._model.model, str(s.adapter_gguf).encode())
                if not ptr:
                    raise ConfigError(f"{s.adapter_gguf}: llama.cpp could not load this LoRA over {self.base_gguf}")
                new[s.name] = ptr
                self.counters.adapter_loads += 1
        except BaseException:
            for ptr in new.values():
                if ptr:
                    llama_cpp.llama_adapter_lora_free(ptr)
            raise
        self._set(None)  # nothing on the context points at an adapter about to be freed
        for ptr in self.adapters.values():
            if ptr:
                llama_cpp.llama_adapter_lora_free(ptr)
        self.adapters = new
        self.languages = {s.name: s.language for s in served}

    def _set(self, name: str | None) -> None:
        import llama_cpp

        ptr = self.adapters.get(name) if name else None
        if ptr:
            arr = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(ptr)
            scales = (ctypes.c_float * 1)(1.0)
            rc = llama_cpp.llama_set_adapters_lora(self.llama._ctx.ctx, arr, 1, scales)
        else:
            rc = llama_cpp.llama_set_adapters_lora(self.llama._ctx.ctx, None, 0, None)
        if rc != 0:
            raise RuntimeError(f"llama.cpp refused to set the adapter of {name}")
        self.llama.reset()  # the cached activations were computed under the previous adapter
        self.current = name or BASE

    def use(self, name: str) -> None:
        """Make `name`'s adapter the one the next decode applies (engine thread, with the turn held)."""
        if name == self.current:
            return
        self._set(name if self.adapters.get(name) else None)
        self.current = name
        self.counters.adapter_switches += 1

    # --- turns ---------------------------------------------------------------------------------------------------

    async def turn(self, disconnected: asyncio.Future | None = None) -> Ticket:
        """Wait for the engine in arrival order; Busy after queue_timeout; None-free: a departed client raises
        asyncio.CancelledError out of the queue without taking a turn."""
        if self.stopping:
            self.counters.busy_rejections += 1
            raise Busy("the server is shutting down")
        ticket = Ticket()
        if self._holder is None and not self._waiting:
            self._holder = ticket
        else:
            fut = asyncio.get_running_loop().create_future()
            self._waiting.append(fut)
            waits = [fut] + ([disconnected] if disconnected is not None else [])
            try:
                done, _ = await asyncio.wait(waits, timeout=self.queue_timeout, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                self._leave(fut)
                raise
            if fut not in done or fut.result() is False:
                self._leave(fut)
                if disconnected is not None and disconnected in done:
                    raise asyncio.CancelledError("the client left while queued")
                self.counters.busy_rejections += 1
                raise Busy("the server is shutting down" if self.stopping else
                           f"every engine slot stayed busy for {self.queue_timeout:.0f} s (serve.queue_timeout)")
            self._holder = ticket
        self._running.add(ticket)
        self.active = ticket
        self.counters.requests += 1
        return ticket

    def _leave(self, fut: asyncio.Future) -> None:
        if fut in self._waiting:
            self._waiting.remove(fut)
        elif fut.done() and fut.result() is True:  # handed the turn just as it gave up: pass it on
            self._holder = None
            self._next()

    def done(self, ticket: Ticket) -> None:
        """Give the turn to the next waiter (first come, first served)."""
        self._running.discard(ticket)
        if self.active is ticket:
            self.active = None
        if ticket.cancel.is_set():
            self.counters.cancelled += 1
        if self._holder is ticket:
            self._holder = None
            self._next()

    def _next(self) -> None:
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                self._holder = object()  # reserved until the waiter wakes and takes it
                fut.set_result(True)
                return

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def shut_down(self, grace: float) -> None:
        """No new turns; waiters get 503 now, running generations are stopped after `grace` seconds."""
        self.stopping = True
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_result(False)

        def cut():
            for t in list(self._running):
                t.cancel.set()

        if self._running:
            timer = threading.Timer(grace, cut)
            timer.daemon = True  # never what keeps the process alive
            timer.start()

    async def run(self, fn, *args, **kwargs):
        """Call into llama.cpp on the engine thread."""
        return await asyncio.get_running_loop().run_in_executor(self.thread, lambda: fn(*args, **kwargs))

    def metrics(self) -> dict[str, Any]:
        return {**self.counters.__dict__, "queued": self.queued, "running": len(self._running),
                "n_ctx": self.n_ctx, "adapter": self.current, "uptime_s": round(time.monotonic() - _STARTED, 1)}


_STARTED = time.monotonic()
