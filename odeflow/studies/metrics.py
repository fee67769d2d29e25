"""The papers' evaluation metric, exact Wasserstein distances between fixed-size batches, in two protocols.

Both compare a batch of ``batch`` particles (the generated samples) with a batch of data (512 points
in the papers) by exact W1 and W2 (uniform weights):

* ``"fixed"``, the authors' protocol (GitHub ZaMalik123/Generative-Networks, exp_2d/main.py lines
  58-65 and 102-104, commit 06e0ce0): one latent batch ``fixed_z`` and one data batch ``fixed_r`` are
  drawn once, before training (base_model.py lines 16-17); the data batch is matched to the latent
  batch by an optimal assignment under ``|x - y|^2 / 2`` (``discrete_tz``, utils.py lines 17-25), and
  every 10 iterations the metric is ``W_p(G(fixed_z), discrete_tz)``. On particles the fixed latent
  batch is a fixed set of particles followed through time (:class:`FixedBatch`), an iteration is one
  potential solve (one Euler step), and the values are :func:`fixed_batch_curve`. The distance keeps a
  floor, the distance between the data batch and the law the particles reach, but no noise from
  redrawing: the curve is smooth and comparisons between runs share the same batches.
* ``"fresh"``: a new particle subsample and a new data batch at every evaluation
  (:func:`batch_wasserstein`, :func:`batch_curve`); noisy, with the floor of two independent batches.

:func:`metric_curve` runs either by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from .._checks import as_rng, check_choice, check_int
from ..measures import Cloud, Density, as_cloud
from ..potentials import wasserstein

#: The papers' batch size (options.py line 19).
BATCH = 512
#: The authors evaluate every 10 training iterations (main.py line 95).
AUTHORS_EVERY = 10
#: Protocol names for :func:`metric_curve`.
PROTOCOLS = ("fixed", "fresh")


def _draw(source, n, rng, name):
    """``n`` points from a Cloud (subsample), a Density, or a callable ``(n, rng) -> Cloud | array``."""
    if isinstance(source, Cloud):
        if source.is_uniform:
            idx = rng.choice(source.n, size=n, replace=False) if n < source.n else np.arange(source.n)
        else:  # weighted: draw from the weights (with replacement)
            idx = rng.choice(source.n, size=n, replace=True, p=source.weights)
        return source.points[idx]
    if isinstance(source, Density):
        return source.sample(n, rng)
    if callable(source):
        out = source(n, rng)
        return out.points if isinstance(out, Cloud) else np.asarray(out, dtype=np.float64)
    return _draw(as_cloud(source, name), n, rng, name)


def _check_p(p):
    ps = p if isinstance(p, tuple) else (p,)
    if not ps or any(q not in (1, 2) or isinstance(q, bool) for q in ps):
        raise ValueError(f"p: must be 1, 2 or a tuple of them, got {p!r}")
    return ps


def batch_wasserstein(particles, target, p=2, batch=BATCH, rng=None):
    """Exact ``W_p`` between ``batch`` particles and a fresh ``batch``-point sample of the target
    (one evaluation of the fresh-batch protocol).

    Parameters
    ----------
    particles : Cloud or (N, d) array
        Subsampled without replacement to ``batch`` points (all of them when ``N <= batch``); a
        weighted cloud is sampled from its weights.
    target : Cloud, Density, or callable ``draw(n, rng) -> Cloud or array``
        Where the fresh batch comes from (e.g. :func:`odeflow.datasets.problem_sampler`); a Cloud is
        subsampled like ``particles``.
    p : {1, 2} or tuple of them
        A tuple, e.g. ``(1, 2)``, computes each distance on the *same* pair of batches.
    batch : int
        Batch size, >= 1 (the papers use 512).
    rng : int or numpy.random.Generator, optional

    Returns
    -------
    float, or a tuple of floats (one per entry of ``p``)

    Examples
    --------
    >>> import odeflow as of
    >>> from odeflow import datasets
    >>> d = batch_wasserstein(datasets.get("ring8", 300, rng=0), datasets.problem_sampler("ring8"),
    ...                       p=1, batch=64, rng=1)
    >>> 0.0 < d < 0.5
    True
    """
    ps = _check_p(p)
    batch = check_int(batch, "batch", minimum=1)
    rng = as_rng(rng)
    if not isinstance(target, (Cloud, Density)) and not callable(target):
        target = as_cloud(target, "target")
    a = _draw(as_cloud(particles, "particles"), batch, rng, "particles")
    b = _draw(target, batch, rng, "target")
    if b.ndim != 2 or b.shape[1] != a.shape[1]:
        raise ValueError(f"target: draws points of shape {b.shape}, the particles have dimension {a.shape[1]}")
    out = tuple(wasserstein(a, b, p=q) for q in ps)
    return out if isinstance(p, tuple) else out[0]


def batch_curve(result, target, p=2, batch=BATCH, rng=None, every=1) -> tuple[np.ndarray, np.ndarray]:
    """The fresh-batch protocol: :func:`batch_wasserstein` at the recorded times of a
    :class:`~odeflow.SimulationResult`, new batches at every time.

    Parameters
    ----------
    result : SimulationResult
    target, p, batch, rng
        As in :func:`batch_wasserstein`; one generator serves the whole curve, so it is reproducible.
    every : int
        Use every ``every``-th record (the last one always).

    Returns
    -------
    t : (R,) array
    distance : (R,) array, or (R, len(p)) when ``p`` is a tuple (each row from one pair of batches)

    Examples
    --------
    >>> import odeflow as of
    >>> src, tgt = of.datasets.problem("ring8", 64, rng=0)
    >>> res = of.simulate(src, tgt, h=0.5, t_end=2.0, progress=False)
    >>> t, d = batch_curve(res, of.datasets.problem_sampler("ring8"), batch=32, rng=0)
    >>> t.tolist(), bool(d[-1] < d[0])
    ([0.0, 0.5, 1.0, 1.5, 2.0], True)
    >>> batch_curve(res, of.datasets.problem_sampler("ring8"), p=(1, 2), batch=32, rng=0)[1].shape
    (5, 2)
    """
    _check_p(p)
    every = check_int(every, "every", minimum=1)
    rng = as_rng(rng)
    picks = _picks(result.t.size, every)
    weights = result.final.weights
    dist = np.array([batch_wasserstein(Cloud._trusted(result.points[k], weights), target, p=p, batch=batch, rng=rng)
                     for k in picks])
    return result.t[picks], dist


# --- the authors' protocol: fixed batches -----------------------------------------------------------


def _picks(n_records, every):
    return np.unique(np.r_[np.arange(0, n_records, every), n_records - 1])


@dataclass(frozen=True, repr=False)
class FixedBatch:
    """The authors' fixed batches: particles followed through time and the data batch matched to them.

    Attributes
    ----------
    index : (B,) int array
        The particles of the fixed latent batch (the analogue of ``fixed_z``: their positions at a
        time play ``G(fixed_z)``).
    data : (B, d) array
        The fixed data batch (``fixed_r``), reordered so that ``data[i]`` is the optimal partner of
        particle ``index[i]`` at the start under ``|x - y|^2 / 2`` (``discrete_tz``). The order does
        not change the distances; it gives :meth:`matched_l2`.

    Notes
    -----
    The authors' ``fixed_z`` is a whole batch of their source generator, with its exact per-mode
    counts. With N = ``batch`` particles drawn the same way, the fixed latent batch is every particle
    and keeps those counts; with more particles a random ``batch`` of them does not, and on mixtures
    the unequal counts leave mass to move between modes at the end (on 4gaussians, N = 1000, batch
    512: final W2 about 0.16 instead of about 0.04).
    """

    index: np.ndarray
    data: np.ndarray

    def _select(self, points):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != self.data.shape[1] or points.shape[0] <= self.index.max():
            raise ValueError(f"points: expected all the particles, shape (N, {self.data.shape[1]}) with N > "
                             f"{self.index.max()}, got {points.shape}")
        return points[self.index]

    def distance(self, points, p=2):
        """Exact ``W_p`` between the fixed particles of ``points`` (all N at one time) and the data batch.

        ``p`` is 1, 2 or a tuple of them (then a tuple of floats), as in :func:`batch_wasserstein`.

        >>> import numpy as np
        >>> fb = FixedBatch(index=np.array([0, 1]), data=np.array([[0.0, 1.0], [1.0, 1.0]]))
        >>> fb.distance(np.array([[0.0, 0.0], [1.0, 0.0], [9.0, 9.0]]), p=(1, 2))
        (1.0, 1.0)
        """
        ps = _check_p(p)
        x = self._select(points)
        out = tuple(wasserstein(x, self.data, p=q) for q in ps)
        return out if isinstance(p, tuple) else out[0]

    def matched_l2(self, points) -> float:
        """Mean ``|x_i - data_i|`` over the fixed batch: the authors' ``l2_dist/discrete_T_x--G_x``
        (main.py line 107), the distance to the partners of the start's optimal assignment.

        >>> import numpy as np
        >>> fb = FixedBatch(index=np.array([0]), data=np.array([[3.0, 4.0]]))
        >>> fb.matched_l2(np.zeros((2, 2)))
        5.0
        """
        x = self._select(points)
        return float(np.mean(np.linalg.norm(x - self.data, axis=1)))

    def __repr__(self) -> str:
        return f"FixedBatch(batch={self.index.size}, dim={self.data.shape[1]})"


def fixed_batch(particles, target, batch=BATCH, rng=None) -> FixedBatch:
    """Draw the authors' fixed batches once: ``batch`` particles and a ``batch``-point data batch.

    Parameters
    ----------
    particles : Cloud or (N, d) array
        The particles at the start. ``min(batch, N)`` of them are picked (without replacement; a
        weighted cloud is sampled from its weights).
    target : Cloud, Density, or callable ``draw(n, rng) -> Cloud or array``
        Where the data batch comes from (e.g. :func:`odeflow.datasets.problem_sampler`); a Cloud is
        subsampled without replacement and needs at least ``min(batch, N)`` points.
    batch : int
        Batch size, >= 1 (the papers use 512).
    rng : int or numpy.random.Generator, optional
        The particles are picked first, then the data batch is drawn.

    Returns
    -------
    FixedBatch

    Examples
    --------
    >>> import numpy as np
    >>> start = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> fb = fixed_batch(start, start[::-1] + [0.0, 2.0], batch=2, rng=0)
    >>> bool(np.allclose(fb.data - start[fb.index], [0.0, 2.0]))  # matched: each particle's partner
    True
    """
    batch = check_int(batch, "batch", minimum=1)
    rng = as_rng(rng)
    cloud = as_cloud(particles, "particles")
    if not isinstance(target, (Cloud, Density)) and not callable(target):
        target = as_cloud(target, "target")
    b = min(batch, cloud.n)
    if cloud.is_uniform:
        index = rng.choice(cloud.n, size=b, replace=False) if b < cloud.n else np.arange(cloud.n)
    else:
        index = rng.choice(cloud.n, size=b, replace=True, p=cloud.weights)
    data = _draw(target, b, rng, "target")
    if data.ndim != 2 or data.shape != (b, cloud.dim):
        raise ValueError(f"target: gives a data batch of shape {data.shape}, the fixed batch needs {(b, cloud.dim)}")
    x = cloud.points[index]
    rows, cols = linear_sum_assignment(cdist(x, data, "sqeuclidean"))  # the authors' cost |x - y|^2 / 2
    matched = np.empty_like(data)
    matched[rows] = data[cols]
    return FixedBatch(index=np.asarray(index, dtype=np.int64), data=matched)


def fixed_batch_curve(result, target, p=2, batch=BATCH, rng=None, every=AUTHORS_EVERY):
    """The authors' protocol along a run: the fixed batches' ``W_p`` every ``every`` records.

    Parameters
    ----------
    result : SimulationResult
    target : FixedBatch, or anything :func:`fixed_batch` takes
        A :class:`FixedBatch` is used as it is (to share batches between runs from one start);
        otherwise one is drawn from ``result``'s initial particles with ``batch`` and ``rng``.
    p : {1, 2} or tuple of them
    every : int
        Use every ``every``-th record (one record per potential solve when the run was recorded at
        every step; the authors evaluate every 10 iterations). The first and last records always.

    Returns
    -------
    t : (R,) array
    distance : (R,) array, or (R, len(p)) when ``p`` is a tuple

    Examples
    --------
    >>> import odeflow as of
    >>> src, tgt = of.datasets.problem("ring8", 64, rng=0)
    >>> res = of.simulate(src, tgt, h=0.25, t_end=5.0, progress=False)
    >>> t, d = fixed_batch_curve(res, of.datasets.problem_sampler("ring8"), batch=32, rng=0)
    >>> t.tolist(), bool(d[-1] < d[0])
    ([0.0, 2.5, 5.0], True)
    """
    _check_p(p)
    every = check_int(every, "every", minimum=1)
    if not isinstance(target, FixedBatch):
        target = fixed_batch(Cloud._trusted(result.points[0], result.final.weights), target, batch=batch, rng=rng)
    picks = _picks(result.t.size, every)
    return result.t[picks], np.array([target.distance(result.points[k], p=p) for k in picks])


def metric_curve(result, target, p=2, protocol="fixed", batch=BATCH, rng=None, every=None):
    """The papers' metric along a run in either protocol (see the module docstring).

    ``protocol="fixed"`` is :func:`fixed_batch_curve` (``every`` defaults to 10, the authors'),
    ``"fresh"`` is :func:`batch_curve` (``every`` defaults to 1).

    >>> import odeflow as of
    >>> res = of.simulate([[0.0, 0.0]], [[1.0, 0.0]], h=0.5, t_end=1.0, progress=False)
    >>> metric_curve(res, [[1.0, 0.0]], protocol="fixed", every=1)[1].tolist()
    [1.0, 0.5, 0.25]
    """
    check_choice(protocol, "protocol", set(PROTOCOLS))
    if protocol == "fixed":
        every = AUTHORS_EVERY if every is None else every
        return fixed_batch_curve(result, target, p=p, batch=batch, rng=rng, every=every)
    return batch_curve(result, target, p=p, batch=batch, rng=rng, every=1 if every is None else every)
