"""Entropic Kantorovich potentials between two clouds: Sinkhorn, plain or debiased (Sinkhorn divergence).

``method="entropic"`` replaces the exact potential by the entropic one,

    OT_eps(a, b) = min_pi <C, pi> + eps KL(pi | a x b),      pi_ij = a_i b_j exp((f_i + g_j - C_ij) / eps),

a smooth, everywhere-defined potential ``f(x) = -eps log sum_j b_j exp((g_j - c(x, y_j)) / eps)`` whose
gradient at ``x_i`` is ``x_i - T_i`` (w2), ``T_i = sum_j pi_ij y_j / sum_j pi_ij`` the barycentric
projection of the entropic plan. It converges to the exact potential as ``eps -> 0`` and is the standard
cheap stand-in for an exact one (and a model of a learned critic).

Options
-------
``epsilon`` (default 0.01)
    The regularisation, in units of the cost. With ``scale="target"`` (default) the absolute
    regularisation is ``eps = epsilon * cbar``, ``cbar = sum_jk b_j b_k c(y_j, y_k)`` the mean cost between
    two independent points of the target (for w2, ``cbar`` is the target's total variance, the trace of its
    covariance; the kernel ``exp(-|x - y|^2 / (2 eps))`` then has a width ``sqrt(epsilon * cbar)``, about
    ``sqrt(epsilon d)`` target standard deviations in dimension ``d``). ``cbar`` depends on the target only, so
    along a flow ``eps`` stays fixed and the drift is one fixed function of the particle cloud. With
    ``scale="absolute"`` ``epsilon`` is ``eps`` itself, in the cost's units. Both are in ``info``.
``debias`` (default True)
    Use the Sinkhorn divergence ``S_eps = OT_eps(a, b) - OT_eps(a, a)/2 - OT_eps(b, b)/2``: the drift
    becomes ``T_xy - T_xx`` (w2; ``T_xx`` the barycentric projection of the particles' entropic plan onto
    themselves), which vanishes when the particles coincide with the target, so the flow can reach it. The
    plain entropic flow (``debias=False``) stops at a contracted copy of the target, where ``T_xy = x``.
``tol`` (default 1e-8), ``max_iter`` (default 20000)
    Sinkhorn stops when the L1 marginal error ``sum_i |(pi 1)_i - a_i| + sum_j |(pi^T 1)_j - b_j|`` is at most
    ``tol`` (``info["marginal_error"]``, re-measured on the returned plan), or fails with
    ``status="max_iter_reached"``.
``warm_start`` (default True)
    Along a flow, start from the previous call's target potential ``g`` extrapolated linearly from the two
    previous calls, and from its estimated convergence rate; otherwise epsilon-scaling from a cold start.
    ``info["warm"]``: ``"cold"``, ``"warm"`` (previous potential), ``"extrapolated"``, or
    ``"cold (the warm start failed)"`` (the warm solve did not converge and was redone cold).
``memory_budget`` (bytes, default the package's budget: ``$ODEFLOW_MEMORY_BUDGET`` or half the RAM)
    The dense arrays need about ``8 (3 N M + 2 M^2 + N^2 + M^2)`` bytes with ``debias`` (the ``N x M`` kernel,
    at worst a fully dense plan, the Newton polish's ``M x M`` Hessian, the self-kernels; without ``debias``
    drop ``N^2 + M^2``; see :func:`dense_bytes`); above the budget the call raises ``ValueError`` naming ``N``,
    ``M`` and the sizes.
``plan_floor`` (default 1e-14)
    ``pot.plan`` keeps the entries with ``pi_ij >= plan_floor * a_i b_j``; the mass left out is
    ``info["plan_dropped_mass"]``. Targets, drift and costs use the whole plan.

Result
------
``cost``: ``S_eps`` with ``debias``, else ``OT_eps(a, b)`` (so ``pot.distance = sqrt(2 cost)`` for w2 is the
entropic, not the exact, distance). ``f, g``: ``f_xy - f_xx`` and ``g_xy - g_yy`` with ``debias`` (the first
variations of ``S_eps``), else the entropic duals; both up to additive constants. ``plan``: the entropic plan
``pi_xy``. ``targets``: ``x + drift`` for w2, ``T_xy`` for w1. ``drift``: for w2 ``T_xy - x`` or ``T_xy - T_xx``;
for w1 the plan-weighted mean of unit vectors ``(y_j - x_i)/|y_j - x_i|`` (minus the same mean over the
self-plan when debiased). Particles of weight 0 get the gradient of the entropic potential at their
position (their row of the kernel, normalised). ``info`` extras: ``epsilon``, ``epsilon_abs``, ``scale``,
``scale_cost`` (``cbar``), ``debias``, ``marginal_error`` (largest over the problems solved), ``ot_eps``,
``transport_cost`` (``<C, pi_xy>``, which decreases to the exact cost as ``eps -> 0``), ``ot_eps_xx``,
``ot_eps_yy``, ``sinkhorn_divergence``, ``marginal_error_xy`` / ``_xx`` / ``_yy`` (per problem),
``iterations_yy`` (the target's self-problem, solved once per solver), ``absorptions`` (log-domain kernel
rebuilds), ``repairs``, ``stages`` (epsilon-scaling stages), ``omega``, ``kappa`` (over-relaxation and the
estimated Sinkhorn rate), ``newton_steps`` (Newton polish after a stall), ``support_size``,
``plan_dropped_mass``, ``memory_bytes``. The algorithm, and why it is numba rather than POT, is described in
:mod:`odeflow.potentials.sinkhorn`.

Examples
--------
>>> import odeflow as of
>>> pot = of.kantorovich([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], method="entropic",
...                      epsilon=1e-3, debias=False)
>>> pot.info["status"], pot.drift.round(6).tolist()
('optimal', [[0.0, 1.0], [0.0, 1.0]])
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.sparse as sp

from .._checks import check_choice, check_int, check_real, memory_budget, MEMORY_ENV
from ..losses import Loss
from .base import KantorovichResult, PotentialSolver
from .sinkhorn import (NEWTON_MAX_M, absorb_rows, mean_cost, plan_csr, readout, sinkhorn, sinkhorn_symmetric,
                       softmin_cols)

# The package defines PotentialSolver before it imports this module (see potentials/__init__.py).

DEFAULT_EPSILON = 0.01
DEFAULT_TOL = 1e-8
DEFAULT_MAX_ITER = 20000
SCALES = ("target", "absolute")


def dense_bytes(n: int, m: int, debias: bool) -> int:
    """Bytes the entropic method's dense arrays may take for ``n`` particles and ``m`` target points.

    ``8 * 3 n m`` (the kernel and, at worst, a dense plan), ``8 * 2 m^2`` for the Newton polish (its Hessian
    and a product, for ``m <= NEWTON_MAX_M``), and ``8 (n^2 + m^2)`` for the self-kernels with ``debias``.

    >>> dense_bytes(1000, 1000, False), dense_bytes(1000, 1000, True)
    (40000000, 56000000)
    """
    newton = 2 * m * m if m <= NEWTON_MAX_M else 0
    return 8 * (3 * n * m + newton + ((n * n + m * m) if debias else 0))


class _Side:
    """Warm-start state of one Sinkhorn problem along a flow: the last two column potentials and the rate."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.g, self.g_prev, self.kappa = None, None, float("nan")

    def start(self, m):
        if self.g is None or self.g.shape[0] != m:
            return None, "cold"
        if self.g_prev is None or self.g_prev.shape[0] != m:
            return self.g.copy(), "warm"
        return 2.0 * self.g - self.g_prev, "extrapolated"

    def keep(self, g, w=None, kappa=float("nan")):
        if w is not None:  # fix the additive constant, so that two calls can be extrapolated
            g = g - float(np.dot(w, g))
        self.g_prev, self.g, self.kappa = self.g, g, kappa


