"""Flows driven by approximate Kantorovich potentials, against the exact flow.

A reviewer asked whether the convergence of the particle flow survives when the potential is only
approximated (in practice by a neural critic, never exact). This module answers it by measurement: it runs
forward Euler ``x <- x + h v`` with an approximate drift ``v`` and compares the particles with the exact
flow, as functions of the step ``h`` and of the size of the potential's error.

Setting
-------
w2 between equal-size uniform clouds, where the exact flow is known in closed form,
``x_i(t) = y_s(i) + e^{-t} (x_i(0) - y_s(i))`` (:func:`odeflow.convergence.exact_reference`). Errors use the
particle correspondence, ``e(t) = sqrt(sum_i a_i |x_i(t) - x_i^ref(t)|^2)`` (an upper bound of W2):
``error_end = e(T)`` and ``error_sup = max_n e(t_n)``.

Sources of potential error
--------------------------
``"adversarial"``  the exact drift plus ``delta u_i`` with ``u_i`` the unit vector from the reference
                   position to the particle (away from the exact flow: the direction that grows the error
                   fastest; ``-v_i / |v_i|`` while the particle is on the reference);
``"random"``       the exact drift plus ``delta u_i`` with ``u_i`` uniform on the unit sphere, drawn afresh
                   for every particle at every step (a noisy critic);
``"entropic"``     ``method="entropic"`` (:mod:`odeflow.potentials.entropic`) with regularisation
                   ``epsilon``, plain or debiased. Its potential error is measured, not set: the RMS
                   difference with the exact drift at the same positions, ``delta = max_n sqrt(sum_i a_i
                   |v_i^eps - v_i|^2)`` (and its mean over the steps).

For the perturbations ``sqrt(sum_i a_i |v_i - v_i^exact|^2) = delta`` exactly, so every source is placed on
the same axis. The sampled semi-discrete quadrature (a density target) is left out: that path is being
rebuilt.

What to expect
--------------
The exact flow contracts: two w2 flows on equal-size clouds with the same assignment approach each other at
rate 1, so a drift error of size ``delta`` moves the end state by at most ``delta (1 - e^{-T})``
(Grönwall), and the Euler error is ``(T e^{-T} / 2) h W2_0 + O(h^2)`` (THEORY 3.1). Hence the law
``error <= C1 h + C2 delta``, with equality for the adversarial source; a random source averages over steps,
``error^2 ~ (C1 h)^2 + C2^2 delta^2 h``. :func:`fit_law` fits each candidate form with confidence intervals,
and :func:`approximation_study` reports which fits the data.

Examples
--------
>>> import numpy as np, odeflow as of
>>> rng = np.random.default_rng(0)
>>> src, tgt = of.Cloud(rng.standard_normal((8, 2))), of.Cloud(rng.standard_normal((8, 2)) + 2)
>>> run = perturbed_flow(src, tgt, h=0.1, t_end=1.0, delta=0.05, mode="adversarial")
>>> bool(run.error_end > 0.05 * (1 - np.exp(-1.0)) * 0.9)
True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import stats

from .._checks import as_rng, check_choice, check_real
from .convergence import exact_reference, fit_order
from ..measures import Cloud, as_cloud
from ..potentials import make_solver, wasserstein
from ..simulate import step_sizes

MODES = ("adversarial", "random")
#: The entropic end-state bias is fitted over epsilon <= BIAS_FIT_MAX (larger ones saturate: the blur is
#: then comparable to the target's spread).
BIAS_FIT_MAX = 0.01
#: Candidate laws for the error as a function of the step h and the potential error delta (see fit_law).
FORMS = {
    "additive": "error = C1 h + C2 delta",
    "quadrature": "error^2 = (C1 h)^2 + (C2 delta)^2",
    "diffusive": "error^2 = (C1 h)^2 + C2^2 delta^2 h",
}


# --- one run ---------------------------------------------------------------------------------------

class FlowError(NamedTuple):
    """Errors of one Euler run against the reference flow."""

    t: np.ndarray  #: times t_0 = 0, ..., t_n = T
    error: np.ndarray  #: e(t_k), particle correspondence
    error_end: float
    error_sup: float
    potential_error: float  #: max over steps of the RMS drift error (delta for the perturbations)
    potential_error_mean: float
    final: np.ndarray  #: particles at T
    seconds: float


def _rms(d, w):
    return math.sqrt(float(np.dot(w, np.einsum("ij,ij->i", d, d))))


def _w2(x, y, w):
    """Exact W2 between two clouds with the same weights (network simplex)."""
    return wasserstein(Cloud._trusted(x, w), Cloud._trusted(np.ascontiguousarray(y), w), p=2)


def euler_run(src: Cloud, reference, drift, h: float, t_end: float) -> FlowError:
    """Forward Euler ``x <- x + h drift(x, t)`` from ``src`` against ``reference.at(t)`` (particle arrays).

    ``drift(x, t) -> (v, v_exact)``: the drift that moves the particles and the exact one at the same
    positions (None when not known; then the potential error is NaN). Steps as in :func:`odeflow.simulate`
    (:func:`odeflow.simulate.step_sizes`): with the exact drift the positions are those of
    ``simulate(..., scheme="euler")``, bit for bit.

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> from odeflow.convergence import exact_reference
    >>> src, tgt = of.Cloud([[0.0, 0.0]]), of.Cloud([[1.0, 0.0]])
    >>> run = euler_run(src, exact_reference(src, tgt), lambda x, t: (tgt.points - x, None), 0.5, 1.0)
    >>> run.final.tolist(), round(run.error_end, 6)    # (1 - 0.5)^2 against e^{-1}
    ([[0.75, 0.0]], 0.117879)
    """
    start = time.perf_counter()
    w = src.weights
    x = np.array(src.points)
    hs = step_sizes(h, t_end)
    times = np.concatenate([[0.0], np.cumsum(hs)])
    times[-1] = t_end
    errors, gaps = [_w2(x, reference.at(0.0), w)], []
    for k, step in enumerate(hs):
        v, v_exact = drift(x, times[k])
        gaps.append(_rms(v - v_exact, w) if v_exact is not None else np.nan)
        x = x + step * v
        errors.append(_w2(x, reference.at(times[k + 1]), w))
    errors = np.asarray(errors)
    gaps = np.asarray(gaps)
    return FlowError(times, errors, float(errors[-1]), float(errors.max()), float(np.max(gaps)),
                     float(np.mean(gaps)), x, time.perf_counter() - start)


def _exact_solver(tgt, dim):
    return make_solver(dim, tgt, "w2", "exact")


def _check_solve(pot, what):
    if not pot.success:
        raise RuntimeError(f"{what}: the potential solver failed: {pot.info.get('message')}")
    return pot


def perturbed_flow(src, tgt, *, h, t_end, delta, mode="adversarial", rng=None) -> FlowError:
    """Euler with the exact w2 drift plus a perturbation of size ``delta`` (see the module docstring).

    Parameters
    ----------
    src, tgt : equal-size uniform clouds (the exact flow is then known)
    h, t_end : step and final time
    delta : float, >= 0
        Size of the perturbation: every particle's drift is moved by exactly ``delta``.
    mode : {"adversarial", "random"}
    rng : seed or Generator (random mode)

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> src, tgt = of.Cloud([[0.0, 0.0], [1.0, 0.0]]), of.Cloud([[0.0, 2.0], [1.0, 2.0]])
    >>> run = perturbed_flow(src, tgt, h=0.1, t_end=1.0, delta=0.0)
    >>> round(run.potential_error, 12), bool(run.error_end < 0.1)
    (0.0, True)
    """
    src, tgt = as_cloud(src, "src"), as_cloud(tgt, "tgt")
    delta = check_real(delta, "delta", nonneg=True)
    check_choice(mode, "mode", MODES)
    rng = as_rng(rng)
    ref = exact_reference(src, tgt)  # validates: equal-size uniform clouds
    solver = _exact_solver(tgt, src.dim)
    w = src.weights

    def drift(x, t):
        v = _check_solve(solver(Cloud._trusted(x, w)), "perturbed_flow").drift
        if delta == 0.0:
            return v, v
        if mode == "random":
            u = rng.standard_normal(x.shape)
        else:
            u = x - ref.at(t)
            still = np.einsum("ij,ij->i", u, u) <= (1e-14 * (1.0 + np.abs(x).max())) ** 2
            u[still] = -v[still]
        norm = np.sqrt(np.einsum("ij,ij->i", u, u))
        u = np.divide(u, norm[:, None], out=np.zeros_like(u), where=norm[:, None] > 0)
        return v + delta * u, v

    return euler_run(src, ref, drift, h, t_end)


def entropic_flow(src, tgt, *, h, t_end, epsilon, debias=True, **options) -> FlowError:
    """Euler with the entropic drift (``method="entropic"``), its potential error measured against the
    exact drift at the same positions at every step.

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> rng = np.random.default_rng(1)
    >>> src, tgt = of.Cloud(rng.standard_normal((6, 2))), of.Cloud(rng.standard_normal((6, 2)) + 2)
    >>> run = entropic_flow(src, tgt, h=0.25, t_end=1.0, epsilon=1e-3)
    >>> bool(run.potential_error < 1e-2)
    True
    """
    src, tgt = as_cloud(src, "src"), as_cloud(tgt, "tgt")
    ref = exact_reference(src, tgt)
    approx = make_solver(src.dim, tgt, "w2", "entropic", epsilon=epsilon, debias=debias, **options)
    exact = _exact_solver(tgt, src.dim)
    w = src.weights

    def drift(x, t):
        cloud = Cloud._trusted(x, w)
        return (_check_solve(approx(cloud), "entropic_flow").drift,
                _check_solve(exact(cloud), "entropic_flow").drift)

    return euler_run(src, ref, drift, h, t_end)


# --- the law -----------------------------------------------------------------------------------------

class LawFit(NamedTuple):
    """A fitted law ``error(h, delta)`` with confidence intervals on its two constants."""

    form: str  #: a key of FORMS
    c1: float
    c2: float
    interval1: tuple
    interval2: tuple
    residual: float  #: RMS of (fitted / measured - 1) over the points
    max_residual: float
    n: int
    confidence: float

    def predict(self, h, delta):
        """The fitted error at ``(h, delta)`` (arrays broadcast)."""
        h, delta = np.asarray(h, dtype=np.float64), np.asarray(delta, dtype=np.float64)
        if self.form == "additive":
            return self.c1 * h + self.c2 * delta
        extra = delta**2 * (h if self.form == "diffusive" else 1.0)
        return np.sqrt((self.c1 * h) ** 2 + self.c2**2 * extra)

    def __repr__(self) -> str:
        return (f"LawFit({FORMS[self.form]}: C1 = {self.c1:.4g} [{self.interval1[0]:.4g}, {self.interval1[1]:.4g}], "
                f"C2 = {self.c2:.4g} [{self.interval2[0]:.4g}, {self.interval2[1]:.4g}], "
                f"relative residual {self.residual:.3f}, n={self.n})")


def fit_law(hs, deltas, errors, form="additive", *, confidence=0.95) -> LawFit:
    """Fit ``errors`` as a function of ``(h, delta)`` by least squares relative to each error.

    ``"additive"``: ``e = C1 h + C2 delta``, weighted least squares on ``e`` with weights ``1/e``.
    ``"quadrature"`` / ``"diffusive"``: ``e^2 = A h^2 + B delta^2 (h)``, linear in ``(A, B)``, weights ``1/e^2``;
    ``C1 = sqrt(A)``, ``C2 = sqrt(B)`` (intervals mapped through the square root, clipped at 0). Intervals:
    Student's t with ``n - 2`` degrees of freedom on the weighted regression's standard errors.

    Examples
    --------
    >>> fit = fit_law([0.1, 0.05, 0.1, 0.05], [0.0, 0.0, 0.01, 0.02], [0.03, 0.015, 0.035, 0.025])
    >>> round(fit.c1, 9), round(fit.c2, 9), fit.residual < 1e-9
    (0.3, 0.5, True)
    """
    check_choice(form, "form", FORMS)
    h = np.asarray(hs, dtype=np.float64)
    d = np.asarray(deltas, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if not (h.shape == d.shape == e.shape and h.ndim == 1):
        raise ValueError(f"errors: hs, deltas and errors must be 1-D of one length, got shapes {h.shape}, "
                         f"{d.shape}, {e.shape}")
    if h.size < 3:
        raise ValueError(f"errors: a fit with intervals needs at least 3 points, got {h.size}")
    if np.any(e <= 0) or np.any(h <= 0) or np.any(d < 0) or not np.all(np.isfinite(e)):
        raise ValueError("errors: need errors > 0, hs > 0 and deltas >= 0")
    if form == "additive":
        X, y, wt = np.column_stack([h, d]), e, 1.0 / e
    else:
        X, y, wt = np.column_stack([h**2, d**2 * (h if form == "diffusive" else 1.0)]), e**2, 1.0 / e**2
    Xw, yw = X * wt[:, None], y * wt
    coef, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    dof = h.size - 2
    resid = yw - Xw @ coef
    sigma2 = float(resid @ resid) / dof if dof > 0 else np.nan
    cov = sigma2 * np.linalg.pinv(Xw.T @ Xw)
    half = stats.t.ppf(0.5 + confidence / 2.0, dof) * np.sqrt(np.maximum(np.diag(cov), 0.0))
    lo, hi = coef - half, coef + half
    if form != "additive":
        coef, lo, hi = np.sqrt(np.maximum(coef, 0.0)), np.sqrt(np.maximum(lo, 0.0)), np.sqrt(np.maximum(hi, 0.0))
    fit = LawFit(form, float(coef[0]), float(coef[1]), (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])),
                 0.0, 0.0, int(h.size), float(confidence))
    rel = fit.predict(h, d) / e - 1.0
    return fit._replace(residual=float(np.sqrt(np.mean(rel**2))), max_residual=float(np.max(np.abs(rel))))


def best_law(hs, deltas, errors, forms=tuple(FORMS), **kw) -> tuple[LawFit, dict]:
    """Fit every form in ``forms``; return the one with the smallest relative residual, and all of them.

    >>> best, fits = best_law([0.1, 0.05, 0.1, 0.05], [0.0, 0.0, 0.01, 0.02], [0.03, 0.015, 0.035, 0.025])
    >>> best.form, sorted(fits)
    ('additive', ['additive', 'diffusive', 'quadrature'])
    """
    fits = {f: fit_law(hs, deltas, errors, f, **kw) for f in forms}
    return min(fits.values(), key=lambda fit: fit.residual), fits


# --- the study ---------------------------------------------------------------------------------------

def _rate(x, y, confidence=0.95):
    """Power-law fit ``y ~ C x^p`` (``fit_order``) as a dict, or the reason it cannot be made."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = (y > 0) & np.isfinite(y)
    if keep.sum() < 3:
        return {"rate": None, "why": f"only {int(keep.sum())} positive values"}
    fit = fit_order(x[keep], y[keep], confidence=confidence)
    return {"rate": fit.order, "interval": fit.interval, "constant": fit.constant, "n": fit.n}


