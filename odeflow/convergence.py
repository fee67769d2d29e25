"""Convergence studies: errors against a reference as the step size shrinks, and decay in time.

* :func:`fit_order` and :func:`fit_rate`: least squares on ``log error ~ log h`` (or ``log d ~ t``) with a
  t-distribution confidence interval on the slope.
* :func:`step_size_study`: one run per step size against a :class:`Reference` (a closed form, any
  callable, or a much finer run), errors at ``t_end`` and the sup over the recorded times, fitted order.
* :func:`decay_study`: the W2 decay rate before the quantization floor, the floor, and the energy
  identity ``d/dt W2^2 = -2 W2^2 + 2 V`` (theory :ref:`§3.2 <theory-energy>`) checked along the run.

How an error between a run and the reference is measured depends on what the reference gives
(``metric="auto"``):

==============================  =========================  ==============================================
reference state at time t       metric                     error
==============================  =========================  ==============================================
(N, d) array, rows = particles  ``"particles"``            ``sqrt(sum_i a_i |x_i - x_i^ref|^2)``: the cost of
                                                           the known correspondence, an upper bound of W2
                                                           (equal to it once errors are below half the
                                                           particles' spacing); no solve
Cloud (any size and weights)    ``"w2"``                   exact ``W2`` between the clouds
                                                           (:func:`odeflow.wasserstein`: sorting in 1-D,
                                                           network simplex otherwise)
``(m, S)``                      ``"moments"``              ``W2(N(m_h, S_h), N(m, S))`` between Gaussians with
                                                           the particles' mean and covariance and ``(m, S)``
==============================  =========================  ==============================================

``metric="w2"`` also applies to an array state (the rows are then taken as a cloud with the particles'
weights). The distance curve is compared too: ``|d_h(t) - d_ref(t)|``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from . import theory
from ._checks import check_choice, check_int, check_real
from .losses import get_loss
from .measures import Cloud, as_cloud, as_measure
from .potentials import make_solver, wasserstein
from .simulate import simulate

#: An error at or below this fraction of the problem's scale is rounding; it is left out of order fits.
ROUNDING = 1e-12


# --- fits ----------------------------------------------------------------------------------------

class OrderFit(NamedTuple):
    """``error ~ constant * h^order``, fitted by least squares on ``log error = log constant + order log h``."""

    order: float
    interval: tuple  #: confidence interval of ``order`` (t-distribution, n - 2 degrees of freedom)
    constant: float
    stderr: float  #: standard error of ``order``
    n: int  #: points in the fit
    confidence: float

    def __repr__(self) -> str:
        return (f"OrderFit(order={self.order:.4f}, {100 * self.confidence:g}% interval "
                f"[{self.interval[0]:.4f}, {self.interval[1]:.4f}], n={self.n})")


class RateFit(NamedTuple):
    """``d ~ amplitude * e^{rate t}``, fitted by least squares on ``log d = log amplitude + rate t``."""

    rate: float
    interval: tuple
    amplitude: float
    stderr: float
    n: int
    confidence: float

    def __repr__(self) -> str:
        return (f"RateFit(rate={self.rate:.4f}, {100 * self.confidence:g}% interval "
                f"[{self.interval[0]:.4f}, {self.interval[1]:.4f}], n={self.n})")


def _vector(value, name):
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a 1-D array of numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains non-finite value(s)")
    return arr


def _line(x, y, confidence):
    n = x.size
    if n < 3:
        raise ValueError(f"errors: a fit with an interval needs at least 3 points, got {n}")
    if np.ptp(x) == 0:
        raise ValueError("hs: all abscissae are equal; nothing to fit")
    res = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + confidence / 2.0, n - 2) * res.stderr
    return float(res.slope), (float(res.slope - half), float(res.slope + half)), float(res.intercept), float(res.stderr)


def _confidence(confidence):
    c = check_real(confidence, "confidence", positive=True)
    if c >= 1:
        raise ValueError(f"confidence: must be in (0, 1), got {c}")
    return c


def fit_order(hs, errors, *, confidence=0.95) -> OrderFit:
    """Fit ``errors ~ C h^p`` by least squares on log-log axes; the interval is Student's t on the slope.

    Parameters
    ----------
    hs : 1-D array of step sizes, > 0
    errors : 1-D array of errors, > 0 (same length, at least 3)
    confidence : float
        Level of the interval on the order (default 0.95).

    Examples
    --------
    >>> fit = fit_order([0.1, 0.05, 0.025], [3e-2, 1.5e-2, 7.5e-3])
    >>> round(fit.order, 12), round(fit.constant, 12)
    (1.0, 0.3)
    """
    h = _vector(hs, "hs")
    e = _vector(errors, "errors")
    if h.shape != e.shape:
        raise ValueError(f"errors: has {e.size} values but there are {h.size} step sizes")
    if np.any(h <= 0):
        raise ValueError(f"hs: step sizes must be > 0, got min {h.min():g}")
    if np.any(e <= 0):
        raise ValueError(f"errors: must be > 0 to fit on log axes, got min {e.min():g} (an error at rounding "
                         f"level carries no information about the order: leave that step size out)")
    c = _confidence(confidence)
    slope, interval, intercept, se = _line(np.log(h), np.log(e), c)
    return OrderFit(slope, interval, math.exp(intercept), se, int(h.size), c)


def fit_rate(t, distance, *, confidence=0.95) -> RateFit:
    """Fit ``distance ~ A e^{rate t}`` by least squares on ``log distance`` (rate -1 for the w2 flow).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0.0, 2.0, 5)
    >>> round(fit_rate(t, 3.0 * np.exp(-t)).rate, 12)
    -1.0
    """
    tt = _vector(t, "t")
    d = _vector(distance, "distance")
    if tt.shape != d.shape:
        raise ValueError(f"distance: has {d.size} values but there are {tt.size} times")
    if np.any(d <= 0):
        raise ValueError(f"distance: must be > 0 to fit on a log axis, got min {d.min():g}")
    c = _confidence(confidence)
    slope, interval, intercept, se = _line(tt, np.log(d), c)
    return RateFit(slope, interval, math.exp(intercept), se, int(tt.size), c)


# --- references ----------------------------------------------------------------------------------

class Reference:
    """A reference solution for :func:`step_size_study`.

    Parameters
    ----------
    at : callable
        ``at(t) -> state`` with the state an ``(N, d)`` array (row i = the study's particle i), a
        :class:`~odeflow.Cloud` (any size), or a Gaussian ``(m, S)`` (see the module docstring).
    distance : callable, optional
        ``distance(t) -> float``, the reference's distance to the target (W2 for w2, W1 for w1). Without
        it the study solves one Kantorovich problem per compared time (cloud states only).
    name : str
    times : array, optional
        When given, the only times ``at`` can be evaluated at (a discrete reference run); the study
        checks that every recorded time of every run is one of them.

    Examples
    --------
    >>> import numpy as np
    >>> ref = Reference(lambda t: (np.zeros(1), np.eye(1)), name="fixed Gaussian")
    >>> ref
    Reference('fixed Gaussian')
    """

    def __init__(self, at: Callable, distance: Callable | None = None, name: str = "callable", times=None):
        if not callable(at):
            raise TypeError(f"at: expected a callable t -> state, got {type(at).__name__}")
        if distance is not None and not callable(distance):
            raise TypeError(f"distance: expected a callable t -> float, got {type(distance).__name__}")
        self.at = at
        self.distance = distance
        self.name = str(name)
        self.times = None if times is None else np.asarray(times, dtype=np.float64)
        self.run = None  #: the SimulationResult of a finest-run reference

    def __repr__(self) -> str:
        return f"Reference({self.name!r})"


def exact_reference(src, tgt, loss="w2", *, clip=False) -> Reference:
    """The closed-form flow between equal-size uniform clouds.

    See theory :ref:`§3.1 <theory-equal-size>` (w2) and :ref:`§3.5 <theory-w1>` (w1).

    w2: ``x_i(t) = y_s(i) + e^{-t} (x_i(0) - y_s(i))``; w1 (only with ``clip=True``, the stop-at-target
    flow; plain Euler chatters after arrivals and has no clean limit): ``x_i + min(t, d_i) u_i``.
    States are particle arrays, so errors use the particle correspondence.

    Examples
    --------
    >>> ref = exact_reference([[0.0], [1.0]], [[2.0], [3.0]])
    >>> ref.at(0.0).tolist(), round(ref.distance(1.0), 6)
    ([[0.0], [1.0]], 0.735759)
    """
    loss = get_loss(loss).name
    src = as_cloud(src, "src")
    tgt = as_cloud(tgt, "tgt")
    if loss == "w2":
        y = tgt.points[theory.optimal_assignment(src, tgt)]  # validates: equal-size uniform clouds
        w0 = math.sqrt(float(np.mean(np.einsum("ij,ij->i", src.points - y, src.points - y))))
        return Reference(lambda t: y + math.exp(-t) * (src.points - y), lambda t: w0 * math.exp(-t),
                         name="exact (equal-size w2 flow, docs/theory.rst §3.1)")
    if not clip:
        raise ValueError("clip: the w1 closed form is the stop-at-target flow (clip=True); unclipped Euler "
                         "chatters after arrivals and has no limit in h on discrete targets (docs/theory.rst §3.5)")
    s = theory.optimal_assignment(src, tgt, loss="w1")
    diff = tgt.points[s] - src.points
    gaps = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    unit = np.divide(diff, gaps[:, None], out=np.zeros_like(diff), where=gaps[:, None] > 0)
    return Reference(lambda t: src.points + np.minimum(t, gaps)[:, None] * unit,
                     lambda t: float(np.mean(np.maximum(gaps - t, 0.0))),
                     name="exact (w1 stop-at-target, docs/theory.rst §3.5)")


def quantile_reference(src, tgt) -> Reference:
    """The 1-D continuum w2 flow ``Q_t = Q_d + e^{-t}(Q_0 - Q_d)`` as a cloud-valued reference.

    See theory :ref:`§3.4 <theory-onedim>`.

    Errors are exact W2 between clouds (by sorting). It is the limit of the particle flow only when no
    particle's mass is split (equal-size uniform clouds); otherwise the particle flow keeps a gap from
    it (barycentric averaging) that no step size removes.

    Examples
    --------
    >>> quantile_reference([[0.0]], [[1.0], [3.0]]).at(0.0).points.ravel().tolist()
    [0.0, 0.0]
    """
    src = as_cloud(src, "src")
    tgt = as_cloud(tgt, "tgt")
    theory.quantile_flow(src, tgt, 0.0)  # validate
    w0 = wasserstein(src, tgt, p=2)
    return Reference(lambda t: theory.quantile_flow(src, tgt, t), lambda t: w0 * math.exp(-t),
                     name="quantile flow (docs/theory.rst §3.4)")


def gaussian_reference(m0, S0, m1, S1) -> Reference:
    """The Gaussian flow's moments ``(m_t, S_t)`` with distance ``W2(N(m_t, S_t), N(m1, S1))``.

    See theory :ref:`§3.3 <theory-gaussian>`.

    For particles that quantize ``N(m0, S0)`` flowing to the density ``N(m1, S1)``, pass the particles'
    own mean and covariance as ``(m0, S0)``: the errors then measure the time stepping and the quadrature,
    not the initial sampling error.

    Examples
    --------
    >>> ref = gaussian_reference([0.0], [[1.0]], [2.0], [[4.0]])
    >>> m, S = ref.at(0.0)
    >>> m.tolist(), S.tolist(), ref.distance(0.0)
    ([0.0], [[1.0]], 2.23606797749979)
    """
    theory.gaussian_flow(m0, S0, m1, S1, 0.0)  # validate

    def distance(t):
        m_t, S_t = theory.gaussian_flow(m0, S0, m1, S1, t)
        return theory.gaussian_w2(m_t, S_t, m1, S1)

    return Reference(lambda t: theory.gaussian_flow(m0, S0, m1, S1, t), distance,
                     name="Gaussian flow (docs/theory.rst §3.3)")


def finest_reference(src, tgt, *, loss="w2", method="auto", scheme="rk4", h, t_end, clip=False,
                     record_every=1, rng=None, progress=False, **options) -> Reference:
    """A much finer run used as the reference (its states are particle arrays; its times are discrete).

    Examples
    --------
    >>> ref = finest_reference([[0.0]], [[1.0]], h=0.25, t_end=0.5)
    >>> ref.at(0.5).round(6).tolist(), ref.run.n_solves
    ([[0.393457]], 9)
    """
    run = simulate(src, tgt, loss=loss, method=method, scheme=scheme, h=h, t_end=t_end, clip=clip,
                   record_every=record_every, rng=rng, progress=progress, **options)
    if not run.success or run.t[-1] < t_end:
        raise RuntimeError(f"reference: the finest run did not reach t_end: {run.message}")
    times = run.t
    tol = 1e-9 * max(h, t_end)

    def index(t):
        k = int(np.searchsorted(times, t - tol))
        if k >= times.size or abs(times[k] - t) > tol:
            raise ValueError(f"t: {t!r} is not a recorded time of the reference run (step {h:g})")
        return k

    ref = Reference(lambda t: run.points[index(t)], lambda t: float(run.distance[index(t)]),
                    name=f"finest run ({run.info['scheme']}, h = {h:g})", times=times)
    ref.run = run
    return ref


# --- error measures ------------------------------------------------------------------------------

def _state_kind(state, n, d):
    if isinstance(state, Cloud):
        if state.dim != d:
            raise ValueError(f"reference: a state has dimension {state.dim}, the particles {d}")
        return "cloud"
    if isinstance(state, tuple) and len(state) == 2:
        return "moments"
    arr = np.asarray(state)
    if arr.shape != (n, d):
        raise ValueError(f"reference: a state must be an ({n}, {d}) array of the particles, a Cloud or a "
                         f"tuple (m, S); got {type(state).__name__} of shape {arr.shape}")
    return "particles"


_METRIC_FOR = {"particles": "particles", "cloud": "w2", "moments": "moments"}
_METRIC_TEXT = {
    "particles": "particle correspondence: sqrt(sum_i a_i |x_i - x_i^ref|^2)",
    "w2": "exact W2 between the clouds (odeflow.wasserstein)",
    "moments": "Bures W2 between N(mean, cov) of the particles and the reference Gaussian",
}


def _error(points, weights, state, metric):
    if metric == "particles":
        diff = points - np.asarray(state, dtype=np.float64)
        return math.sqrt(float(np.dot(weights, np.einsum("ij,ij->i", diff, diff))))
    if metric == "w2":
        ref = state if isinstance(state, Cloud) else Cloud._trusted(np.asarray(state, dtype=np.float64), weights)
        return wasserstein(Cloud._trusted(points, weights), ref, p=2)
    cloud = Cloud._trusted(points, weights)
    m, S = state
    return theory.gaussian_w2(m, S, cloud.mean(), cloud.cov())


# --- step-size study -----------------------------------------------------------------------------

@dataclass(repr=False)
class StepSizeStudy:
    """Errors of a flow against a reference, per step size, and the fitted order.

    Attributes
    ----------
    hs : (K,) step sizes
    errors : dict of (K,) arrays
        ``"w2_end"``, ``"w2_sup"``: the error between the clouds (see ``info["metric"]``) at ``t_end`` and
        the sup over recorded times; ``"distance_end"``, ``"distance_sup"``: ``|d_h(t) - d_ref(t)|``.
    order, order_interval : the fit on ``errors[info["fit_on"]]`` (NaN, with ``info["fit_message"]``
        saying why, when fewer than 3 errors stand above rounding)
    fits : dict name -> OrderFit or None, one fit per error curve
    curves : list of dicts, one per step size: ``t``, ``distance``, ``error`` (per time), ``distance_error``
    info : loss, method, scheme, t_end, reference, metric, fit_on, excluded, seconds, n_solves
    """

    hs: np.ndarray
    errors: dict
    order: float
    order_interval: tuple
    fits: dict
    curves: list
    info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        i = self.info
        fit = (f"order {self.order:.3f} [{self.order_interval[0]:.3f}, {self.order_interval[1]:.3f}]"
               if np.isfinite(self.order) else f"order n/a ({i['fit_message']})")
        return (f"StepSizeStudy({i['scheme']}, {i['loss']}, {self.hs.size} steps h {self.hs.min():g}..{self.hs.max():g}, "
                f"t_end={i['t_end']:g}, {fit} on {i['fit_on']}, reference {i['reference']!r}, metric {i['metric']})")

    def table(self) -> str:
        """The errors as a text table, one row per step size."""
        keys = list(self.errors)
        lines = ["  " + f"{'h':>9} " + " ".join(f"{k:>13}" for k in keys)]
        for j, h in enumerate(self.hs):
            lines.append("  " + f"{h:9.5g} " + " ".join(f"{self.errors[k][j]:13.4e}" for k in keys))
        fits = []
        for k in keys:
            f = self.fits[k]
            fits.append(f"{'-':>13}" if f is None else f"{f.order:13.3f}")
        lines.append("  " + f"{'order':>9} " + " ".join(fits))
        return "\n".join(lines)


def _default_reference_scheme(loss, scheme, clip):
    return "rk4" if loss == "w2" and not clip else scheme


def step_size_study(src, tgt, *, loss="w2", method="auto", scheme="euler", hs, t_end, reference=None,
                    clip=False, metric="auto", fit_on="w2_sup", refine=None, reference_scheme=None,
                    record_every=1, confidence=0.95, rng=None, progress=False, **options) -> StepSizeStudy:
    """Run the flow once per step size and measure its error against a reference.

    Parameters
    ----------
    src : Cloud or (N, d) array
    tgt : Cloud, Density or (M, d) array
    loss, method, scheme, clip, rng, **options
        As for :func:`odeflow.simulate`.
    hs : sequence of float
        Step sizes (at least 3 for a fitted order), each in (0, 1] for w2.
    t_end : float
        Final time of every run.
    reference : None, "finest", "exact", Reference or callable
        ``None`` or ``"finest"``: a much finer run, step ``min(hs) / refine``, scheme ``reference_scheme``
        (default ``"rk4"`` for w2 without clipping, whose own error is then negligible; the studied scheme
        otherwise). ``"exact"``: :func:`exact_reference` (equal-size uniform clouds). A :class:`Reference`,
        or a callable ``t -> state`` (wrapped in one; see the module docstring for the states).
    metric : {"auto", "particles", "w2", "moments"}
        How the error between clouds is measured (module docstring); ``"auto"`` follows the reference.
    fit_on : str
        The error curve whose fit is reported as ``order`` (default ``"w2_sup"``, theory :ref:`§3.6 <theory-orders>`).
    refine : int, optional
        Refinement of the finest run: 4 with an RK4 reference, 16 otherwise. Every ``h`` must be a
        multiple of the reference step (so that every recorded time is one of the reference's).
    reference_scheme : {"euler", "heun", "rk4"}, optional
    record_every : int
        Record (and compare) every k-th step of each run; ``t_end`` is always compared.
    confidence : float
        Level of the order's interval.
    progress : bool
        A tqdm bar over the runs.

    Returns
    -------
    StepSizeStudy

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> rng = np.random.default_rng(0)
    >>> src, tgt = rng.standard_normal((20, 2)), rng.standard_normal((20, 2)) + 2
    >>> study = step_size_study(src, tgt, hs=[0.2, 0.1, 0.05], t_end=1.0, reference="exact")
    >>> round(study.order, 1), study.info["metric"]
    (1.0, 'particles')
    """
    start = time.perf_counter()
    src = as_cloud(src, "src")
    tgt = as_measure(tgt, "tgt")
    loss_name = get_loss(loss).name
    h_arr = _vector(hs, "hs")
    if h_arr.size < 1:
        raise ValueError("hs: give at least one step size (three for a fitted order)")
    for h in h_arr:
        check_real(float(h), "hs", positive=True, upper=1.0 if loss_name == "w2" else None)
    t_end = check_real(t_end, "t_end", positive=True)
    record_every = check_int(record_every, "record_every", minimum=1)
    check_choice(metric, "metric", {"auto", "particles", "w2", "moments"})
    check_choice(fit_on, "fit_on", {"w2_end", "w2_sup", "distance_end", "distance_sup"})
    confidence = _confidence(confidence)
    run_kw = dict(loss=loss_name, method=method, clip=clip, rng=rng, **options)

    finest = reference is None or (isinstance(reference, str) and reference == "finest")
    bar = tqdm(total=h_arr.size + int(finest), disable=not progress, desc="step_size_study", leave=False)
    try:
        if finest:
            ref_scheme = reference_scheme or _default_reference_scheme(loss_name, scheme, clip)
            refine = check_int(refine if refine is not None else (4 if ref_scheme == "rk4" else 16), "refine",
                               minimum=1)
            h_ref = float(h_arr.min()) / refine
            multiples = h_arr / h_ref
            if np.any(np.abs(multiples - np.round(multiples)) > 1e-6 * multiples):
                raise ValueError(f"hs: every step must be a multiple of the reference step min(hs)/refine = {h_ref:g} "
                                 f"(got h/h_ref = {np.round(multiples, 6).tolist()}); choose hs that are multiples "
                                 f"of the smallest, or pass a reference")
            every = int(np.gcd.reduce(np.round(multiples).astype(np.int64) * record_every))
            ref = finest_reference(src, tgt, scheme=ref_scheme, h=h_ref, t_end=t_end, record_every=every,
                                   progress=False, **run_kw)
            bar.update(1)
        elif isinstance(reference, str) and reference == "exact":
            ref = exact_reference(src, tgt, loss_name, clip=clip)
        elif isinstance(reference, str):
            raise ValueError(f"reference: unknown value {reference!r}; expected None, 'finest', 'exact', a "
                             f"Reference or a callable")
        elif isinstance(reference, Reference):
            ref = reference
        elif callable(reference):
            ref = Reference(reference, name=getattr(reference, "__name__", "callable"))
        else:
            raise TypeError(f"reference: expected None, 'finest', 'exact', a Reference or a callable, got "
                            f"{type(reference).__name__}")

        weights = src.weights
        solver = None
        states, ref_distances = {}, {}

        def ref_state(t):
            key = round(t, 12)
            if key not in states:
                states[key] = ref.at(t)
            return states[key]

        def ref_distance(t):
            nonlocal solver
            key = round(t, 12)
            if key not in ref_distances:
                if ref.distance is not None:
                    ref_distances[key] = float(ref.distance(t))
                else:
                    state = ref_state(t)
                    if isinstance(state, tuple):
                        raise ValueError("reference: a Gaussian state needs Reference(distance=...) for the "
                                         "distance curve")
                    cloud = state if isinstance(state, Cloud) else Cloud._trusted(np.asarray(state, float), weights)
                    if solver is None:
                        solver = make_solver(src.dim, tgt, loss_name, method, rng=rng, **options)
                    pot = solver.solve(cloud)
                    if not pot.success:
                        raise RuntimeError(f"reference: the solve for its distance at t = {t:g} failed: "
                                           f"{pot.info.get('message')}")
                    ref_distances[key] = pot.distance
            return ref_distances[key]

        used_metric = None
        curves, n_solves = [], (ref.run.n_solves if ref.run is not None else 0)
        for h in h_arr:
            run = simulate(src, tgt, scheme=scheme, h=float(h), t_end=t_end, record_every=record_every,
                           progress=False, **run_kw)
            if not run.success or run.t[-1] < t_end:
                raise RuntimeError(f"the run with h = {h:g} did not reach t_end: {run.message}")
            n_solves += run.n_solves
            if ref.times is not None:
                gap = np.abs(run.t[:, None] - ref.times[None, :]).min(axis=1)
                if np.any(gap > 1e-9 * max(t_end, 1.0)):
                    raise ValueError(f"hs: the run with h = {h:g} records times the reference does not have "
                                     f"(first: t = {run.t[np.argmax(gap > 1e-9 * max(t_end, 1.0))]:g}); use steps that "
                                     f"are multiples of the reference's")
            err = np.empty(run.t.size)
            derr = np.empty(run.t.size)
            for k, t in enumerate(run.t):
                state = ref_state(float(t))
                kind = _state_kind(state, src.n, src.dim)
                m = _METRIC_FOR[kind] if metric == "auto" else metric
                if (kind, m) not in {("particles", "particles"), ("particles", "w2"), ("cloud", "w2"),
                                     ("moments", "moments")}:
                    raise ValueError(f"metric: {m!r} cannot compare the particles with a reference state of kind "
                                     f"{kind!r}")
                used_metric = m
                err[k] = _error(run.points[k], weights, state, m)
                derr[k] = abs(run.distance[k] - ref_distance(float(t)))
            curves.append({"h": float(h), "t": run.t, "distance": run.distance, "error": err,
                           "distance_error": derr})
            bar.update(1)
    finally:
        bar.close()

    errors = {
        "w2_end": np.array([c["error"][-1] for c in curves]),
        "w2_sup": np.array([c["error"].max() for c in curves]),
        "distance_end": np.array([c["distance_error"][-1] for c in curves]),
        "distance_sup": np.array([c["distance_error"].max() for c in curves]),
    }
    scale = max(float(curves[0]["distance"][0]), math.sqrt(float(np.dot(weights, np.sum((src.points - src.mean()) ** 2, 1)))),
                1e-300)
    fits, excluded, messages = {}, {}, {}
    for key, e in errors.items():
        keep = e > ROUNDING * scale
        excluded[key] = h_arr[~keep].tolist()
        if keep.sum() >= 3:
            fits[key] = fit_order(h_arr[keep], e[keep], confidence=confidence)
        else:
            fits[key] = None
            messages[key] = (f"fewer than 3 step sizes ({e.size}); no order fitted" if e.size < 3 else
                             f"only {int(keep.sum())} of {e.size} errors above rounding "
                             f"({ROUNDING:g} x scale {scale:.3g}); no order fitted")
    main = fits[fit_on]
    info = {
        "loss": loss_name, "method": method, "scheme": scheme if isinstance(scheme, str) else scheme.name,
        "clip": bool(clip), "t_end": t_end, "reference": ref.name, "metric": used_metric,
        "metric_text": _METRIC_TEXT[used_metric], "fit_on": fit_on, "excluded": excluded,
        "fit_message": messages.get(fit_on, ""), "scale": scale, "confidence": confidence,
        "n_solves": n_solves, "seconds": time.perf_counter() - start,
    }
    return StepSizeStudy(
        hs=h_arr, errors=errors,
        order=main.order if main else float("nan"),
        order_interval=main.interval if main else (float("nan"), float("nan")),
        fits=fits, curves=curves, info=info,
    )


# --- decay study ---------------------------------------------------------------------------------

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
        raise RuntimeError(f"the run failed: {run.message}")
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