class EntropicSolver(PotentialSolver):
    """Entropic (Sinkhorn) potentials against a fixed target cloud; see the module docstring for options.

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> solver = of.make_solver(2, of.Cloud([[1.0, 0.0], [1.0, 1.0]]), method="entropic", epsilon=1e-3)
    >>> pot = solver(of.Cloud([[0.0, 0.0], [0.0, 1.0]]))
    >>> pot.info["method"], pot.info["debias"], pot.success, pot.drift.round(6).tolist()
    ('entropic', True, True, [[1.0, 0.0], [1.0, 0.0]])
    """

    name = "entropic"
    target_kind = "cloud"

    def __init__(self, target, loss: Loss, *, epsilon=DEFAULT_EPSILON, debias=True, scale="target",
                 tol=DEFAULT_TOL, max_iter=DEFAULT_MAX_ITER, warm_start=True, memory_budget=None,
                 plan_floor=1e-14):
        super().__init__(target, loss)
        self.epsilon = check_real(epsilon, "epsilon", positive=True)
        for flag, name in ((debias, "debias"), (warm_start, "warm_start")):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__}")
        self.debias, self.warm_start = bool(debias), bool(warm_start)
        self.scale = check_choice(scale, "scale", SCALES)
        self.tol = check_real(tol, "tol", positive=True)
        self.max_iter = check_int(max_iter, "max_iter", minimum=1)
        if memory_budget is not None:
            if isinstance(memory_budget, bool) or not isinstance(memory_budget, numbers.Real):
                raise TypeError(f"memory_budget: expected a number of bytes, got {type(memory_budget).__name__}")
            check_real(memory_budget, "memory_budget", positive=True)
        self.memory_budget = memory_budget
        self.plan_floor = check_real(plan_floor, "plan_floor", nonneg=True)
        self.p = loss.p
        b = target.weights
        self._keep = np.flatnonzero(b > 0)  # zero-weight target points carry no mass: left out of the solve
        self._drop = np.flatnonzero(b <= 0)
        self._y, self._b = np.ascontiguousarray(target.points[self._keep]), b[self._keep]
        if self.scale == "target":
            self.scale_cost = self._target_scale()
            if not self.scale_cost > 0:
                raise ValueError("epsilon: scale='target' measures epsilon in units of the target's mean cost, "
                                 "which is 0 for a target of one point; pass scale='absolute'")
            self.eps = self.epsilon * self.scale_cost
        else:
            self.scale_cost, self.eps = 1.0, self.epsilon
        self._xy, self._xx = _Side(), _Side()
        self._yy = None  # (OT_eps(b, b), f_yy, g_yy on all target points, marginal error, iterations, status)

    def _target_scale(self) -> float:
        y, b = self._y, self._b
        if self.p == 2:
            centred = y - b @ y
            return float(b @ np.einsum("ij,ij->i", centred, centred))
        return float(mean_cost(y, b, y, b, 1))

    def reset(self):
        self._xy.clear()
        self._xx.clear()

    def _check_memory(self, n: int) -> int:
        m = self._y.shape[0]
        need = dense_bytes(n, m, self.debias)
        budget = memory_budget() if self.memory_budget is None else int(self.memory_budget)
        if need > budget:
            what = f"N x M = {n} x {m}" + (f", N x N = {n} x {n} and M x M = {m} x {m}" if self.debias else "")
            what += f"; Newton polish M x M = {m} x {m}" if m <= NEWTON_MAX_M else ""
            raise ValueError(
                f"method='entropic': the dense kernels ({what}) need about {need / 2**30:.2f} GiB, above the "
                f"memory budget of {budget / 2**30:.2f} GiB (option memory_budget=<bytes>, or ${MEMORY_ENV}); "
                f"use fewer particles or target points"
            )
        return need

    def _solve(self, x, a, y, b, side: _Side | None):
        """One Sinkhorn problem, warm-started from ``side`` (None: cold, no state kept)."""
        g0, warm = (None, "cold") if side is None or not self.warm_start else side.start(y.shape[0])
        kappa0 = side.kappa if side is not None and g0 is not None else float("nan")
        eps0 = None if g0 is not None else max(_product_cost(x, a, y, b, self.p), self.eps)
        s = sinkhorn(x, a, y, b, self.p, self.eps, g0=g0, kappa0=kappa0, eps0=eps0, tol=self.tol,
                     max_iter=self.max_iter)
        if g0 is not None and s.status != "optimal":  # the warm start failed: once more from cold
            s = sinkhorn(x, a, y, b, self.p, self.eps, eps0=max(_product_cost(x, a, y, b, self.p), self.eps),
                         tol=self.tol, max_iter=self.max_iter)
            warm = "cold (the warm start failed)"
        if side is not None and self.warm_start and s.status == "optimal":
            side.keep(s.g, b, s.kappa)
        elif side is not None:
            side.clear()
        out = readout(x, y, s.K, a, b, s.u, s.v, self.p)
        error = float(np.abs(out[2] - a).sum() + np.abs(out[3] - b).sum())
        return s, out, error, warm

    def _self(self, x, a, side: _Side | None):
        """The self-problem ``OT_eps(a, a)`` (symmetric Sinkhorn on the points of positive weight).

        Returns the solve, ``OT_eps(a, a)``, the self-potential at every point (c-transform at the
        zero-weight ones), the readout of every point's row and the marginal error."""
        pos = np.flatnonzero(a > 0)
        xs, ws = np.ascontiguousarray(x[pos]), a[pos]
        f0 = None
        if side is not None and self.warm_start:
            f0, _ = side.start(pos.size)
        eps0 = None if f0 is not None else max(_product_cost(xs, ws, xs, ws, self.p), self.eps)
        s = sinkhorn_symmetric(xs, ws, self.p, self.eps, f0=f0, eps0=eps0, tol=self.tol, max_iter=self.max_iter)
        if f0 is not None and s.status != "optimal":  # the warm start failed: once more from cold
            s = sinkhorn_symmetric(xs, ws, self.p, self.eps, eps0=max(_product_cost(xs, ws, xs, ws, self.p), self.eps),
                                   tol=self.tol, max_iter=self.max_iter)
        if side is not None:
            side.keep(s.f) if self.warm_start and s.status == "optimal" else side.clear()
        if pos.size == x.shape[0]:
            out, f_all = readout(xs, xs, s.K, ws, ws, s.u, s.u, self.p), s.f
        else:  # rows of the zero-weight points: one log-domain row step against the self-potential
            f_all, K = np.empty(x.shape[0]), np.empty((x.shape[0], pos.size))
            absorb_rows(x, xs, s.f, ws, self.eps, self.p, f_all, K)
            out = readout(x, xs, K, a, ws, np.ones(x.shape[0]), np.ones(pos.size), self.p)
        error = float(np.abs(out[2] - a).sum() + np.abs(out[3] - ws).sum())
        return s, float(2.0 * ws @ s.f), f_all, out, error

    def _self_target(self):
        """``OT_eps(b, b)`` and the target's self-potential on all its points (once: target and eps are fixed)."""
        if self._yy is None:
            s, ot_yy, g_yy, _, error = self._self(self._y, self._b, None)
            g_full = np.empty(self.target.n)
            g_full[self._keep] = g_yy
            if self._drop.size:
                tmp = np.empty(self._drop.size)
                softmin_cols(self._y, self.target.points[self._drop], s.f, self._b, self.eps, self.p, tmp)
                g_full[self._drop] = tmp
            self._yy = (ot_yy, g_full, error, s.iterations, s.status)
        return self._yy

    def solve(self, cloud):
        start = time.perf_counter()
        x, a = cloud.points, cloud.weights
        n = x.shape[0]
        need = self._check_memory(n)
        y, b = self._y, self._b
        s, (t_xy, u_xy, _, _, transport), err_xy, warm = self._solve(x, a, y, b, self._xy)
        g_full = np.empty(self.target.n)
        g_full[self._keep] = s.g
        if self._drop.size:
            tmp = np.empty(self._drop.size)
            softmin_cols(x, self.target.points[self._drop], s.f, a, self.eps, self.p, tmp)
            g_full[self._drop] = tmp
        ot_xy = float(a @ s.f + b @ s.g)
        problems = [("xy", s.status, err_xy, s.iterations)]
        info = {"ot_eps": ot_xy, "transport_cost": float(transport), "marginal_error_xy": err_xy,
                "absorptions": s.absorptions, "repairs": s.repairs, "stages": s.stages,
                "omega": float(s.omega), "kappa": float(s.kappa), "newton_steps": s.newton_steps}
        f, cost = s.f, ot_xy
        drift = (t_xy - x) if self.p == 2 else u_xy
        if self.debias:
            sx, ot_xx, f_xx, (t_xx, u_xx, _, _, _), err_xx = self._self(x, a, self._xx)
            ot_yy, g_yy, err_yy, it_yy, status_yy = self._self_target()
            cost = ot_xy - 0.5 * ot_xx - 0.5 * ot_yy
            f = s.f - f_xx
            g_full = g_full - g_yy
            drift = drift - ((t_xx - x) if self.p == 2 else u_xx)
            problems += [("xx", sx.status, err_xx, sx.iterations), ("yy", status_yy, err_yy, 0)]
            info.update(ot_eps_xx=ot_xx, ot_eps_yy=ot_yy, sinkhorn_divergence=cost, marginal_error_xx=err_xx,
                        marginal_error_yy=err_yy, iterations_yy=it_yy, absorptions_xx=sx.absorptions)
        indptr, indices, data = plan_csr(s.K, a, b, s.u, s.v, self.plan_floor)
        plan = sp.csr_array((data, self._keep[indices], indptr), shape=(n, self.target.n))
        targets = x + drift if self.p == 2 else t_xy
        info = {**self._info(problems, warm, n, need), **info,
                "support_size": int(data.size), "plan_dropped_mass": float(max(1.0 - data.sum(), 0.0))}
        info["seconds"] = time.perf_counter() - start
        return KantorovichResult(cost=float(cost), f=f, g=g_full, plan=plan, targets=targets, drift=drift,
                                 info=info, loss=self.loss.name)

    def _info(self, problems, warm, n, need):
        failed = [(name, status, err) for name, status, err, _ in problems
                  if status != "optimal" or not err <= self.tol]
        if failed:
            name, status, err = failed[0]
            status = status if status != "optimal" else "marginal_error"
            what = {"xy": "particles -> target", "xx": "particles -> particles (debiasing)",
                    "yy": "target -> target (debiasing)"}[name]
            message = (f"Sinkhorn ({what}) stopped: {status}, marginal error {err:.2e} "
                       f"(tol {self.tol:.1e}, max_iter {self.max_iter})")
        else:
            status = "optimal"
            message = (f"converged: marginal error {max(p[2] for p in problems):.2e} <= tol {self.tol:.1e}, "
                       f"eps = {self.eps:.3g}")
        return {
            "method": "entropic", "path": "debiased" if self.debias else "plain", "status": status,
            "success": status == "optimal", "message": message,
            "iterations": int(sum(p[3] for p in problems)), "warm": warm, "n_sites": int(n),
            "epsilon": self.epsilon, "epsilon_abs": self.eps, "scale": self.scale, "scale_cost": self.scale_cost,
            "debias": self.debias, "tol": self.tol, "max_iter": self.max_iter,
            "marginal_error": float(max(p[2] for p in problems)), "memory_bytes": int(need),
        }


def _product_cost(x, a, y, b, p) -> float:
    """Cost of the independent coupling (the cold start's first epsilon)."""
    if p == 2:
        mx, my = a @ x, b @ y
        cx, cy = x - mx, y - my
        return 0.5 * float(a @ np.einsum("ij,ij->i", cx, cx) + b @ np.einsum("ij,ij->i", cy, cy)
                           + np.dot(mx - my, mx - my))
    return float(mean_cost(x, a, y, b, 1))
