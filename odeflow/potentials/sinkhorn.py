"""Log-domain Sinkhorn between two weighted clouds: the scaling loop (kernels in :mod:`.sinkhorn_kernels`).

The entropic problem ``OT_eps(a, b) = min_pi <C, pi> + eps KL(pi | a x b)`` has the optimal plan
``pi_ij = a_i b_j exp((f_i + g_j - C_ij) / eps)`` with dual potentials ``(f, g)`` solving

    f_i = -eps log sum_j b_j exp((g_j - C_ij) / eps),     g_j = -eps log sum_i a_i exp((f_i - C_ij) / eps).

How it is solved (:func:`sinkhorn`)
-----------------------------------
* **Log domain.** The state is the pair of potentials ``(f, g)``, never the scalings ``exp(f / eps)``,
  which under- and overflow once ``eps`` is below about 1/700 of the cost's range. A log-domain half-step
  (:func:`absorb_rows`, one ``exp`` per entry) recomputes ``f`` from ``g`` with a max-shifted log-sum-exp
  and stores the stabilised kernel ``K_ij = exp((f_i + g_j - C_ij) / eps)`` (every row then sums to 1
  against ``b``, so no row underflows; entries below ``exp(CUTOFF)`` times their row's largest are 0,
  which also keeps subnormal numbers out of the products).
* **Cheap iterations between two log-domain steps.** With ``K`` fixed, Sinkhorn updates the residual
  scalings ``u = exp(df / eps)``, ``v = exp(dg / eps)``: both products ``K (b v)`` and ``K^T (a u)`` come
  from one single-threaded pass over ``K`` (:func:`~odeflow.potentials.sinkhorn_kernels.sweep`: the row's
  ``u_i`` is known as soon as the row is summed), about ten times cheaper than a pass of ``exp`` and
  immune to BLAS threads fighting over a loaded machine. When a scaling leaves ``[1/TAU, TAU]`` it is
  absorbed into the potentials and the kernel rebuilt in the log domain (Schmitzer's stabilisation).
  Absorbing only at ``TAU = 1e8`` is safe: an entry cut at ``exp(-100)`` would contribute at most
  ``exp(-100) TAU^2 ~ 4e-28`` of its row's mass.
* **Over-relaxation.** ``log u <- (1 - w) log u + w log(1 / K (b v))`` (and the same for ``v``) with
  ``w = 2 / (1 + sqrt(1 - kappa))``, ``kappa`` the linear rate of plain Sinkhorn, is the optimal
  successive over-relaxation (Thibault et al. 2017; Lehmann et al. 2022): it turns about ``1/(1-kappa)``
  iterations into about ``1/sqrt(1-kappa)``. ``kappa`` is estimated from the observed rate (for ``w``
  below the optimum the slowest mode decays at ``lambda`` with ``(lambda + w - 1)^2 = lambda w^2 kappa``)
  and carried to the next solve of a flow; a window in which the error does not decrease halves ``w - 1``.
* **Epsilon-scaling.** A cold solve runs stages ``eps_0, eps_0 / 2, ...`` down to ``eps``, each started
  from the previous stage's potentials and stopped at a loose marginal error; a warm solve (a flow's next
  step) starts at ``eps`` from the previous step's target potential ``g`` (annealed from ``64 eps`` if that
  start is still far: first marginal error above ``WARM_FAR``).
* **Newton polish when Sinkhorn stalls.** Between nearly identical clouds (the end of a debiased flow, the
  self-like problems), two-sided Sinkhorn crawls (rate ``lambda_2^2`` of the plan's two-step Markov matrix,
  about ``1 - 1e-5`` there; POT's Sinkhorn stalls the same way). When, at the observed rate, the final
  stage would need more iterations than a few Newton steps cost (:func:`_hopeless`), Newton's method on
  the semi-dual in ``g`` takes over (once the error is below ``NEWTON_START``): gradient ``b - c`` (``c``
  the column marginal with exact rows), Hessian ``-(diag(c) - P^T diag(a) P) / eps`` with
  ``P_ij = b_j K_ij``; a dense ``M x M`` solve per step (``O(N M^2 + M^3)``), damped where the plan splits
  into nearly disconnected blocks, steps accepted on Armijo's rule for the concave dual or a smaller
  marginal error, quadratic convergence near the optimum. Only for ``M <= NEWTON_MAX_M``; beyond, Sinkhorn
  continues to ``max_iter``.
* **Stopping rule.** ``marginal error = sum_i |(pi 1)_i - a_i| + sum_j |(pi^T 1)_j - b_j| <= tol``, both
  sides measured on the current iterate (free: the two products give them). Running out of iterations
  or producing a non-finite value is reported, never passed off as converged.

Why numba and not POT: ``ot.bregman.sinkhorn_log`` exponentiates two fresh ``N x M`` temporaries per
iteration in NumPy (about ten times the cost of one pass over a stored kernel) and has no epsilon-scaling
or warm start across calls of a flow; ``ot.bregman.sinkhorn_epsilon_scaling`` forces at least 35 stages,
each rebuilding the kernel, restarts its schedule even when warm-started, and uses the kernel domain
between absorptions only; neither over-relaxes, polishes a stalled solve, or solves the symmetric
self-problems of the debiased divergence by the averaged iteration. POT is right as the independent check,
and the tests use it so (plans, values and drifts against ``ot.bregman.sinkhorn_log``).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import scipy.linalg

from .sinkhorn_kernels import (  # noqa: F401  (re-exported for odeflow.potentials.entropic)
    CUTOFF,
    absorb_rows,
    absorb_sym,
    matvec,
    mean_cost,
    plan_csr,
    readout,
    softmin_cols,
    sweep,
)

#: A scaling outside ``[1/TAU, TAU]`` is absorbed into the potentials (kernel rebuilt in the log domain).
TAU = 1e8
#: Epsilon-scaling: ratio between consecutive stages, and the marginal error that ends a stage.
STAGE_RATIO = 0.5
STAGE_TOL = 1e-3
#: Iterations per window of the over-relaxation's rate estimate; largest relaxation used.
WINDOW = 10
MAX_OMEGA = 1.95
#: A column whose kernel sum falls below this is rebuilt by a log-domain column step (stale warm start).
DEAD_COLUMN = 1e-200
#: Stall: at the observed rate the final stage would need more than max(STALL_ITERATIONS, 3 M) more
#: iterations. Then Newton polishes, for at most NEWTON_MAX_M target points (its M x M Hessian), in at
#: most NEWTON_STEPS steps.
STALL_ITERATIONS = 300
#: Newton starts only once Sinkhorn has brought the marginal error below this (or after 1000 iterations of
#: the final stage): far from the optimum its steps are poor, Sinkhorn's are good.
NEWTON_START = 1e-3
#: A warm start whose first marginal error exceeds WARM_FAR is annealed from RESCUE_STAGES halvings above eps
#: (from the warm potentials): at a small eps, Sinkhorn moves the potentials by about eps per iteration.
WARM_FAR = 0.05
RESCUE_STAGES = 6
NEWTON_MAX_M = 4000
NEWTON_STEPS = 30
#: A Newton step moves no potential by more than this many eps (Levenberg-Marquardt damping beyond).
NEWTON_MAX_STEP = 50.0


# --- the scaling loop ----------------------------------------------------------------------------

class Sinkhorn(NamedTuple):
    """Output of :func:`sinkhorn`: potentials, the stabilised kernel with its scalings, diagnostics."""

    f: np.ndarray
    g: np.ndarray
    K: np.ndarray  #: stabilised kernel; the plan is ``a_i b_j K_ij u_i v_j``
    u: np.ndarray
    v: np.ndarray
    status: str  #: "optimal", "max_iter_reached" or "numerical_failure"
    iterations: int
    marginal_error: float  #: the loop's last measured L1 marginal error
    absorptions: int
    repairs: int  #: log-domain column steps for columns whose kernel died (stale warm starts)
    stages: int
    kappa: float  #: estimated linear rate of plain Sinkhorn at the final epsilon (nan if unknown)
    omega: float  #: over-relaxation in use at the end
    newton_steps: int  #: Newton steps taken after Sinkhorn stalled (0 if it did not)


def omega_for(kappa: float) -> float:
    """Optimal over-relaxation ``2 / (1 + sqrt(1 - kappa))`` for a plain rate ``kappa`` (capped).

    >>> round(omega_for(0.0), 12), round(omega_for(0.96), 6)
    (1.0, 1.666667)
    """
    if not np.isfinite(kappa) or kappa <= 0.0:
        return 1.0
    return min(MAX_OMEGA, 2.0 / (1.0 + math.sqrt(max(1.0 - kappa, 0.0))))


def _kappa_for(omega: float) -> float:
    """The plain rate for which ``omega`` is optimal (inverse of :func:`omega_for`)."""
    return 1.0 - (2.0 / omega - 1.0) ** 2


class _Relaxation:
    """Over-relaxation ``omega`` adapted from the observed rate of each window (see the module docstring).

    ``kappa`` is the estimated plain rate. Below the optimum the slowest mode decays at ``lambda`` with
    ``(lambda + w - 1)^2 = lambda w^2 kappa``, which gives ``kappa`` and a larger ``w``; a window without
    progress halves ``w - 1`` and caps ``w`` below the value that failed.
    """

    def __init__(self, kappa):
        self.kappa, self.cap = float(kappa), MAX_OMEGA
        self.omega = omega_for(self.kappa)

    def update(self, lam) -> bool:
        """Take the window's rate ``lam`` (per iteration); return True when ``omega`` changed."""
        before = self.omega
        if not np.isfinite(lam) or lam <= 0.0:
            return False
        if lam >= 1.0:  # no progress: relax less, and never as much again
            self.cap = max(1.0, self.omega - 1e-3)
            self.omega = 1.0 + 0.5 * (self.omega - 1.0)
            self.kappa = _kappa_for(self.omega)
        elif lam > 1.05 * (self.omega - 1.0) + 0.01:  # slower than at the optimum: omega is below it
            self.kappa = min((lam + self.omega - 1.0) ** 2 / (lam * self.omega**2), 1.0)
            self.omega = min(self.cap, max(self.omega, omega_for(self.kappa)))
        return self.omega != before


