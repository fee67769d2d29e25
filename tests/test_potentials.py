"""Exact and 1-D potentials against POT, and the duality facts of docs/theory.rst §1."""

import numpy as np
import ot
import pytest

import odeflow as of
from conftest import random_weights


def _problem(rng, n, m, d, uniform=False):
    x = rng.standard_normal((n, d))
    y = rng.standard_normal((m, d)) + 0.5
    a = None if uniform else random_weights(rng, n)
    b = None if uniform else random_weights(rng, m)
    return of.Cloud(x, a), of.Cloud(y, b)


def _cost(loss, x, y):
    diff = x[:, None, :] - y[None, :, :]
    sq = np.sum(diff**2, axis=-1)
    return 0.5 * sq if loss == "w2" else np.sqrt(sq)


def check_duality(pot, src, tgt, loss, tol=1e-9):
    """Feasibility, complementary slackness and zero gap, relative to the cost scale."""
    C = _cost(loss, src.points, tgt.points)
    scale = max(np.abs(C).max(), np.finfo(float).tiny)  # relative: an absolute floor hid tiny-scale errors
    slack = C - pot.f[:, None] - pot.g[None, :]
    assert slack.min() >= -tol * scale, "dual infeasible"
    plan = pot.plan.toarray()
    assert np.all(np.abs(slack[plan > 0]) <= tol * scale), "complementary slackness"
    dual_value = src.weights @ pot.f + tgt.weights @ pot.g
    assert abs(dual_value - pot.cost) <= tol * scale, "duality gap"
    np.testing.assert_allclose(plan.sum(1), src.weights, atol=1e-12)
    np.testing.assert_allclose(plan.sum(0), tgt.weights, atol=1e-12)


@pytest.mark.parametrize("loss", ["w2", "w1"])
@pytest.mark.parametrize("n, m, d", [(30, 45, 2), (50, 20, 3), (17, 17, 5)])
def test_exact_matches_pot_with_valid_duals(rng, loss, n, m, d):
    src, tgt = _problem(rng, n, m, d)
    pot = of.kantorovich(src, tgt, loss=loss, method="exact")
    ref = ot.emd2(src.weights, tgt.weights, _cost(loss, src.points, tgt.points))
    assert pot.success and pot.info["status"] == "optimal"
    assert pot.cost == pytest.approx(ref, rel=1e-9)
    check_duality(pot, src, tgt, loss)
    plan = pot.plan.toarray()
    np.testing.assert_allclose(pot.targets, plan @ tgt.points / src.weights[:, None], atol=1e-12)
    if loss == "w2":
        np.testing.assert_allclose(pot.drift, pot.targets - src.points, atol=1e-14)
        assert pot.distance == pytest.approx(np.sqrt(2 * ref), rel=1e-9)
    else:
        assert np.all(np.linalg.norm(pot.drift, axis=1) <= 1 + 1e-12)
        assert pot.distance == pytest.approx(ref, rel=1e-9)


def test_w1_drift_is_plan_weighted_mean_of_unit_vectors(rng):
    src, tgt = _problem(rng, 12, 31, 2)
    pot = of.kantorovich(src, tgt, loss="w1", method="exact")
    plan = pot.plan.toarray()
    diff = tgt.points[None, :, :] - src.points[:, None, :]
    unit = diff / np.linalg.norm(diff, axis=-1, keepdims=True)
    expected = np.einsum("ij,ijk->ik", plan, unit) / src.weights[:, None]
    np.testing.assert_allclose(pot.drift, expected, atol=1e-12)
    # mass is split here (M > N with random weights), so some drifts are strictly shorter than 1
    assert np.linalg.norm(pot.drift, axis=1).min() < 1 - 1e-6


def test_w1_drift_is_zero_on_arrival():
    pot = of.kantorovich([[0.0, 0.0], [5.0, 0.0]], [[0.0, 0.0], [5.0, 1.0]], loss="w1", method="exact")
    np.testing.assert_allclose(pot.drift, [[0.0, 0.0], [0.0, 1.0]])


def test_zero_weight_particle_gets_c_transform_target():
    src = of.Cloud([[0.0], [10.0], [3.0]], [0.5, 0.5, 0.0])
    tgt = of.Cloud([[1.0], [9.0]])
    for method in ["exact", "onedim"]:
        pot = of.kantorovich(src, tgt, loss="w2", method=method)
        assert np.all(np.isfinite(pot.drift))
        np.testing.assert_allclose(pot.targets[:2].ravel(), [1.0, 9.0])
        assert pot.targets[2, 0] in (1.0, 9.0)
        j = int(pot.targets[2, 0] == 9.0)
        C = _cost("w2", src.points, tgt.points)
        assert C[2, j] - pot.g[j] == pytest.approx(np.min(C[2] - pot.g), abs=1e-12)