def _law_dict(fit: LawFit):
    return {"form": fit.form, "law": FORMS[fit.form], "c1": fit.c1, "c1_interval": fit.interval1, "c2": fit.c2,
            "c2_interval": fit.interval2, "residual": fit.residual, "max_residual": fit.max_residual, "n": fit.n}


def perturbation_runs(src, tgt, *, hs, deltas, t_end, mode, repeats=1, rng=0) -> list[dict]:
    """:func:`perturbed_flow` over every ``(h, delta)``; random runs are repeated and averaged in mean square.

    >>> import numpy as np, odeflow as of
    >>> src, tgt = of.Cloud([[0.0, 0.0], [1.0, 0.0]]), of.Cloud([[0.0, 2.0], [1.0, 2.0]])
    >>> rows = perturbation_runs(src, tgt, hs=[0.2, 0.1], deltas=[0.0, 0.1], t_end=1.0, mode="adversarial")
    >>> [(r["h"], r["delta"]) for r in rows]
    [(0.2, 0.0), (0.2, 0.1), (0.1, 0.0), (0.1, 0.1)]
    """
    rng = as_rng(rng)
    rows = []
    for h in hs:
        for delta in deltas:
            n = repeats if (mode == "random" and delta > 0) else 1
            runs = [perturbed_flow(src, tgt, h=h, t_end=t_end, delta=delta, mode=mode, rng=rng) for _ in range(n)]
            rows.append({"source": mode, "h": float(h), "delta": float(delta), "repeats": n,
                         "error_end": math.sqrt(np.mean([r.error_end**2 for r in runs])),
                         "error_sup": math.sqrt(np.mean([r.error_sup**2 for r in runs])),
                         "potential_error": float(delta), "seconds": sum(r.seconds for r in runs)})
    return rows


