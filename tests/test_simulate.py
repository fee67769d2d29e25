"""The time loop and docs/theory.rst §3.1, §3.4 and §3.5 on equal-size clouds."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import odeflow as of
from conftest import random_weights
from odeflow.simulate import step_sizes


def _assignment(x, y):
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return linear_sum_assignment(C)[1]


@pytest.mark.parametrize("d", [1, 2, 3, 7])
@pytest.mark.parametrize("h", [0.05, 0.3])
def test_w2_euler_ratio_is_one_minus_h(rng, d, h):
    n = 40
    src = of.Cloud(rng.standard_normal((n, d)))
    tgt = of.Cloud(rng.standard_normal((n, d)) + 2.0)
    res = of.simulate(src, tgt, loss="w2", method="exact", h=h, t_end=10 * h, progress=False)
    assert res.status == 0
    ratios = res.distance[1:] / res.distance[:-1]
    np.testing.assert_allclose(ratios, 1 - h, rtol=0, atol=1e-9)


def test_w2_euler_positions_follow_frozen_assignment(rng):
    """docs/theory.rst §3.1: x_n = y_s + (1-h)^n (x_0 - y_s) with s the initial optimal assignment."""
    n, d, h = 30, 2, 0.2
    x0 = rng.standard_normal((n, d))
    y = rng.standard_normal((n, d)) * 2
    s = _assignment(x0, y)
    res = of.simulate(x0, y, h=h, t_end=2.0, method="exact", progress=False)
    k = np.arange(res.t.size)
    expected = y[s][None] + ((1 - h) ** k)[:, None, None] * (x0 - y[s])[None]
    np.testing.assert_allclose(res.points, expected, atol=1e-12)
    # and the exact flow's e^{-t} is approached at order 1: |(1-h)^{T/h} - e^{-T}| ~ T e^{-T} h / 2
    err = abs(res.distance[-1] - res.distance[0] * np.exp(-2.0))
    assert err == pytest.approx(2.0 * np.exp(-2.0) / 2 * h * res.distance[0], rel=0.25)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_w1_euler_drops_by_h_per_step_before_arrival(rng, d):
    n, h = 25, 0.01
    src = of.Cloud(rng.standard_normal((n, d)))
    tgt = of.Cloud(rng.standard_normal((n, d)) + 3.0)
    res = of.simulate(src, tgt, loss="w1", method="exact", h=h, t_end=0.3, progress=False)
    gaps = np.linalg.norm(of.kantorovich(src, tgt, loss="w1").targets - src.points, axis=1)
    assert gaps.min() > 0.3 + h  # nobody arrives in this window
    np.testing.assert_allclose(np.diff(res.distance), -h, rtol=0, atol=1e-9)


def test_w1_clipped_flow_matches_stop_at_target_curve(rng):
    """docs/theory.rst §3.5: W1(t) = sum_i a_i max(|x_i - y_s(i)| - t, 0) with clipping, to rounding."""
    n, d = 30, 2
    src = of.Cloud(rng.standard_normal((n, d)))
    tgt = of.Cloud(rng.standard_normal((n, d)) * 0.5 + 1.0)
    gaps = np.linalg.norm(of.kantorovich(src, tgt, loss="w1").targets - src.points, axis=1)
    res = of.simulate(src, tgt, loss="w1", method="exact", h=0.07, t_end=gaps.max() + 0.2, clip=True,
                      progress=False)
    expected = [np.mean(np.maximum(gaps - t, 0)) for t in res.t]
    np.testing.assert_allclose(res.distance, expected, atol=1e-9)
    assert res.distance[-1] == pytest.approx(0.0, abs=1e-9)


def test_w1_any_scheme_loses_at_most_h_per_step(rng):
    src = of.Cloud(rng.standard_normal((20, 2)), random_weights(rng, 20))
    tgt = of.Cloud(rng.standard_normal((33, 2)) * 0.3, random_weights(rng, 33))
    h = 0.1
    res = of.simulate(src, tgt, loss="w1", h=h, t_end=3.0, progress=False)
    assert np.all(np.diff(res.distance) >= -h - 1e-12)


def test_onedim_quantile_flow(rng):
    """docs/theory.rst §3.4: equal-size uniform 1-D clouds: sorted positions are Q_d + (1-h)^n (Q_0 - Q_d)."""
    n, h = 50, 0.1
    x0 = rng.standard_normal((n, 1))
    y = rng.exponential(size=(n, 1))
    res = of.simulate(x0, y, method="onedim", h=h, t_end=1.5, progress=False)
    q0, qd = np.sort(x0[:, 0]), np.sort(y[:, 0])
    for k, pts in enumerate(res.points):
        np.testing.assert_allclose(np.sort(pts[:, 0]), qd + (1 - h) ** k * (q0 - qd), atol=1e-12)
    ref = of.simulate(x0, y, method="exact", h=h, t_end=1.5, progress=False)
    np.testing.assert_allclose(res.points, ref.points, atol=1e-12)


def test_ends_exactly_at_t_end_with_a_partial_last_step():
    res = of.simulate([[0.0]], [[1.0]], h=0.4, t_end=1.0, progress=False)
    np.testing.assert_allclose(res.t, [0.0, 0.4, 0.8, 1.0])
    assert res.t[-1] == 1.0
    # one particle, one target: distance (1-0.4)(1-0.4)(1-0.2)
    assert res.distance[-1] == pytest.approx(0.6 * 0.6 * 0.8)
    assert res.n_solves == 4  # 3 steps + the final distance


def test_step_sizes_absorb_rounding_noise():
    hs = step_sizes(0.1, 3.0)
    assert hs.size == 30 and hs.sum() == pytest.approx(3.0, abs=1e-12)
    assert step_sizes(0.7, 0.5).tolist() == [0.5]


def test_record_every_keeps_first_and_last(rng):
    res = of.simulate(rng.standard_normal((5, 2)), rng.standard_normal((5, 2)), h=0.1, t_end=1.05,
                      record_every=4, progress=False)
    np.testing.assert_allclose(res.t, [0.0, 0.4, 0.8, 1.05])
    assert res.points.shape == (4, 5, 2) and res.drift.shape == (4, 5, 2)
    assert isinstance(res.final, of.Cloud)
    np.testing.assert_array_equal(res.final.points, res.points[-1])


def test_stop_distance_ends_early():
    res = of.simulate([[0.0]], [[1.0]], h=0.5, t_end=10.0, stop_distance=0.1, progress=False)
    assert res.status == 1 and res.distance[-1] <= 0.1 and res.t[-1] < 10.0
    assert "stop_distance" in res.message


def test_solver_failure_stops_cleanly(rng):
    src, tgt = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    res = of.simulate(src, tgt, method="exact", h=0.1, t_end=1.0, max_iter=2, progress=False)
    assert res.status == -1 and not res.success
    assert "solver failed" in res.message and "max_iter" in res.info["solver_info"]["status"]


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        ({"h": 0.0}, ValueError, "h"),
        ({"h": float("nan")}, ValueError, "h"),
        ({"h": 1.5}, ValueError, "h"),
        ({"t_end": -1.0}, ValueError, "t_end"),
        ({"t_end": "3"}, TypeError, "t_end"),
        ({"scheme": "leapfrog"}, ValueError, "scheme"),
        ({"record_every": 0}, ValueError, "record_every"),
        ({"persistence": 0}, ValueError, "persistence"),
        ({"persistence_rate": 1.5}, ValueError, "persistence_rate"),
        ({"persistence_mode": "lazy"}, ValueError, "persistence_mode"),
        ({"scheme": "rk4", "persistence": 3}, ValueError, "persistence"),
        ({"rng": "seed"}, TypeError, "rng"),
    ],
)
def test_simulate_rejects_bad_arguments(kwargs, exc, word):
    args = {"h": 0.1, "t_end": 1.0, "progress": False, "method": "exact"}
    args.update(kwargs)
    with pytest.raises(exc, match=word):
        of.simulate([[0.0, 0.0]], [[1.0, 1.0]], **args)


def test_w1_allows_steps_above_one():
    res = of.simulate([[0.0]], [[5.0]], loss="w1", h=2.0, t_end=4.0, progress=False)
    assert res.distance.tolist() == [5.0, 3.0, 1.0]


def test_result_prints_one_line():
    res = of.simulate([[0.0]], [[1.0]], h=0.5, t_end=1.0, progress=False)
    assert "\n" not in repr(res) and "status=0" in repr(res)