def _hopeless(lam, err, tol, m) -> bool:
    """True when, at the observed rate, Sinkhorn would need more iterations than Newton costs.

    A Newton step costs about ``m`` Sinkhorn iterations (``N M^2 + M^3 / 3`` flops against ``2 N M``); a
    few steps are needed.
    """
    if not np.isfinite(lam) or lam >= 1.0:
        return True
    return math.log(tol / err) / math.log(lam) > max(STALL_ITERATIONS, 3 * m)


def _schedule(eps, eps0):
    """Epsilon-scaling stages ``eps0, eps0 * STAGE_RATIO, ...``, ending exactly at ``eps``."""
    schedule, e = [], eps if eps0 is None else max(eps0, eps)
    while e > eps * (1.0 + 1e-12):
        schedule.append(e)
        e *= STAGE_RATIO
    schedule.append(eps)
    return schedule


class _State:
    """Mutable state of :func:`sinkhorn`: potentials, kernel, residual log-scalings, counters."""

    def __init__(self, x, a, y, b, p, g0, max_iter):
        n, m = x.shape[0], y.shape[0]
        self.x, self.a, self.y, self.b, self.p, self.max_iter = x, a, y, b, p, max_iter
        self.g = np.zeros(m) if g0 is None else np.array(g0, dtype=np.float64)
        self.f, self.K = np.empty(n), np.empty((n, m))
        self.lu, self.lv, self.ktu = np.zeros(n), np.zeros(m), np.empty(m)
        self.iterations = self.absorptions = self.repairs = 0
        self.err = np.inf

    def absorb(self, e):
        """Move the residual scalings into the potentials and rebuild the kernel (log domain)."""
        self.g += e * self.lv
        absorb_rows(self.x, self.y, self.g, self.b, e, self.p, self.f, self.K)
        self.absorptions += 1
        self.lu[:], self.lv[:] = 0.0, 0.0

    def repair(self, e):
        """A target point no kernel entry reaches (a stale warm start at a small eps): g in the log domain
        from the current f, then the rows."""
        softmin_cols(self.x, self.y, self.f + e * self.lu, self.a, e, self.p, self.g)
        self.lv[:] = 0.0
        self.absorb(e)
        self.repairs += 1


