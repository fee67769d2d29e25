"""Warm-started exact solves along a w2 Euler trajectory against a loop calling ``ot.emd`` every step.

Both sides run the same flow (2-D, N = M uniform clouds, h = 0.1, 40 steps, 41 solves: the last one
gives the final distance) in the same process. The baseline is what every script without odeflow does:
build the cost matrix, call ``ot.emd``, move every particle to ``(1-h) x + h T``. Where the baseline is
too slow to run in full (large N) it is timed at a few steps spread evenly over the trajectory, at the
positions odeflow's run reached there (the same to rounding: the distances are compared), and its
mean time per solve is extrapolated to 41 solves (the output says so). Spreading matters: ``ot.emd``
is slowest on the first problems of the flow, so timing only the first steps would flatter odeflow.
Small sizes run three times on both sides and report the best time of each (the machine is shared).

A second table runs flows whose plan changes at every step (unequal sizes, non-uniform weights),
where nothing can be reused: it measures the warm-started re-solve (``ot.emd`` given guessed duals)
against cold re-solves (``warm_start=False``), both through :func:`odeflow.simulate`.

Run: ``python -m benchmarks.trajectory`` (``--sizes 500 1000`` for a quick look).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import time
import warnings

import numpy as np
import ot

import odeflow as of
from odeflow.potentials import ExactSolver

H, STEPS = 0.1, 40
#: Sizes at which the baseline is timed at this many evenly spread steps only (then extrapolated).
BASELINE_SAMPLED = {4000: 6}
#: Sizes up to REPEAT_UP_TO run REPEAT times (both sides) and report the best time of each.
REPEAT, REPEAT_UP_TO = 3, 1000


def emd_loop(x, y, h, solves):
    """The baseline: ``solves`` calls of ``ot.emd``, an Euler step after each but the last.

    Returns the wall time and the distances W2 at the solved positions.
    """
    n, m = x.shape[0], y.shape[0]
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    x = x.copy()
    dist = []
    start = time.perf_counter()
    for k in range(solves):
        C = ot.dist(x, y) / 2.0  # squared Euclidean, halved: the w2 cost
        G, log = ot.emd(a, b, C, numItermax=10_000_000, log=True)
        dist.append(np.sqrt(max(2.0 * log["cost"], 0.0)))
        if k < solves - 1:
            x = (1.0 - h) * x + h * (G @ y) / a[:, None]
    return time.perf_counter() - start, np.array(dist)


def emd_at(points, y, h, steps):
    """The baseline's work at the given ``steps`` only, each from ``points[k]`` (positions at step k).

    Returns the total wall time and the distances W2 at those steps.
    """
    n, m = points.shape[1], y.shape[0]
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    dist, total = [], 0.0
    for k in steps:
        start = time.perf_counter()
        x = points[k]
        C = ot.dist(x, y) / 2.0
        G, log = ot.emd(a, b, C, numItermax=10_000_000, log=True)
        x = (1.0 - h) * x + h * (G @ y) / a[:, None]
        total += time.perf_counter() - start
        dist.append(np.sqrt(max(2.0 * log["cost"], 0.0)))
    return total, np.array(dist)


@contextlib.contextmanager
def count_paths():
    """Count the paths (``info["warm"]``) the exact solver takes inside the block, and time reused steps.

    Wraps :meth:`ExactSolver.solve` for the duration of the block (the benchmark's only intrusion).
    """
    paths, reused = collections.Counter(), []
    original = ExactSolver.solve

    def counted(self, cloud):
        pot = original(self, cloud)
        paths[pot.info["warm"]] += 1
        if pot.info["warm"] == "reused":
            reused.append(pot.info["seconds"])
        return pot

    ExactSolver.solve = counted
    try:
        yield paths, reused
    finally:
        ExactSolver.solve = original


def warm_up():
    """Load (or compile) the numba kernels once, so that no timing below includes it."""
    of.simulate(np.zeros((3, 2)), np.ones((3, 2)), h=0.5, t_end=1.0, progress=False)
    of.simulate(np.zeros((3, 2)), np.ones((3, 2)), loss="w1", h=0.5, t_end=1.0, progress=False)


def run_equal(sizes, problem="ring8", seed=0):
    """The main table: odeflow (warm exact) against the ``ot.emd`` loop."""
    rows = []
    print(f"w2 Euler trajectory, {problem} problem, 2-D, N = M uniform, h = {H}, "
          f"{STEPS} steps ({STEPS + 1} solves)")
    print(f"{'N':>5} {'emd loop s':>11} {'odeflow s':>10} {'speed-up':>9} {'max |dW2|':>10} "
          f"{'paths':>24} {'reused step ms':>15}")
    for n in sizes:
        src, tgt = of.datasets.problem(problem, n, rng=seed)
        sampled = n in BASELINE_SAMPLED
        repeat = REPEAT if n <= REPEAT_UP_TO else 1
        t_loop, t_of = np.inf, np.inf
        for _ in range(repeat):  # both sides equally often; the best time of each
            if not sampled:
                t, d_loop = emd_loop(src.points, tgt.points, H, STEPS + 1)
                t_loop = min(t_loop, t)
            with count_paths() as (paths, reused):
                start = time.perf_counter()
                res = of.simulate(src, tgt, "w2", "exact", "euler", h=H, t_end=H * STEPS, progress=False)
                t_of = min(t_of, time.perf_counter() - start)
        if sampled:
            steps = np.linspace(0, STEPS, BASELINE_SAMPLED[n]).round().astype(int)
            t, d_loop = emd_at(res.points, tgt.points, H, steps)
            t_loop_full = t / steps.size * (STEPS + 1)
            diff = float(np.max(np.abs(res.distance[steps] - d_loop)))
            note = f"  (baseline timed at steps {steps.tolist()}, extrapolated)"
        else:
            t_loop_full = t_loop
            diff = float(np.max(np.abs(res.distance - d_loop)))
            note = ""
        path_text = ", ".join(f"{k} {v}" for k, v in sorted(paths.items()))
        print(f"{n:5d} {t_loop_full:11.2f} {t_of:10.3f} {t_loop_full / t_of:8.1f}x {diff:10.1e} "
              f"{path_text:>24} {1e3 * np.median(reused):15.2f}{note}")
        rows.append({"n": n, "emd_loop_s": t_loop_full, "odeflow_s": t_of, "speedup": t_loop_full / t_of,
                     "max_distance_diff": diff, "baseline_sampled": sampled, "paths": dict(paths)})
    return rows


def run_changing(cases=((1000, 1500, False), (1000, 1000, True)), seed=1):
    """Plans that change every step: warm-started re-solves against cold ones, both via simulate."""
    print("\nflows whose plan changes (w2 Euler, 2-D, 10 steps): warm re-solves (ot.emd from guessed duals) "
          "vs cold re-solves")
    print(f"{'N':>5} {'M':>5} {'weights':>8} {'cold s':>8} {'warm s':>8} {'speed-up':>9} {'max |dW2|':>10} "
          f"{'paths':>22}")
    rng = np.random.default_rng(seed)
    rows = []
    for n, m, weighted in cases:
        w = rng.random(n) + 0.1 if weighted else None
        points = of.datasets.get("gaussian", n, rng=rng, scale=0.5).points
        src = of.Cloud(points, None if w is None else w / w.sum())
        tgt = of.datasets.get("ring8", m, rng=rng)
        args = dict(loss="w2", method="exact", h=H, t_end=10 * H, progress=False)
        start = time.perf_counter()
        cold = of.simulate(src, tgt, warm_start=False, **args)
        t_cold = time.perf_counter() - start
        with count_paths() as (paths, _):
            start = time.perf_counter()
            warm = of.simulate(src, tgt, **args)
            t_warm = time.perf_counter() - start
        diff = float(np.max(np.abs(warm.distance - cold.distance)))
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(paths.items()))
        print(f"{n:5d} {m:5d} {'random' if weighted else 'uniform':>8} {t_cold:8.2f} {t_warm:8.2f} "
              f"{t_cold / t_warm:8.1f}x {diff:10.1e} {kinds:>22}")
        rows.append({"n": n, "m": m, "weighted": weighted, "cold_s": t_cold, "warm_s": t_warm,
                     "speedup": t_cold / t_warm, "max_distance_diff": diff, "paths": dict(paths)})
    return rows


def main(sizes=(500, 1000, 2000, 4000), changing=True):
    warnings.simplefilter("ignore", UserWarning)
    warm_up()
    print("(numba kernels loaded before timing; the first, cold solve of every odeflow run is included)")
    out = {"equal": run_equal(sizes)}
    if changing:
        out["changing"] = run_changing()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--no-changing", action="store_true", help="skip the plan-changing table")
    args = parser.parse_args()
    main(args.sizes, changing=not args.no_changing)
