"""A :class:`~odeflow.potentials.base.KantorovichResult` assembled from the entries of a plan.

Shared by the exact solver and its warm start. Targets and drifts are read from the primal plan
(never from an arbitrary dual vertex, whose c-transform ties at many particles).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..losses import Loss
from .base import KantorovichResult


def plan_result(x, a, y, b, cost_matrix, rows, cols, mass, f, g, loss: Loss, info) -> KantorovichResult:
    """Assemble a :class:`KantorovichResult` from a plan's entries and its duals.

    Particles with zero weight get no mass from the plan; they are sent to their c-transform target
    ``argmin_j c(x_i, y_j) - g_j`` (any minimiser), which is where the potential's gradient points.
    """
    empty = np.flatnonzero(a <= 0)
    empty_cols = np.argmin(cost_matrix[empty] - g[None, :], axis=1) if empty.size else None
    return cells_result(x, a, y, rows, cols, mass, cost_matrix[rows, cols], f, g, loss, info,
                        empty_cols=empty_cols)


def cells_result(x, a, y, rows, cols, mass, cell_cost, f, g, loss: Loss, info, *, empty_cols=None,
                 plan=None) -> KantorovichResult:
    """:func:`plan_result` without a cost matrix: the costs of the plan's cells are given instead.

    ``empty_cols`` are the c-transform targets of the zero-weight particles (in increasing order of
    those particles; required when there are any); ``plan`` is the sparse plan if already built.
    """
    n, m = x.shape[0], y.shape[0]
    empty = np.flatnonzero(a <= 0)
    if empty.size:
        rows_d = np.concatenate([rows, empty])
        cols_d = np.concatenate([cols, empty_cols])
        mass_d = np.concatenate([mass, np.ones(empty.size)])
    else:
        rows_d, cols_d, mass_d = rows, cols, mass
    targets, drift = loss.targets_and_drift(x, y, rows_d, cols_d, mass_d, a)
    cost = float(np.dot(mass, cell_cost))
    if plan is None:
        plan = sp.csr_array((mass, (rows, cols)), shape=(n, m))
    return KantorovichResult(cost=cost, f=f, g=g, plan=plan, targets=targets, drift=drift, info=info,
                             loss=loss.name)
