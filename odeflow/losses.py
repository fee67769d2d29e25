"""The two losses: their cost, the distance they define, and the drift a transport plan induces.

==========  ====================  ===================  ============================================
loss        J(mu)                 cost c(x, y)         drift at particle i (T_i its target)
==========  ====================  ===================  ============================================
``"w2"``    1/2 W2^2(mu, mu_d)    ``1/2 |x - y|^2``    ``T_i - x_i`` with T_i the barycentric target
``"w1"``    W1(mu, mu_d)          ``|x - y|``          plan-weighted mean of unit vectors ``(y_j - x_i)/|y_j - x_i|``
==========  ====================  ===================  ============================================

For w1, when a particle's mass is split between targets in different directions the mean of unit
vectors is shorter than 1; mass already sitting on its target contributes 0. So every w1 drift has
norm <= 1 (theory :ref:`§1 <theory-conventions>`).

This module sits just above :mod:`odeflow.measures`: the potential solvers need the cost and the drift
rule to fill :attr:`KantorovichResult.drift`, so it is imported by :mod:`odeflow.potentials`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from ._checks import check_choice


@dataclass(frozen=True)
class Loss:
    """A transport loss (``w2`` or ``w1``).

    Examples
    --------
    >>> from odeflow.losses import get_loss
    >>> get_loss("w2").cost_matrix([[0.0, 0.0]], [[3.0, 4.0]]).tolist()
    [[12.5]]
    >>> get_loss("w1").distance(5.0)
    5.0
    """

    name: str
    p: int

    def cost_matrix(self, x, y) -> np.ndarray:
        """Dense ``(n, m)`` cost ``c(x_i, y_j)``, computed from differences (no cancellation)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if self.p == 2:
            return 0.5 * cdist(x, y, "sqeuclidean")
        return cdist(x, y, "euclidean")

    def pair_cost(self, x, y) -> np.ndarray:
        """Cost of matched rows, ``c(x_k, y_k)``, shape ``(k,)``."""
        sq = np.einsum("ij,ij->i", x - y, x - y)
        return 0.5 * sq if self.p == 2 else np.sqrt(sq)

    def distance(self, cost: float) -> float:
        """The Wasserstein distance from an optimal cost: ``sqrt(2 cost)`` for w2, ``cost`` for w1."""
        if self.p == 2:
            return float(np.sqrt(max(2.0 * cost, 0.0)))
        return float(cost)

    def targets_and_drift(self, x, y, rows, cols, mass, a):
        """Barycentric targets and drift of every particle from the plan's non-zero entries.

        Parameters
        ----------
        x : (n, d) particles; y : (m, d) targets; rows, cols, mass : the plan's entries
        ``pi[rows[k], cols[k]] = mass[k]``; a : (n,) particle weights (the plan's row sums).

        Rows with ``a_i = 0`` carry no mass: the caller gives each a single entry (its c-transform
        target) with any positive mass, which this function renormalises per row.

        Returns
        -------
        targets, drift : (n, d) arrays.
        """
        n, d = x.shape
        row_mass = np.bincount(rows, weights=mass, minlength=n)
        row_mass = np.where(row_mass > 0, row_mass, 1.0)  # only rows without any entry (cannot happen)
        w = mass / row_mass[rows]
        targets = _row_sums(rows, w[:, None] * y[cols], n)
        if self.p == 2:
            return targets, targets - x
        diff = y[cols] - x[rows]
        norm = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        unit = np.divide(diff, norm[:, None], out=np.zeros_like(diff), where=norm[:, None] > 0)
        return targets, _row_sums(rows, w[:, None] * unit, n)


def _row_sums(rows, values, n):
    """``out[i] = sum of values[k] over k with rows[k] == i``, for ``values`` of shape (k, d)."""
    return np.stack([np.bincount(rows, weights=values[:, j], minlength=n) for j in range(values.shape[1])], axis=1)


W2 = Loss("w2", 2)
W1 = Loss("w1", 1)
LOSSES = {"w2": W2, "w1": W1}


def get_loss(loss) -> Loss:
    """Return the :class:`Loss` named ``loss`` (``"w2"`` or ``"w1"``), or ``loss`` itself.

    >>> get_loss("w1").p
    1
    """
    if isinstance(loss, Loss):
        return loss
    return LOSSES[check_choice(loss, "loss", LOSSES)]
