"""The one result type every Kantorovich solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, repr=False)
class KantorovichResult:
    """A Kantorovich potential between a particle cloud and a target, with everything derived from it.

    Attributes
    ----------
    cost : float
        Optimal transport cost: ``1/2 W2^2`` for w2, ``W1`` for w1.
    f : ndarray, shape (n,)
        Dual on the particles (for density targets: the semi-dual ``psi``).
    g : ndarray, shape (m,) or None
        Dual on the target points (None for density targets).
    plan : scipy.sparse.csr_array, shape (n, m), or None
        Optimal plan for discrete targets (only its non-zero entries are stored).
    targets : ndarray, shape (n, d)
        Barycentric targets ``T_i = sum_j pi_ij y_j / a_i`` (cell centroids for densities).
    drift : ndarray, shape (n, d)
        ``-grad phi`` at the particles: ``T_i - x_i`` for w2, the plan-weighted mean of unit vectors for w1.
    info : dict
        Solver diagnostics: ``method``, ``status`` ("optimal" when solved), ``success``, ``message``,
        ``iterations``, ``seconds`` and method-specific entries.
    loss : str
        ``"w2"`` or ``"w1"``.
    """

    cost: float
    f: np.ndarray
    g: np.ndarray | None
    plan: object
    targets: np.ndarray
    drift: np.ndarray
    info: dict = field(default_factory=dict)
    loss: str = "w2"

    @property
    def distance(self) -> float:
        """The Wasserstein distance: ``sqrt(2 cost)`` for w2, ``cost`` for w1."""
        return float(np.sqrt(max(2.0 * self.cost, 0.0))) if self.loss == "w2" else float(self.cost)

    @property
    def success(self) -> bool:
        """True when the solver reported an optimal (or within-tolerance) solution."""
        return bool(self.info.get("success", False))

    def __repr__(self) -> str:
        n = self.f.shape[0]
        m = "density" if self.g is None else self.g.shape[0]
        return (
            f"KantorovichResult(loss={self.loss!r}, method={self.info.get('method')!r}, n={n}, m={m}, "
            f"cost={self.cost:.6g}, distance={self.distance:.6g}, status={self.info.get('status')!r})"
        )