def _run_stage(st: _State, e, stop, relax, final, far) -> str:
    """Iterate at ``eps = e`` until the marginal error is ``<= stop``. Returns "done", "far" (``far`` set and
    the first error above WARM_FAR), "stalled" (Newton should take over), "max_iter_reached" or
    "numerical_failure"."""
    a, b = st.a, st.b
    st.absorb(e)
    history, best, settling = [], [], False
    log_tau = math.log(TAU)
    while True:
        row_err = sweep(st.K, a, b * np.exp(st.lv), st.lu, relax.omega, st.ktu)
        if not st.ktu.min() >= DEAD_COLUMN:
            if st.repairs >= 50:
                return "numerical_failure"
            st.repair(e)
            continue
        st.err = err = row_err + float(np.dot(b, np.abs(np.exp(st.lv) * st.ktu - 1.0)))
        history.append(err)
        if not np.isfinite(err):
            return "numerical_failure"
        if err <= stop:
            return "done"
        if far and len(history) == 1 and err > WARM_FAR:
            return "far"
        if st.iterations >= st.max_iter:
            return "max_iter_reached"
        st.lv = (1.0 - relax.omega) * st.lv - relax.omega * np.log(st.ktu)
        st.iterations += 1
        if len(history) % WINDOW == 0:
            best.append(min(history[-WINDOW:]))
            if not settling:  # the window after a change is a transient: skip it
                settling = relax.update((best[-1] / best[-2]) ** (1.0 / WINDOW) if len(best) >= 2 else np.nan)
            else:
                settling = False
            if (final and st.K.shape[1] <= NEWTON_MAX_M and len(best) >= 4 and err <= NEWTON_START
                    and _hopeless((best[-1] / best[-4]) ** (1.0 / (3 * WINDOW)), err, stop, st.K.shape[1])):
                return "stalled"
        if max(np.abs(st.lu).max(), np.abs(st.lv).max()) > log_tau:
            st.absorb(e)


