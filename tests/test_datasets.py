"""Named distributions and the papers' four 2-D problems: shapes, reproducibility, basic statistics."""

import numpy as np
import pytest

import odeflow as of
from odeflow import datasets


@pytest.mark.parametrize("name", datasets.NAMES)
def test_shape_reproducibility_and_finiteness(name):
    a = datasets.get(name, 300, rng=7)
    b = datasets.get(name, 300, rng=np.random.default_rng(7))
    c = datasets.get(name, 300, rng=8)
    assert isinstance(a, of.Cloud) and a.points.shape == (300, 2) and a.is_uniform
    assert np.array_equal(a.points, b.points)
    assert not np.array_equal(a.points, c.points)


@pytest.mark.parametrize("name", ["gaussian", "uniform"])
def test_dim_parameter(name):
    assert datasets.get(name, 10, rng=0, dim=5).dim == 5


def test_gaussian_moments():
    p = datasets.get("gaussian", 20000, rng=0).points
    np.testing.assert_allclose(p.mean(0), 0.0, atol=0.03)
    np.testing.assert_allclose(np.cov(p.T), np.eye(2), atol=0.03)


def _nearest_centre(p, centres):
    return np.argmin(((p[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)


def test_ring8_radii_and_eight_clusters():
    p = datasets.get("ring8", 8000, rng=1).points
    r = np.linalg.norm(p, axis=1)
    assert abs(r.mean() - 1.0) < 0.01 and abs(r.std() - 0.1) < 0.01
    angles = 2 * np.pi * np.arange(8) / 8
    centres = np.stack([np.cos(angles), np.sin(angles)], 1)
    label = _nearest_centre(p, centres)
    counts = np.bincount(label, minlength=8)
    assert counts.min() > 0.8 * 1000 and counts.max() < 1.2 * 1000  # 8 equally likely clusters
    spread = np.linalg.norm(p - centres[label], axis=1)
    assert np.quantile(spread, 0.99) < 0.4  # every point close to its centre (std 0.1)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_4gaussians_centres_at_scale(scale):
    p = datasets.get("4gaussians", 8000, rng=2, scale=scale).points
    centres = scale * np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    label = _nearest_centre(p, centres)
    assert np.all(np.bincount(label, minlength=4) > 0.9 * 2000)
    resid = p - centres[label]
    np.testing.assert_allclose(resid.std(0), 0.1, atol=0.01)
    np.testing.assert_allclose(resid.mean(0), 0.0, atol=0.01)


@pytest.mark.parametrize("odd, squares", [(False, 5), (True, 4)])
def test_checkerboard_squares(odd, squares):
    p = datasets.get("checkerboard", 9000, rng=3, odd=odd).points
    assert p.min() >= -1.5 and p.max() <= 1.5
    cell = np.floor(p + 1.5).astype(int)  # 3 x 3 board of unit squares
    parity = (cell[:, 0] + cell[:, 1]) % 2
    assert np.all(parity == int(odd))
    counts = np.bincount(cell[:, 0] * 3 + cell[:, 1], minlength=9)
    occupied = counts[counts > 0]
    assert occupied.size == squares
    assert occupied.min() > 0.9 * 9000 / squares and occupied.max() < 1.1 * 9000 / squares


def test_swissroll_mirrored_is_the_reflection():
    plain = datasets.get("swissroll", 500, rng=4).points
    mirrored = datasets.get("swissroll", 500, rng=4, mirrored=True).points
    np.testing.assert_array_equal(mirrored, plain * [-1.0, 1.0])
    r = np.linalg.norm(plain, axis=1)
    assert 0.2 < r.min() and r.max() < 1.15
    # a spiral: radius grows with the winding angle
    theta = np.unwrap(np.arctan2(plain[:, 1], plain[:, 0])[np.argsort(r)])
    assert np.corrcoef(np.sort(r), theta)[0, 1] > 0.9


def test_moons_and_uniform_ranges():
    u = datasets.get("uniform", 5000, rng=5).points
    assert u.min() >= 0 and u.max() <= 1 and abs(u.mean() - 0.5) < 0.02
    m = datasets.get("moons", 5000, rng=5, noise=0.0).points
    # two unit half circles, centred (-0.5, -0.25) (upper half) and (0.5, 0.25) (lower half)
    off_a = np.abs(np.linalg.norm(m - [-0.5, -0.25], axis=1) - 1.0)
    off_b = np.abs(np.linalg.norm(m - [0.5, 0.25], axis=1) - 1.0)
    on_a = off_a < 1e-12
    assert np.all(on_a | (off_b < 1e-12))
    assert abs(on_a.mean() - 0.5) < 0.03
    assert np.all(m[on_a, 1] >= -0.25 - 1e-12) and np.all(m[~on_a, 1] <= 0.25 + 1e-12)


@pytest.mark.parametrize("name", sorted(datasets.PROBLEMS))
def test_problems_pair_and_reproducible(name):
    src, tgt = datasets.problem(name, 200, rng=9)
    src2, tgt2 = datasets.problem(name, 200, rng=9)
    assert src.n == tgt.n == 200 and src.dim == tgt.dim == 2
    assert np.array_equal(src.points, src2.points) and np.array_equal(tgt.points, tgt2.points)
    assert of.wasserstein(src, tgt) > 0.1
    fresh = datasets.problem_sampler(name)(200, rng=10)
    assert fresh.n == 200 and not np.array_equal(fresh.points, tgt.points)


def test_problem_laws():
    src, tgt = datasets.problem("ring8", 4000, rng=0)
    assert abs(src.points.std() - 0.05) < 0.003
    assert abs(np.linalg.norm(tgt.points, axis=1).mean() - 1.0) < 0.01
    src, tgt = datasets.problem("4gaussians", 4000, rng=0)
    np.testing.assert_allclose(np.abs(src.points).mean(0), 2.0, atol=0.02)
    np.testing.assert_allclose(np.abs(tgt.points).mean(0), 1.0, atol=0.02)
    src, tgt = datasets.problem("checkerboard", 4000, rng=0)
    assert np.all(np.floor(src.points + 1.5).sum(1) % 2 == 1)
    assert np.all(np.floor(tgt.points + 1.5).sum(1) % 2 == 0)
    src, tgt = datasets.problem("swissroll", 4000, rng=0)
    assert src.points[:, 0].mean() < -0.05 < 0.05 < tgt.points[:, 0].mean()  # mirrored in x


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: datasets.get("spiral", 10), ValueError, "name"),
        (lambda: datasets.get("ring8", 0), ValueError, "n"),
        (lambda: datasets.get("ring8", 10, rng=-1), ValueError, "rng"),
        (lambda: datasets.get("ring8", 10, std=-0.1), ValueError, "std"),
        (lambda: datasets.get("ring8", 10, odd=True), TypeError, "params"),
        (lambda: datasets.problem("moons", 10), ValueError, "name"),
        (lambda: datasets.problem_sampler("ring8", side="both"), ValueError, "side"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
