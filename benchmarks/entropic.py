"""method="entropic" against method="exact" along the same 30-step w2 Euler flow, in the same run (ratio).

Problem: 2-D, N particles with unequal weights (uniform on [0.5, 1.5], normalised) flowing to N target
points with unequal weights, h = 0.1, 30 steps (31 solves: the last gives the final distance), both through
:func:`odeflow.simulate`. Unequal weights make the exact solver re-solve at every step (warm-started
``ot.emd``): the fair comparison for a method that always iterates. The entropic method runs at its default
``epsilon = 0.01`` (in units of the target's mean cost), debiased (the default) and plain.

A second table runs equal-size uniform clouds, where the exact solver certifies and reuses the previous
assignment at every step (a few milliseconds per step, see README "Warm starts along trajectories"): no
iterative method can come within 3x of that, and the table says by how much it does not. (There the
entropic plans are also close to permutations, where Sinkhorn crawls and the Newton polish, a dense
``M x M`` solve, runs at most steps.)

The numba kernels are single-threaded; BLAS is used only by the Newton polish and is limited to one thread
(threadpoolctl). Each size runs ``--repeat`` times, the methods alternating, and reports the best time of
each: timings on a shared machine are noisy, the ratio is what to read.

Run: ``python -m benchmarks.entropic`` (``--sizes 500 1000 --uniform-sizes`` for a quick look).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import odeflow as of

H, STEPS = 0.1, 30


def problem(n, rng, weighted=True):
    x = rng.standard_normal((n, 2))
    y = 0.5 * rng.standard_normal((n, 2)) + [2.0, 1.0]
    if not weighted:
        return of.Cloud(x), of.Cloud(y)
    a, b = rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, n)
    return of.Cloud(x, a / a.sum()), of.Cloud(y, b / b.sum())


def flow(src, tgt, method, **options):
    start = time.perf_counter()
    res = of.simulate(src, tgt, method=method, h=H, t_end=H * STEPS, progress=False,
                      observe=(lambda p: p.info.get("iterations") or 0), **options)
    seconds = time.perf_counter() - start
    if not res.success:
        raise RuntimeError(f"{method}: the flow failed: {res.message}")
    iterations = res.observed
    return seconds, res, iterations


def table(sizes, weighted, rng, repeat):
    label = "unequal weights (exact re-solves every step)" if weighted else \
        "equal-size uniform clouds (exact reuses the assignment)"
    print(f"w2 Euler, h = {H}, {STEPS} steps, 2-D, N = M, {label}; best of {repeat} alternating runs")
    print(f"{'N':>6} {'exact s':>9} {'entropic s':>11} {'ratio':>7} {'plain s':>9} {'ratio':>7} "
          f"{'Sinkhorn it/step':>17} {'W2 exact':>9} {'S_eps^1/2':>10}")
    ratios = {}
    for n in sizes:
        src, tgt = problem(n, rng, weighted)
        best = {"exact": np.inf, "debiased": np.inf, "plain": np.inf}
        for _ in range(repeat):  # alternate, so that a change of the machine's load hits every method
            t, exact, _ = flow(src, tgt, "exact")
            best["exact"] = min(best["exact"], t)
            t, deb, its = flow(src, tgt, "entropic", debias=True)
            best["debiased"] = min(best["debiased"], t)
            t, _, _ = flow(src, tgt, "entropic", debias=False)
            best["plain"] = min(best["plain"], t)
        t_exact, t_deb, t_plain = best["exact"], best["debiased"], best["plain"]
        ratios[n] = (t_deb / t_exact, t_plain / t_exact)
        print(f"{n:6d} {t_exact:9.2f} {t_deb:11.2f} {t_deb / t_exact:6.2f}x {t_plain:9.2f} {t_plain / t_exact:6.2f}x "
              f"{np.mean(its):17.0f} {exact.distance[-1]:9.4f} {deb.distance[-1]:10.4f}", flush=True)
    return ratios


def main(sizes=(1000, 2000), uniform_sizes=(500,), repeat=2):
    rng = np.random.default_rng(0)
    of.kantorovich(*problem(20, rng), method="entropic")  # compile the numba kernels first
    print("method='entropic' (default epsilon 0.01, debiased; 'plain' = debias=False) against method='exact',")
    print("same flows, same run; ratio = entropic time / exact time; BLAS limited to one thread")
    with _one_blas_thread():
        weighted = table(sizes, True, rng, repeat)
        if uniform_sizes:
            print()
            table(uniform_sizes, False, rng, 1)
    n = max(weighted)
    print(f"\nN = {n}, unequal weights: debiased entropic / exact = {weighted[n][0]:.2f}x, plain / exact = "
          f"{weighted[n][1]:.2f}x ({'within' if weighted[n][0] <= 3 else 'NOT within'} 3x)")
    return weighted


def _one_blas_thread():
    """One BLAS thread for both methods (``ot.emd`` is single-threaded; only the entropic Newton polish uses
    BLAS), if threadpoolctl is installed: on a shared machine threaded BLAS can be ten times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--uniform-sizes", type=int, nargs="*", default=[500],
                        help="sizes of the equal-size uniform table (none to skip)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    main(tuple(args.sizes), tuple(args.uniform_sizes), args.repeat)