def sinkhorn(x, a, y, b, p, eps, *, g0=None, kappa0=float("nan"), eps0=None, tol=1e-8,
             max_iter=20000) -> Sinkhorn:
    """Solve entropic OT between ``(x, a)`` and ``(y, b)`` (all ``b_j > 0``) for the cost ``c_p``.

    Parameters
    ----------
    x, a : (n, d) points and (n,) weights (zeros allowed)
    y, b : (m, d) points and (m,) positive weights
    p : {1, 2}
        ``c = |x - y|`` or ``|x - y|^2 / 2``.
    eps : float
        Absolute regularisation.
    g0 : (m,) array, optional
        Warm start (the target potential of a nearby problem); then no epsilon-scaling.
    kappa0 : float
        Known plain-Sinkhorn rate at ``eps`` (from a previous solve), to start over-relaxed.
    eps0 : float, optional
        First stage of the epsilon-scaling of a cold start (default: ``eps``, i.e. none).
    tol, max_iter
        Stopping rule and iteration budget (all stages together).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0]]); w = np.array([0.5, 0.5])
    >>> s = sinkhorn(x, w, x + 2.0, w, 2, 0.01, eps0=1.0)
    >>> s.status, bool(s.marginal_error <= 1e-8)
    ('optimal', True)
    """
    st = _State(x, a, y, b, p, g0, max_iter)
    schedule = [eps] if g0 is not None else _schedule(eps, eps0)
    relax = _Relaxation(kappa0)
    rescue = g0 is not None  # a warm start may still be far: then anneal from it once
    stage, outcome = 0, "done"
    while stage < len(schedule):
        e, final = schedule[stage], stage == len(schedule) - 1
        outcome = _run_stage(st, e, tol if final else max(tol, STAGE_TOL), relax, final, far=rescue and final)
        if outcome == "far":
            schedule, stage, rescue = _schedule(eps, eps * 2.0**RESCUE_STAGES), 0, False
            relax = _Relaxation(np.nan)
            continue
        if outcome != "done":
            break
        if not final:
            st.g += e * st.lv  # the next stage starts from this stage's potentials
            st.lu[:], st.lv[:] = 0.0, 0.0
            if np.isfinite(relax.kappa):  # 1 - kappa scales like eps
                relax = _Relaxation(1.0 - (1.0 - relax.kappa) * schedule[stage + 1] / e)
        stage += 1
    status = "optimal" if outcome == "done" else outcome
    newton_steps = 0
    if status == "stalled":
        st.f, st.g, st.K, st.err, newton_steps, status = newton_polish(x, a, y, b, p, e, st.g + e * st.lv, tol)
        st.lu[:], st.lv[:] = 0.0, 0.0
        st.absorptions += newton_steps + 1
    return Sinkhorn(st.f + e * st.lu, st.g + e * st.lv, st.K, np.exp(st.lu), np.exp(st.lv), status,
                    st.iterations, st.err, st.absorptions, st.repairs, len(schedule), relax.kappa, relax.omega,
                    newton_steps)


