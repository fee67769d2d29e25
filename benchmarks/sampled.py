"""The sampled semi-discrete path (issue 14): cold-solve grid, accuracy, throughput, interrupts, flows.

Parts (``python -m benchmarks.sampled PART [options]``; ``all`` runs every part at the issue's sizes):

``grid``        cold solves, densities {Gaussian, anisotropic Gaussian (eigenvalues 1 .. 0.1, rotated),
                3-component mixture, box} x d x N, particles from a tight blob 3 units from the density's
                mean or drawn from the density: status, wall and CPU seconds, quadrature size, error.
``accuracy``    a 2-D mixture, N = 1000 particles drawn from it: the hard cells of the returned duals
                against the density by independent Monte Carlo (argmin over all particles, fresh i.i.d.
                samples, the Monte Carlo variance subtracted), next to ``quadrature_error``; then the cost
                of the ``accuracy`` option (0.05, 0.03, 0.02, 0.01).
``throughput``  sample-to-cell assignment: the solver's certified update of the lists after a dual step
                (``certify`` + ``soft_eval``: the step inside every Newton iteration), its full exact search,
                and ``scipy.spatial.cKDTree.query`` on the lifted points (``workers=2``), in the same run.
``interrupt``   Ctrl-C mid-solve (a timer signal raising KeyboardInterrupt), then a second call in the same
                process, in a subprocess (exit code).
``flows``       the issue's two flows through ``odeflow.simulate`` (``path="sampled"``): 2-D blob to an anisotropic Gaussian 3 units away (N = 2000, h = 0.1, t_end = 3)
                and 5-D blob to a mixture (N = 1000, h = 0.2, t_end = 2).

Timings: wall seconds and process CPU seconds (all threads). The machine these numbers were taken on is
shared (2 cores, often a load of 6-10 from other jobs): wall times there are 2-4x the CPU times / 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

import odeflow as of
from odeflow.potentials.semidiscrete.sampled import SampledSolver

KINDS = ("gauss", "aniso", "mix", "box")


def density(kind, d, centre=3.0):
    """The issue's targets, their mean ``centre`` units from the origin."""
    c = np.full(d, centre / np.sqrt(d))
    if kind == "gauss":
        return of.Gaussian(c, np.eye(d))
    if kind == "aniso":
        q = np.linalg.qr(np.random.default_rng(5).standard_normal((d, d)))[0]
        return of.Gaussian(c, q @ np.diag(np.linspace(1.0, 0.1, d)) @ q.T)
    if kind == "mix":
        means = np.zeros((3, d))
        means[:, 0] = [-1.5, 0.0, 1.5]
        means[:, 1] = [0.0, 1.5, 0.0]
        return of.GaussianMixture(means + c, [0.3 * np.eye(d)] * 3, [0.5, 0.3, 0.2])
    if kind == "box":
        return of.UniformBox(c - 1.0, c + 1.0)
    raise ValueError(f"kind: one of {KINDS}, got {kind!r}")


def particles(kind, d, n, start, seed=0):
    rng = np.random.default_rng(seed)
    if start == "blob":
        return 0.05 * rng.standard_normal((n, d))
    return density(kind, d).sample(n, rng)


def timed_solve(solver, x, a, psi0=None):
    t, c = time.perf_counter(), time.process_time()
    out = solver.solve(x, a, 1e-6, 100, psi0)
    return out, time.perf_counter() - t, time.process_time() - c


def grid(kinds=KINDS, dims=(2, 5, 10), ns=(1024, 2048), starts=("blob", "target")):
    """One cold solve per cell of the grid; a row per solve."""
    print("kind   d     N  start   status   wall_s  cpu_s  iter        S  quad_err  levels (S:iterations)")
    rows = []
    for d in dims:
        for n in ns:
            for kind in kinds:
                for start in starts:
                    x = particles(kind, d, n, start)
                    (psi, mass, cen, cost, info), wall, cpu = timed_solve(SampledSolver(density(kind, d), rng=1),
                                                                           x, np.full(n, 1.0 / n))
                    lv = " ".join(f"{l['n_samples']}:{l['iterations']}" for l in info["levels"])
                    print(f"{kind:5s} {d:2d} {n:5d}  {start:6s}  {info['status']:8s} {wall:6.1f} {cpu:6.1f} "
                          f"{info['iterations']:5d} {info['n_samples']:8d}  {info['quadrature_error']:.4f}    {lv}",
                          flush=True)
                    rows.append((kind, d, n, start, info["status"], wall, cpu))
    ok = sum(r[4] == "optimal" for r in rows)
    print(f"{ok}/{len(rows)} optimal; slowest wall {max(r[5] for r in rows):.1f} s, "
          f"slowest CPU {max(r[6] for r in rows):.1f} s")
    return rows


