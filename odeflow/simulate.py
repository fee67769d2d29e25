"""The time loop: ``simulate`` is to measure-valued ODEs what ``scipy.integrate.solve_ivp`` is to ODEs."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._checks import check_int, check_real, progress_bar
from ._files import load_run, save_run
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

    def save(self, path) -> tuple[Path, Path]:
        """Write ``<path>.npz`` (arrays ``t, points, distance, drift, weights`` and ``observed`` if any) and
        ``<path>.json`` (status, message, n_solves, info), each atomically; read back with :func:`load`.

        Both files are plain: ``numpy.load`` and ``json.load`` read them without odeflow.

        Examples
        --------
        >>> import os, tempfile, odeflow as of
        >>> res = of.simulate([[0.0, 0.0]], [[1.0, 0.0]], h=0.5, t_end=1.0, progress=False)
        >>> path = os.path.join(tempfile.mkdtemp(), "run")
        >>> _ = res.save(path)
        >>> of.load(path).distance.tolist()
        [1.0, 0.5, 0.25]
        """
        arrays = {"t": self.t, "points": self.points, "distance": self.distance, "drift": self.drift,
                  "weights": self.final.weights}
        if self.observed is not None:
            arrays["observed"] = self.observed
        record = {"format": "odeflow.SimulationResult/1", "status": int(self.status), "message": self.message,
                  "n_solves": int(self.n_solves), "info": _jsonable(self.info)}
        return save_run(_stem(path), record, arrays)


def _stem(path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path


def _jsonable(obj):
    """``obj`` with numpy scalars and arrays turned into plain Python values, non-finite floats into None."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in np.asarray(obj, dtype=object).ravel()] if isinstance(obj, np.ndarray) \
            else [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj if obj is None or isinstance(obj, str) else repr(obj)


def load(path) -> SimulationResult:
    """Read a :class:`SimulationResult` written by :meth:`SimulationResult.save` (``path`` with or without
    ``.npz``/``.json``). Arrays come back identical; ``info`` as plain JSON values.

    Examples
    --------
    See :meth:`SimulationResult.save`.
    """
    record, arrays = load_run(_stem(path))
    if record.get("format") != "odeflow.SimulationResult/1":
        raise ValueError(f"path: {path} does not hold a saved SimulationResult (no format tag in its JSON)")
    points = arrays["points"]
    return SimulationResult(
        t=arrays["t"], points=points, distance=arrays["distance"], drift=arrays["drift"],
        status=int(record["status"]), message=record["message"],
        final=Cloud._trusted(points[-1], arrays["weights"]), n_solves=int(record["n_solves"]),
        info=record["info"], observed=arrays.get("observed"))


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
             clip=False, stop_distance=None, rng=None, progress=None, observe=None,
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
        Stop each particle at its target (the w1 stop-at-target scheme; w1 only). Without it, a w1
        Euler step longer than a particle's distance to its target overshoots: the run says so in
        ``info["overshoots"]`` and in its ``message``.
    stop_distance : float, optional
        End early (status 1) once the distance falls to this value or below.
    rng : int or numpy.random.Generator, optional
        Randomness for methods that sample (the semi-discrete quadrature).
    progress : bool or None
        Show a tqdm progress bar: None (default) only when stderr is a terminal; ``TQDM_DISABLE`` in the
        environment turns it off.
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
    if loss_obj.name == "w2" and clip:
        raise ValueError("clip: stopping at the targets applies to loss 'w1' only (a w2 step with h <= 1 never "
                         "passes its target)")
    record_every = check_int(record_every, "record_every", minimum=1)
    if stop_distance is not None:
        stop_distance = check_real(stop_distance, "stop_distance", nonneg=True)
    if observe is not None and not callable(observe):
        raise TypeError(f"observe: expected a callable pot -> value, got {type(observe).__name__}")
    stepper = make_scheme(scheme, clip=clip, persistence=persistence, persistence_rate=persistence_rate,
                          persistence_mode=persistence_mode)
    solver = make_solver(src.dim, tgt, loss_obj, method, rng=rng, **options)
    run = _Run(solver, src.weights, step_sizes(h, t_end), t_end, record_every, stop_distance, observe,
               loss_obj.name == "w1" and not stepper.clip)
    with progress_bar(progress, total=run.hs.size, desc=f"odeflow {loss_obj.name}/{solver.name}/{stepper.name}") as bar:
        run.integrate(np.array(src.points), stepper, bar)
    info = {
        "loss": loss_obj.name, "method": solver.name, "scheme": stepper.name, "h": h, "t_end": t_end,
        "steps": int(run.hs.size), "record_every": record_every, "clip": stepper.clip,
        "persistence": {"k": getattr(stepper, "persistence", 1), "eta": getattr(stepper, "persistence_rate", 1.0),
                        "mode": getattr(stepper, "persistence_mode", "targets")},
        "overshoots": run.overshoots, "seconds": time.perf_counter() - start, "solver_info": run.last_info,
    }
    return run.result(info)


