"""The w1 flow against densities (semi-discrete Apollonius cells): W1 against t, the energy identity
d/dt W1 = -sum_i a_i |drift_i|^2, and plain against clipped Euler near the end.

Runs (forward Euler, ``method="semidiscrete"``, loss w1, warm-started):

* 2-D Gaussian N(0, I), N = 1000 particles from a blob 0.25 N(0, I) + (1.5, 0), to t = 3: h = 0.1 plain and
  clipped (each particle stopped at the median of its cell), and h = 0.05 plain (the identity's residual
  must halve with h: Euler's own O(h) term);
* 2-D uniform box [-1, 1]^2, N = 300 from the same blob, h = 0.1, plain and clipped, to t = 3 (N = 300 to
  keep the whole run under an hour: the blob starts outside the box, and while its particles cross the
  box's edge the warm solves at N = 1000 take 20 - 90 Newton steps);
* 5-D Gaussian N(0, I), N = 1000 from the blob, h = 0.1 to t = 3, timed, with the default quadrature
  (100 samples per particle).

All with the solver's defaults. The blob is far from the density, where the W1 cells are needles along the
transport rays and nearly tie; see :mod:`odeflow.potentials.semidiscrete.apollonius`. The whole run takes
about 40 minutes on a 2-core machine.

Writes figures/w1_density.png and figures/w1_density.json; returns the numbers it shows. ``quick=True``
runs N = 150 (2-D) and N = 200 (5-D) with smaller quadratures, to t = 1, for tests.
"""

from __future__ import annotations

import time

import numpy as np

import odeflow as of
from odeflow.plotting import distance_figure, save
from odeflow.studies.w1_density import w1_density_study

H = 0.1
T_END = 3.0
OFFSET = 1.5
SPREAD = 0.25


def blob(n, dim, rng):
    """N particles from ``0.25 N(0, I) + (1.5, 0, ..., 0)``."""
    x = SPREAD * rng.standard_normal((n, dim))
    x[:, 0] += OFFSET
    return x


def _summary(st):
    t, w = st.t, st.distance
    tail = t >= t[-1] - 0.5
    return {
        "n": st.info["n"], "dim": st.info["dim"], "h": st.info["h"], "clip": st.info["clip"],
        "t": t, "distance": w, "kinetic": st.kinetic, "identity_residual": st.identity_residual,
        "identity_max": st.identity_max, "identity_relative": st.identity_relative,
        "w1_start": float(w[0]), "w1_end": float(w[-1]),
        "min_margin_over_rate1_bound": float(np.min(w - (w[0] - t))),
        "kinetic_end": float(st.kinetic[-1]),
        "overshoots_total": int(st.overshoots.sum()), "overshoots_last_half_unit": int(st.overshoots[tail[:-1]].sum()),
        "median_distance": st.median_distance, "median_distance_end": float(st.median_distance[-1]),
        "w1_tail_oscillation": float(np.max(np.abs(np.diff(w[tail], 2)))) if tail.sum() > 2 else None,
        "seconds": st.info["seconds"], "n_solves": st.info["n_solves"],
        "solver_iterations_mean": st.info["solver_iterations_mean"],
        "solver_seconds_mean": st.info["solver_seconds_mean"],
        "solver_seconds_max": st.info["solver_seconds_max"],
        "last_solver": {k: st.info["solver_info"][k] for k in ("n_samples", "epsilon", "cost_error", "dual_gap",
                                                               "hard_mass_error", "max_mass_error")},
    }


def run(out="figures/w1_density", progress=True, quick=False):
    n2, n_box, n5 = (150, 150, 200) if quick else (1000, 300, 1000)
    s5 = None if not quick else 6000
    t_end = 1.0 if quick else T_END
    gauss2, box2 = of.Gaussian([0.0, 0.0], np.eye(2)), of.UniformBox([-1.0, -1.0], [1.0, 1.0])
    rng = np.random.default_rng(0)
    src2, src_box, src5 = blob(n2, 2, rng), blob(n_box, 2, rng), blob(n5, 5, rng)
    opts = {"rng": 0, "progress": progress}
    studies = {
        "gauss h": w1_density_study(src2, gauss2, h=H, t_end=t_end, **opts),
        "gauss h clip": w1_density_study(src2, gauss2, h=H, t_end=t_end, clip=True, **opts),
        "gauss h/2": w1_density_study(src2, gauss2, h=H / 2, t_end=t_end, **opts),
        "box h": w1_density_study(src_box, box2, h=H, t_end=t_end, **opts),
        "box h clip": w1_density_study(src_box, box2, h=H, t_end=t_end, clip=True, **opts),
    }
    start, cpu = time.perf_counter(), time.process_time()
    studies["gauss5 h"] = w1_density_study(src5, of.Gaussian(np.zeros(5), np.eye(5)), h=H, t_end=t_end,
                                          n_samples=s5, **opts)
    seconds_5d, cpu_seconds_5d = time.perf_counter() - start, time.process_time() - cpu
    ratio = studies["gauss h"].identity_max / studies["gauss h/2"].identity_max
    numbers = {"h": H, "t_end": t_end, "blob": f"{SPREAD} N(0, I) + ({OFFSET}, 0, ...)",
               "identity_residual_ratio_h_over_h2": ratio, "seconds_5d": seconds_5d,
               "cpu_seconds_5d": cpu_seconds_5d,
               "runs": {label: _summary(st) for label, st in studies.items()}}
    save(_figure(studies, t_end), numbers, out)
    return numbers


