"""The decay study: W2 against t, its rate before the quantization floor, the floor, the energy identity."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import theory
from ..._checks import check_real
from ...losses import get_loss
from ...potentials.base import SolveError
from ...measures import Cloud, as_cloud, as_measure
from ...simulate import simulate

from .fits import RateFit, _confidence, fit_rate



@dataclass(repr=False)
class DecayStudy:
    """W2 against time: the decay rate before the floor, the floor, and the energy identity.

    Attributes
    ----------
    t, distance : recorded times and W2
    variance : (T,) within-cell variance ``V`` (theory :ref:`§3.2 <theory-energy>`)
    kinetic : (T,) ``sum_i a_i |x_i - T_i|^2``
    rate, rate_interval : the fit of ``log W2`` against ``t`` over ``window`` (NaN when fewer than 3
        records lie above the floor; ``info["rate_message"]`` then says so)
    window : (t0, t1), the times fitted: from 0 while ``W2 >= floor_factor * floor``
    floor : W2 at ``t_end`` (the quantization floor once the run has reached it)
    floor_reached : True when ``kinetic / W2^2 < 1 / floor_factor^2`` at ``t_end`` (W2 then sits within
        about ``1/(2 floor_factor^2)`` of its limit ``sqrt(V)``)
    identity_residual : (T-1,) ``[(W2^2_{n+1} - W2^2_n)/dt - (-2 W2^2_n + 2 V_n)] / (2 W2^2_n)``, the relative
        residual of ``d/dt W2^2 = -2 W2^2 + 2 V`` by forward differences along the run
    identity_max : ``max |identity_residual|``
    identity_euler_excess : for Euler, ``max |residual - dt kinetic_n / (2 W2^2_n)|``: what remains once the
        Euler step's own first-order term ``dt kinetic_n`` (exact when the plan does not change in the
        step) is taken off; None for other schemes or ``record_every > 1``
    one_step_violation : for Euler, max over steps of ``(W2^2_{n+1} - bound_n) / W2^2_n`` with the bound
        ``(1-h)^2 W2^2_n + h(2-h) V_n`` (<= 0 up to rounding); None otherwise
    info : loss, method, scheme, h, t_end, variance_source, seconds, n_solves
    """

    t: np.ndarray
    distance: np.ndarray
    variance: np.ndarray
    kinetic: np.ndarray
    rate: float
    rate_interval: tuple
    window: tuple
    floor: float
    floor_reached: bool
    identity_residual: np.ndarray
    identity_max: float
    identity_euler_excess: float | None
    one_step_violation: float | None
    info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        rate = (f"rate {self.rate:.4f} [{self.rate_interval[0]:.4f}, {self.rate_interval[1]:.4f}] on t in "
                f"[{self.window[0]:.3g}, {self.window[1]:.3g}]" if np.isfinite(self.rate)
                else "rate n/a (no stretch above the floor)")
        return (f"DecayStudy(N={self.info['n']}, {self.info['scheme']}, h={self.info['h']:g}, {rate}, "
                f"floor {self.floor:.4g}{'' if self.floor_reached else ' (not reached)'}, "
                f"identity residual max {self.identity_max:.2e})")


def decay_window(distance, floor, floor_factor=10.0):
    """The initial stretch (a slice) of a decay curve where ``distance >= floor_factor * floor``.

    >>> decay_window([8.0, 4.0, 1.5, 1.0, 2.0], 0.15, 10.0)
    slice(0, 3, None)
    """
    d = np.asarray(distance, dtype=np.float64)
    above = d >= floor_factor * floor
    k = int(np.argmin(above)) if not above.all() else d.size
    return slice(0, k)


def decay_study(src, tgt, *, loss="w2", method="auto", scheme="euler", h=0.02, t_end=8.0, floor_factor=10.0,
                record_every=1, confidence=0.95, rng=None, progress=False, **options) -> DecayStudy:
    """Flow ``src`` to ``tgt`` (w2) and measure the decay of W2: rate, floor, energy identity.

    Before the floor W2 decays like ``e^{-t}`` (rate -1; Euler's own rate is ``log(1-h)/h``, about
    ``-1 - h/2``); it levels off at the quantization floor ``sqrt(V)`` set by the particle count. The rate is
    fitted on ``log W2`` over the initial stretch where ``W2 >= floor_factor * floor`` (the floor's pull
    on the slope there is at most ``1/floor_factor^2``). Along the run ``V`` is recorded from the same solve
    as W2 (:func:`odeflow.theory.within_cell_variance`), and ``d/dt W2^2 = -2 W2^2 + 2 V`` is checked by
    finite differences.

    Parameters
    ----------
    src : Cloud or (N, d) array
    tgt : Cloud or Density
        For a density the solver must report ``info["cell_variance"]``; otherwise ``V`` is taken from the
        decomposition ``W2^2 - kinetic`` (``info["variance_source"]`` says which).
    loss : "w2"
    method, scheme, rng, **options
        As for :func:`odeflow.simulate`.
    h, t_end : float
        Step size and final time; ``t_end`` should reach well into the floor.
    floor_factor : float
        The fit window ends where W2 first falls below ``floor_factor`` times the floor (> 1).
    record_every : int
    confidence : float
    progress : bool

    Returns
    -------
    DecayStudy

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> rng = np.random.default_rng(1)
    >>> src, tgt = rng.standard_normal((10, 2)) + 5, rng.standard_normal((40, 2))
    >>> study = decay_study(src, tgt, h=0.02, t_end=6.0)
    >>> abs(study.rate + 1) < 0.02, study.one_step_violation < 1e-12
    (True, True)
    """
    start = time.perf_counter()
    if get_loss(loss).name != "w2":
        raise ValueError(f"loss: the decay study checks the W2 energy identity; it needs loss 'w2', got {loss!r}")
    src = as_cloud(src, "src")
    tgt = as_measure(tgt, "tgt")
    h = check_real(h, "h", positive=True, upper=1.0)
    floor_factor = check_real(floor_factor, "floor_factor", positive=True)
    if floor_factor <= 1:
        raise ValueError(f"floor_factor: must be > 1, got {floor_factor}")
    confidence = _confidence(confidence)
    weights = src.weights
    tgt_cloud = tgt if isinstance(tgt, Cloud) else None
    source = {"value": None}

    def observe(pot):
        kinetic = float(np.dot(weights, np.einsum("ij,ij->i", pot.drift, pot.drift)))
        if pot.plan is not None or "cell_variance" in pot.info:
            v = theory.within_cell_variance(pot, tgt_cloud)
            source["value"] = "plan" if pot.plan is not None else "solver's cell variance"
        else:
            v = max(2.0 * pot.cost - kinetic, 0.0)
            source["value"] = "decomposition W2^2 - kinetic (the solver reports no cell variance)"
        return (kinetic, v)

    run = simulate(src, tgt, loss="w2", method=method, scheme=scheme, h=h, t_end=t_end, record_every=record_every,
                   rng=rng, progress=progress, observe=observe, **options)
    if not run.success:
        raise SolveError(f"the run failed: {run.message}")
    t, dist = run.t, run.distance
    kinetic, variance = run.observed[:, 0], run.observed[:, 1]
    D = dist**2
    floor = float(dist[-1])
    window = decay_window(dist, floor, floor_factor)
    if window.stop >= 3:
        fit, rate_message = fit_rate(t[window], dist[window], confidence=confidence), ""
    else:
        fit = RateFit(float("nan"), (float("nan"), float("nan")), float("nan"), float("nan"), int(window.stop),
                      confidence)
        rate_message = (f"only {window.stop} recorded times lie above {floor_factor:g} x the floor ({floor:.3g}, "
                        f"W2 at t_end): run longer so that W2 reaches its floor, record more often, or start "
                        f"further from the target; no rate fitted")
    dt = np.diff(t)
    resid = ((D[1:] - D[:-1]) / dt - (-2.0 * D[:-1] + 2.0 * variance[:-1])) / (2.0 * D[:-1])
    scheme_name = run.info["scheme"]
    euler_excess = violation = None
    if scheme_name == "euler" and record_every == 1:
        euler_excess = float(np.max(np.abs(resid - dt * kinetic[:-1] / (2.0 * D[:-1]))))
        bound = (1.0 - dt) ** 2 * D[:-1] + dt * (2.0 - dt) * variance[:-1]
        violation = float(np.max((D[1:] - bound) / D[:-1]))
    info = {
        "n": src.n, "loss": "w2", "method": run.info["method"], "scheme": scheme_name, "h": h, "t_end": t_end,
        "floor_factor": floor_factor, "variance_source": source["value"], "euler_rate": math.log1p(-h) / h,
        "rate_fit": fit, "rate_message": rate_message, "n_solves": run.n_solves, "seconds": time.perf_counter() - start,
    }
    return DecayStudy(
        t=t, distance=dist, variance=variance, kinetic=kinetic, rate=fit.rate, rate_interval=fit.interval,
        window=(float(t[0]), float(t[max(window.stop, 1) - 1])), floor=floor,
        floor_reached=bool(kinetic[-1] < D[-1] / floor_factor**2),
        identity_residual=resid, identity_max=float(np.max(np.abs(resid))),
        identity_euler_excess=euler_excess, one_step_violation=violation, info=info,
    )
