"""References for step-size studies: closed forms (equal-size clouds, quantiles, Gaussians) or a much finer run."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import theory
from ...losses import get_loss
from ...measures import as_cloud
from ...potentials.base import SolveError
from ...potentials import wasserstein
from ...simulate import simulate




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
        raise SolveError(f"reference: the finest run did not reach t_end: {run.message}")
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
