"""Runge-Kutta factors and persistence (docs/theory.rst §2) on equal-size clouds."""

import numpy as np
import pytest

import odeflow as of


@pytest.fixture
def clouds(rng):
    return of.Cloud(rng.standard_normal((30, 2))), of.Cloud(rng.standard_normal((30, 2)) + 1.5)


@pytest.mark.parametrize(
    "scheme, factor",
    [
        ("euler", lambda h: 1 - h),
        ("heun", lambda h: 1 - h + h**2 / 2),
        ("rk4", lambda h: 1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24),
    ],
)
def test_runge_kutta_factor_on_the_linear_flow(clouds, scheme, factor):
    """With a frozen assignment the w2 flow is x' = y_s - x: each RK scheme multiplies by its
    stability polynomial of e^{-h} per step."""
    h = 0.25
    res = of.simulate(*clouds, scheme=scheme, h=h, t_end=2.0, progress=False)
    np.testing.assert_allclose(res.distance[1:] / res.distance[:-1], factor(h), atol=1e-9)
    stages = {"euler": 1, "heun": 2, "rk4": 4}[scheme]
    assert res.n_solves == 8 * stages + 1


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("eta", [0.3, 1.0])
def test_persistence_factors(clouds, k, eta):
    h = 0.1
    targets = of.simulate(*clouds, h=h, t_end=1.0, persistence=k, persistence_rate=eta, progress=False)
    np.testing.assert_allclose(targets.distance[1:] / targets.distance[:-1], 1 - h * (1 - (1 - eta) ** k),
                               atol=1e-9)
    naive = of.simulate(*clouds, h=h, t_end=1.0, persistence=k, persistence_rate=eta,
                        persistence_mode="naive", progress=False)
    np.testing.assert_allclose(naive.distance[1:] / naive.distance[:-1], abs(1 - k * eta * h), atol=1e-9)


@pytest.mark.parametrize("mode", ["targets", "naive"])
def test_persistence_one_is_plain_euler_bit_for_bit(clouds, mode):
    plain = of.simulate(*clouds, h=0.1, t_end=1.0, progress=False)
    same = of.simulate(*clouds, h=0.1, t_end=1.0, persistence=1, persistence_rate=1.0,
                       persistence_mode=mode, progress=False)
    assert np.array_equal(plain.points, same.points)
    assert np.array_equal(plain.distance, same.distance)


def test_naive_persistence_overshoots_past_k_eta_h_one(clouds):
    """w2: naive persistence with K eta h > 1 jumps past the targets; frozen targets never do."""
    h, k = 0.3, 8
    naive = of.simulate(*clouds, h=h, t_end=0.3, persistence=k, persistence_mode="naive", progress=False)
    frozen = of.simulate(*clouds, h=h, t_end=0.3, persistence=k, progress=False)
    x0, drift0 = naive.points[0], naive.drift[0]
    np.testing.assert_allclose(naive.points[1], x0 + k * h * drift0, atol=1e-12)  # past the targets
    assert naive.distance[1] > naive.distance[0]  # worse than not moving at all
    # (the distance is not (K h - 1) W2_0: reflected through the targets, the assignment changes)
    assert naive.distance[1] <= (k * h - 1) * naive.distance[0] + 1e-12
    assert frozen.distance[1] == pytest.approx((1 - h) * frozen.distance[0])


@pytest.mark.parametrize("scheme", ["euler", "heun", "rk4"])
def test_clipped_w1_schemes_arrive_and_lag_at_most_one_step(rng, scheme):
    """clip=True clips Runge-Kutta stage positions too: without that, a particle within h of its
    target saw the drift reverse at a stage, the increments cancelled and it never arrived. Every
    particle moves along its straight line, lags the stop-at-target flow by less than h, and sits
    exactly on its target once arrived."""
    n, h = 40, 0.1
    src = of.Cloud(rng.standard_normal((n, 2)))
    tgt = of.Cloud(rng.standard_normal((n, 2)) + 3.0)
    targets = of.kantorovich(src, tgt, loss="w1").targets
    gaps = np.linalg.norm(targets - src.points, axis=1)
    res = of.simulate(src, tgt, loss="w1", scheme=scheme, h=h, t_end=gaps.max() + 2 * h, clip=True,
                      progress=False)
    unit = (targets - src.points) / gaps[:, None]
    expected = src.points[None] + np.minimum(res.t[:, None], gaps[None])[..., None] * unit[None]
    lag = np.linalg.norm(res.points - expected, axis=-1)
    assert lag.max() < h
    if scheme == "euler":
        assert lag.max() < 1e-12  # Euler with clipping is the stop-at-target flow itself
    assert np.array_equal(res.points[-1], targets)  # placed on the targets exactly
    assert res.distance[-1] == 0.0
    assert np.all(np.diff(res.distance) <= 1e-12)