class _Run:
    """The state of one :func:`simulate` call: the solves, the records, and how the run ended."""

    def __init__(self, solver, weights, hs, t_end, record_every, stop_distance, observe, count_overshoots):
        self.solver, self.weights, self.hs = solver, weights, hs
        self.times = np.concatenate([[0.0], np.minimum(np.cumsum(hs), t_end)])
        self.times[-1] = t_end
        self.record_every, self.stop_distance, self.observe = record_every, stop_distance, observe
        self.count_overshoots = count_overshoots
        self.records = {"t": [], "points": [], "distance": [], "drift": [], "observed": []}
        self.n_solves, self.overshoots, self.last_info = 0, 0, {}
        self.status, self.message = STATUS_DONE, f"reached t_end = {t_end:g}"

    def field(self, points):
        """The potential at ``points`` (one solve); a failed solve raises :class:`_SolverFailed`."""
        self.n_solves += 1
        pot = self.solver.solve(Cloud._trusted(points, self.weights))
        if not pot.success:
            raise _SolverFailed(pot)
        return pot

    def _fail(self, fail, where):
        self.last_info, self.status = fail.pot.info, STATUS_FAILED
        self.message = f"solver failed {where}: {fail.pot.info['message']}"

    def _record(self, k, x, pot):
        for key, value in (("t", self.times[k]), ("points", x.copy()), ("distance", pot.distance),
                           ("drift", pot.drift)):
            self.records[key].append(value)
        if self.observe is not None:
            self.records["observed"].append(self.observe(pot))

    def integrate(self, x, stepper, bar):
        """Step from ``x`` to the end (or to a stop or a failure), recording as asked."""
        n = self.hs.size
        self.x0 = x
        for k in range(n + 1):
            try:
                pot = self.field(x)
            except _SolverFailed as fail:
                return self._fail(fail, f"at t = {self.times[k]:g}")
            self.last_info = pot.info
            stop = self.stop_distance is not None and pot.distance <= self.stop_distance
            if k % self.record_every == 0 or k == n or stop:
                self._record(k, x, pot)
            if stop:
                self.status = STATUS_STOPPED
                self.message = f"distance {pot.distance:.6g} <= stop_distance at t = {self.times[k]:g}"
                return None
            if k == n:
                return None
            if self.count_overshoots:
                self.overshoots += _overshoots(x, pot, self.hs[k])
            try:
                x_next = stepper.step(x, self.hs[k], self.field, pot)
            except _SolverFailed as fail:
                return self._fail(fail, f"in a stage of the step from t = {self.times[k]:g}")
            if not np.all(np.isfinite(x_next)):
                self.status = STATUS_FAILED
                self.message = f"non-finite particle positions after the step from t = {self.times[k]:g}"
                return None
            x = x_next
            bar.update(1)
            bar.set_postfix(distance=f"{pot.distance:.4g}", refresh=False)
        return None

    def result(self, info) -> SimulationResult:
        r = self.records
        if not r["t"]:  # failed at the very first solve: the initial state without a distance
            r.update(t=[0.0], points=[self.x0.copy()], distance=[np.nan], drift=[np.zeros_like(self.x0)])
        if self.overshoots and self.status == STATUS_DONE:
            self.message += (f"; {self.overshoots} particle steps overshot their targets (w1 Euler with h above "
                             f"the distance to the target: use clip=True or a smaller h)")
        points = np.stack(r["points"])
        observed = np.asarray(r["observed"], dtype=np.float64) if self.observe is not None and r["observed"] else None
        return SimulationResult(
            t=np.asarray(r["t"]), points=points, distance=np.asarray(r["distance"], dtype=np.float64),
            drift=np.stack(r["drift"]), status=self.status, message=self.message,
            final=Cloud._trusted(points[-1], self.weights), n_solves=self.n_solves, info=info, observed=observed)


def _overshoots(x, pot, h) -> int:
    """Particles whose w1 Euler step ``h * drift`` is longer than their distance to their target."""
    step = h * np.sqrt(np.einsum("ij,ij->i", pot.drift, pot.drift))
    room = np.sqrt(np.einsum("ij,ij->i", pot.targets - x, pot.targets - x))
    return int(np.count_nonzero(step > room * (1.0 + 1e-12)))


class _SolverFailed(Exception):
    def __init__(self, pot):
        super().__init__(pot.info["message"])
        self.pot = pot
