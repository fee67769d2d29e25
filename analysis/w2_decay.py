"""W2 against time for N particles flowing (forward Euler, w2) to a target law on the unit square:
decay like e^{-t} down to the quantization floor, the floor against N, and the energy identity
d/dt W2^2 = -2 W2^2 + 2V (docs/theory.rst §3.2) along every run.

The target is the density ``UniformBox([0, 0], [1, 1])`` with ``method="semidiscrete"`` (exact 2-D path:
polygonal Laguerre cells, so W2 and the within-cell variance V are exact up to the mass tolerance 1e-9), for
N in {100, 1000, 10000}; the quick version (``make demo``) runs N in {100, 1000} to t = 6. The target is a
parameter (a cloud with ``method="exact"`` runs the same study on the LP).

The same study against a Gaussian density (``GAUSSIAN_TARGET``, anisotropic, exact 2-D path ``exact2d``: cells
clipped to a box outside of which the mass is below 1e-16) for N in {100, 1000, 10000} gives the rate and the
quantization floor there; it writes figures/w2_decay_gaussian.* and its numbers go under ``"gaussian"``.

Euler's own decay rate is ``log(1-h)/h`` (-1.0127 at h = 0.025): both it and -1 are reported.

Writes figures/w2_decay.png and figures/w2_decay.json; returns the numbers it shows.
"""

from __future__ import annotations

import numpy as np

import odeflow as of
from odeflow import convergence as cv
from odeflow.plotting import decay_figure, save

H = 0.025
T_END = 8.0
DENSITY_NS = (100, 1000, 10000)
QUICK_NS = (100, 1000)
#: the Gaussian density of the second study (centred on the unit square, anisotropic)
GAUSSIAN_TARGET = of.Gaussian([0.5, 0.5], [[0.08, 0.02], [0.02, 0.05]])
GAUSSIAN_DESCRIPTION = "Gaussian([0.5,0.5], [[0.08,0.02],[0.02,0.05]]) density, exact 2-D semi-discrete"
FLOOR_FACTOR = 10.0


def source(n, rng):
    """N particles from a small Gaussian blob beside the unit square (W2_0 about 1.2)."""
    return of.Cloud(0.15 * rng.standard_normal((n, 2)) + [-0.3, 1.4])


def default_problem(quick=False):
    """(target, method, ns, description)."""
    return (of.UniformBox([0.0, 0.0], [1.0, 1.0]), "semidiscrete", QUICK_NS if quick else DENSITY_NS,
            "UniformBox([0,0],[1,1]) density, exact 2-D semi-discrete")


def run(out="figures/w2_decay", progress=True, quick=False, target=None, method=None, ns=None, h=H, t_end=None,
        gaussian=True, **options):
    """The box study (or ``target``'s); with the default target and ``gaussian``, also the Gaussian study,
    written to ``out + "_gaussian"`` and returned under ``numbers["gaussian"]``."""
    d_target, d_method, d_ns, description = default_problem(quick)
    default = target is None
    if default:
        target, method = d_target, method or d_method
    else:
        description = repr(target)
    numbers = _study(out, progress, quick, target, method, ns or d_ns, h, t_end, description, **options)
    if default and gaussian:
        numbers["gaussian"] = _study(out + "_gaussian", progress, quick, GAUSSIAN_TARGET, "semidiscrete",
                                     ns or d_ns, h, t_end, GAUSSIAN_DESCRIPTION, **options)
    return numbers