def _curves(studies, labels, key, styles):
    return [(label, studies[label].t if key != "identity_residual" else studies[label].t[:-1],
             getattr(studies[label], key), style) for label, style in zip(labels, styles)]


def _figure(studies, t_end):
    g = studies["gauss h"]
    t_fine = np.linspace(0.0, t_end, 100)
    bound = ("rate-1 bound $W_1(0) - t$", t_fine, np.maximum(g.distance[0] - t_fine, 0.0), "k:")
    flows = ["gauss h", "gauss h clip", "gauss h/2"]
    styles = ["C0-", "C1-", "C2--"]
    dissipation = [(f"$-\\Delta W_1/\\Delta t$, {label}", st.t[:-1], -np.diff(st.distance) / np.diff(st.t), s)
                   for label, st, s in ((lab, studies[lab], s) for lab, s in zip(["gauss h", "gauss h/2"],
                                                                                  ["C0o", "C2."]))]
    kinetic = [("$K = \\sum a_i |drift_i|^2$, h", g.t, g.kinetic, "k-")]
    return distance_figure({
        f"2-D Gaussian, N = {g.info['n']}: W1": {"curves": _curves(studies, flows, "distance", styles) + [bound],
                                                "ylabel": "W1"},
        "energy identity $dW_1/dt = -K$": {"curves": dissipation + kinetic, "ylabel": "rate"},
        "identity residual $(W_{n+1}-W_n)/h + K_n$ (O(h))": {
            "curves": _curves(studies, ["gauss h", "gauss h/2"], "identity_residual", ["C0-", "C2--"]),
            "ylabel": "residual"},
        "near the end: mean distance to the cell medians": {
            "curves": _curves(studies, ["gauss h", "gauss h clip", "box h", "box h clip"], "median_distance",
                              ["C0-", "C1-", "C3-", "C4-"]), "ylabel": "mean |x - median|", "log": True},
        f"box [-1,1]^2 (N = {studies['box h'].info['n']}) and 5-D Gaussian (N = {studies['gauss5 h'].info['n']})": {
            "curves": _curves(studies, ["box h", "box h clip", "gauss5 h"], "distance", ["C3-", "C4-", "C5-"]),
            "ylabel": "W1", "log": True},
    })


def report(numbers):
    header = (f"  {'run':14s} {'N':>5} {'d':>2} {'W1_0':>7} {'W1_end':>8} {'id. max':>9} {'id./maxK':>9} "
              f"{'overshoots':>10} {'|x-med| end':>11} {'it/solve':>8} {'s/solve':>7} {'s':>7}")
    lines = [f"w1_density: blob {numbers['blob']} -> densities, Euler, t_end = {numbers['t_end']:g}", header]
    for label, r in numbers["runs"].items():
        lines.append(f"  {label:14s} {r['n']:5d} {r['dim']:2d} {r['w1_start']:7.4f} {r['w1_end']:8.5f} "
                     f"{r['identity_max']:9.2e} {r['identity_relative']:9.2e} {r['overshoots_total']:10d} "
                     f"{r['median_distance_end']:11.2e} {r['solver_iterations_mean']:8.1f} "
                     f"{r['solver_seconds_mean']:7.2f} {r['seconds']:7.1f}")
    lines.append(f"  identity residual max, h over h/2: {numbers['identity_residual_ratio_h_over_h2']:.2f} "
                 f"(2 = first order); 5-D run: {numbers['seconds_5d']:.0f} s wall, {numbers['cpu_seconds_5d']:.0f} s CPU")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
