"""method="entropic": against POT's Sinkhorn, the exact limit eps -> 0, debiasing, warm starts, guards."""

import numpy as np
import ot
import pytest

import odeflow as of
from conftest import random_weights
from odeflow.potentials import METHODS, EntropicSolver


def _cost(loss, x, y):
    diff = x[:, None, :] - y[None, :, :]
    sq = np.sum(diff**2, axis=-1)
    return 0.5 * sq if loss == "w2" else np.sqrt(sq)


def _problem(rng, n, m, d=2, spread=1.0):
    x = rng.standard_normal((n, d))
    y = 0.7 * rng.standard_normal((m, d)) + 1.0
    return of.Cloud(x, random_weights(rng, n, spread)), of.Cloud(y, random_weights(rng, m, spread))


def _pot_plan(a, b, C, reg):
    """POT's log-domain Sinkhorn (independent code) at absolute regularisation ``reg``."""
    return ot.bregman.sinkhorn_log(a, b, C, reg, numItermax=200_000, stopThr=1e-13)


def _entropic_value(P, a, b, C, reg):
    """<C, P> + reg KL(P | a x b), from a plan."""
    nz = P > 0
    return float(np.sum(P * C) + reg * np.sum(P[nz] * np.log(P[nz] / np.outer(a, b)[nz])))


def test_registered():
    assert METHODS["entropic"] is EntropicSolver
    solver = of.make_solver(2, of.Cloud([[0.0, 0.0], [1.0, 1.0]]), method="entropic")
    assert isinstance(solver, EntropicSolver) and solver.name == "entropic"


@pytest.mark.parametrize("loss", ["w2", "w1"])
def test_plan_value_and_drift_match_pot(rng, loss):
    src, tgt = _problem(rng, 30, 45, spread=2.0)
    a, b, x, y = src.weights, tgt.weights, src.points, tgt.points
    pot = of.kantorovich(src, tgt, loss=loss, method="entropic", epsilon=0.05, debias=False, tol=1e-12)
    reg = pot.info["epsilon_abs"]
    C = _cost(loss, x, y)
    P = _pot_plan(a, b, C, reg)
    assert pot.success and pot.info["status"] == "optimal" and pot.info["marginal_error"] <= 1e-12
    np.testing.assert_allclose(pot.plan.toarray(), P, atol=1e-12)
    assert pot.cost == pytest.approx(_entropic_value(P, a, b, C, reg), rel=1e-10)
    assert pot.info["transport_cost"] == pytest.approx(np.sum(P * C), rel=1e-10)
    weights = P / P.sum(1, keepdims=True)
    if loss == "w2":
        np.testing.assert_allclose(pot.drift, weights @ y - x, atol=1e-10)
    else:
        diff = y[None, :, :] - x[:, None, :]
        unit = diff / np.linalg.norm(diff, axis=-1, keepdims=True)
        np.testing.assert_allclose(pot.drift, np.einsum("ij,ijk->ik", weights, unit), atol=1e-10)
        assert np.all(np.linalg.norm(pot.drift, axis=1) <= 1 + 1e-12)
    # the duals are the entropic ones: f is the soft c-transform of g
    f_soft = -reg * np.log(np.exp((pot.g[None, :] - C) / reg) @ b)
    np.testing.assert_allclose(pot.f, f_soft, atol=1e-9 * np.abs(C).max())