def newton_polish(x, a, y, b, p, eps, g, tol, max_steps=NEWTON_STEPS):
    """Newton's method on the semi-dual ``F(g) = sum_i a_i f_i(g) + sum_j b_j g_j`` (``f`` = soft c-transform
    of ``g``, so the rows of the plan are exact). Returns ``(f, g, K, marginal error, steps, status)`` with
    ``K`` the kernel absorbed at the returned ``g`` (the plan is ``a_i b_j K_ij``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0], [3.0]]); w = np.full(3, 1 / 3)
    >>> out = newton_polish(x, w, x, w, 2, 0.1, np.zeros(3), 1e-12)
    >>> out[5], bool(out[3] <= 1e-12)
    ('optimal', True)
    """
    n, m = x.shape[0], y.shape[0]
    K, f = np.empty((n, m)), np.empty(n)
    root = np.sqrt(a)
    safe = np.where(root > 0, root, 1.0)

    def state(gg):
        absorb_rows(x, y, gg, b, eps, p, f, K)
        c = b * (a @ K)
        return c, float(np.abs(c - b).sum()), float(a @ f + b @ gg)  # marginals, error, dual value

    g = np.array(g, dtype=np.float64)
    c, err, value = state(g)
    steps, status = 0, "optimal"
    while err > tol:
        if steps >= max_steps or not np.isfinite(err):
            status = "stalled" if np.isfinite(err) else "numerical_failure"
            break
        K *= root[:, None]  # G = K^T diag(a) K, without a second N x M array
        H = K.T @ K
        K /= safe[:, None]
        H *= -np.outer(b, b)
        H[np.diag_indices(m)] += c
        H += np.trace(H) / m**2  # fixes the free constant (H 1 = 0)
        delta = _newton_step(H, b - c, eps)
        slope = float((b - c) @ delta)  # >= 0: an ascent direction of the concave dual
        t, base, accepted = 1.0, g.copy(), False
        for _ in range(40):  # backtracking: Armijo on the dual value, or a smaller marginal error
            c, new_err, new_value = state(base + t * delta)
            # near the optimum the dual's changes fall below its rounding: the marginal error decides there
            if new_value >= value + 1e-4 * t * slope or new_err < err:
                accepted = True
                break
            t *= 0.5
        steps += 1
        if not accepted:  # no step improves the dual: keep the last state and stop
            c, err, value = state(base)
            g = base
            status = "stalled"
            break
        g, err, value = base + t * delta, new_err, new_value
    return f.copy(), g, K, err, steps, status