def entropic_runs(src, tgt, *, hs, epsilons, t_end, debias=(False, True), **options) -> list[dict]:
    """:func:`entropic_flow` over every ``(h, epsilon, debias)``, with the end-state bias: W2 between the
    entropic and the exact Euler flows at the same ``h`` (the potential's effect alone)."""
    rows = []
    for h in hs:
        exact = perturbed_flow(src, tgt, h=h, t_end=t_end, delta=0.0)
        for deb in debias:
            for eps in epsilons:
                run = entropic_flow(src, tgt, h=h, t_end=t_end, epsilon=eps, debias=deb, **options)
                rows.append({"source": "entropic debiased" if deb else "entropic", "h": float(h),
                             "epsilon": float(eps), "debias": bool(deb), "error_end": run.error_end,
                             "error_sup": run.error_sup, "potential_error": run.potential_error,
                             "potential_error_mean": run.potential_error_mean,
                             "bias_end": _w2(run.final, exact.final, src.weights), "seconds": run.seconds})
    return rows


def entropic_convergence(src, tgt, epsilons, *, loss="w2", tol=1e-11, max_iter=100_000) -> dict:
    """Entropic cost and drift against the exact ones as ``epsilon -> 0`` (any clouds, weighted or not).

    Returns, per epsilon: ``OT_eps - OT``, ``<C, pi_eps> - OT``, ``S_eps - OT`` and the RMS drift errors
    ``sqrt(sum_i a_i |v_i^eps - v_i|^2)`` (plain and debiased), with power-law fits over ``epsilon``. For
    discrete measures with a unique optimal plan ``pi*``: ``(OT_eps - OT) / eps_abs -> KL(pi* | a x b)`` (also
    returned) and the plan, hence the drift and ``<C, pi_eps>``, converges like ``exp(-gap / eps_abs)``, ``gap``
    the smallest positive reduced cost of the exact LP (returned). Their fits: a power law over the
    pre-asymptotic range ``eps_abs >= gap`` and ``decay`` of ``exp(-decay / eps_abs)`` below it (to compare
    with ``gap``).

    >>> import numpy as np, odeflow as of
    >>> rng = np.random.default_rng(0)
    >>> src, tgt = of.Cloud(rng.standard_normal((5, 2))), of.Cloud(rng.standard_normal((6, 2)))
    >>> out = entropic_convergence(src, tgt, [1e-1, 1e-2, 1e-3])
    >>> round(out["fits"]["ot_eps_gap"]["rate"], 1)
    1.0
    """
    src, tgt = as_cloud(src, "src"), as_cloud(tgt, "tgt")
    exact = make_solver(src.dim, tgt, loss, "exact")(src)
    _check_solve(exact, "entropic_convergence")
    plan = exact.plan.toarray()
    nz = plan > 0
    kl = float(np.sum(plan[nz] * np.log(plan[nz] / np.outer(src.weights, tgt.weights)[nz])))
    C = make_solver(src.dim, tgt, loss, "exact").loss.cost_matrix(src.points, tgt.points)
    reduced = C - exact.f[:, None] - exact.g[None, :]
    gap = float(np.min(reduced[~nz])) if (~nz).any() else float("inf")
    out = {k: [] for k in ("epsilon_abs", "ot_eps_gap", "transport_gap", "divergence_gap", "drift_plain",
                           "drift_debiased", "iterations")}
    for eps in epsilons:
        pots = [make_solver(src.dim, tgt, loss, "entropic", epsilon=eps, debias=d, tol=tol, max_iter=max_iter)(src)
                for d in (False, True)]
        for pot in pots:
            _check_solve(pot, "entropic_convergence")
        out["epsilon_abs"].append(pots[0].info["epsilon_abs"])
        out["ot_eps_gap"].append(pots[0].cost - exact.cost)
        out["transport_gap"].append(pots[0].info["transport_cost"] - exact.cost)
        out["divergence_gap"].append(pots[1].cost - exact.cost)
        out["drift_plain"].append(_rms(pots[0].drift - exact.drift, src.weights))
        out["drift_debiased"].append(_rms(pots[1].drift - exact.drift, src.weights))
        out["iterations"].append(pots[0].info["iterations"] + pots[1].info["iterations"])
    eps = np.asarray(epsilons, dtype=np.float64)
    out.update(epsilon=eps.tolist(), exact_cost=exact.cost, kl=kl, gap=gap, loss=loss, n=src.n, m=tgt.n,
               kl_estimate=(np.asarray(out["ot_eps_gap"]) / np.asarray(out["epsilon_abs"])).tolist())
    out["fits"] = {k: _rate(eps, np.abs(out[k])) for k in ("ot_eps_gap", "divergence_gap")}
    small = np.asarray(out["epsilon_abs"]) < gap  # the plan converges exponentially once eps_abs < gap
    for k in ("transport_gap", "drift_plain", "drift_debiased"):
        values = np.abs(out[k])
        out["fits"][k] = {**_rate(eps[~small], values[~small]), "range": "eps_abs >= LP gap (pre-asymptotic)",
                          "exponential": _exp_rate(np.asarray(out["epsilon_abs"])[small], values[small])}
    return out


