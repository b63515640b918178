"""Whose turn the engine is: first come first served, a waiting limit (Busy), a waiter that leaves, a shutdown.

The turn-keeping of serve/engine.py on its own (no model loaded): the real engine serves in test_serve_load.py.
"""
from __future__ import annotations

import asyncio

import pytest

from serve.engine import Busy, Counters, Engine


def engine(timeout: float = 5.0) -> Engine:
    e = object.__new__(Engine)  # the turn-keeping only: no base loaded
    import collections

    e.queue_timeout, e.counters, e.stopping, e.active = timeout, Counters(), False, None
    e._waiting, e._holder, e._running = collections.deque(), None, set()
    return e


def test_turns_go_in_arrival_order():
    async def main():
        e, order = engine(), []

        async def client(i):
            t = await e.turn()
            order.append(i)
            await asyncio.sleep(0.01)
            e.done(t)

        await asyncio.gather(*(client(i) for i in range(6)))
        return order, e

    order, e = asyncio.run(main())
    assert order == list(range(6)) and e.counters.requests == 6 and e.queued == 0


def test_waiting_past_the_limit_is_busy_and_the_queue_goes_on():
    async def main():
        e = engine(timeout=0.05)
        first = await e.turn()
        with pytest.raises(Busy, match="serve.queue_timeout"):
            await e.turn()
        e.done(first)
        again = await e.turn()  # the engine is free again: served at once
        e.done(again)
        return e

    e = asyncio.run(main())
    assert e.counters.busy_rejections == 1 and e.counters.requests == 2 and e.queued == 0


def test_a_waiter_whose_client_left_leaves_the_queue_without_a_turn():
    async def main():
        e = engine()
        first = await e.turn()
        gone = asyncio.get_running_loop().create_future()
        waiter = asyncio.ensure_future(e.turn(gone))
        third = asyncio.ensure_future(e.turn())
        await asyncio.sleep(0.01)
        gone.set_result(True)
        with pytest.raises(asyncio.CancelledError):
            await waiter
        e.done(first)
        t = await asyncio.wait_for(third, 1)  # the next in line gets the turn, not the departed one
        e.done(t)
        return e

    e = asyncio.run(main())
    assert e.counters.requests == 2 and e.queued == 0


def test_shutdown_turns_waiters_away_and_refuses_new_ones():
    async def main():
        e = engine()
        first = await e.turn()
        waiter = asyncio.ensure_future(e.turn())
        await asyncio.sleep(0.01)
        e.shut_down(grace=0.01)
        with pytest.raises(Busy, match="shutting down"):
            await waiter
        with pytest.raises(Busy, match="shutting down"):
            await e.turn()
        await asyncio.sleep(0.05)
        assert first.cancel.is_set()  # the running request is told to stop after the grace period
        e.done(first)
        return e

    e = asyncio.run(main())
    assert e.counters.busy_rejections == 2 and e.counters.cancelled == 1
