"""The time loop: ``simulate`` is to measure-valued ODEs what ``scipy.integrate.solve_ivp`` is to ODEs."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ._checks import check_int, check_real
from .losses import get_loss
from .measures import Cloud, as_cloud
from .potentials import make_solver
from .schemes import make_scheme

#: ``status`` values, as in ``solve_ivp``.
STATUS_FAILED, STATUS_DONE, STATUS_STOPPED = -1, 0, 1


@dataclass(repr=False)
class SimulationResult:
    """Trajectory of a particle flow.

    Attributes
    ----------
    t : (T,) recorded times (first 0, last the time reached: ``t_end`` unless stopped early)
    points : (T, N, d) particle positions at those times
    distance : (T,) W2 (loss w2) or W1 (loss w1) to the target at those times, from the step's own solve
    drift : (T, N, d) the drift at those times
    status : int
        0: reached ``t_end``; 1: a stopping rule ended it (``stop_distance``); -1: a solver failed
        (the run stops there and returns what it recorded; if the very first solve failed, the only
        record is the initial state with distance NaN).
    message : str
    final : Cloud at the last recorded time
    n_solves : number of Kantorovich solves
    info : dict (loss, method, scheme, h, t_end, steps, record_every, clip, persistence, seconds,
        last solver info)
    observed : (T, ...) array or None
        ``observe(pot)`` at the recorded times, when ``simulate`` was given ``observe``.
    """

    t: np.ndarray
    points: np.ndarray
    distance: np.ndarray
    drift: np.ndarray
    status: int
    message: str
    final: Cloud
    n_solves: int
    info: dict = field(default_factory=dict)
    observed: np.ndarray | None = None

    @property
    def success(self) -> bool:
        """True unless a solver failed."""
        return self.status >= 0

    def __repr__(self) -> str:
        return (
            f"SimulationResult(status={self.status}, t_end={self.t[-1]:.6g}, records={self.t.size}, "
            f"N={self.points.shape[1]}, distance {self.distance[0]:.4g} -> {self.distance[-1]:.4g}, "
            f"solves={self.n_solves}, message={self.message!r})"
        )


def step_sizes(h: float, t_end: float) -> np.ndarray:
    """Step sizes that end exactly at ``t_end``: ``h`` repeated, then one shorter last step if needed.

    A remainder below ``1e-9 h`` (floating-point noise in ``t_end / h``) is absorbed into the last
    full step rather than taken as a tiny extra step.

    >>> step_sizes(0.25, 1.0).tolist()
    [0.25, 0.25, 0.25, 0.25]
    >>> step_sizes(0.4, 1.0).round(12).tolist()
    [0.4, 0.4, 0.2]
    """
    n = max(1, math.ceil(t_end / h - 1e-9))
    hs = np.full(n, h)
    hs[-1] = t_end - (n - 1) * h
    return hs


def simulate(src, tgt, loss="w2", method="auto", scheme="euler", h=0.1, t_end=1.0, *,
             record_every=1, persistence=1, persistence_rate=1.0, persistence_mode="targets",
             clip=False, stop_distance=None, rng=None, progress=True, observe=None,
             **options) -> SimulationResult:
    """Flow the particles of ``src`` toward ``tgt`` along ``dx/dt = -grad phi_{mu_t}(x)``.

    The potential is recomputed at every step (every stage, for Heun and RK4).

    Parameters
    ----------
    src : Cloud or (N, d) array
        Initial particles.
    tgt : Cloud, Density or (M, d) array
        Target law.
    loss : {"w2", "w1"}
    method : {"auto", "exact", "onedim", "semidiscrete"}
        How potentials are computed (see :func:`odeflow.kantorovich`).
    scheme : {"euler", "heun", "rk4"}
    h : float
        Step size, > 0 (and <= 1 for w2, where h = 1 jumps onto the targets).
    t_end : float
        Final time, > 0. The run ends exactly at ``t_end``: steps of ``h``, and a last shorter step
        ``t_end - (n-1) h`` when ``t_end`` is not a multiple of ``h`` (see :func:`step_sizes`).
    record_every : int
        Record every k-th step; the initial and final states are always recorded.
    persistence, persistence_rate, persistence_mode
        Particle analogue of persistent training (Euler only; see :mod:`odeflow.schemes`).
    clip : bool
        Stop each particle at its target (the w1 stop-at-target scheme).
    stop_distance : float, optional
        End early (status 1) once the distance falls to this value or below.
    rng : int or numpy.random.Generator, optional
        Randomness for methods that sample (the semi-discrete quadrature).
    progress : bool
        Show a tqdm progress bar.
    observe : callable, optional
        ``observe(pot) -> float or array`` called on the potential of every recorded time (the same
        solve that gives the distance); the values are returned in ``observed``. For example the
        within-cell variance of :func:`odeflow.theory.within_cell_variance`.
    **options
        Passed to the potential method (e.g. ``max_iter``, ``tol``).

    Returns
    -------
    SimulationResult
        ``t, points, distance, drift, status, message, final, n_solves, info``. The distance at a
        recorded time comes from the same solve that drives the step from that time, so the run costs
        (steps + 1) x stages solves (the +1 gives the distance at the end).

    Examples
    --------
    >>> import odeflow as of
    >>> res = of.simulate([[0.0, 0.0]], [[1.0, 0.0]], loss="w2", h=0.5, t_end=1.0, progress=False)
    >>> res.t.tolist(), res.distance.tolist(), res.status
    ([0.0, 0.5, 1.0], [1.0, 0.5, 0.25], 0)
    """
    start = time.perf_counter()
    src = as_cloud(src, "src")
    loss_obj = get_loss(loss)
    h = check_real(h, "h", positive=True)
    t_end = check_real(t_end, "t_end", positive=True)
    if loss_obj.name == "w2" and h > 1.0:
        raise ValueError(f"h: must be <= 1 for loss 'w2' (h = 1 already lands on the targets), got {h}")
    record_every = check_int(record_every, "record_every", minimum=1)
    if stop_distance is not None:
        stop_distance = check_real(stop_distance, "stop_distance", nonneg=True)
    if observe is not None and not callable(observe):
        raise TypeError(f"observe: expected a callable pot -> value, got {type(observe).__name__}")
    stepper = make_scheme(scheme, clip=clip, persistence=persistence, persistence_rate=persistence_rate,
                          persistence_mode=persistence_mode)
    solver = make_solver(src.dim, tgt, loss_obj, method, rng=rng, **options)

    weights = src.weights
    n_solves = 0

    def field(points):
        nonlocal n_solves
        n_solves += 1
        pot = solver.solve(Cloud._trusted(points, weights))
        if not pot.success:
            raise _SolverFailed(pot)
        return pot

    hs = step_sizes(h, t_end)
    times = np.concatenate([[0.0], np.minimum(np.arange(1, hs.size + 1) * h, t_end)])
    times[-1] = t_end
    rec_t, rec_x, rec_d, rec_v, rec_o = [], [], [], [], []
    x = np.array(src.points)
    status, message, last_info = STATUS_DONE, f"reached t_end = {t_end:g}", {}
    bar = tqdm(total=hs.size, disable=not progress, desc=f"odeflow {loss_obj.name}/{solver.name}/{stepper.name}",
               leave=False)
    try:
        for k in range(hs.size + 1):
            try:
                pot = field(x)
            except _SolverFailed as fail:
                last_info = fail.pot.info
                status = STATUS_FAILED
                message = f"solver failed at t = {times[k]:g}: {fail.pot.info.get('message')}"
                break
            last_info = pot.info
            stop = stop_distance is not None and pot.distance <= stop_distance
            if k % record_every == 0 or k == hs.size or stop:
                rec_t.append(times[k])
                rec_x.append(x.copy())
                rec_d.append(pot.distance)
                rec_v.append(pot.drift)
                if observe is not None:
                    rec_o.append(observe(pot))
            if stop:
                status = STATUS_STOPPED
                message = f"distance {pot.distance:.6g} <= stop_distance at t = {times[k]:g}"
                break
            if k == hs.size:
                break
            try:
                x_next = stepper.step(x, hs[k], field, pot)
            except _SolverFailed as fail:
                last_info = fail.pot.info
                status = STATUS_FAILED
                message = f"solver failed in a stage of the step from t = {times[k]:g}: {fail.pot.info.get('message')}"
                break
            if not np.all(np.isfinite(x_next)):
                status = STATUS_FAILED
                message = f"non-finite particle positions after the step from t = {times[k]:g}"
                break
            x = x_next
            bar.update(1)
            bar.set_postfix(distance=f"{pot.distance:.4g}", refresh=False)
    finally:
        bar.close()
    if not rec_t:  # failed at the very first solve: record the initial state without a distance
        rec_t, rec_x, rec_d, rec_v = [0.0], [x.copy()], [np.nan], [np.zeros_like(x)]
    points = np.stack(rec_x)
    info = {
        "loss": loss_obj.name,
        "method": solver.name,
        "scheme": stepper.name,
        "h": h,
        "t_end": t_end,
        "steps": int(hs.size),
        "record_every": record_every,
        "clip": stepper.clip,
        "persistence": {"k": getattr(stepper, "persistence", 1), "eta": getattr(stepper, "persistence_rate", 1.0),
                        "mode": getattr(stepper, "persistence_mode", "targets")},
        "seconds": time.perf_counter() - start,
        "solver_info": last_info,
    }
    return SimulationResult(
        t=np.asarray(rec_t), points=points, distance=np.asarray(rec_d, dtype=np.float64),
        drift=np.stack(rec_v), status=status, message=message,
        final=Cloud._trusted(points[-1], weights), n_solves=n_solves, info=info,
        observed=np.asarray(rec_o, dtype=np.float64) if observe is not None and rec_o else None,
    )


class _SolverFailed(Exception):
    def __init__(self, pot):
        super().__init__(pot.info.get("message"))
        self.pot = pot