def _exp_rate(eps_abs, values, confidence=0.95):
    """Fit ``values ~ A exp(-decay / eps_abs)`` on the values above rounding; ``decay`` with its interval."""
    keep = values > 1e-13
    x, y = 1.0 / eps_abs[keep], np.log(values[keep])
    if x.size < 2:
        return {"decay": None, "why": f"only {x.size} values above rounding with eps_abs < gap"}
    if x.size == 2:
        return {"decay": float(-(y[1] - y[0]) / (x[1] - x[0])), "interval": None, "n": 2}
    res = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + confidence / 2.0, x.size - 2) * res.stderr
    return {"decay": float(-res.slope), "interval": (float(-res.slope - half), float(-res.slope + half)),
            "n": int(x.size)}


@dataclass(repr=False)
class ApproximationStudy:
    """Everything :func:`approximation_study` measured: ``rows`` (one per run), ``laws``, ``bias``,
    ``convergence`` and ``info``; :attr:`numbers` is the JSON-ready whole."""

    rows: list
    laws: dict
    bias: dict
    convergence: dict
    info: dict = field(default_factory=dict)

    @property
    def numbers(self) -> dict:
        return {"rows": self.rows, "laws": self.laws, "bias": self.bias, "convergence": self.convergence,
                "info": self.info}

    def __repr__(self) -> str:
        best = {k: v["best"] for k, v in self.laws.items()}
        return f"ApproximationStudy(runs={len(self.rows)}, best laws={best})"