def _newton_step(H, rhs, eps):
    """``eps H^-1 rhs``, damped (Levenberg-Marquardt) until no entry exceeds ``NEWTON_MAX_STEP eps``.

    At a small eps the plan splits into nearly disconnected blocks whose relative gauge is free: ``H`` is
    then singular beyond its constant mode and the undamped step is huge along those flat directions.
    """
    scale = float(np.max(np.diag(H)))
    mu, delta = 0.0, None
    for _ in range(12):
        damped = H.copy()
        damped[np.diag_indices(H.shape[0])] += mu
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                delta = eps * scipy.linalg.solve(damped, rhs, assume_a="pos", check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            delta = None
        if delta is not None and np.all(np.isfinite(delta)) and np.abs(delta).max() <= NEWTON_MAX_STEP * eps:
            return delta
        mu = max(100.0 * mu, 1e-12 * scale)
    return eps * rhs / np.maximum(np.diag(H), 1e-300) if delta is None or not np.all(np.isfinite(delta)) else delta


class SymmetricSinkhorn(NamedTuple):
    """Output of :func:`sinkhorn_symmetric`: the self-potential, its kernel and scaling, diagnostics."""

    f: np.ndarray  #: the symmetric potential (unique: no additive constant is free)
    K: np.ndarray  #: the plan is ``a_i a_k K_ik u_i u_k``
    u: np.ndarray
    status: str
    iterations: int
    marginal_error: float
    absorptions: int
    stages: int


def sinkhorn_symmetric(x, a, p, eps, *, f0=None, eps0=None, tol=1e-8, max_iter=20000) -> SymmetricSinkhorn:
    """Solve the self-problem ``OT_eps(a, a)`` (all ``a_i > 0``) with the averaged symmetric update.

    ``f <- (f + T f) / 2`` with ``T f_i = -eps log sum_k a_k exp((f_k - C_ik) / eps)``: its linearisation
    ``(I - P) / 2``, ``P`` the self-plan's Markov matrix (eigenvalues in [0, 1] for the Gaussian and Laplace
    kernels), contracts by at least 2 per iteration, whereas two-sided Sinkhorn on a nearly diagonal
    self-plan crawls (rate ``lambda_2(P)^2`` close to 1). Kernel-domain iterations between log-domain
    rebuilds, epsilon-scaling from a cold start, as in :func:`sinkhorn`. ``OT_eps(a, a) = 2 <a, f>``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [10.0]]); w = np.array([0.5, 0.5])
    >>> s = sinkhorn_symmetric(x, w, 2, 0.1)
    >>> s.status, round(float(2 * w @ s.f), 6)    # OT_eps(a, a) = eps sum_i a_i log(1/a_i) here
    ('optimal', 0.069315)
    """
    n = x.shape[0]
    f = np.zeros(n) if f0 is None else np.array(f0, dtype=np.float64)
    schedule = [eps] if f0 is not None else _schedule(eps, eps0)
    K = np.empty((n, n))
    lu, kau, tf = np.zeros(n), np.empty(n), np.empty(n)
    iterations = absorptions = 0
    err, status, log_tau = np.inf, "optimal", math.log(TAU)
    for stage, e in enumerate(schedule):
        stop = tol if stage == len(schedule) - 1 else max(tol, STAGE_TOL)
        absorb_rows(x, x, f, a, e, p, tf, K)  # one log-domain averaged step, then the symmetric kernel
        f = 0.5 * (f + tf)
        absorb_sym(x, f, e, p, K)
        absorptions += 1
        lu[:] = 0.0
        while True:
            matvec(K, a * np.exp(lu), kau)
            err = 2.0 * float(np.dot(a, np.abs(np.exp(lu) * kau - 1.0)))
            if not np.isfinite(err):
                status = "numerical_failure"
                break
            if err <= stop:
                break
            if iterations >= max_iter:
                status = "max_iter_reached"
                break
            lu = 0.5 * (lu - np.log(kau))
            iterations += 1
            if np.abs(lu).max() > log_tau:
                f = f + e * lu
                absorb_sym(x, f, e, p, K)
                absorptions += 1
                lu[:] = 0.0
        if status != "optimal":
            break
        if stage < len(schedule) - 1:
            f = f + e * lu
    return SymmetricSinkhorn(f + e * lu, K, np.exp(lu), status, iterations, err, absorptions, len(schedule))
