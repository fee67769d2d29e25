"""Measure what each potential method costs per flow step, for the "which method when" page.

Every case drives a short w2 (or w1) Euler trajectory through one solver, as ``odeflow.simulate``
does, and times each solve: the first one (cold) and the median of the later ones (warm starts).
A baseline, POT's ``ot.emd`` on a 1000 x 1000 problem, is timed in the same run, and every time is
also printed as a ratio to it, since absolute times depend on the machine and its load.

    NUMBA_NUM_THREADS=1 python docs/scripts/method_costs.py            # about 3-6 minutes
    NUMBA_NUM_THREADS=1 python docs/scripts/method_costs.py --quick    # smallest sizes only

Writes ``docs/scripts/method_costs.json`` (or ``--out``). A first call also compiles the numba kernels
(cached afterwards); a warm-up solve per method keeps compilation out of the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import ot

import odeflow as of

H = 0.1


def euler_times(src, tgt, loss="w2", method="auto", steps=4, **options):
    """Wall time of the first solve and of each later solve along an Euler trajectory."""
    solver = of.make_solver(src.dim, tgt, loss, method, rng=0, **options)
    x, times, status = np.array(src.points), [], []
    for _ in range(steps + 1):
        start = time.perf_counter()
        pot = solver(of.Cloud(x, src.weights))
        times.append(time.perf_counter() - start)
        status.append(pot.info.get("status"))
        if not pot.success:
            break
        x = x + H * pot.drift
    later = times[1:]
    return {"first": times[0], "later": statistics.median(later) if later else None,
            "solves": len(times), "status": status, "warm": pot.info.get("warm"),
            "path": pot.info.get("path"), "message": pot.info.get("message")}


def baseline(n=1000):
    """POT's network simplex, cold, on the n x n ring8 problem (uniform weights)."""
    src, tgt = of.datasets.problem("ring8", n, rng=1)
    cost = ot.dist(src.points, tgt.points) / 2
    a = np.full(n, 1.0 / n)
    start = time.perf_counter()
    ot.emd(a, a, cost)
    return time.perf_counter() - start


def face(size=64):
    """A small procedural picture (a ring and two dots) for ImageDensity."""
    y, x = np.mgrid[1:-1:size * 1j, -1:1:size * 1j]
    r = np.hypot(x, y)
    img = ((r > 0.6) & (r < 0.8)) | (np.hypot(x - 0.3, y - 0.2) < 0.12) | (np.hypot(x + 0.3, y - 0.2) < 0.12)
    return of.ImageDensity(img.astype(float) + 0.01, extent=(-1, 1, -1, 1))


def cases(quick):
    rng = np.random.default_rng(0)
    sizes = (250, 1000) if quick else (250, 1000, 2000)
    for n in sizes:
        yield f"exact w2, 2-D, N = M = {n}", lambda n=n: euler_times(*of.datasets.problem("ring8", n, rng=0),
                                                                       method="exact")
    yield "exact w2, 2-D, N = 1000, M = 1500", lambda: euler_times(
        of.datasets.get("gaussian", 1000, rng=0, scale=0.05), of.datasets.get("ring8", 1500, rng=1), method="exact")
    yield "exact w1, 2-D, N = M = 1000", lambda: euler_times(*of.datasets.problem("ring8", 1000, rng=0),
                                                              loss="w1", method="exact")
    for n in ((10_000,) if quick else (10_000, 100_000)):
        yield f"onedim w2, N = M = {n}", lambda n=n: euler_times(
            of.Cloud(rng.standard_normal((n, 1))), of.Cloud(2 + 0.5 * rng.standard_normal((n, 1))), method="onedim")
    box = of.UniformBox([-1.5, -1.5], [1.5, 1.5])
    for n in ((250, 1000) if quick else (250, 1000, 4000)):
        yield f"semidiscrete, UniformBox 2-D (exact cells), N = {n}", lambda n=n: euler_times(
            of.datasets.get("ring8", n, rng=0), box, method="semidiscrete")
    yield "semidiscrete, ImageDensity 64 x 64 (exact cells), N = 1000", lambda: euler_times(
        of.datasets.get("gaussian", 1000, rng=0, scale=0.3), face(), method="semidiscrete")
    gauss = of.Gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 0.5]])
    for n in ((100,) if quick else (100, 200)):
        yield f"semidiscrete, Gaussian (sampled path), N = {n}", lambda n=n: euler_times(
            of.datasets.get("gaussian", n, rng=0), gauss, method="semidiscrete", steps=2)


def warm_up():
    """Compile the numba kernels of every path once (not timed)."""
    of.simulate(*of.datasets.problem("ring8", 20, rng=0), method="exact", h=0.5, t_end=1.0, progress=False)
    of.simulate(np.arange(20.0)[:, None], np.arange(20.0)[:, None] + 1, method="onedim", h=0.5, t_end=1.0,
                progress=False)
    of.kantorovich(np.random.default_rng(0).random((20, 2)), of.UniformBox([0, 0], [1, 1]))
    of.kantorovich(np.random.default_rng(0).random((20, 2)), face(16))
    of.kantorovich(np.random.default_rng(0).random((20, 2)), of.Gaussian([0.5, 0.5], np.eye(2) * 0.1), rng=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "method_costs.json"))
    args = parser.parse_args(argv)
    warm_up()
    base = min(baseline() for _ in range(3))
    print(f"baseline: ot.emd, N = M = 1000, cold: {base:.3f} s (best of 3)")
    rows = []
    for name, run in cases(args.quick):
        r = run()
        r["name"] = name
        rows.append(r)
        later = f"{r['later']:.4f} s ({r['later'] / base:.3g}x)" if r["later"] is not None else "n/a"
        print(f"{name:<62} first {r['first']:.4f} s ({r['first'] / base:.3g}x)  later {later}  "
              f"warm={r['warm']} status={r['status'][-1]}", flush=True)
    result = {"baseline_seconds": base, "baseline": "ot.emd, ring8, N = M = 1000, cold, best of 3",
              "h": H, "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
              "numba_threads": os.environ.get("NUMBA_NUM_THREADS"), "rows": rows}
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
        fh.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