@pytest.mark.filterwarnings("ignore:Sinkhorn did not converge")
def test_debiased_cost_is_the_sinkhorn_divergence(rng):
    src, tgt = _problem(rng, 25, 35)
    a, b, x, y = src.weights, tgt.weights, src.points, tgt.points
    pot = of.kantorovich(src, tgt, method="entropic", epsilon=0.5, debias=True, tol=1e-12)
    reg = pot.info["epsilon_abs"]
    value, plans = {}, {}
    for key, (p, q, u, v) in {"xy": (a, b, x, y), "xx": (a, a, x, x), "yy": (b, b, y, y)}.items():
        C = _cost("w2", u, v)
        plans[key] = _pot_plan(p, q, C, reg)
        value[key] = _entropic_value(plans[key], p, q, C, reg)
    # (a large epsilon: POT's two-sided Sinkhorn crawls on self-problems at small ones, see
    # odeflow.potentials.sinkhorn)
    assert pot.cost == pytest.approx(value["xy"] - value["xx"] / 2 - value["yy"] / 2, rel=1e-9)
    assert pot.info["ot_eps_xx"] == pytest.approx(value["xx"], rel=1e-10)
    assert pot.info["ot_eps_yy"] == pytest.approx(value["yy"], rel=1e-10)
    assert pot.cost >= 0
    T_xx = (plans["xx"] @ x) / plans["xx"].sum(1, keepdims=True)
    P = pot.plan.toarray()
    np.testing.assert_allclose(pot.drift, (P @ y) / P.sum(1, keepdims=True) - T_xx, atol=1e-10)


def test_epsilon_units():
    tgt = of.Cloud([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]], [0.5, 0.25, 0.25])
    mean = tgt.weights @ tgt.points
    variance = float(tgt.weights @ np.sum((tgt.points - mean) ** 2, axis=1))
    src = of.Cloud([[1.0, 1.0]])
    pot = of.kantorovich(src, tgt, method="entropic", epsilon=0.1)
    assert pot.info["scale_cost"] == pytest.approx(variance, rel=1e-12)  # sum_jk b_j b_k |y_j - y_k|^2 / 2
    assert pot.info["epsilon_abs"] == pytest.approx(0.1 * variance, rel=1e-12)
    pot = of.kantorovich(src, tgt, method="entropic", epsilon=0.1, scale="absolute")
    assert pot.info["epsilon_abs"] == 0.1
    w1 = of.kantorovich(src, tgt, loss="w1", method="entropic", epsilon=0.1)
    D = _cost("w1", tgt.points, tgt.points)
    assert w1.info["scale_cost"] == pytest.approx(tgt.weights @ D @ tgt.weights, rel=1e-12)


def test_cost_converges_to_exact_at_rate_one_with_the_kl_constant(rng):
    """OT_eps - OT = eps KL(pi* | a x b) + o(eps) for discrete measures with a unique optimal plan, and the
    debiased S_eps - OT = eps (KL(pi* | a x b) - (H(a) + H(b)) / 2) + o(eps) (the self-plans become
    diagonal: KL(diag a | a x a) = H(a), the Shannon entropy). pi* comes from POT's network simplex."""
    src, tgt = _problem(rng, 12, 17)
    a, b = src.weights, tgt.weights
    C = _cost("w2", src.points, tgt.points)
    G = ot.emd(a, b, C)
    exact = float(np.sum(G * C))
    nz = G > 0
    kl = float(np.sum(G[nz] * np.log(G[nz] / np.outer(a, b)[nz])))
    entropy = -(a @ np.log(a) + b @ np.log(b)) / 2
    epsilons = np.array([1e-2, 3e-3, 1e-3, 3e-4])
    gaps, debiased, transport = [], [], []
    for eps in epsilons:
        plain = of.kantorovich(src, tgt, method="entropic", epsilon=eps, debias=False, tol=1e-12)
        deb = of.kantorovich(src, tgt, method="entropic", epsilon=eps, debias=True, tol=1e-12)
        assert plain.success and deb.success
        gaps.append((plain.cost - exact) / plain.info["epsilon_abs"])
        debiased.append((deb.cost - exact) / deb.info["epsilon_abs"])
        transport.append(plain.info["transport_cost"] - exact)
    assert np.all(np.array(gaps) > 0)
    assert gaps[-1] == pytest.approx(kl, rel=2e-2)
    assert debiased[-1] == pytest.approx(kl - entropy, abs=3e-2 * kl)
    fit = of.convergence.fit_order(epsilons, np.array(gaps) * epsilons)
    assert 0.9 < fit.order < 1.1
    # the transport cost of the entropic plan approaches OT faster than eps
    assert np.all(np.diff(np.log(transport)) < np.diff(np.log(epsilons)))