@pytest.mark.parametrize("loss", ["w2", "w1"])
@pytest.mark.parametrize("uniform", [True, False])
def test_onedim_equals_exact(rng, loss, uniform):
    for n, m in [(40, 40), (25, 60), (1, 7)]:
        src, tgt = _problem(rng, n, m, 1, uniform=uniform)
        exact = of.kantorovich(src, tgt, loss=loss, method="exact")
        onedim = of.kantorovich(src, tgt, loss=loss, method="onedim")
        assert onedim.cost == pytest.approx(exact.cost, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(onedim.drift, exact.drift, atol=1e-9)
        if loss == "w2":  # the w1 plan is not unique in 1-D (only its drift, the direction, is)
            np.testing.assert_allclose(onedim.targets, exact.targets, atol=1e-9)
        check_duality(onedim, src, tgt, loss)


def test_onedim_handles_ties_and_zero_weights():
    src = of.Cloud([[0.0], [0.0], [1.0], [2.0]], [0.25, 0.25, 0.0, 0.5])
    tgt = of.Cloud([[1.0], [1.0], [3.0]], [0.5, 0.0, 0.5])
    for loss in ["w2", "w1"]:
        pot = of.kantorovich(src, tgt, loss=loss, method="onedim")
        ref = of.kantorovich(src, tgt, loss=loss, method="exact")
        assert pot.cost == pytest.approx(ref.cost, abs=1e-12)
        check_duality(pot, src, tgt, loss)


def test_auto_picks_onedim_in_1d_and_exact_otherwise():
    assert of.kantorovich([[0.0]], [[1.0]]).info["method"] == "onedim"
    assert of.kantorovich([[0.0, 0.0]], [[1.0, 1.0]]).info["method"] == "exact"


def test_non_optimal_exit_is_reported_not_hidden(rng):
    src, tgt = _problem(rng, 60, 60, 2)
    pot = of.kantorovich(src, tgt, method="exact", max_iter=3)
    assert not pot.success
    assert pot.info["status"] == "max_iter_reached"
    assert "max_iter" in pot.info["message"] or "stopped" in pot.info["message"]


def test_wasserstein_distances(rng):
    a = of.Cloud(rng.standard_normal((20, 2)))
    b = of.Cloud(rng.standard_normal((30, 2)))
    C2 = _cost("w2", a.points, b.points) * 2
    assert of.wasserstein(a, b, p=2) == pytest.approx(np.sqrt(ot.emd2(a.weights, b.weights, C2)), rel=1e-9)
    assert of.wasserstein(a, b, p=1) == pytest.approx(ot.emd2(a.weights, b.weights, np.sqrt(C2)), rel=1e-9)
    assert of.wasserstein(a, a, p=2) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="p"):
        of.wasserstein(a, b, p=3)


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        ({"loss": "w3"}, ValueError, "loss"),
        ({"method": "magic"}, ValueError, "method"),
        ({"method": "onedim"}, ValueError, "onedim"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"bogus": 1}, TypeError, "bogus"),
    ],
)
def test_kantorovich_rejects_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        of.kantorovich([[0.0, 0.0]], [[1.0, 1.0]], **kwargs)


def test_dimension_mismatch_is_refused():
    with pytest.raises(ValueError, match="tgt.*dimension"):
        of.kantorovich([[0.0, 0.0]], [[1.0, 1.0, 1.0]])


def test_result_prints_one_line(rng):
    src, tgt = _problem(rng, 5, 6, 2)
    text = repr(of.kantorovich(src, tgt))
    assert "\n" not in text and "cost=" in text and "optimal" in text


@pytest.mark.parametrize("loss", ["w2", "w1"])
@pytest.mark.parametrize("scale", [1e-9, 1e-6, 1e-3, 1e3])
def test_exact_is_scale_invariant(rng, loss, scale):
    """Regression: POT's network simplex has an absolute error ~ eps * nodes in its potentials (its
    artificial cost is (max c + 1) * nodes), so tiny costs used to give infeasible duals (1e-3 clouds) and
    non-optimal plans (W2^2 110 % too large at 1e-9). Costs are now scaled to max 1 before the solve."""
    src, tgt = _problem(rng, 30, 40, 2)
    p = 2 if loss == "w2" else 1
    ref = of.kantorovich(src, tgt, loss=loss, method="exact")
    small = of.Cloud(scale * src.points, src.weights), of.Cloud(scale * tgt.points, tgt.weights)
    pot = of.kantorovich(*small, loss=loss, method="exact")
    assert pot.cost == pytest.approx(scale**p * ref.cost, rel=1e-12)
    check_duality(pot, *small, loss, tol=1e-12)
    np.testing.assert_allclose(pot.f, scale**p * ref.f, rtol=0, atol=1e-12 * scale**p * np.abs(ref.f).max())