def _study(out, progress, quick, target, method, ns, h, t_end, description, **options):
    method = method or "auto"
    ns = tuple(ns)
    t_end = t_end or (6.0 if quick else T_END)
    rng = np.random.default_rng(0)
    sources = {n: source(n, rng) for n in ns}
    studies = {}
    for n in ns:
        studies[f"N = {n}"] = cv.decay_study(sources[n], target, method=method, h=h, t_end=t_end,
                                             floor_factor=FLOOR_FACTOR, rng=0, progress=progress, **options)
    # The identity's residual is time-discretisation error: halve h on the smallest problem (to t = 2).
    n0 = ns[0]
    check = {f"N = {n0}, h/2": cv.decay_study(sources[n0], target, method=method, h=h / 2, t_end=2.0,
                                               floor_factor=FLOOR_FACTOR, rng=0, progress=progress, **options),
             f"N = {n0}, h": cv.decay_study(sources[n0], target, method=method, h=h, t_end=2.0,
                                            floor_factor=FLOOR_FACTOR, rng=0, progress=progress, **options)}
    halving = check[f"N = {n0}, h"].identity_max / check[f"N = {n0}, h/2"].identity_max
    ns_arr = np.array(ns, dtype=float)
    floors = np.array([st.floor for st in studies.values()])
    numbers = {
        "target": description, "method": method, "scheme": "euler", "h": h, "t_end": t_end,
        "floor_factor": FLOOR_FACTOR, "euler_rate_log1mh_over_h": float(np.log1p(-h) / h),
        "floor_slope_vs_n": float(np.polyfit(np.log(ns_arr), np.log(floors), 1)[0]) if len(ns) > 1 else None,
        "floor_times_sqrt_n": (floors * np.sqrt(ns_arr)).tolist(),
        "identity_residual_ratio_h_over_h2": halving,
        "runs": {},
    }
    for label, st in studies.items():
        numbers["runs"][label] = {
            "n": st.info["n"], "rate": st.rate, "rate_interval": st.rate_interval, "window": st.window,
            "floor": st.floor, "sqrt_v_end": float(np.sqrt(st.variance[-1])), "floor_reached": st.floor_reached,
            "identity_max": st.identity_max, "identity_euler_excess": st.identity_euler_excess,
            "one_step_violation": st.one_step_violation, "variance_source": st.info["variance_source"],
            "seconds": st.info["seconds"], "n_solves": st.info["n_solves"],
            "t": st.t, "distance": st.distance, "variance": st.variance,
        }
    fig = decay_figure(studies, identity={f"N = {n0}, h/2 (t <= 2)": check[f"N = {n0}, h/2"]})
    fig.suptitle(f"w2 flow, forward Euler h = {h:g}, target: {description}", fontsize=10)
    save(fig, numbers, out)
    return numbers


def report(numbers):
    text = _report(numbers)
    if "gaussian" in numbers:
        text += "\n" + _report(numbers["gaussian"])
    return text


def _report(numbers):
    lines = [f"w2_decay: Euler h = {numbers['h']:g} to t = {numbers['t_end']:g}, target {numbers['target']} "
             f"({numbers['method']})",
             f"  fit of log W2 on t while W2 >= {numbers['floor_factor']:g} x floor; Euler's own rate log(1-h)/h = "
             f"{numbers['euler_rate_log1mh_over_h']:.4f}",
             f"  {'N':>6} {'rate':>8} {'95% interval':>20} {'|rate+1|':>9} {'window':>12} {'floor':>9} "
             f"{'sqrt(V)':>9} {'|r-e_h|':>8} {'id. max':>9} {'id. excess':>10} {'1-step viol.':>12} {'s':>6}"]
    for r in numbers["runs"].values():
        lines.append(
            f"  {r['n']:6d} {r['rate']:8.4f} [{r['rate_interval'][0]:8.4f}, {r['rate_interval'][1]:8.4f}] "
            f"{abs(r['rate'] + 1):9.4f} {r['window'][0]:5.2f}-{r['window'][1]:5.2f} {r['floor']:9.4g} "
            f"{r['sqrt_v_end']:9.4g} {abs(r['rate'] - numbers['euler_rate_log1mh_over_h']):8.4f} {r['identity_max']:9.2e} {r['identity_euler_excess']:10.2e} "
            f"{r['one_step_violation']:12.1e} {r['seconds']:6.1f}")
    if numbers["floor_slope_vs_n"] is not None:
        lines.append(f"  floor ~ N^{numbers['floor_slope_vs_n']:.3f}  (N^(-1/2) expected against a 2-D density); "
                     f"floor * sqrt(N) = {', '.join(f'{v:.3f}' for v in numbers['floor_times_sqrt_n'])}")
    lines.append(f"  identity residual max at h over at h/2 (t <= 2): {numbers['identity_residual_ratio_h_over_h2']:.3f} "
                 f"(2 = first order in h)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