def test_drift_converges_to_exact_exponentially(rng):
    """|drift_eps - drift| ~ exp(-gap / eps): the entropic plan's mass off the exact support decays like
    exp(-r / eps) with r the arc's reduced cost; gap = smallest positive reduced cost of the exact LP."""
    src, tgt = _problem(rng, 6, 8)
    exact = of.kantorovich(src, tgt, method="exact")
    C = _cost("w2", src.points, tgt.points)
    reduced = C - exact.f[:, None] - exact.g[None, :]
    gap = np.min(reduced[exact.plan.toarray() == 0])
    inverse = np.linspace(2.0, 6.0, 5) / gap  # 1 / eps_abs
    errors = []
    for inv in inverse:
        pot = of.kantorovich(src, tgt, method="entropic", epsilon=1.0 / inv, scale="absolute", debias=False,
                             tol=1e-13, max_iter=200_000)
        errors.append(np.sqrt(src.weights @ np.sum((pot.drift - exact.drift) ** 2, axis=1)))
    slope = np.polyfit(inverse, np.log(errors), 1)[0]
    assert -1.2 * gap < slope < -0.8 * gap


def test_debiased_flow_between_identical_clouds_does_not_move(rng):
    """The debiased drift T_xy - T_xx vanishes when the particles are the target: the flow stays put, to the
    solver's tolerance (the two plans come from different iterations, so not bit for bit)."""
    cloud = of.Cloud(rng.standard_normal((40, 2)), random_weights(rng, 40))

    def rms(d):
        return np.sqrt(np.sum(d**2, axis=-1) @ cloud.weights)

    for tol, bound in ((1e-8, 1e-7), (1e-12, 1e-11)):  # RMS displacement over t = 2, at most ~ 10 tol
        res = of.simulate(cloud, cloud, method="entropic", epsilon=0.05, debias=True, tol=tol, h=0.2, t_end=2.0,
                          progress=False)
        assert res.success
        assert rms(res.points - cloud.points).max() <= bound
        assert np.abs(res.points - cloud.points).max() <= 1e4 * bound  # particles of weight ~1e-5 included
        assert abs(res.distance).max() <= 1e-6  # S_eps(a, a) = 0
    plain = of.simulate(cloud, cloud, method="entropic", epsilon=0.05, debias=False, h=0.2, t_end=2.0,
                        progress=False)
    assert plain.success and rms(plain.final.points - cloud.points) > 1e-2  # the plain entropic flow contracts


def test_warm_start_along_a_flow_matches_cold_solves(rng):
    src, tgt = _problem(rng, 40, 30)
    solver = of.make_solver(2, tgt, method="entropic", epsilon=0.02)
    x, paths = src.points.copy(), []
    for _ in range(4):
        pot = solver(of.Cloud(x, src.weights))
        paths.append(pot.info["warm"])
        cold = of.kantorovich(of.Cloud(x, src.weights), tgt, method="entropic", epsilon=0.02)
        np.testing.assert_allclose(pot.drift, cold.drift, atol=1e-6)
        assert pot.cost == pytest.approx(cold.cost, abs=1e-7)
        x = x + 0.2 * pot.drift
    assert paths == ["cold", "warm", "extrapolated", "extrapolated"]
    solver.reset()
    assert solver(of.Cloud(x, src.weights)).info["warm"] == "cold"