def brute_masses(dens, x, psi, n, seed, chunk=100_000):
    """Hard cell masses of ``psi`` from ``n`` fresh i.i.d. samples (numpy argmin over all particles)."""
    rng = np.random.default_rng(seed)
    half = 0.5 * np.einsum("ij,ij->i", x, x) - psi
    counts = np.zeros(x.shape[0])
    for start in range(0, n, chunk):
        y = dens.sample(min(chunk, n - start), rng)
        counts += np.bincount(np.argmin(half[None, :] - y @ x.T, axis=1), minlength=x.shape[0])
    return counts / n


def accuracy(n=1000, mc=4_000_000, seeds=3, options=(0.05, 0.03, 0.02, 0.01)):
    """Measured rms relative cell-mass error against the density next to the reported one."""
    dens = density("mix", 2, centre=0.0)
    a = np.full(n, 1.0 / n)
    print(f"2-D mixture, N = {n} particles drawn from it; independent Monte Carlo with {mc} samples")
    print("seed  accuracy        S  cpu_s  quad_err  measured(raw)  mc_noise  measured  ratio")
    runs = [(seed, None) for seed in range(seeds)] + [(0, acc) for acc in options]
    for seed, acc in runs:
        x = dens.sample(n, np.random.default_rng(seed))
        (psi, mass, cen, cost, info), wall, cpu = timed_solve(SampledSolver(dens, rng=100 + seed, accuracy=acc), x, a)
        m = brute_masses(dens, x, psi, mc, seed=1000 + seed)
        raw = float(np.mean(((m - a) / a) ** 2))
        noise = float(np.mean((1 - a) / (a * mc)))
        measured = np.sqrt(max(raw - noise, 0.0))
        print(f"{seed:4d}  {info['accuracy']:8.3f} {info['n_samples']:8d} {cpu:6.1f}  {info['quadrature_error']:.4f}"
              f"    {np.sqrt(raw):.4f}        {np.sqrt(noise):.4f}    {measured:.4f}  "
              f"{info['quadrature_error'] / max(measured, 1e-12):.2f}", flush=True)


def throughput(n=2048, s=1_000_000, dims=(2, 5, 10), threads=2):
    """Assignments per second: the certified update, the full search, and cKDTree on lifted points."""
    import numba
    from scipy.spatial import cKDTree

    from odeflow.potentials.semidiscrete.sampled import _Problem

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    print(f"N = {n} particles at their converged duals, S = {s} samples, {numba.get_num_threads()} threads")
    print(" d  certified update  [wall M/s, CPU M/s]   full search   cKDTree k=1   cKDTree k=8   (wall M/s)")
    for d in dims:
        dens = density("aniso", d)
        x = dens.sample(n, np.random.default_rng(0))
        solver = SampledSolver(dens, rng=1, n_samples=s)
        psi = solver.solve(x, np.full(n, 1.0 / n), 1e-6, 100)[0]
        lv, P = solver._level, _Problem(x, np.full(n, 1.0 / n))
        step = psi + 1e-3 * np.median(lv.eps_cell) * np.random.default_rng(1).standard_normal(n)
        solver._evaluate(P, lv, psi)
        t, c = time.perf_counter(), time.process_time()
        solver._evaluate(P, lv, step)  # certify, search the few that fail, soft cells (best = hard cell)
        wu, cu = time.perf_counter() - t, time.process_time() - c
        t = time.perf_counter()
        solver._search(P, lv, psi)
        ws = time.perf_counter() - t
        lift = np.sqrt(np.max(2 * psi) - 2 * psi)
        tree = cKDTree(np.column_stack([x, lift]))
        q = np.column_stack([lv.y, np.zeros(lv.S)])
        t = time.perf_counter()
        tree.query(q, k=1, workers=threads)
        w1 = time.perf_counter() - t
        t = time.perf_counter()
        tree.query(q, k=8, workers=threads)
        w8 = time.perf_counter() - t
        S = lv.S
        print(f"{d:2d}  {S / wu / 1e6:8.2f} {S / cu / 1e6:8.2f}              {S / ws / 1e6:8.2f}     "
              f"{S / w1 / 1e6:8.2f}      {S / w8 / 1e6:8.2f}", flush=True)


