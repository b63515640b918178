"""Paired statistics for two agents on the same tasks: the 2x2 table, McNemar's exact test, a bootstrap interval."""
from __future__ import annotations

import random
from math import comb


def table(a: list[bool], b: list[bool]) -> dict[str, int]:
    """The paired 2x2 table of two sides' per-task results (same tasks, same order)."""
    if len(a) != len(b):
        raise ValueError(f"paired results differ in length: {len(a)} and {len(b)}")
    pairs = list(zip(a, b))
    return {"both": sum(x and y for x, y in pairs), "only_a": sum(x and not y for x, y in pairs),
            "only_b": sum(y and not x for x, y in pairs), "neither": sum(not x and not y for x, y in pairs)}


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p: the discordant pairs against Binomial(n, 1/2); 1.0 when there are none."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def bootstrap_difference(a: list[bool], b: list[bool], *, samples: int = 10000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float, float]:
    """(b's rate - a's rate, low, high): a percentile interval from resampling tasks, each task's pair together."""
    n = len(a)
    if n == 0 or n != len(b):
        raise ValueError("bootstrap needs two non-empty result lists of the same length")
    diffs = [int(y) - int(x) for x, y in zip(a, b)]
    rng = random.Random(seed)
    stats = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    lo = stats[int((1 - level) / 2 * samples)]
    hi = stats[min(samples - 1, int((1 + level) / 2 * samples))]
    return sum(diffs) / n, lo, hi


def verdict(low: float, high: float, better: str, worse: str) -> str:
    """A verdict only when the interval excludes zero."""
    if low > 0:
        return better
    if high < 0:
        return worse
    return "no clear difference"
