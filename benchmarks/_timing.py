"""Timing helpers: best-of-k wall time, so that noisy machines give stable ratios."""

from __future__ import annotations

import time


def best_time(fn, repeat=3):
    """Smallest wall time of ``repeat`` calls of ``fn()`` (seconds) and the last return value."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out
