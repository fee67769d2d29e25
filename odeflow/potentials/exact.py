"""Exact Kantorovich potentials between two clouds: POT's network simplex (``ot.emd``).

The plan is the primal optimum; targets and drifts are read from it (never from an arbitrary dual
vertex, whose c-transform ties at many particles). Duals come from the simplex basis. A non-optimal
exit of the simplex (iteration cap, infeasible) is reported in ``info``, never passed off as optimal.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace

import numpy as np

from .._checks import check_dense_memory, check_int
from ..losses import Loss
from .base import KantorovichResult, PotentialSolver
from .plan import plan_result
from .warm import make_state, repair_budget, try_reuse

#: POT's network-simplex result codes.
_STATUS = {0: "infeasible", 1: "optimal", 2: "unbounded", 3: "max_iter_reached"}
#: Dense n x m float64 arrays alive at once: our cost matrix, POT's plan, and its internal arc arrays.
DENSE_COPIES = 6
DEFAULT_MAX_ITER = 10_000_000


def solve_exact(src, tgt, loss: Loss, *, max_iter: int = DEFAULT_MAX_ITER, duals_init=None) -> KantorovichResult:
    """Solve the discrete OT problem exactly with POT's network simplex.

    Parameters
    ----------
    src, tgt : Cloud
        Particles and target cloud (same dimension; checked by the caller).
    loss : Loss
        The cost to use.
    max_iter : int
        Iteration cap of the network simplex; hitting it gives ``info["status"] == "max_iter_reached"``.
    duals_init : tuple of arrays, optional
        Warm start for the simplex (POT's ``potentials_init``).

    Examples
    --------
    >>> import odeflow as of
    >>> from odeflow.losses import W2
    >>> r = solve_exact(of.Cloud([[0.0], [1.0]]), of.Cloud([[1.0], [2.0]]), W2)
    >>> round(r.cost, 12), r.info["status"]
    (0.5, 'optimal')
    """
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    x, a, y, b = src.points, src.weights, tgt.points, tgt.weights
    n, m = x.shape[0], y.shape[0]
    check_dense_memory(n, m, DENSE_COPIES, "method='exact'")
    import ot  # noqa: PLC0415  (POT and the scipy.stats it pulls in load on the first solve, not on import)

    start = time.perf_counter()
    C = loss.cost_matrix(x, y)
    # POT's network simplex (from LEMON) gives its artificial arcs the cost (max c + 1) * nodes: the "+1"
    # is absolute, so its potentials and reduced costs carry an absolute error ~ eps * nodes * (1 + max c).
    # Costs far below 1 (clouds of extent 1e-3 have w2 costs ~ 1e-6) then lose their relative accuracy:
    # infeasible duals, and below ~1e-10 a non-optimal plan. The LP is scale-invariant: solve it with the
    # costs divided by their maximum and scale the duals back.
    unit = float(C.max()) if C.size and C.max() > 0 else 1.0
    init = None if duals_init is None else tuple(np.asarray(u, dtype=np.float64) / unit for u in duals_init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # POT warns on non-optimal exits; we report them
        G, log = ot.emd(a, b, C / unit, numItermax=max_iter, log=True, potentials_init=init)
    code = int(log["result_code"])
    status = _STATUS.get(code, f"code {code}")
    rows, cols = np.nonzero(G)
    info = {
        "method": "exact",
        "path": "network_simplex",
        "solver": "POT network simplex (ot.emd)",
        "status": status,
        "message": "optimal" if code == 1 else f"network simplex stopped: {status} ({log['warning']})",
        "iterations": -1,  # POT does not expose the simplex's iteration count
        "max_iter": max_iter,
        "support_size": int(rows.size),
        "warm": "cold" if duals_init is None else "resolved",
        "seconds": time.perf_counter() - start,
    }
    return plan_result(x, a, y, b, C, rows, cols, G[rows, cols], unit * np.asarray(log["u"], dtype=np.float64),
                       unit * np.asarray(log["v"], dtype=np.float64), loss, info)


class ExactSolver(PotentialSolver):
    """POT network simplex, warm-started along a trajectory.

    Options: ``max_iter`` (int, default 10^7); ``warm_start`` (bool, default True): reuse the previous
    call's plan when a dual certificate shows it is still optimal (:mod:`.warm`), else re-solve.
    ``info["warm"]`` says which path a call took: ``"cold"`` (no usable previous solve),
    ``"reused"`` or ``"resolved"`` (the previous plan was not certified).

    Examples
    --------
    >>> import odeflow as of
    >>> solver = ExactSolver(of.Cloud([[1.0], [2.0]]), of.losses.W2)
    >>> [solver(of.Cloud(x)).info["warm"] for x in ([[0.0], [3.0]], [[0.1], [2.9]])]
    ['cold', 'reused']
    """

    name = "exact"

    def __init__(self, target, loss, *, max_iter: int = DEFAULT_MAX_ITER, warm_start: bool = True):
        super().__init__(target, loss)
        self.max_iter = check_int(max_iter, "max_iter", minimum=1)
        if not isinstance(warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start: expected a bool, got {type(warm_start).__name__}")
        self.warm_start = bool(warm_start)
        self._state = None

    def reset(self):
        self._state = None

    def solve(self, cloud):
        attempt = None
        if self._state is not None:
            attempt = try_reuse(self._state, cloud.points, cloud.weights, self.target, self.loss,
                                max_scans=repair_budget(cloud.n, self.target.n))
            if attempt.result is not None:
                return attempt.result
        warm = attempt is not None and attempt.duals_init is not None
        result = solve_exact(cloud, self.target, self.loss, max_iter=self.max_iter,
                             duals_init=attempt.duals_init if warm else None)
        if attempt is not None:
            extra = {k: v for k, v in attempt.info.items() if k not in ("warm", "status", "message")}
            result = replace(result, info=result.info.replace(
                **extra, seconds=result.info["seconds"] + attempt.info["check_seconds"]))
        self._state = make_state(cloud.points, cloud.weights, result) if self.warm_start and result.success else None
        return result
