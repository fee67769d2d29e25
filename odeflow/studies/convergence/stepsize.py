"""The step-size study: one run per h against a reference, errors at t_end and sup over t, fitted order.

See :mod:`odeflow.studies.convergence` for the error metrics."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import theory
from ..._checks import check_choice, check_int, check_real, progress_bar
from ...losses import get_loss
from ...measures import Cloud, as_cloud, as_measure
from ...potentials.base import SolveError
from ...potentials import make_solver, wasserstein
from ...simulate import simulate

from .fits import ROUNDING, _confidence, _vector, fit_order
from .references import Reference, exact_reference, finest_reference



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
    with progress_bar(progress, total=h_arr.size + int(finest), desc="step_size_study") as bar:
        ref = _make_reference(reference, src, tgt, h_arr, t_end, scheme, reference_scheme, refine, record_every,
                              clip, run_kw)
        bar.update(int(finest))
        cache = _ReferenceCache(ref, src, tgt, lambda: make_solver(src.dim, tgt, loss_name, method, rng=rng, **options))
        curves, n_solves = [], (ref.run.n_solves if ref.run is not None else 0)
        for h in h_arr:
            run = simulate(src, tgt, scheme=scheme, h=float(h), t_end=t_end, record_every=record_every,
                           progress=False, **run_kw)
            if not run.success or run.t[-1] < t_end:
                raise SolveError(f"the run with h = {h:g} did not reach t_end: {run.message}")
            n_solves += run.n_solves
            curves.append(_error_curve(run, float(h), t_end, cache, metric, src))
            bar.update(1)
    used_metric = curves[-1]["metric"]
    errors = {
        "w2_end": np.array([c["error"][-1] for c in curves]),
        "w2_sup": np.array([c["error"].max() for c in curves]),
        "distance_end": np.array([c["distance_error"][-1] for c in curves]),
        "distance_sup": np.array([c["distance_error"].max() for c in curves]),
    }
    scale = max(float(curves[0]["distance"][0]),
                math.sqrt(float(np.dot(src.weights, np.sum((src.points - src.mean()) ** 2, 1)))), 1e-300)
    fits, excluded, messages = _fit_errors(h_arr, errors, scale, confidence)
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


def _make_reference(reference, src, tgt, h_arr, t_end, scheme, reference_scheme, refine, record_every, clip,
                    run_kw) -> Reference:
    """The :class:`Reference` that ``reference`` names (see :func:`step_size_study`)."""
    loss_name = run_kw["loss"]
    if reference is None or (isinstance(reference, str) and reference == "finest"):
        ref_scheme = reference_scheme or _default_reference_scheme(loss_name, scheme, clip)
        refine = check_int(refine if refine is not None else (4 if ref_scheme == "rk4" else 16), "refine", minimum=1)
        h_ref = float(h_arr.min()) / refine
        multiples = h_arr / h_ref
        if np.any(np.abs(multiples - np.round(multiples)) > 1e-6 * multiples):
            raise ValueError(f"hs: every step must be a multiple of the reference step min(hs)/refine = {h_ref:g} "
                             f"(got h/h_ref = {np.round(multiples, 6).tolist()}); choose hs that are multiples "
                             f"of the smallest, or pass a reference")
        every = int(np.gcd.reduce(np.round(multiples).astype(np.int64) * record_every))
        return finest_reference(src, tgt, scheme=ref_scheme, h=h_ref, t_end=t_end, record_every=every,
                                progress=False, **run_kw)
    if isinstance(reference, str) and reference == "exact":
        return exact_reference(src, tgt, loss_name, clip=clip)
    if isinstance(reference, str):
        raise ValueError(f"reference: unknown value {reference!r}; expected None, 'finest', 'exact', a "
                         f"Reference or a callable")
    if isinstance(reference, Reference):
        return reference
    if callable(reference):
        return Reference(reference, name=getattr(reference, "__name__", "callable"))
    raise TypeError(f"reference: expected None, 'finest', 'exact', a Reference or a callable, got "
                    f"{type(reference).__name__}")


class _ReferenceCache:
    """The reference's states and distances, each computed once per time."""

    def __init__(self, ref, src, tgt, make):
        self.ref, self.weights, self._make = ref, src.weights, make
        self.solver, self.states, self.distances = None, {}, {}

    def state(self, t):
        key = round(t, 12)
        if key not in self.states:
            self.states[key] = self.ref.at(t)
        return self.states[key]

    def distance(self, t):
        key = round(t, 12)
        if key in self.distances:
            return self.distances[key]
        if self.ref.distance is not None:
            self.distances[key] = float(self.ref.distance(t))
            return self.distances[key]
        state = self.state(t)
        if isinstance(state, tuple):
            raise ValueError("reference: a Gaussian state needs Reference(distance=...) for the distance curve")
        cloud = state if isinstance(state, Cloud) else Cloud._trusted(np.asarray(state, float), self.weights)
        if self.solver is None:
            self.solver = self._make()
        pot = self.solver.solve(cloud)
        if not pot.success:
            raise SolveError(f"reference: the solve for its distance at t = {t:g} failed: {pot.info['message']}")
        self.distances[key] = pot.distance
        return pot.distance


def _error_curve(run, h, t_end, cache, metric, src) -> dict:
    """Errors of one run against the reference at its recorded times (positions and distance)."""
    ref = cache.ref
    if ref.times is not None:
        gap = np.abs(run.t[:, None] - ref.times[None, :]).min(axis=1)
        if np.any(gap > 1e-9 * max(t_end, 1.0)):
            raise ValueError(f"hs: the run with h = {h:g} records times the reference does not have "
                             f"(first: t = {run.t[np.argmax(gap > 1e-9 * max(t_end, 1.0))]:g}); use steps that "
                             f"are multiples of the reference's")
    err = np.empty(run.t.size)
    derr = np.empty(run.t.size)
    used = None
    for k, t in enumerate(run.t):
        state = cache.state(float(t))
        kind = _state_kind(state, src.n, src.dim)
        used = _METRIC_FOR[kind] if metric == "auto" else metric
        if (kind, used) not in {("particles", "particles"), ("particles", "w2"), ("cloud", "w2"),
                                ("moments", "moments")}:
            raise ValueError(f"metric: {used!r} cannot compare the particles with a reference state of kind "
                             f"{kind!r}")
        err[k] = _error(run.points[k], src.weights, state, used)
        derr[k] = abs(run.distance[k] - cache.distance(float(t)))
    return {"h": h, "t": run.t, "distance": run.distance, "error": err, "distance_error": derr, "metric": used}


def _fit_errors(h_arr, errors, scale, confidence):
    """Order fits of every error curve, leaving out errors at rounding level: ``(fits, excluded, messages)``."""
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
    return fits, excluded, messages