def test_zero_weights(rng):
    x, y = rng.standard_normal((9, 2)), rng.standard_normal((7, 2)) + 1
    a, b = random_weights(rng, 9), random_weights(rng, 7)
    a[3] = 0.0
    a /= a.sum()
    b0 = np.append(b, 0.0)
    y0 = np.vstack([y, [[5.0, 5.0]]])
    pot = of.kantorovich(of.Cloud(x, a), of.Cloud(y0, b0), method="entropic", epsilon=0.1, debias=False, tol=1e-12)
    assert pot.success and np.all(np.isfinite(pot.g))
    assert pot.plan.toarray()[3].sum() == 0 and pot.plan.toarray()[:, -1].sum() == 0
    # the zero-weight particle moves along the gradient of the entropic potential: POT's scalings, softmax
    reg = pot.info["epsilon_abs"]
    pos = a > 0
    C = _cost("w2", x[pos], y)
    _, log = ot.bregman.sinkhorn_log(a[pos], b, C, reg, numItermax=100_000, stopThr=1e-13, log=True)
    w = np.exp(-_cost("w2", x[3:4], y)[0] / reg + log["log_v"])
    np.testing.assert_allclose(pot.drift[3], w @ y / w.sum() - x[3], atol=1e-9)
    deb = of.kantorovich(of.Cloud(x, a), of.Cloud(y0, b0), method="entropic", epsilon=0.1, debias=True)
    assert deb.success and np.all(np.isfinite(deb.drift)) and np.all(np.isfinite(deb.f))


def test_failures_are_reported_not_hidden(rng):
    src, tgt = _problem(rng, 20, 25)
    pot = of.kantorovich(src, tgt, method="entropic", epsilon=1e-3, max_iter=3)
    assert not pot.success and pot.info["status"] == "max_iter_reached"
    assert "max_iter" in pot.info["message"] and isinstance(pot.info["iterations"], int)
    res = of.simulate(src, tgt, method="entropic", epsilon=1e-3, max_iter=3, h=0.1, t_end=0.5, progress=False)
    assert res.status == -1 and "max_iter_reached" in res.message


def test_info_vocabulary(rng):
    src, tgt = _problem(rng, 10, 12)
    pot = of.kantorovich(src, tgt, method="entropic")
    for key in ("method", "path", "status", "success", "message", "iterations", "seconds", "warm", "n_sites",
                "epsilon", "epsilon_abs", "marginal_error", "ot_eps", "transport_cost", "sinkhorn_divergence"):
        assert key in pot.info, key
    assert pot.info["method"] == "entropic" and pot.info["status"] == "optimal" and pot.info["debias"] is True
    assert isinstance(pot.info["iterations"], int) and pot.info["n_sites"] == 10
    assert "entropic" in repr(pot)


def test_memory_guard(rng, monkeypatch):
    src, tgt = _problem(rng, 3, 4)
    with pytest.raises(ValueError, match=r"3 x 4.*memory_budget"):
        of.kantorovich(src, tgt, method="entropic", memory_budget=100)
    monkeypatch.setenv("ODEFLOW_MEMORY_BUDGET", "200")
    with pytest.raises(ValueError, match=r"N x M = 3 x 4, N x N = 3 x 3 and M x M = 4 x 4"):
        of.kantorovich(src, tgt, method="entropic")
    assert of.kantorovich(src, tgt, method="entropic", debias=False, memory_budget=10_000).success


@pytest.mark.parametrize("options, exc, match", [
    ({"epsilon": 0.0}, ValueError, "epsilon"),
    ({"epsilon": "big"}, TypeError, "epsilon"),
    ({"debias": 1}, TypeError, "debias"),
    ({"scale": "max"}, ValueError, "scale"),
    ({"tol": -1.0}, ValueError, "tol"),
    ({"max_iter": 0}, ValueError, "max_iter"),
    ({"memory_budget": "1G"}, TypeError, "memory_budget"),
    ({"colour": 1}, TypeError, "options"),
])
def test_bad_options(options, exc, match):
    with pytest.raises(exc, match=match):
        of.kantorovich([[0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], method="entropic", **options)


def test_one_point_target_needs_absolute_scale():
    with pytest.raises(ValueError, match="epsilon.*scale='absolute'"):
        of.kantorovich([[0.0, 0.0]], [[1.0, 0.0]], method="entropic")
    pot = of.kantorovich([[0.0, 0.0]], [[1.0, 0.0]], method="entropic", scale="absolute", epsilon=0.1)
    assert pot.success and pot.drift.tolist() == [[1.0, 0.0]]
