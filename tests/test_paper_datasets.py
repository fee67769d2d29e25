"""odeflow.datasets' four problems against an independent transcription of the authors' generators.

The reference below is written from GitHub ZaMalik123/Generative-Networks, exp_2d/data_loader.py
(commit 06e0ce0), loop by loop as the authors wrote it (per-point draws with numpy's legacy
RandomState and ``math``, shuffles by permutation), and shares no code with odeflow. For each problem
and each side, W2 between a 2000-point sample of odeflow.datasets and one of the reference must be
within 2x of the reference's own sample-to-sample W2 (two independent 2000-point reference samples).
W2 is computed here by scipy's assignment solver (equal sizes, uniform weights), not by odeflow or POT.
The older odeflow variants are checked to fail the same test, so it can tell the laws apart.
"""

import functools
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from odeflow import datasets

N = 2000
N_LEGACY = 500  # (the distant clouds make the assignment slow; the gap is wide even here)


# --- the reference: the authors' generators, transcribed -------------------------------------------

def ref_gaussians(rs, batch_size, scale=2.0, eps_noise=0.01):
    lo, hi = -0.25, 0.25
    diag_len = np.sqrt(lo**2 + hi**2)
    centers = [(hi / diag_len, hi / diag_len), (hi / diag_len, lo / diag_len),
               (lo / diag_len, hi / diag_len), (lo / diag_len, lo / diag_len)]
    centers = [(scale * x, scale * y) for x, y in centers]
    batch = []
    for i in range(batch_size):
        point = rs.randn(2) * eps_noise
        center = centers[i % 4]
        batch.append([point[0] + center[0], point[1] + center[1]])
    batch = np.array(batch)
    return batch[rs.permutation(batch_size)]


def ref_swissroll(rs, batch_size, start=0.001, eps_noise=0.01, alternate=False):
    deg2rad = (2 * math.pi) / 360
    start = start * deg2rad
    eps_noise = eps_noise / 0.15
    batch = []
    for _ in range(batch_size):
        n = start + np.sqrt(rs.rand()) * 570 * deg2rad
        if alternate:
            batch.append([-math.cos(n) * n + rs.rand() * eps_noise, math.sin(n) * n + rs.rand() * eps_noise])
        else:
            batch.append([math.cos(n) * n + rs.rand() * eps_noise, -math.sin(n) * n + rs.rand() * eps_noise])
    return np.array(batch) * 0.15


def ref_checkerboard(rs, batch_size, scale=1.5, eps_noise=0.01, alternate=False):
    lo, hi = -0.25, 0.25
    diag_len = np.sqrt(lo**2 + hi**2)
    mid = (hi + lo) / 2
    if alternate:
        centers = [(mid / diag_len, hi / diag_len), (mid / diag_len, lo / diag_len),
                   (hi / diag_len, mid / diag_len), (lo / diag_len, mid / diag_len)]
    else:
        centers = [(hi / diag_len, hi / diag_len), (lo / diag_len, lo / diag_len), (hi / diag_len, lo / diag_len),
                   (lo / diag_len, hi / diag_len), (mid / diag_len, mid / diag_len)]
    centers = [(scale * x, scale * y) for x, y in centers]
    batch = []
    for i in range(batch_size):
        point = (rs.rand(2) - 0.5) * eps_noise
        center = centers[i % (4 if alternate else 5)]
        batch.append([point[0] + center[0], point[1] + center[1]])
    batch = np.array(batch)
    return batch[rs.permutation(batch_size)]


def ref_ring(rs, batch_size, eps_noise=0.05, alternate=False):
    if alternate:
        return rs.randn(batch_size, 2) * eps_noise * 0.5
    angles = np.cumsum((2 * np.pi / 8) * np.ones(8))
    means = np.stack([np.cos(angles), np.sin(angles)], axis=0)
    data = np.empty((2, batch_size))
    counter = 0
    for g in range(8):
        for _ in range(int(batch_size / 8)):
            data[:, counter] = rs.normal(means[:, g], eps_noise)
            counter += 1
    data = data.T
    return data[rs.permutation(data.shape[0])]


# get_loader: (data r, latent z) = (target, source)
REFERENCE = {
    "4gaussians": (lambda rs, n: ref_gaussians(rs, n, scale=1.0, eps_noise=0.1),
                   lambda rs, n: ref_gaussians(rs, n, eps_noise=0.1)),
    "swissroll": (lambda rs, n: ref_swissroll(rs, n, eps_noise=0.1),
                  lambda rs, n: ref_swissroll(rs, n, eps_noise=0.1, alternate=True)),
    "checkerboard": (lambda rs, n: ref_checkerboard(rs, n, eps_noise=0.5),
                     lambda rs, n: ref_checkerboard(rs, n, eps_noise=0.5, alternate=True)),
    "ring8": (lambda rs, n: ref_ring(rs, n, eps_noise=0.1),
              lambda rs, n: ref_ring(rs, n, eps_noise=0.1, alternate=True)),
}


def w2(a, b):
    cost = cdist(a, b, "sqeuclidean")
    rows, cols = linear_sum_assignment(cost)
    return math.sqrt(cost[rows, cols].mean())


@functools.lru_cache(maxsize=None)
def _reference(name, side, n):
    """A reference sample and the reference's own sample-to-sample W2 (a second, independent sample)."""
    draw = REFERENCE[name][0 if side == "target" else 1]
    ref_a, ref_b = draw(np.random.RandomState(200), n), draw(np.random.RandomState(201), n)
    return ref_a, w2(ref_b, ref_a)


def _ratio(ours, name, side):
    ref_a, noise = _reference(name, side, len(ours))
    return w2(ours, ref_a) / noise


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("side", ["target", "source"])
def test_same_law_as_the_authors_generators(name, side):
    ours = datasets.problem_sampler(name, side)(N, rng=100).points
    ratio = _ratio(ours, name, side)
    assert ratio < 2.0, f"{name} {side}: W2(odeflow, authors) / W2(authors, authors) = {ratio:.2f}"


@pytest.mark.parametrize("legacy, name", [("4corners", "4gaussians"), ("spiral", "swissroll"),
                                          ("board", "checkerboard")])
def test_the_older_variants_fail_the_same_check(legacy, name):
    ours = datasets.problem_sampler(legacy, "target")(N_LEGACY, rng=100).points
    assert _ratio(ours, name, "target") > 2.0


def test_reference_transcription_sanity():
    """The transcription itself: per-mode counts and the constants quoted in the issue."""
    rs = np.random.RandomState(0)
    t = ref_gaussians(rs, 512, scale=1.0, eps_noise=0.1)
    np.testing.assert_allclose(np.abs(t).mean(0), 1 / math.sqrt(2), atol=0.02)
    c = ref_checkerboard(rs, 500, eps_noise=0.5)
    assert np.sum(np.all(np.abs(c) < 0.25, axis=1)) == 100  # the centre square holds every 5th point
    r = ref_ring(rs, 512, eps_noise=0.1)
    assert abs(np.linalg.norm(r, axis=1).mean() - 1.0) < 0.02
