"""The papers' batch metric (odeflow.metrics)."""

import numpy as np
import pytest

import odeflow as of
from odeflow.measures import Density
from odeflow.metrics import batch_curve, batch_wasserstein


class _Shifted(Density):
    dim = 2

    def _sample(self, n, rng):
        return rng.standard_normal((n, 2)) + [5.0, 0.0]


def test_whole_clouds_give_the_exact_distance(rng):
    x = rng.standard_normal((40, 2))
    shift = np.array([0.6, -0.8])
    for p in (1, 2):
        assert batch_wasserstein(x, x, p=p, batch=40, rng=0) == pytest.approx(0.0, abs=1e-12)
        assert batch_wasserstein(x, x + shift, p=p, batch=64, rng=0) == pytest.approx(1.0, abs=1e-9)


def test_fresh_batches_reproducible_and_random(rng):
    x = of.Cloud(rng.standard_normal((300, 2)))
    draw = of.datasets.problem_sampler("ring8")
    a = batch_wasserstein(x, draw, p=2, batch=50, rng=3)
    assert a == batch_wasserstein(x, draw, p=2, batch=50, rng=3)
    assert a != batch_wasserstein(x, draw, p=2, batch=50, rng=4)
    # a density target: every sample is about 5 away
    assert 4.0 < batch_wasserstein(x, _Shifted(), p=1, batch=50, rng=0) < 6.0


def test_weighted_particles_are_drawn_from_their_weights():
    c = of.Cloud([[0.0, 0.0], [10.0, 0.0]], weights=[1.0, 0.0])
    assert batch_wasserstein(c, [[0.0, 0.0]], p=1, batch=20, rng=0) == 0.0


def test_batch_curve(rng):
    src, tgt = of.datasets.problem("4gaussians", 40, rng=1)
    res = of.simulate(src, tgt, h=0.25, t_end=1.5, progress=False)
    t, d = batch_curve(res, tgt, p=2, batch=40, every=4)
    assert t.tolist() == [0.0, 1.0, 1.5]
    np.testing.assert_allclose(d, res.distance[[0, 4, 6]], atol=1e-9)  # batch = N: the exact distance


@pytest.mark.parametrize("call, exc, match", [
    (lambda: batch_wasserstein([[0.0, 0.0]], [[1.0, 0.0]], p=3), ValueError, "p"),
    (lambda: batch_wasserstein([[0.0, 0.0]], [[1.0, 0.0]], batch=0), ValueError, "batch"),
    (lambda: batch_wasserstein([[0.0, 0.0]], [[1.0, 0.0, 0.0]]), ValueError, "target"),
    (lambda: batch_wasserstein([[0.0, 0.0]], "ring8"), TypeError, "target"),
    (lambda: batch_wasserstein([[np.nan, 0.0]], [[1.0, 0.0]]), ValueError, "particles"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_several_p_share_the_batches(rng):
    x = rng.standard_normal((200, 2))
    draw = of.datasets.problem_sampler("checkerboard")
    w1, w2 = batch_wasserstein(x, draw, p=(1, 2), batch=30, rng=5)
    assert w1 <= w2  # on the same pair of batches (Jensen)
    assert w2 == batch_wasserstein(x, draw, p=2, batch=30, rng=5)  # same draws as a single p
    with pytest.raises(ValueError, match="p"):
        batch_wasserstein(x, draw, p=(1, 3))
