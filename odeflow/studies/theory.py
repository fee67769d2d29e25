"""Closed forms of theory :ref:`§3 <theory-identities>`: exact references for the flows and their Euler counterparts.

Every closed form here is the continuous-time flow when ``h`` is None and the discrete one of a
Runge-Kutta scheme with step ``h`` otherwise: on the problems below the w2 flow is, in suitable
coordinates, the linear ODE ``r' = -r`` (``r`` the remaining fraction of the way), which a scheme
advances by its stability polynomial ``R(h)`` per step (:func:`decay_factor`).

=================================  ===========================================================  =======
function                           what it gives                                                 §
=================================  ===========================================================  =======
:func:`decay_factor`               ``e^{-t}``, or ``prod_k R(h_k)`` over the steps of a run       3.1
:func:`optimal_assignment`         the optimal permutation between equal-size uniform clouds     3.1
:func:`equal_size_flow`            positions ``y_s + r (x_0 - y_s)``                              3.1
:func:`equal_size_distance`        ``W2(mu_t, mu_d) = r W2_0``                                     3.1
:func:`within_cell_variance`       ``V = sum_ij pi_ij |T_i - y_j|^2`` (or a density's cell V)     3.2
:func:`w2_energy`                  ``W2^2 = sum a_i |x_i - T_i|^2 + V`` and ``d/dt W2^2``         3.2
:func:`w2_one_step_bound`          ``(1-h)^2 W2^2 + h(2-h) V``                                      3.2
:func:`bures_map`                  the linear optimal map between centred Gaussians              3.3
:func:`gaussian_w2`                W2 between two Gaussians (Bures-Wasserstein)                  3.3
:func:`gaussian_flow`              ``(m_t, S_t)`` along the time-changed McCann geodesic          3.3
:func:`gaussian_pushforward`       points moved by that geodesic's affine map                    3.3
:func:`quantile_flow`              the 1-D continuum flow ``Q_d + r (Q_0 - Q_d)``, any weights    3.4
:func:`w1_stop_at_target`          ``W1(t) = sum_i a_i max(|x_i - y_s(i)| - t, 0)``              3.5
:func:`w1_stop_at_target_flow`     positions ``x_i + min(t, d_i) u_i``                            3.5
=================================  ===========================================================  =======

Times ``t`` may be a scalar (one state) or a 1-D array (a stack of states, first axis time).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._checks import as_points, check_choice, check_dense_memory, check_real
from ..losses import get_loss
from ..measures import Cloud, as_cloud
from ..potentials import KantorovichResult

#: Stability polynomial of each scheme on ``x' = -x``: one step multiplies by ``R(h)``.
STABILITY = {
    "euler": lambda h: 1.0 - h,
    "heun": lambda h: 1.0 - h + h**2 / 2.0,
    "rk4": lambda h: 1.0 - h + h**2 / 2.0 - h**3 / 6.0 + h**4 / 24.0,
}


# --- validation helpers -------------------------------------------------------------------------

def _times(t, name="t"):
    """``t`` as a float64 array (0-d for a scalar), finite and >= 0."""
    if isinstance(t, (str, bytes)) or t is None or isinstance(t, bool):
        raise TypeError(f"{name}: expected a number or a 1-D array of times, got {type(t).__name__}")
    try:
        arr = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number or a 1-D array of times") from None
    if arr.ndim > 1:
        raise ValueError(f"{name}: expected a scalar or a 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains non-finite value(s)")
    if np.any(arr < 0):
        raise ValueError(f"{name}: times must be >= 0, got min {arr.min():g}")
    return arr


def _step(h):
    return None if h is None else check_real(h, "h", positive=True, upper=1.0)


def _equal_size(src, tgt):
    src = as_cloud(src, "src")
    tgt = as_cloud(tgt, "tgt")
    if src.dim != tgt.dim:
        raise ValueError(f"tgt: has dimension {tgt.dim}, src has dimension {src.dim}")
    if src.n != tgt.n or not (src.is_uniform and tgt.is_uniform):
        raise ValueError(
            f"tgt: this closed form needs equal-size uniform clouds (docs/theory.rst §3.1 and §3.5); got "
            f"n = {src.n} ({'uniform' if src.is_uniform else 'weighted'}) and m = {tgt.n} "
            f"({'uniform' if tgt.is_uniform else 'weighted'})"
        )
    return src, tgt


def _mean_vector(m, name):
    arr = np.atleast_1d(np.asarray(m, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a mean vector of shape (d,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains non-finite value(s)")
    return arr


def _covariance(S, name, d, *, definite):
    arr = np.atleast_2d(np.asarray(S, dtype=np.float64))
    if arr.shape != (d, d):
        raise ValueError(f"{name}: expected a ({d}, {d}) covariance matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains non-finite value(s)")
    scale = max(float(np.abs(arr).max()), 1e-300)
    if np.abs(arr - arr.T).max() > 1e-10 * scale:
        raise ValueError(f"{name}: is not symmetric (max |S - S^T| = {np.abs(arr - arr.T).max():.3g})")
    arr = 0.5 * (arr + arr.T)
    low = float(np.linalg.eigvalsh(arr).min())
    if definite and low <= 1e-14 * scale:
        raise ValueError(f"{name}: must be positive definite (smallest eigenvalue {low:.3g})")
    if not definite and low < -1e-12 * scale:
        raise ValueError(f"{name}: must be positive semi-definite (smallest eigenvalue {low:.3g})")
    return arr


def _sym_sqrt(S, inverse=False):
    w, V = np.linalg.eigh(S)
    w = np.clip(w, 0.0, None)
    root = np.sqrt(w)
    if inverse:
        root = 1.0 / root
    out = (V * root) @ V.T
    return 0.5 * (out + out.T)


# --- 3.1: equal-size clouds and the decay factor -------------------------------------------------

def decay_factor(t, h=None, scheme="euler"):
    """The remaining fraction ``r(t)`` of the linear flow ``r' = -r``, ``r(0) = 1``.

    ``e^{-t}`` for the exact flow (``h`` None); for a scheme with step ``h`` the product of its stability
    polynomial over the steps :func:`odeflow.simulate` takes to reach ``t`` (steps of ``h`` and one
    shorter last step when ``t`` is not a multiple of ``h``): ``R(h)^(n-1) R(t - (n-1) h)``.
    ``R`` is ``1 - h`` (Euler), ``1 - h + h^2/2`` (Heun), the 4th-order Taylor polynomial of ``e^{-h}``
    (RK4).

    Parameters
    ----------
    t : float or 1-D array
        Times, >= 0.
    h : float, optional
        Step size in (0, 1].
    scheme : {"euler", "heun", "rk4"}

    Returns
    -------
    float or ndarray (same shape as ``t``)

    Examples
    --------
    >>> round(decay_factor(1.0), 6)
    0.367879
    >>> round(decay_factor(1.0, h=0.5), 12), round(decay_factor(1.0, h=0.5, scheme="heun"), 12)
    (0.25, 0.390625)
    """
    tt = _times(t)
    h = _step(h)
    if h is None:
        out = np.exp(-tt)
    else:
        R = STABILITY[check_choice(scheme, "scheme", STABILITY)]
        n = np.maximum(1, np.ceil(tt / h - 1e-9))
        last = tt - (n - 1) * h
        out = R(h) ** (n - 1) * R(last)
    return float(out) if out.ndim == 0 else out


def optimal_assignment(src, tgt, loss="w2"):
    """The optimal permutation ``s`` between equal-size uniform clouds: particle ``i`` goes to ``y_s(i)``.

    Solved with :func:`scipy.optimize.linear_sum_assignment` (independent of the POT solver the flows use).
    For w1 the optimum may not be unique; this returns one optimum.

    Examples
    --------
    >>> optimal_assignment([[0.0], [1.0]], [[1.1], [0.1]]).tolist()
    [1, 0]
    """
    src, tgt = _equal_size(src, tgt)
    check_dense_memory(src.n, tgt.n, 2, "optimal_assignment")
    cost = get_loss(loss).cost_matrix(src.points, tgt.points)
    rows, cols = linear_sum_assignment(cost)
    s = np.empty(src.n, dtype=np.intp)
    s[rows] = cols
    return s


def equal_size_flow(src, tgt, t, *, h=None, scheme="euler"):
    """Positions of the w2 flow between equal-size uniform clouds (theory :ref:`§3.1 <theory-equal-size>`).

    The optimal assignment ``s`` never changes, so ``x_i(t) = y_s(i) + r(t) (x_i(0) - y_s(i))`` with
    ``r`` the :func:`decay_factor` (``e^{-t}``, or the scheme's discrete factor when ``h`` is given).

    Parameters
    ----------
    src, tgt : Cloud or (n, d) arrays, equal sizes, uniform weights
    t : float or 1-D array of times
    h : float, optional
        Step size: the scheme's discrete flow instead of the exact one.
    scheme : {"euler", "heun", "rk4"}

    Returns
    -------
    (n, d) array for a scalar ``t``, else (len(t), n, d); rows in the order of ``src``.

    Examples
    --------
    >>> equal_size_flow([[0.0], [1.0]], [[3.0], [2.0]], 0.5, h=0.5).tolist()
    [[1.0], [2.0]]
    """
    src, tgt = _equal_size(src, tgt)
    y = tgt.points[optimal_assignment(src, tgt)]
    r = np.asarray(decay_factor(t, h, scheme))
    x0 = src.points
    return y + r[..., None, None] * (x0 - y) if r.ndim else y + float(r) * (x0 - y)


def equal_size_distance(src, tgt, t, *, h=None, scheme="euler"):
    """``W2(mu_t, mu_d) = r(t) W2(mu_0, mu_d)`` between equal-size uniform clouds.

    See theory :ref:`§3.1 <theory-equal-size>`.

    Examples
    --------
    >>> equal_size_distance([[0.0], [1.0]], [[3.0], [2.0]], [0.0, 1.0], h=0.5).tolist()
    [2.0, 0.5]
    """
    src, tgt = _equal_size(src, tgt)
    y = tgt.points[optimal_assignment(src, tgt)]
    w0 = math.sqrt(float(np.mean(np.einsum("ij,ij->i", src.points - y, src.points - y))))
    return w0 * decay_factor(t, h, scheme)


# --- 3.5: w1, stop at target ---------------------------------------------------------------------

def _w1_gaps(src, tgt):
    src, tgt = _equal_size(src, tgt)
    y = tgt.points[optimal_assignment(src, tgt, loss="w1")]
    diff = y - src.points
    gaps = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    unit = np.divide(diff, gaps[:, None], out=np.zeros_like(diff), where=gaps[:, None] > 0)
    return src, gaps, unit


def w1_stop_at_target(src, tgt, t):
    """``W1(mu_t, mu_d) = (1/n) sum_i max(|x_i - y_s(i)| - t, 0)``: the w1 flow between equal-size uniform
    clouds with every particle stopped at its target (theory :ref:`§3.5 <theory-w1>`; Euler with ``clip=True`` follows
    it exactly). It lies above the rate-1 bound ``W1_0 - t`` and reaches 0 at ``t = max_i d_i``.

    Examples
    --------
    >>> w1_stop_at_target([[0.0], [1.0]], [[1.0], [4.0]], [0.0, 1.0, 2.0, 5.0]).tolist()
    [2.0, 1.0, 0.5, 0.0]
    """
    src, gaps, _ = _w1_gaps(src, tgt)
    tt = _times(t)
    out = np.maximum(gaps[None, :] - np.atleast_1d(tt)[:, None], 0.0).mean(axis=1)
    return float(out[0]) if tt.ndim == 0 else out


def w1_stop_at_target_flow(src, tgt, t):
    """Positions ``x_i + min(t, d_i) u_i`` of the stop-at-target w1 flow (``u_i`` the unit vector to
    ``y_s(i)``, ``d_i`` the distance); shape (n, d) for a scalar ``t``, else (len(t), n, d).

    Examples
    --------
    >>> w1_stop_at_target_flow([[0.0], [1.0]], [[1.0], [4.0]], 2.0).tolist()
    [[1.0], [3.0]]
    """
    src, gaps, unit = _w1_gaps(src, tgt)
    tt = _times(t)
    moved = np.minimum(np.atleast_1d(tt)[:, None], gaps[None, :])
    out = src.points[None] + moved[..., None] * unit[None]
    return out[0] if tt.ndim == 0 else out


# --- 3.2: the W2 energy identity -----------------------------------------------------------------

def within_cell_variance(pot: KantorovichResult, tgt=None) -> float:
    """The within-cell variance ``V`` of a w2 Kantorovich result (theory :ref:`§3.2 <theory-energy>`).

    * Cloud target (``pot.plan`` is set; pass ``tgt``): ``V = sum_ij pi_ij |T_i - y_j|^2``, the spread of
      each particle's mass around its barycentric target.
    * Density target: the ``mu_d``-variance inside the Laguerre cells, ``sum_i int_{L_i} |y - T_i|^2 dmu_d``,
      read from ``pot.info["cell_variance"]`` (a total, or one value per cell, summed), which a
      semi-discrete solver supplies.

    ``V = 0`` exactly when no particle's mass is split (equal-size uniform clouds).

    Examples
    --------
    >>> import odeflow as of
    >>> tgt = of.Cloud([[0.0], [2.0]])
    >>> within_cell_variance(of.kantorovich([[1.0]], tgt), tgt)
    1.0
    """
    if not isinstance(pot, KantorovichResult):
        raise TypeError(f"pot: expected a KantorovichResult, got {type(pot).__name__}")
    if pot.loss != "w2":
        raise ValueError(f"pot: the within-cell variance is defined for loss 'w2', got {pot.loss!r}")
    if pot.plan is not None:
        if tgt is None:
            raise ValueError("tgt: the target cloud is needed to compute V from the plan")
        tgt = as_cloud(tgt, "tgt")
        plan = pot.plan.tocoo()
        if plan.shape != (pot.targets.shape[0], tgt.n) or tgt.dim != pot.targets.shape[1]:
            raise ValueError(f"tgt: a cloud of {tgt.n} points in dimension {tgt.dim} does not match the plan "
                             f"of shape {plan.shape}")
        diff = pot.targets[plan.row] - tgt.points[plan.col]
        return float(np.dot(plan.data, np.einsum("ij,ij->i", diff, diff)))
    cell = pot.info.get("cell_variance")
    if cell is None:
        raise ValueError("pot: carries no plan and no info['cell_variance']; a density-target solver must "
                         "report the mu_d-variance inside its cells for V to be known")
    value = float(np.sum(np.asarray(cell, dtype=np.float64)))
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"pot: info['cell_variance'] sums to {value!r}, not a finite value >= 0")
    return value


class EnergySplit(NamedTuple):
    """``W2^2 = kinetic + variance`` at one state, and the exact flow's ``d/dt W2^2``.

    See theory :ref:`§3.2 <theory-energy>`.
    """

    w2_squared: float  #: ``2 * pot.cost``
    kinetic: float  #: ``sum_i a_i |x_i - T_i|^2`` (the squared speed of the flow)
    variance: float  #: ``V``
    rate: float  #: ``d/dt W2^2 = -2 W2^2 + 2 V``

    @property
    def defect(self) -> float:
        """``W2^2 - kinetic - V``: 0 at an optimum (rounding, or a solver's tolerance)."""
        return self.w2_squared - self.kinetic - self.variance


def w2_energy(pot: KantorovichResult, weights, tgt=None) -> EnergySplit:
    """Split ``W2^2`` into the kinetic part and the within-cell variance (theory :ref:`§3.2 <theory-energy>`).

    Parameters
    ----------
    pot : KantorovichResult (loss w2)
    weights : (n,) array
        The particles' weights ``a_i`` (for example ``cloud.weights``).
    tgt : Cloud, optional
        The target cloud (needed for cloud targets; see :func:`within_cell_variance`).

    Examples
    --------
    >>> import odeflow as of
    >>> src, tgt = of.Cloud([[1.0]]), of.Cloud([[0.0], [4.0]])
    >>> w2_energy(of.kantorovich(src, tgt), src.weights, tgt)
    EnergySplit(w2_squared=5.0, kinetic=1.0, variance=4.0, rate=-2.0)
    """
    v = within_cell_variance(pot, tgt)
    a = np.asarray(weights, dtype=np.float64)
    if a.shape != (pot.drift.shape[0],):
        raise ValueError(f"weights: expected shape ({pot.drift.shape[0]},), got {a.shape}")
    kinetic = float(np.dot(a, np.einsum("ij,ij->i", pot.drift, pot.drift)))
    w2_sq = 2.0 * pot.cost
    return EnergySplit(w2_squared=w2_sq, kinetic=kinetic, variance=v, rate=-2.0 * w2_sq + 2.0 * v)


def w2_one_step_bound(w2_squared, variance, h):
    """One Euler step gives ``W2^2(mu_{n+1}) <= (1-h)^2 W2^2(mu_n) + h(2-h) V_n`` (theory :ref:`§3.2 <theory-energy>`).

    >>> w2_one_step_bound(4.0, 1.0, 0.5)
    1.75
    """
    h = check_real(h, "h", nonneg=True, upper=1.0)
    out = (1.0 - h) ** 2 * np.asarray(w2_squared, dtype=np.float64) + h * (2.0 - h) * np.asarray(variance, dtype=np.float64)
    return float(out) if out.ndim == 0 else out


# --- 3.3: Gaussians ------------------------------------------------------------------------------

def _gaussians(m0, S0, m1, S1):
    m0 = _mean_vector(m0, "m0")
    d = m0.shape[0]
    m1 = _mean_vector(m1, "m1")
    if m1.shape != (d,):
        raise ValueError(f"m1: has shape {m1.shape}, m0 has shape {(d,)}")
    return m0, _covariance(S0, "S0", d, definite=True), m1, _covariance(S1, "S1", d, definite=False)


def _bures(S0, S1):
    r0 = _sym_sqrt(S0)
    r0_inv = _sym_sqrt(S0, inverse=True)
    middle = _sym_sqrt(r0 @ S1 @ r0)
    A = r0_inv @ middle @ r0_inv
    return 0.5 * (A + A.T), middle


def bures_map(S0, S1):
    """The optimal (symmetric, positive) linear map from ``N(0, S0)`` to ``N(0, S1)``:
    ``A = S0^{-1/2} (S0^{1/2} S1 S0^{1/2})^{1/2} S0^{-1/2}``, so that ``A S0 A = S1``.

    Square roots by symmetric eigendecomposition. ``S0`` must be positive definite, ``S1`` semi-definite.

    Examples
    --------
    >>> bures_map([[4.0]], [[9.0]]).tolist()
    [[1.5]]
    """
    S0 = _covariance(S0, "S0", np.atleast_2d(np.asarray(S0, dtype=np.float64)).shape[0], definite=True)
    S1 = _covariance(S1, "S1", S0.shape[0], definite=False)
    return _bures(S0, S1)[0]


def gaussian_w2(m0, S0, m1, S1) -> float:
    """``W2(N(m0, S0), N(m1, S1))``: ``|m0 - m1|^2 + tr S0 + tr S1 - 2 tr (S0^{1/2} S1 S0^{1/2})^{1/2}``.

    Examples
    --------
    >>> gaussian_w2([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [3.0, 4.0], [[4.0, 0.0], [0.0, 4.0]])
    5.196152422706632
    """
    m0, S0, m1, S1 = _gaussians(m0, S0, m1, S1)
    middle = _sym_sqrt(_sym_sqrt(S0) @ S1 @ _sym_sqrt(S0))
    sq = float(np.sum((m0 - m1) ** 2) + np.trace(S0) + np.trace(S1) - 2.0 * np.trace(middle))
    return math.sqrt(max(sq, 0.0))


def _geodesic(m0, S0, m1, S1, t, h, scheme):
    m0, S0, m1, S1 = _gaussians(m0, S0, m1, S1)
    A, _ = _bures(S0, S1)
    r = np.asarray(decay_factor(t, h, scheme))
    eye = np.eye(m0.shape[0])
    M = r[..., None, None] * eye + (1.0 - r)[..., None, None] * A  # M_t = (1-s) I + s A, s = 1 - r
    m_t = m1 + r[..., None] * (m0 - m1)
    return m0, S0, M, m_t


def gaussian_flow(m0, S0, m1, S1, t, *, h=None, scheme="euler"):
    """Mean and covariance of the w2 flow from ``N(m0, S0)`` to ``N(m1, S1)``, any dimension.

    See theory :ref:`§3.3 <theory-gaussian>`.

    ``mu_t = ((1-s) Id + s A)# mu_0`` with the Bures map ``A`` and ``s = 1 - e^{-t}``:
    ``m_t = m1 + e^{-t} (m0 - m1)``, ``S_t = M_t S0 M_t``, ``M_t = (1-s) I + s A``. With ``h`` given,
    the scheme's discrete flow, which stays on the same geodesic: ``s = 1 - (1-h)^n`` for Euler
    (``1 - prod R(h_k)`` in general, see :func:`decay_factor`).

    Parameters
    ----------
    m0, m1 : (d,) arrays
    S0 : (d, d) symmetric positive definite
    S1 : (d, d) symmetric positive semi-definite
    t : float or 1-D array
    h : float, optional
    scheme : {"euler", "heun", "rk4"}

    Returns
    -------
    m_t, S_t : (d,) and (d, d) arrays for a scalar ``t``; (T, d) and (T, d, d) for T times.

    Examples
    --------
    >>> m, S = gaussian_flow([0.0], [[1.0]], [2.0], [[9.0]], 1.0, h=0.5)
    >>> m.tolist(), S.tolist()
    ([1.5], [[6.25]])
    """
    m0, S0, M, m_t = _geodesic(m0, S0, m1, S1, t, h, scheme)
    S_t = M @ S0 @ M
    return m_t, 0.5 * (S_t + np.swapaxes(S_t, -1, -2))


def gaussian_pushforward(points, m0, S0, m1, S1, t, *, h=None, scheme="euler"):
    """Move ``points`` by the geodesic's affine map ``x -> m_t + M_t (x - m0)`` (see :func:`gaussian_flow`).

    Applied to a sample of ``N(m0, S0)`` it gives a sample of ``N(m_t, S_t)``; applied to particles that
    quantize ``N(m0, S0)`` it is the affine approximation of their flow.

    Returns
    -------
    (n, d) for a scalar ``t``, else (T, n, d).

    Examples
    --------
    >>> gaussian_pushforward([[1.0], [-1.0]], [0.0], [[1.0]], [2.0], [[9.0]], 1.0, h=0.5).tolist()
    [[4.0], [-1.0]]
    """
    x = as_points(points, "points")
    m0, S0, M, m_t = _geodesic(m0, S0, m1, S1, t, h, scheme)
    if x.shape[1] != m0.shape[0]:
        raise ValueError(f"points: have dimension {x.shape[1]}, the Gaussians have dimension {m0.shape[0]}")
    centred = x - m0
    return m_t[..., None, :] + centred @ np.swapaxes(M, -1, -2)


# --- 3.4: one dimension --------------------------------------------------------------------------

def quantile_flow(src, tgt, t, *, h=None, scheme="euler"):
    """The 1-D w2 flow of the continuum, ``Q_t = Q_d + r(t) (Q_0 - Q_d)``, any weights.

    See theory :ref:`§3.4 <theory-onedim>`.

    ``Q_0`` and ``Q_d`` are the quantile functions of the two (one-dimensional) clouds; both are step
    functions, so ``Q_t`` is one too: an atom for every interval between consecutive jumps of the two
    cumulative weight functions. Equal-size uniform clouds give back the particles (sorted); when a
    particle's mass is split the particle flow differs by the barycentric averaging of theory
    :ref:`§1 <theory-conventions>`.

    Parameters
    ----------
    src, tgt : one-dimensional Clouds (or (n, 1) arrays)
    t : float or 1-D array
    h : float, optional
        The scheme's discrete factor instead of ``e^{-t}``.
    scheme : {"euler", "heun", "rk4"}

    Returns
    -------
    Cloud for a scalar ``t`` (points sorted), else a list of Clouds.

    Examples
    --------
    >>> c = quantile_flow([[0.0]], [[1.0], [3.0]], 1.0, h=0.5)
    >>> c.points.ravel().tolist(), c.weights.tolist()
    ([0.75, 2.25], [0.5, 0.5])
    """
    src = as_cloud(src, "src")
    tgt = as_cloud(tgt, "tgt")
    for name, c in (("src", src), ("tgt", tgt)):
        if c.dim != 1:
            raise ValueError(f"{name}: the quantile flow needs one-dimensional points, got dimension {c.dim}")
    ix = np.argsort(src.points[:, 0], kind="stable")
    iy = np.argsort(tgt.points[:, 0], kind="stable")
    xs, ys = src.points[ix, 0], tgt.points[iy, 0]
    ca = np.cumsum(src.weights[ix])
    cb = np.cumsum(tgt.weights[iy])
    ca /= ca[-1]
    cb /= cb[-1]
    cuts = np.union1d(ca, cb)
    lower = np.concatenate([[0.0], cuts[:-1]])
    width = cuts - lower
    keep = width > 1e-15
    mid = 0.5 * (lower + cuts)[keep]
    q0 = xs[np.minimum(np.searchsorted(ca, mid), xs.size - 1)]
    qd = ys[np.minimum(np.searchsorted(cb, mid), ys.size - 1)]
    w = width[keep] / width[keep].sum()
    r = np.asarray(decay_factor(t, h, scheme))
    if r.ndim == 0:
        return Cloud((qd + float(r) * (q0 - qd))[:, None], w)
    return [Cloud((qd + ri * (q0 - qd))[:, None], w) for ri in r]
