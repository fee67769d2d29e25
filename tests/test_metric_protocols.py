"""The two metric protocols of odeflow.metrics: the authors' fixed batches and fresh batches.

Distances are checked against scipy's assignment solver (equal sizes, uniform weights: W_p^p is the
mean matched cost), a route that shares no code with odeflow's POT-based ``wasserstein``.
"""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

import odeflow as of
from odeflow import metrics
from odeflow.metrics import FixedBatch, fixed_batch, fixed_batch_curve, metric_curve


def assignment_w(a, b, p):
    cost = cdist(a, b, "sqeuclidean" if p == 2 else "euclidean")
    r, c = linear_sum_assignment(cost)
    return cost[r, c].mean() ** (1 / p)


def test_fixed_batch_picks_particles_and_matches_the_data(rng):
    start = rng.standard_normal((60, 2))
    shift = np.array([0.3, -0.1])
    fb = fixed_batch(start, of.Cloud(start + shift), batch=25, rng=0)
    assert fb.index.shape == (25,) and len(set(fb.index.tolist())) == 25 and fb.data.shape == (25, 2)
    # the data batch is 25 of the shifted points; matched to the picked particles by the optimal
    # assignment under |x - y|^2 / 2, whose partners are checked by an independent solve
    x = start[fb.index]
    r, c = linear_sum_assignment(cdist(x, fb.data, "sqeuclidean"))
    np.testing.assert_array_equal(c, np.arange(25))  # already in the optimal order
    assert fb.matched_l2(start) == pytest.approx(np.linalg.norm(x - fb.data, axis=1).mean())
    # all particles and an identical-size target: the batch is the translation itself
    whole = fixed_batch(start, start + shift, batch=512, rng=1)
    np.testing.assert_allclose(whole.data - start[whole.index], np.tile(shift, (60, 1)), atol=1e-12)
    assert whole.matched_l2(start) == pytest.approx(np.linalg.norm(shift))


def test_fixed_batch_distance_is_exact_and_does_not_change_between_calls(rng):
    start = rng.standard_normal((80, 2))
    fb = fixed_batch(start, of.datasets.problem_sampler("ring8"), batch=30, rng=3)
    later = start * 0.5 + 1.0
    for p in (1, 2):
        d = fb.distance(later, p=p)
        assert d == pytest.approx(assignment_w(later[fb.index], fb.data, p), rel=1e-9)
        assert d == fb.distance(later, p=p)  # no redrawing
    w1, w2 = fb.distance(later, p=(1, 2))
    assert w1 <= w2 + 1e-12


def test_fixed_curve_every_ten_and_against_independent_w(rng):
    src, tgt = of.datasets.problem("4gaussians", 40, rng=1)
    res = of.simulate(src, tgt, h=0.1, t_end=2.5, progress=False)  # 25 steps, recorded at each
    draw = of.datasets.problem_sampler("4gaussians")
    t, d = fixed_batch_curve(res, draw, p=(1, 2), batch=16, rng=5)
    np.testing.assert_allclose(t, [0.0, 1.0, 2.0, 2.5])  # records 0, 10, 20 and the last
    fb = fixed_batch(src, draw, batch=16, rng=5)  # the same draws from the same seed
    for row, k in zip(d, [0, 10, 20, 25]):
        pts = res.points[k][fb.index]
        np.testing.assert_allclose(row, [assignment_w(pts, fb.data, 1), assignment_w(pts, fb.data, 2)], rtol=1e-9)
    # the curve of a given FixedBatch uses it as it is
    t2, d2 = fixed_batch_curve(res, fb, p=(1, 2), every=10)
    np.testing.assert_array_equal(d2, d)


def test_fixed_protocol_is_smooth_fresh_protocol_is_noisy():
    """On a run that does not move, the fixed protocol gives one value; the fresh one redraws."""
    src = of.datasets.get("ring8", 64, rng=0)
    res = of.simulate(src, src, h=0.5, t_end=5.0, progress=False)  # the particles sit on the target
    draw = of.datasets.problem_sampler("ring8")
    _, fixed = metric_curve(res, draw, protocol="fixed", batch=32, rng=0, every=1)
    _, fresh = metric_curve(res, draw, protocol="fresh", batch=32, rng=0, every=1)
    assert fixed.size == fresh.size == 11
    assert np.ptp(fixed) == 0.0 and fixed[0] > 0  # the floor: data batch vs the particles' law
    assert np.ptp(fresh) > 0.01
    # both sit at the sample-to-sample level of the law
    assert 0.3 < fixed[0] / np.median(fresh) < 3


def test_metric_curve_defaults_and_bad_input():
    res = of.simulate([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], h=0.1, t_end=2.0, progress=False)
    t, d = metric_curve(res, [[0.0, 1.0], [1.0, 1.0]])  # fixed protocol, every 10 records
    np.testing.assert_allclose(t, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(d, 0.9 ** np.array([0, 10, 20]), rtol=1e-9)
    assert metric_curve(res, [[0.0, 1.0], [1.0, 1.0]], protocol="fresh")[0].size == 21
    assert metrics.PROTOCOLS == ("fixed", "fresh") and metrics.AUTHORS_EVERY == 10
    with pytest.raises(ValueError, match="protocol"):
        metric_curve(res, [[0.0, 1.0]], protocol="moving")
    with pytest.raises(ValueError, match="every"):
        metric_curve(res, [[0.0, 1.0]], every=0)
    with pytest.raises(ValueError, match="target"):
        fixed_batch([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0]], batch=2)  # a Cloud with too few points
    with pytest.raises(ValueError, match="target"):
        fixed_batch([[0.0, 0.0]], [[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="points"):
        FixedBatch(index=np.array([3]), data=np.zeros((1, 2))).distance(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="p"):
        fixed_batch_curve(res, [[0.0, 1.0], [1.0, 1.0]], p=3)


def test_fixed_batch_weighted_particles_drawn_from_their_weights():
    c = of.Cloud([[0.0, 0.0], [10.0, 0.0]], weights=[1.0, 0.0])
    fb = fixed_batch(c, [[0.0, 1.0]] * 2, batch=2, rng=0)
    assert fb.index.tolist() == [0, 0] and fb.distance(c.points, p=1) == pytest.approx(1.0)
