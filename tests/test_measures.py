import numpy as np
import pytest

import odeflow as of


def test_cloud_defaults_and_summaries():
    c = of.Cloud([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0]])
    assert c.n == 3 and c.dim == 2 and c.is_uniform
    np.testing.assert_allclose(c.weights, 1 / 3)
    np.testing.assert_allclose(c.mean(), [1.0, 1.0])
    pts = c.points
    np.testing.assert_allclose(c.cov(), np.cov(pts.T, bias=True))


def test_cloud_is_read_only_and_copies_input():
    raw = np.zeros((3, 2))
    c = of.Cloud(raw)
    raw[0, 0] = 5.0
    assert c.points[0, 0] == 0.0
    with pytest.raises(ValueError):
        c.points[0, 0] = 1.0
    with pytest.raises(ValueError):
        c.weights[0] = 1.0


def test_weighted_mean_and_cov():
    c = of.Cloud([[0.0], [4.0]], weights=[0.75, 0.25])
    assert c.mean()[0] == pytest.approx(1.0)
    assert c.cov()[0, 0] == pytest.approx(0.75 * 1 + 0.25 * 9)
    assert not c.is_uniform


@pytest.mark.parametrize(
    "points, weights, exc, word",
    [
        ([[0.0, np.nan]], None, ValueError, "points"),
        ([[0.0, np.inf]], None, ValueError, "non-finite"),
        ([0.0, 1.0], None, ValueError, "2-D"),
        (np.zeros((0, 2)), None, ValueError, "empty"),
        (np.zeros((2, 0)), None, ValueError, "dimension 0"),
        ("abc", None, TypeError, "points"),
        ([[0.0], [1.0]], [0.5, 0.6], ValueError, "normalise"),
        ([[0.0], [1.0]], [1.5, -0.5], ValueError, "negative"),
        ([[0.0], [1.0]], [1.0], ValueError, "length"),
        ([[0.0], [1.0]], [[0.5, 0.5]], ValueError, "1-D"),
        ([[0.0], [1.0]], [np.nan, 1.0], ValueError, "non-finite"),
    ],
)
def test_cloud_rejects_bad_input(points, weights, exc, word):
    with pytest.raises(exc, match=word):
        of.Cloud(points, weights)


def test_weights_sum_tolerance_is_1e9():
    of.Cloud([[0.0], [1.0]], [0.5, 0.5 + 5e-10])
    with pytest.raises(ValueError, match="weights"):
        of.Cloud([[0.0], [1.0]], [0.5, 0.5 + 5e-9])
