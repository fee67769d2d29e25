"""Named distributions and the papers' four 2-D problems: shapes, reproducibility, the authors' constants
(centres, widths, per-mode counts; see tests/test_paper_datasets.py for the laws themselves)."""

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


S = 1 / np.sqrt(2)  # the authors' centre coordinate 0.25 / sqrt(0.25^2 + 0.25^2)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_4gaussians_authors_constants(scale):
    p = datasets.get("4gaussians", 512, rng=2, scale=scale).points
    centres = scale * S * np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    label = _nearest_centre(p, centres)
    assert np.array_equal(np.bincount(label, minlength=4), [128] * 4)  # i % 4: exactly n / 4 per mode
    resid = p - centres[label]
    np.testing.assert_allclose(resid.std(0), 0.1, atol=0.01)
    np.testing.assert_allclose(resid.mean(0), 0.0, atol=0.01)
    assert not np.array_equal(label[:8], np.arange(8) % 4)  # rows shuffled


def test_ring8_authors_constants():
    p = datasets.get("ring8", 8000, rng=1).points
    r = np.linalg.norm(p, axis=1)
    assert abs(r.mean() - 1.0) < 0.01 and abs(r.std() - 0.1) < 0.01
    angles = 2 * np.pi * np.arange(8) / 8
    centres = np.stack([np.cos(angles), np.sin(angles)], 1)
    label = _nearest_centre(p, centres)
    assert np.array_equal(np.bincount(label, minlength=8), [1000] * 8)  # n / 8 per mode, exactly
    spread = p - centres[label]
    np.testing.assert_allclose(spread.std(0), 0.1, atol=0.005)


def test_ring8_remainder_goes_to_the_first_modes():
    angles = 2 * np.pi * np.arange(1, 9) / 8  # the authors' order: k = 1..8
    centres = np.stack([np.cos(angles), np.sin(angles)], 1)
    counts = np.bincount(_nearest_centre(datasets.get("ring8", 19, rng=0, std=0.01).points, centres), minlength=8)
    assert counts.tolist() == [3, 3, 3, 2, 2, 2, 2, 2]


@pytest.mark.parametrize("alternate, centres, counts", [
    (False, [(1, 1), (-1, -1), (1, -1), (-1, 1), (0, 0)], [103, 103, 102, 102, 102]),
    (True, [(0, 1), (0, -1), (1, 0), (-1, 0)], [128] * 4),
])
def test_checkerboard_authors_constants(alternate, centres, counts):
    p = datasets.get("checkerboard", 512, rng=3, alternate=alternate).points
    centres = 1.5 * S * np.array(centres, float)
    label = _nearest_centre(p, centres)
    assert np.bincount(label, minlength=len(centres)).tolist() == counts  # i % 5 (i % 4): first modes get more
    off = p - centres[label]
    assert np.all(np.abs(off) <= 0.25)  # squares of side 0.5 ...
    assert np.all(off.max(0) - off.min(0) > 0.49)  # ... filled to their edges
    # gaps: the squares are disjoint (centres 1.06 apart, half side 0.25)
    assert np.abs(p).max() < 1.5 * S + 0.25 and np.abs(p).min() >= 0.0


def test_swissroll_authors_constants():
    plain = datasets.get("swissroll", 4000, rng=4).points
    turned = datasets.get("swissroll", 4000, rng=4, alternate=True).points
    # same draws: the curve is turned by 180 degrees, the one-sided uniform noise (width 0.15 * 0.1 /
    # 0.15 = 0.1) is not, so the sum of the two is twice the noise, in [0, 0.2)^2
    both = plain + turned
    assert both.min() >= 0.0 and both.max() < 0.2 and both.max() > 0.19
    np.testing.assert_allclose(both.mean(0), 0.1, atol=0.005)
    curve = plain - both / 2  # the noiseless spiral 0.15 * a * (cos a, -sin a)
    a = np.linalg.norm(curve, axis=1) / 0.15
    np.testing.assert_allclose(curve, 0.15 * a[:, None] * np.stack([np.cos(a), -np.sin(a)], 1), atol=1e-12)
    amax = 570 * np.pi / 180  # a = start + sqrt(U) * 570 degrees: P(a <= x) = (x / amax)^2
    assert a.max() <= amax + 1e-9 and a.max() > 0.99 * amax
    np.testing.assert_allclose(np.mean(a <= amax / 2), 0.25, atol=0.02)