def _laws(rows, source):
    sel = [r for r in rows if r["source"] == source and r["error_end"] > 0]
    h = [r["h"] for r in sel]
    d = [r["potential_error"] for r in sel]
    out = {}
    for key in ("error_end", "error_sup"):
        best, fits = best_law(h, d, [r[key] for r in sel])
        out[key] = {"best": best.form, "fits": {f: _law_dict(fit) for f, fit in fits.items()}}
    out["best"] = out["error_end"]["best"]
    return out


def approximation_study(src, tgt, *, hs, deltas, epsilons, t_end=2.0, entropic_hs=None, repeats=4,
                        convergence_clouds=None, convergence_epsilons=None, rng=0,
                        progress=False) -> ApproximationStudy:
    """Euler flows with approximate potentials against the exact flow; the fitted laws; the entropic bias.

    Parameters
    ----------
    src, tgt : equal-size uniform clouds (the exact flow is known in closed form)
    hs, deltas : step sizes and perturbation sizes (``0`` included: plain Euler)
    epsilons : entropic regularisations (``method="entropic"``, target scale), run plain and debiased
    t_end : final time
    entropic_hs : step sizes of the entropic runs (default ``hs[:3]``)
    repeats : random-direction runs per ``(h, delta)`` (averaged in mean square)
    convergence_clouds : ``(src, tgt)`` for :func:`entropic_convergence` (default: unequal weighted clouds
        drawn from ``rng``), at ``convergence_epsilons`` (default ``epsilons``)

    Returns
    -------
    ApproximationStudy
        ``laws["adversarial" | "random" | "entropic" | "entropic debiased"]``: every form of :data:`FORMS`
        fitted to ``error_end`` and ``error_sup`` (against the measured potential error for the entropic
        runs), the best one named; ``bias``: the entropic end-state bias against epsilon with its fitted rate;
        ``convergence``: :func:`entropic_convergence`.
    """
    start = time.perf_counter()
    src, tgt = as_cloud(src, "src"), as_cloud(tgt, "tgt")
    rng = as_rng(rng)
    entropic_hs = tuple(hs[:3]) if entropic_hs is None else tuple(entropic_hs)
    if convergence_clouds is None:  # drawn first, so that they do not depend on the other options
        n, m = 60, 80
        convergence_clouds = (Cloud(rng.standard_normal((n, src.dim)), rng.dirichlet(np.ones(n))),
                              Cloud(0.6 * rng.standard_normal((m, src.dim)) + 1.0, rng.dirichlet(np.ones(m))))
    rows = []
    for mode in MODES:
        rows += perturbation_runs(src, tgt, hs=hs, deltas=deltas, t_end=t_end, mode=mode, repeats=repeats, rng=rng)
        if progress:
            print(f"  {mode}: {len(rows)} runs, {time.perf_counter() - start:.0f} s")
    rows += entropic_runs(src, tgt, hs=entropic_hs, epsilons=epsilons, t_end=t_end)
    if progress:
        print(f"  entropic: {len(rows)} runs, {time.perf_counter() - start:.0f} s")
    laws = {s: _laws(rows, s) for s in ("adversarial", "random", "entropic", "entropic debiased")}
    euler = {r["h"]: r["error_end"] for r in rows if r["source"] == "adversarial" and r["potential_error"] == 0}
    for source in ("entropic", "entropic debiased"):  # Gronwall: e <= e_Euler(h) + (1 - e^{-T}) delta_sup
        ratios = [r["error_end"] / (euler[r["h"]] + (1.0 - math.exp(-t_end)) * r["potential_error"])
                  for r in rows if r["source"] == source and r["h"] in euler]
        laws[source]["gronwall_bound"] = {"bound": "error_end <= error_end(Euler, delta = 0) + (1 - e^-T) delta_sup",
                                          "max_ratio": float(max(ratios)) if ratios else None,
                                          "holds": bool(ratios) and max(ratios) <= 1.0}
    h_bias = min(entropic_hs)
    bias = {}
    for deb in (False, True):
        sel = [r for r in rows if r["source"].startswith("entropic") and r["debias"] == deb and r["h"] == h_bias]
        eps = [r["epsilon"] for r in sel]
        bias["debiased" if deb else "plain"] = {
            "h": h_bias, "epsilon": eps, "bias_end": [r["bias_end"] for r in sel],
            "potential_error": [r["potential_error"] for r in sel],
            "potential_error_mean": [r["potential_error_mean"] for r in sel],
            "fit": _rate([e for e in eps if e <= BIAS_FIT_MAX],
                         [r["bias_end"] for r in sel if r["epsilon"] <= BIAS_FIT_MAX]),
            "fit_range": f"epsilon <= {BIAS_FIT_MAX:g}", "fit_all": _rate(eps, [r["bias_end"] for r in sel]),
            "fit_potential_error_mean": _rate(eps, [r["potential_error_mean"] for r in sel])}
    convergence = entropic_convergence(*convergence_clouds, convergence_epsilons or epsilons)
    w0 = wasserstein(src, tgt, p=2)
    info = {"n": src.n, "dim": src.dim, "t_end": t_end, "hs": list(hs), "deltas": list(deltas),
            "epsilons": list(epsilons), "entropic_hs": list(entropic_hs), "repeats": repeats, "w2_initial": w0,
            "predicted": {"c1_euler": t_end * math.exp(-t_end) / 2 * w0,
                          "c2_adversarial": 1.0 - math.exp(-t_end),
                          "c2_random_diffusive": math.sqrt((1.0 - math.exp(-2.0 * t_end)) / 2.0)},
            "metric": "W2 between the run's cloud and the exact flow's (network simplex)",
            "left_out": "sampled semi-discrete quadrature (density targets): that path is being rebuilt",
            "seconds": time.perf_counter() - start}
    return ApproximationStudy(rows, laws, bias, convergence, info)
