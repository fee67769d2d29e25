"""Semi-discrete solves side by side with sdot, and an independent Monte Carlo check of odeflow's duals.

1. Speed against sdot (damped Newton in C++/JAX), same inputs, same run:

   * an isotropic 2-D Gaussian, ``N = 10^4``, odeflow's ``exact2d`` path at ``tol = 1e-9``;
   * the 3-D unit cube, ``N = 10^4``, odeflow's ``exact3d`` path at ``tol = 1e-9``.

   odeflow's ``tol`` bounds the *relative* cell-mass error ``max |m_i - a_i| / a_i``; sdot's ``tol`` bounds the
   *absolute* error ``max |m_i - a_i|``. sdot is timed at both ``tol = 1e-9`` (its own meaning, 10^4 times
   looser here) and ``tol = 1e-9 / N`` (the same criterion as odeflow's); the ratio odeflow/sdot is printed
   against each. Times are best-of-k CPU seconds per solve (the machine is shared, so CPU time is steadier than
   wall time); wall seconds are printed beside them.

   sdot runs in a subprocess of a Python 3.12 virtual environment (its wheel imports on 3.12 only and needs
   ``jax``, which it does not declare). The interpreter is ``$SDOT_PYTHON`` if set; otherwise the environment
   ``out/sdot-venv`` is built once (``python3.12 -m venv`` then ``pip install sdot jax jaxlib``; the 3.12 found
   on PATH, in ``$PYTHON312`` or among pyenv's versions) and reused.
   Where neither works the comparison is skipped with a message saying why.

2. Independent check of odeflow's results (numpy and scipy only, no odeflow code): the cells are rebuilt from
   the returned duals ``psi`` alone, each of ``M = 4e6`` samples of the density (drawn by numpy from the
   density's parameters) going to ``argmin_i |y - x_i|^2 / 2 - psi_i`` (a KD-tree on the lifted points). The
   relative mass errors ``count_i / (M a_i) - 1`` are compared with their Monte Carlo standard error
   ``sqrt((1 - a_i) / (M a_i))``, and the returned ``targets`` with the Monte Carlo centroids of the cells
   (z-scores at each cell's own standard error). Cases: an anisotropic 2-D Gaussian (``N = 10^4``), a
   3-component 2-D mixture (``N = 3000``) and the 3-D unit cube (``N = 10^4``), all at ``tol = 1e-9``.

Measured once (2-core machine shared by several jobs; CPU seconds, best of 3): Gaussian N = 10^4, odeflow
0.60 s vs sdot 0.62 s (tol 1e-9 abs.) / 0.68 s (tol 1e-13 abs.), ratio 0.97 / 0.88; cube N = 10^4, odeflow
1.22 s vs sdot 1.70 / 1.67 s, ratio 0.72 / 0.73. sdot's Gaussian masses stop at a relative error of 3.9e-9
whatever its tol (its Gaussian has a declared support of 6 sigma). Monte Carlo, rms relative mass error over its
standard error 0.99 (Gaussian), 1.00 (mixture), 1.01 (cube); mean centroid z^2 1.008, 1.011, 0.998.

Run: ``python -m benchmarks.sdot_compare`` (``--quick`` for a smaller run).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.spatial import cKDTree

import odeflow as of

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV = ROOT / "out" / "sdot-venv"
TOL = 1e-9

_SDOT_WORKER = r"""
import json, sys, time
import numpy as np
import sdot
data = np.load(sys.argv[1])
x, case, repeat = data["x"], str(data["case"]), int(data["repeat"])
out = {}
for tol in [float(t) for t in data["tols"]]:
    if case == "gauss":
        target = lambda: sdot.SumOfGaussians(data["mean"][None, :], np.array([float(data["sigma"])]))
    else:
        target = lambda: sdot.Box()
    sdot.ot_solve(sdot.SumOfDiracs(x[:200]), target(), tol=1e-6)  # compile / load the kernels
    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        plan = sdot.ot_solve(sdot.SumOfDiracs(x), target(), tol=tol)
        m = np.asarray(plan.cell_masses, dtype=float)
        best_cpu = min(best_cpu, time.process_time() - c)
        best_wall = min(best_wall, time.perf_counter() - w)
    a = np.full(x.shape[0], 1.0 / x.shape[0])
    out[repr(tol)] = dict(cpu=best_cpu, wall=best_wall, converged=bool(plan.converged),
                          status=str(plan.stats.get("status", "?")), rel_err=float(np.max(np.abs(m - a) / a)))