def test_legacy_variants_keep_their_laws():
    p = datasets.get("4corners", 4000, rng=0, scale=2.0).points
    np.testing.assert_allclose(np.abs(p).mean(0), 2.0, atol=0.02)
    p = datasets.get("board", 4000, rng=0, odd=True).points
    assert np.all(np.floor(p + 1.5).sum(1) % 2 == 1) and p.min() >= -1.5 and p.max() <= 1.5
    plain = datasets.get("spiral", 500, rng=4).points
    np.testing.assert_array_equal(datasets.get("spiral", 500, rng=4, mirrored=True).points, plain * [-1.0, 1.0])


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


@pytest.mark.parametrize("name", sorted(datasets.PROBLEMS) + sorted(datasets.LEGACY_PROBLEMS))
def test_problems_pair_and_reproducible(name):
    src, tgt = datasets.problem(name, 200, rng=9)
    src2, tgt2 = datasets.problem(name, 200, rng=9)
    assert src.n == tgt.n == 200 and src.dim == tgt.dim == 2
    assert np.array_equal(src.points, src2.points) and np.array_equal(tgt.points, tgt2.points)
    assert of.wasserstein(src, tgt) > 0.1
    fresh = datasets.problem_sampler(name)(200, rng=10)
    assert fresh.n == 200 and not np.array_equal(fresh.points, tgt.points)


def test_problem_laws():
    """Source and target as get_loader pairs them: target first (data r), source second (latent z)."""
    src, tgt = datasets.problem("ring8", 4000, rng=0)
    np.testing.assert_allclose(src.points.std(0), 0.05, atol=0.003)  # randn * 0.1 * 0.5
    assert abs(np.linalg.norm(tgt.points, axis=1).mean() - 1.0) < 0.01
    src, tgt = datasets.problem("4gaussians", 4000, rng=0)
    np.testing.assert_allclose(np.abs(src.points).mean(0), 2 * S, atol=0.02)
    np.testing.assert_allclose(np.abs(tgt.points).mean(0), S, atol=0.02)
    src, tgt = datasets.problem("checkerboard", 4000, rng=0)
    assert np.all(np.abs(src.points).min(1) <= 0.25)  # every source square is on an axis
    assert np.sum(np.all(np.abs(tgt.points) <= 0.25, 1)) == 800  # the centre square: every 5th point
    assert not np.any(np.all(np.abs(src.points) <= 0.25, 1))  # the source has no centre square
    src, tgt = datasets.problem("swissroll", 4000, rng=0)
    # the source is the target's spiral turned by 180 degrees, the noise (mean 0.05) is not
    np.testing.assert_allclose((src.points.mean(0) + tgt.points.mean(0)) / 2, 0.05, atol=0.015)
    assert np.linalg.norm(tgt.points.mean(0) - 0.05) > 0.1


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: datasets.get("helix", 10), ValueError, "name"),
        (lambda: datasets.get("ring8", 0), ValueError, "n"),
        (lambda: datasets.get("ring8", 10, rng=-1), ValueError, "rng"),
        (lambda: datasets.get("ring8", 10, std=-0.1), ValueError, "std"),
        (lambda: datasets.get("ring8", 10, odd=True), TypeError, "params"),
        (lambda: datasets.problem("moons", 10), ValueError, "name"),
        (lambda: datasets.get("swissroll", 10, mirrored=True), TypeError, "params"),
        (lambda: datasets.get("checkerboard", 10, side=-0.5), ValueError, "side"),
        (lambda: datasets.problem_sampler("ring8", side="both"), ValueError, "side"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
