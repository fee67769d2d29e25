"""The papers' evaluation metric: exact Wasserstein distance between fixed-size batches.

The papers report W1 and W2 between a batch of generated samples and a *fresh* batch of data (both
512 points) at intervals of training. On particles the generated batch is a subsample of the cloud;
the fresh data batch makes the metric noisy and gives it a floor (the distance between two
independent batches of the data law), unlike the distance to the fixed target cloud that
:func:`odeflow.simulate` records.
"""

from __future__ import annotations

import numpy as np

from .._checks import as_rng, check_int
from ..measures import Cloud, Density, as_cloud
from ..potentials import wasserstein

BATCH = 512


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
    """Exact ``W_p`` between ``batch`` particles and a fresh ``batch``-point sample of the target.

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
    """:func:`batch_wasserstein` at the recorded times of a :class:`~odeflow.SimulationResult`.

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
    picks = np.unique(np.r_[np.arange(0, result.t.size, every), result.t.size - 1])
    weights = result.final.weights
    dist = np.array([batch_wasserstein(Cloud._trusted(result.points[k], weights), target, p=p, batch=batch, rng=rng)
                     for k in picks])
    return result.t[picks], dist