print("SDOT_JSON " + json.dumps(out))
"""


def sdot_python():
    """The interpreter of a Python 3.12 environment with sdot and jax, or ``(None, reason)``."""
    env = os.environ.get("SDOT_PYTHON")
    if env:
        return (env, "") if pathlib.Path(env).exists() else (None, f"$SDOT_PYTHON={env} does not exist")
    py = VENV / "bin" / "python"
    if py.exists() and _imports_sdot(py):
        return str(py), ""
    base = python312()
    if base is None:
        return None, ("no working Python 3.12 (PATH, $PYTHON312, pyenv versions; the sdot wheel imports on "
                      "3.12 only): set $SDOT_PYTHON to an interpreter with sdot and jax")
    print(f"  building {VENV} (python3.12 -m venv; pip install sdot jax jaxlib): once, a few minutes")
    try:
        subprocess.run([base, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "sdot", "jax", "jaxlib"], check=True,
                       capture_output=True, timeout=1200)
    except (subprocess.SubprocessError, OSError) as err:
        return None, f"could not build {VENV}: {str(err)[:200]}"
    return (str(py), "") if _imports_sdot(py) else (None, f"sdot does not import in {VENV}")


def python312():
    """A Python 3.12 interpreter that runs (a pyenv shim on PATH may not), or None."""
    found = [os.environ.get("PYTHON312"), shutil.which("python3.12"), "/usr/bin/python3.12"]
    found += sorted(str(p) for p in pathlib.Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    for cand in filter(None, found):
        try:
            ok = subprocess.run([cand, "-c", "import sys, venv; assert sys.version_info[:2] == (3, 12)"],
                                capture_output=True, timeout=60).returncode == 0
        except (subprocess.SubprocessError, OSError):
            ok = False
        if ok:
            return cand
    return None


def _imports_sdot(py):
    try:
        return subprocess.run([str(py), "-c", "import sdot"], capture_output=True, timeout=300).returncode == 0
    except (subprocess.SubprocessError, OSError):
        return False


def run_sdot(py, x, case, tols, repeat, **params):
    """Best-of-``repeat`` CPU/wall seconds of ``sdot.ot_solve`` on ``x`` for each tolerance (a subprocess)."""
    with tempfile.TemporaryDirectory() as tmp:
        inp = pathlib.Path(tmp) / "in.npz"
        np.savez(inp, x=x, case=case, repeat=repeat, tols=np.asarray(tols, float), **params)
        script = pathlib.Path(tmp) / "worker.py"
        script.write_text(_SDOT_WORKER)
        res = subprocess.run([py, str(script), str(inp)], capture_output=True, text=True, timeout=1800)
    for line in res.stdout.splitlines():
        if line.startswith("SDOT_JSON "):
            return json.loads(line[len("SDOT_JSON "):]), ""
    return None, (res.stderr.strip().splitlines() or ["no output"])[-1][:300]


def time_odeflow(x, target, repeat):
    """Best-of-``repeat`` CPU and wall seconds of odeflow's exact solve at ``tol = 1e-9``, and the result."""
    of.kantorovich(x[:200], target, method="semidiscrete")  # compile / load the kernels
    best_cpu, best_wall, pot = float("inf"), float("inf"), None
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        pot = of.kantorovich(x, target, method="semidiscrete", tol=TOL)
        best_cpu = min(best_cpu, time.process_time() - c)
        best_wall = min(best_wall, time.perf_counter() - w)
    return best_cpu, best_wall, pot


def compare_speed(n=10_000, repeat=3):
    rng = np.random.default_rng(0)
    mean, sigma = np.array([0.5, 0.5]), 0.2
    cases = [("isotropic 2-D Gaussian", "gauss", mean + sigma * rng.standard_normal((n, 2)),
              of.Gaussian(mean, sigma**2 * np.eye(2)), dict(mean=mean, sigma=sigma)),
             ("3-D unit cube", "box", rng.random((n, 3)), of.UniformBox(np.zeros(3), np.ones(3)), {})]
    print(f"odeflow vs sdot, N = {n}, best of {repeat} (CPU s per solve; wall in brackets; machine shared)")
    py, why = sdot_python()
    if py is None:
        print(f"  sdot skipped: {why}")
    for label, case, x, target, params in cases:
        cpu, wall, pot = time_odeflow(x, target, repeat)
        info = pot.info
        print(f"  {label}: odeflow {info['path']} {cpu:.3f} s ({wall:.3f}), {info['iterations']} Newton "
              f"iterations, status {info['status']}, max rel. mass error {info['max_mass_error']:.1e}")
        if py is None:
            continue
        tols = [TOL, TOL / n]
        res, err = run_sdot(py, x, case, tols, repeat, **params)
        if res is None:
            print(f"    sdot failed: {err}")
            continue
        for tol in tols:
            r = res[repr(tol)]
            print(f"    sdot tol {tol:.0e} (abs.): {r['cpu']:.3f} s ({r['wall']:.3f}), {r['status']}, "
                  f"max rel. mass error {r['rel_err']:.1e}; ratio odeflow/sdot CPU {cpu / r['cpu']:.2f} "
                  f"(wall {wall / r['wall']:.2f})")


