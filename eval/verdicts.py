"""The verdicts of a change against the base: better, worse, no clear difference, or too few sessions to judge."""
from __future__ import annotations

# eval.min_sessions' default: fewer held-out sessions than this and there is no verdict, only the numbers. The
# intervals resample sessions, and with n sessions even a change in the same direction on every one of them is a
# coin flip's 2 * 0.5**n: 0.0625 at n = 5, 0.031 at n = 6 (a two-sided sign test), so below 6 no interval can mean
# "at the 5% level" whatever it says; with 1 session the bootstrap interval is a single point.
MIN_SESSIONS = 6


def too_few(sessions: int | None, minimum: int = MIN_SESSIONS) -> str | None:
    """The verdict when there are too few held-out sessions to judge, else None."""
    if sessions is not None and sessions < minimum:
        return (f"too few held-out sessions to judge ({sessions} of the {minimum} a verdict needs, "
                f"eval.min_sessions; the numbers are reported)")
    return None


def judge(sessions: int | None, minimum: int, interval: list[float], *, better: str, measure: str) -> str:
    """The verdict on a change whose 95% interval is `interval`: `better` says which side of 0 is better
    ("below" for a loss, "above" for an accuracy); none with fewer than `minimum` held-out sessions."""
    few = too_few(sessions, minimum)
    if few:
        return few
    low, high = (interval[1] < 0, interval[0] > 0) if interval else (False, False)
    if better == "below" and low or better == "above" and high:
        return f"better than base (95% interval of the {measure} change {better} 0)"
    if better == "below" and high or better == "above" and low:
        return "worse than base"
    return "no clear difference from base"
