"""Time per flow step against the number of particles N, for every potential method available.

Each method drives a short w2 Euler trajectory (h = 0.1) through one solver object, as
:func:`odeflow.simulate` does, and every solve is timed:

* ``exact (cold)``: the first solve, POT's network simplex from scratch (2-D, N = M, ring8 problem);
* ``exact (warm step)``: the median of the later solves, which reuse the certified plan;
* ``onedim``: sorting, 1-D Gaussians, N = M (no warm state; median over the steps);
* ``semidiscrete``: included when that method is registered (``"semidiscrete" in METHODS``): 2-D
  particles (ring8) against a UniformBox density (exact 2-D path); the first solve and the median later one.

Prints the times, the ratio cold / warm step (same run), the fitted log-log slope of every series
(time ~ N^slope), and writes ``figures/scaling.png`` with its JSON.

Run: ``python -m benchmarks.scaling`` (``--quick``: small sizes only, no figure written).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from matplotlib.figure import Figure

import odeflow as of
from odeflow.plotting import save
from odeflow.potentials import METHODS

H = 0.1
SIZES = {
    "exact": (250, 500, 1000, 2000, 4000),
    "onedim": (1_000, 10_000, 100_000, 1_000_000),
    "semidiscrete": (500, 1000, 2000, 4000, 8000),
}
QUICK = {"exact": (250, 500, 1000), "onedim": (1_000, 10_000, 100_000), "semidiscrete": (500, 1000, 2000)}


def step_times(src, tgt, method, steps, **options):
    """Wall time of each of ``steps + 1`` solves along a w2 Euler trajectory through one solver."""
    solver = of.make_solver(src.dim, tgt, "w2", method, rng=0, **options)
    x = np.array(src.points)
    times = []
    for _ in range(steps + 1):
        cloud = of.Cloud._trusted(x, src.weights)
        start = time.perf_counter()
        pot = solver.solve(cloud)
        times.append(time.perf_counter() - start)
        if not pot.success:
            raise RuntimeError(f"{method}: solver failed: {pot.info.get('message')}")
        x = x + H * pot.drift
    return np.array(times)


def _problem_exact(n, rng):
    return of.datasets.problem("ring8", n, rng=rng)


def _problem_onedim(n, rng):
    return of.Cloud(rng.standard_normal((n, 1))), of.Cloud(2.0 + 0.5 * rng.standard_normal((n, 1)))


def _problem_semidiscrete(n, rng):
    # exact 2-D path (power diagrams); the sampled path (Gaussian targets) is far slower and less robust
    return of.datasets.get("ring8", n, rng=rng), of.UniformBox([-1.5, -1.5], [1.5, 1.5])


def series_specs():
    """(method, problem builder, steps, [(series label, reducer)]) for every available method."""
    specs = [
        ("exact", _problem_exact, 5, [("exact (cold)", lambda t: t[0]),
                                      ("exact (warm step)", lambda t: float(np.median(t[1:])))]),
        ("onedim", _problem_onedim, 3, [("onedim", lambda t: float(np.median(t)))]),
    ]
    if "semidiscrete" in METHODS and hasattr(of, "UniformBox"):
        specs.append(("semidiscrete", _problem_semidiscrete, 3,
                      [("semidiscrete (first)", lambda t: t[0]),
                       ("semidiscrete (later step)", lambda t: float(np.median(t[1:])))]))
    elif "semidiscrete" in METHODS:
        print("semidiscrete is registered but odeflow.UniformBox is not: series skipped")
    return specs


def slope(sizes, times):
    """Least-squares slope of log(time) against log(N)."""
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def main(quick=False, stem="figures/scaling"):
    """Run every series; write the figure to ``stem`` (None: no figure; ``--quick`` writes none)."""
    warnings.simplefilter("ignore", UserWarning)
    rng = np.random.default_rng(0)
    sizes_for = QUICK if quick else SIZES
    results = {}
    for method, build, steps, series in series_specs():
        sizes = sizes_for[method]
        src, tgt = build(sizes[0], rng)
        step_times(src, tgt, method, 1)  # load the numba kernels before timing
        for n in sizes:
            src, tgt = build(n, rng)
            t = step_times(src, tgt, method, steps)
            for label, reduce in series:
                results.setdefault(label, {"sizes": [], "seconds": []})
                results[label]["sizes"].append(n)
                results[label]["seconds"].append(reduce(t))

    print("time per w2 Euler step (s) against N")
    for label, data in results.items():
        print(f"  {label:<26}" + "  ".join(f"N={n}: {s:.2e}" for n, s in zip(data["sizes"], data["seconds"])))
    cold, warm = results["exact (cold)"], results["exact (warm step)"]
    ratios = zip(cold["sizes"], cold["seconds"], warm["seconds"])
    print("exact, cold solve / warm step (same run): "
          + "  ".join(f"N={n}: {c / w:.0f}x" for n, c, w in ratios))
    print("log-log slopes (time ~ N^slope):")
    for label, data in results.items():
        data["slope"] = slope(data["sizes"], data["seconds"])
        print(f"  {label:<26} {data['slope']:.2f}")

    if stem is None:
        return results
    fig = Figure(figsize=(6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for label, data in results.items():
        ax.loglog(data["sizes"], data["seconds"], "o-", label=f"{label} (slope {data['slope']:.2f})")
    ax.set_xlabel("N (particles; M = N target points)")
    ax.set_ylabel("seconds per step")
    ax.set_title("Time per w2 Euler step")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    numbers = {"h": H, "quick": quick, "series": results}
    png, _ = save(fig, numbers, stem)
    print(f"wrote {png}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    main(quick=args.quick, stem=None if args.quick else "figures/scaling")
