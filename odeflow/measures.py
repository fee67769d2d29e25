"""Probability measures: weighted particle clouds and target densities.

A :class:`Cloud` is ``sum_i a_i delta_{x_i}``: float64 points of shape ``(n, d)`` and weights that are
non-negative and sum to one. It is validated once, when built, and is read-only afterwards.
Densities (targets of the semi-discrete method) subclass :class:`Density`.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_points, as_weights, as_rng, check_int


class Cloud:
    """A weighted point cloud ``sum_i a_i delta_{x_i}`` in R^d.

    Parameters
    ----------
    points : array_like, shape (n, d)
        Finite coordinates; copied to a read-only float64 array.
    weights : array_like, shape (n,), optional
        Non-negative, summing to 1 within 1e-9. Default: uniform ``1/n``.

    Examples
    --------
    >>> import odeflow as of
    >>> c = of.Cloud([[0.0, 0.0], [2.0, 0.0]])
    >>> c.n, c.dim, c.mean().tolist()
    (2, 2, [1.0, 0.0])
    """

    __slots__ = ("_points", "_weights", "_uniform")

    def __init__(self, points, weights=None):
        if isinstance(points, Cloud):
            if weights is None:
                weights = points.weights
            points = points.points
        x = as_points(points, "points")
        w = as_weights(weights, x.shape[0], "weights")
        x.setflags(write=False)
        w.setflags(write=False)
        self._points = x
        self._weights = w
        self._uniform = bool(np.all(w == w[0]))

    @classmethod
    def _trusted(cls, points: np.ndarray, weights: np.ndarray) -> "Cloud":
        """Build without validation (inputs already checked inside odeflow); still read-only."""
        obj = cls.__new__(cls)
        points = np.ascontiguousarray(points, dtype=np.float64)
        if points.flags.writeable:
            points = points.copy()
            points.setflags(write=False)
        obj._points = points
        obj._weights = weights
        obj._uniform = bool(np.all(weights == weights[0]))
        return obj

    @property
    def points(self) -> np.ndarray:
        """Read-only ``(n, d)`` float64 coordinates."""
        return self._points

    @property
    def weights(self) -> np.ndarray:
        """Read-only ``(n,)`` weights summing to one."""
        return self._weights

    @property
    def n(self) -> int:
        """Number of particles."""
        return self._points.shape[0]

    @property
    def dim(self) -> int:
        """Ambient dimension ``d``."""
        return self._points.shape[1]

    @property
    def is_uniform(self) -> bool:
        """True when every weight equals ``1/n``."""
        return self._uniform

    def mean(self) -> np.ndarray:
        """Weighted mean, shape ``(d,)``."""
        return self._weights @ self._points

    def cov(self) -> np.ndarray:
        """Weighted covariance ``sum_i a_i (x_i - m)(x_i - m)^T`` (population, not unbiased), ``(d, d)``."""
        centred = self._points - self.mean()
        return (centred * self._weights[:, None]).T @ centred

    def with_points(self, points) -> "Cloud":
        """A cloud with new (validated) points and the same weights.

        >>> import odeflow as of
        >>> of.Cloud([[0.0], [1.0]]).with_points([[5.0], [6.0]]).mean().tolist()
        [5.5]
        """
        x = as_points(points, "points")
        if x.shape[0] != self.n:
            raise ValueError(f"points: has {x.shape[0]} rows, the cloud has {self.n} particles")
        return Cloud(x, self._weights)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        kind = "uniform" if self._uniform else "weighted"
        return f"Cloud(n={self.n}, dim={self.dim}, {kind}, mean={np.round(self.mean(), 4).tolist()})"


class Density:
    """Base class of absolutely continuous target laws (the semi-discrete method's targets).

    Subclasses set ``dim`` and implement ``_sample(n, rng)``; they may add exact cell integrals.
    """

    dim: int

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n`` i.i.d. points, shape ``(n, dim)``; ``rng`` is a seed or a Generator."""
        n = check_int(n, "n", minimum=1)
        return self._sample(n, as_rng(rng))

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


def as_cloud(value, name: str) -> Cloud:
    """Accept a :class:`Cloud` or an ``(n, d)`` array (uniform weights) for argument ``name``."""
    if isinstance(value, Cloud):
        return value
    if isinstance(value, Density):
        raise TypeError(f"{name}: expected a Cloud or an (n, d) array, got a density ({type(value).__name__})")
    try:
        return Cloud(value)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{name}: {exc}") from None


def as_measure(value, name: str):
    """Accept a Cloud, a Density, or an ``(n, d)`` array (a uniform cloud)."""
    if isinstance(value, Density):
        return value
    return as_cloud(value, name)
