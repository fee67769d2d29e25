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


def _as_vector(value, name: str) -> np.ndarray:
    """A finite float64 1-D array (copied)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name}: expected a 1-D array of numbers, got {type(value).__name__}")
    try:
        v = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a 1-D array of numbers ({exc})") from None
    if v.ndim != 1 or v.size < 1:
        raise ValueError(f"{name}: expected a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: contains non-finite value(s) (NaN or inf)")
    return v


#: Relative tolerance of the symmetry and positive-semidefiniteness checks of a covariance.
COV_TOL = 1e-10

#: Largest accepted condition number (largest / smallest eigenvalue) of a covariance. Beyond it the law
#: is (numerically) concentrated on a lower-dimensional set: it has no density, and the semi-discrete
#: solvers, which need one, would fail later with NaN.
COV_MAX_CONDITION = 1e12


def _as_covariance(value, dim: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric positive-definite ``(dim, dim)`` matrix (condition number at most
    :data:`COV_MAX_CONDITION`) and a square-root factor ``L L^T = C``."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name}: expected a ({dim}, {dim}) array of numbers, got {type(value).__name__}")
    try:
        c = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a ({dim}, {dim}) array of numbers ({exc})") from None
    if c.shape != (dim, dim):
        raise ValueError(f"{name}: expected shape ({dim}, {dim}), got {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name}: contains non-finite value(s) (NaN or inf)")
    scale = max(float(np.abs(c).max()), np.finfo(float).tiny)
    if np.abs(c - c.T).max() > COV_TOL * scale:
        raise ValueError(f"{name}: is not symmetric (max |C - C^T| = {np.abs(c - c.T).max():.3g})")
    c = 0.5 * (c + c.T)
    w, v = np.linalg.eigh(c)
    if w.min() < -COV_TOL * scale:
        raise ValueError(f"{name}: is not positive semidefinite (smallest eigenvalue {w.min():.3g})")
    if w.max() <= 0:
        raise ValueError(f"{name}: is zero; a Gaussian target needs a positive-definite covariance")
    if w.min() <= w.max() / COV_MAX_CONDITION:
        cond = w.max() / w.min() if w.min() > 0 else float("inf")
        raise ValueError(f"{name}: is singular or nearly so (eigenvalues {w.min():.3g} .. {w.max():.3g}, condition "
                         f"number {cond:.3g} > {COV_MAX_CONDITION:.0e}); the law would have no density: give a "
                         f"positive-definite covariance (e.g. add a small multiple of the identity)")
    return c, v * np.sqrt(w)


class Gaussian(Density):
    """The normal law ``N(mean, cov)`` in R^d (``cov`` positive definite).

    Parameters
    ----------
    mean : array_like, shape (d,)
    cov : array_like, shape (d, d)
        Symmetric (to a relative 1e-10) and positive definite, with condition number at most
        :data:`COV_MAX_CONDITION` (1e12): a singular or nearly singular covariance (a law on a line, say)
        has no density and is refused with a ValueError naming ``cov``.

    Examples
    --------
    >>> import odeflow as of
    >>> g = of.Gaussian([0.0, 1.0], [[1.0, 0.0], [0.0, 4.0]])
    >>> g.dim, g.sample(3, rng=0).shape
    (2, (3, 2))
    """

    def __init__(self, mean, cov):
        self.mean = _as_vector(mean, "mean")
        self.dim = self.mean.size
        self.cov, self._factor = _as_covariance(cov, self.dim, "cov")
        for arr in (self.mean, self.cov, self._factor):
            arr.setflags(write=False)

    def _sample(self, n, rng):
        return self.mean + rng.standard_normal((n, self.dim)) @ self._factor.T

    def __repr__(self) -> str:
        return f"Gaussian(dim={self.dim}, mean={np.round(self.mean, 4).tolist()})"


class GaussianMixture(Density):
    """A mixture ``sum_k w_k N(means[k], covs[k])``.

    Parameters
    ----------
    means : array_like, shape (k, d)
    covs : array_like, shape (k, d, d)
        Each symmetric positive definite, as for :class:`Gaussian` (refused naming ``covs[j]`` otherwise).
    weights : array_like, shape (k,), optional
        Non-negative, summing to 1; default uniform.

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> gm = of.GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], [0.01 * np.eye(2)] * 2)
    >>> gm.dim, gm.n_components
    (2, 2)
    """

    def __init__(self, means, covs, weights=None):
        self.means = as_points(means, "means")
        k, self.dim = self.means.shape
        try:
            covs = np.asarray(covs, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"covs: expected a ({k}, d, d) array of numbers ({exc})") from None
        if covs.shape != (k, self.dim, self.dim):
            raise ValueError(f"covs: expected shape ({k}, {self.dim}, {self.dim}) for {k} means, got {covs.shape}")
        pairs = [_as_covariance(covs[j], self.dim, f"covs[{j}]") for j in range(k)]
        self.covs = np.stack([c for c, _ in pairs])
        self._factors = np.stack([f for _, f in pairs])
        self.weights = as_weights(weights, k, "weights")
        for arr in (self.means, self.covs, self._factors, self.weights):
            arr.setflags(write=False)

    @property
    def n_components(self) -> int:
        """Number of components ``k``."""
        return self.means.shape[0]

    def _sample(self, n, rng):
        comp = rng.choice(self.n_components, size=n, p=self.weights)
        z = rng.standard_normal((n, self.dim))
        return self.means[comp] + np.einsum("nij,nj->ni", self._factors[comp], z)

    def __repr__(self) -> str:
        return f"GaussianMixture(dim={self.dim}, components={self.n_components})"


class UniformBox(Density):
    """The uniform law on the box ``prod_k [low_k, high_k]`` with corners ``low`` and ``high``.

    In two dimensions the semi-discrete method solves it exactly (polygonal Laguerre cells).

    Examples
    --------
    >>> import odeflow as of
    >>> box = of.UniformBox([0.0, 0.0], [2.0, 1.0])
    >>> box.dim, box.volume
    (2, 2.0)
    """

    def __init__(self, low, high):
        self.low = _as_vector(low, "low")
        self.high = _as_vector(high, "high")
        if self.high.size != self.low.size:
            raise ValueError(f"high: has length {self.high.size}, low has length {self.low.size}")
        if np.any(self.high <= self.low):
            bad = int(np.flatnonzero(self.high <= self.low)[0])
            raise ValueError(f"high: must exceed low in every coordinate (coordinate {bad}: "
                             f"low {self.low[bad]:g}, high {self.high[bad]:g})")
        self.dim = self.low.size
        self.volume = float(np.prod(self.high - self.low))
        if not (np.isfinite(self.volume) and self.volume > 0):
            raise ValueError(f"high: the box volume {self.volume!r} is not a positive finite number")
        self.low.setflags(write=False)
        self.high.setflags(write=False)

    def _sample(self, n, rng):
        return self.low + (self.high - self.low) * rng.random((n, self.dim))

    def __repr__(self) -> str:
        return f"UniformBox(low={self.low.tolist()}, high={self.high.tolist()})"


class ImageDensity(Density):
    """A 2-D density, constant on the pixels of an image (any non-negative array with positive mass).

    Parameters
    ----------
    array : array_like, shape (rows, cols)
        Non-negative pixel intensities; normalised to a probability density. Row 0 is the **top** of
        the picture, as in an image file and in ``imshow(array, extent=extent)``.
    extent : (left, right, bottom, top)
        The rectangle the image covers (matplotlib's convention), ``left < right``, ``bottom < top``.

    Attributes
    ----------
    grid : (rows, cols) ndarray
        The probability density on each pixel, row 0 at the **bottom** (``grid[r, c]`` covers
        ``y`` in ``[bottom + r dy, bottom + (r+1) dy]`` and ``x`` in ``[left + c dx, left + (c+1) dx]``).
    low, high : (2,) corners of the rectangle.

    Examples
    --------
    >>> import odeflow as of
    >>> img = of.ImageDensity([[0.0, 1.0], [1.0, 2.0]], extent=(0.0, 2.0, 0.0, 2.0))
    >>> img.grid.tolist()   # bottom row first, integrates to 1 over the 2 x 2 square
    [[0.25, 0.5], [0.0, 0.25]]
    """

    dim = 2

    def __init__(self, array, extent):
        if isinstance(array, (str, bytes)) or array is None:
            raise TypeError(f"array: expected a 2-D array of numbers, got {type(array).__name__}")
        try:
            img = np.array(array, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"array: expected a 2-D array of numbers ({exc})") from None
        if img.ndim != 2 or min(img.shape) < 1:
            raise ValueError(f"array: expected a non-empty 2-D array (rows, cols), got shape {img.shape}")
        if not np.all(np.isfinite(img)):
            raise ValueError("array: contains non-finite value(s) (NaN or inf)")
        if np.any(img < 0):
            raise ValueError(f"array: contains negative value(s) (min {img.min():g}); intensities must be >= 0")
        total = float(img.sum())
        if not total > 0:
            raise ValueError("array: has zero total mass; at least one pixel must be positive")
        ext = _as_vector(extent, "extent")
        if ext.size != 4:
            raise ValueError(f"extent: expected (left, right, bottom, top), got {ext.size} numbers")
        left, right, bottom, top = ext
        if not (right > left and top > bottom):
            raise ValueError(f"extent: needs left < right and bottom < top, got {tuple(ext.tolist())}")
        self.array = img
        self.extent = tuple(float(e) for e in ext)
        self.low = np.array([left, bottom])
        self.high = np.array([right, top])
        rows, cols = img.shape
        self.pixel = ((right - left) / cols, (top - bottom) / rows)
        self.grid = np.ascontiguousarray(img[::-1]) / (total * self.pixel[0] * self.pixel[1])
        for arr in (self.array, self.low, self.high, self.grid):
            arr.setflags(write=False)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the pixel grid."""
        return self.grid.shape

    def _sample(self, n, rng):
        rows, cols = self.grid.shape
        prob = self.grid.ravel() / self.grid.sum()
        flat = rng.choice(rows * cols, size=n, p=prob)
        r, c = np.divmod(flat, cols)
        u = rng.random((n, 2))
        return np.stack([self.low[0] + (c + u[:, 0]) * self.pixel[0],
                         self.low[1] + (r + u[:, 1]) * self.pixel[1]], axis=1)

    def __repr__(self) -> str:
        return f"ImageDensity(shape={self.shape}, extent={self.extent})"


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