def _sample_gaussian(rng, m, mean, cov):
    return mean + rng.standard_normal((m, mean.size)) @ np.linalg.cholesky(cov).T


def _sample_mixture(rng, m, means, covs, weights):
    comp = rng.choice(len(weights), size=m, p=weights)
    y = np.empty((m, means.shape[1]))
    for k in range(len(weights)):
        idx = np.flatnonzero(comp == k)
        y[idx] = _sample_gaussian(rng, idx.size, means[k], covs[k])
    return y


def mc_check(x, psi, targets, sampler, m, rng, chunk=500_000):
    """Rebuild the cells of ``psi`` by Monte Carlo: relative mass errors and centroid z-scores."""
    n, d = x.shape
    lift = np.sqrt(np.max(2 * psi) - 2 * psi)  # |y - x_i|^2 + lift_i^2 = 2 (|y - x_i|^2 / 2 - psi_i) + const
    tree = cKDTree(np.column_stack([x, lift]))
    count, mom, sq = np.zeros(n), np.zeros((n, d)), np.zeros(n)
    done = 0
    while done < m:
        k = min(chunk, m - done)
        y = sampler(rng, k)
        _, idx = tree.query(np.column_stack([y, np.zeros(k)]), workers=1)
        count += np.bincount(idx, minlength=n)
        for c in range(d):
            mom[:, c] += np.bincount(idx, weights=y[:, c], minlength=n)
        sq += np.bincount(idx, weights=np.sum(y * y, 1), minlength=n)
        done += k
    a = 1.0 / n
    rel = count / (m * a) - 1
    se = np.sqrt((1 - a) / (m * a))
    cen = mom / np.maximum(count, 1)[:, None]
    var = (sq / np.maximum(count, 1) - np.sum(cen**2, 1)) / d  # per-coordinate variance within the cell
    zc = (cen - targets) / np.sqrt(var / np.maximum(count, 1))[:, None]
    return rel, se, zc


def independent_checks(m=4_000_000, sizes=(10_000, 3000, 10_000)):
    rng = np.random.default_rng(11)
    mean, cov = np.array([0.3, -0.2]), np.array([[1.0, 0.6], [0.6, 0.5]])
    means = np.array([[-1.0, 0.0], [1.0, 0.5], [0.0, -1.2]])
    covs = np.array([[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]], [[0.15, 0.0], [0.0, 0.1]]])
    w = np.array([0.5, 0.3, 0.2])
    cases = [
        ("anisotropic 2-D Gaussian", of.Gaussian(mean, cov), lambda r, k: _sample_gaussian(r, k, mean, cov)),
        ("3-component 2-D mixture", of.GaussianMixture(means, covs, w),
         lambda r, k: _sample_mixture(r, k, means, covs, w)),
        ("3-D unit cube", of.UniformBox(np.zeros(3), np.ones(3)), lambda r, k: r.random((k, 3))),
    ]
    print(f"independent Monte Carlo check of odeflow's duals ({m:.0e} samples; cells rebuilt from psi alone)")
    print(f"  {'case':<26} {'N':>6} {'path':>8} {'solve s':>8} {'claimed':>9} {'MC se':>7} {'rms rel':>8} "
          f"{'max rel':>8} {'max|z|':>7} {'centroid z^2':>12}")
    for (label, target, sampler), n in zip(cases, sizes):
        x = sampler(np.random.default_rng(n), n)  # particles drawn from the density itself
        t = time.perf_counter()
        pot = of.kantorovich(x, target, method="semidiscrete", tol=TOL)
        sec = time.perf_counter() - t
        rel, se, zc = mc_check(x, pot.f, pot.targets, sampler, m, rng)
        print(f"  {label:<26} {n:6d} {pot.info['path']:>8} {sec:8.2f} {pot.info['max_mass_error']:9.1e} "
              f"{se:7.4f} {np.sqrt(np.mean(rel**2)):8.4f} {np.max(np.abs(rel)):8.4f} {np.max(np.abs(rel)) / se:7.2f} "
              f"{np.mean(zc**2):12.3f}")
    print("  (rms rel / se ~ 1 and max|z| ~ 4 for 10^4 cells mean the masses agree to Monte Carlo accuracy; "
          "mean centroid z^2 ~ 1 means the targets are the cells' centroids)")


def main(quick=False):
    compare_speed(n=2000 if quick else 10_000, repeat=2 if quick else 3)
    independent_checks(m=400_000 if quick else 4_000_000, sizes=(2000, 1000, 2000) if quick else (10_000, 3000, 10_000))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