INTERRUPT = """
import signal, sys, numpy as np, odeflow as of
from odeflow.potentials.semidiscrete.sampled import SampledSolver
cls = SampledSolver
def alarm(signum, frame):
    raise KeyboardInterrupt
signal.signal(signal.SIGALRM, alarm)
target = of.Gaussian([3.0, 0.0], [[1.0, 0.0], [0.0, 0.1]])
x = of.Gaussian([3.0, 0.0], [[1.0, 0.0], [0.0, 0.1]]).sample(2000, 0)
a = np.full(2000, 1 / 2000)
for delay in (0.3, 0.7, 1.5, 3.0):
    solver = cls(target, rng=0)
    signal.setitimer(signal.ITIMER_REAL, delay)
    try:
        solver.solve(x, a, 1e-6, 100)
    except KeyboardInterrupt:
        pass
    signal.setitimer(signal.ITIMER_REAL, 0)
    print(delay, solver.solve(x, a, 1e-6, 100)[4]["status"], flush=True)
"""


def interrupt():
    """Exit code of the interrupt-then-call-again script (the replaced solver crashed here with -11)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for which in ("new",):
        out = subprocess.run([sys.executable, "-c", INTERRUPT, which], capture_output=True, text=True, cwd=root,
                             env={**os.environ, "PYTHONPATH": root}, timeout=1800)
        print(f"{which}: exit code {out.returncode} ({'-11 = segmentation fault' if out.returncode == -11 else ''})"
              f"; completed solves: {out.stdout.split()}", flush=True)


def flow(which):
    """One of the issue's flows, through odeflow.simulate on the sampled path."""
    if which == "2d":
        d, n, h, t_end, tgt = 2, 2000, 0.1, 3.0, density("aniso", 2)
    else:
        d, n, h, t_end, tgt = 5, 1000, 0.2, 2.0, density("mix", 5)
    x0 = 0.05 * np.random.default_rng(0).standard_normal((n, d))
    t, c = time.perf_counter(), time.process_time()
    res = of.simulate(x0, tgt, method="semidiscrete", path="sampled", h=h, t_end=t_end, rng=1, progress=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    w = res.distance
    info = res.info["solver_info"]
    print(f"flow {which}: status {res.status} ({res.message}); {res.n_solves} solves, wall {wall:.1f} s, "
          f"CPU {cpu:.1f} s; last solve: start {info['start']}, S = {info['n_samples']}, "
          f"quadrature_error {info['quadrature_error']:.4f}")
    print("  W2:", np.round(w, 4).tolist())
    # decay rate before the floor: fit log W2 on the records above 4x the final value
    keep = w > 4 * w[-1] if which == "2d" else w > 0
    rate = -np.polyfit(res.t[keep], np.log(w[keep]), 1)[0]
    print(f"  fitted rate of W2 (records above 4x the last): {rate:.3f}; W2 end/start = {w[-1] / w[0]:.3f}")
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=("grid", "accuracy", "throughput", "interrupt", "flows", "all"))
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--dims", default="2,5,10")
    p.add_argument("--ns", default="1024,2048")
    p.add_argument("--starts", default="blob,target")
    p.add_argument("--flow", default="2d,5d")
    args = p.parse_args(argv)
    if args.part in ("grid", "all"):
        grid(args.kinds.split(","), [int(v) for v in args.dims.split(",")], [int(v) for v in args.ns.split(",")],
             args.starts.split(","))
    if args.part in ("accuracy", "all"):
        accuracy()
    if args.part in ("throughput", "all"):
        throughput()
    if args.part in ("interrupt", "all"):
        interrupt()
    if args.part in ("flows", "all"):
        for which in args.flow.split(","):
            flow(which)


if __name__ == "__main__":
    main()
