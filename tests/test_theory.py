"""Every closed form of odeflow.theory against an independent computation (docs/theory.rst §3)."""

import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

import odeflow as of
from conftest import random_weights
from odeflow import theory
from odeflow.potentials import KantorovichResult


def _spd(rng, d, scale=1.0):
    B = rng.standard_normal((d, d))
    return scale * (B @ B.T / d + 0.2 * np.eye(d))


# --- 3.1 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["euler", "heun", "rk4"])
@pytest.mark.parametrize("h, t_end", [(0.2, 2.0), (0.3, 1.0)])  # 1.0 is not a multiple of 0.3
def test_equal_size_discrete_flow_matches_simulate(rng, scheme, h, t_end):
    """Positions and distances of every scheme, including a shorter last step, against the LP flow."""
    src = of.Cloud(rng.standard_normal((25, 3)))
    tgt = of.Cloud(rng.standard_normal((25, 3)) * 0.7 + 1.0)
    res = of.simulate(src, tgt, scheme=scheme, h=h, t_end=t_end, method="exact", progress=False)
    np.testing.assert_allclose(res.points, theory.equal_size_flow(src, tgt, res.t, h=h, scheme=scheme),
                               atol=1e-12)
    np.testing.assert_allclose(res.distance, theory.equal_size_distance(src, tgt, res.t, h=h, scheme=scheme),
                               rtol=1e-10)


def test_equal_size_exact_flow_solves_the_ode(rng):
    """The exact positions against scipy's solve_ivp on dx/dt = y_s - x (s from POT, not scipy)."""
    src = of.Cloud(rng.standard_normal((20, 2)))
    tgt = of.Cloud(rng.standard_normal((20, 2)) + 2.0)
    y = of.kantorovich(src, tgt, method="exact").targets
    t = np.linspace(0.0, 3.0, 7)
    sol = solve_ivp(lambda _, x: (y.ravel() - x), (0.0, 3.0), src.points.ravel(), t_eval=t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(theory.equal_size_flow(src, tgt, t), sol.y.T.reshape(t.size, 20, 2), atol=1e-9)
    w0 = of.wasserstein(src, tgt)
    np.testing.assert_allclose(theory.equal_size_distance(src, tgt, t), w0 * np.exp(-t), rtol=1e-12)


def test_decay_factor_values():
    assert theory.decay_factor(0.0, h=0.3) == 1.0
    assert theory.decay_factor(0.9, h=0.3) == pytest.approx(0.7**3, rel=1e-14)
    assert theory.decay_factor(1.0, h=0.3) == pytest.approx(0.7**3 * 0.9, rel=1e-14)
    np.testing.assert_allclose(theory.decay_factor(np.array([0.0, 2.0])), [1.0, np.exp(-2.0)])
    # RK4's factor is e^{-h} to O(h^5)
    assert abs(theory.decay_factor(0.1, h=0.1, scheme="rk4") - np.exp(-0.1)) < 0.1**5 / 120 * 1.01


# --- 3.5 ------------------------------------------------------------------------------------------

def test_w1_stop_at_target_matches_clipped_euler_and_bound(rng):
    src = of.Cloud(rng.standard_normal((30, 2)))
    tgt = of.Cloud(rng.standard_normal((30, 2)) * 0.5 + 1.5)
    res = of.simulate(src, tgt, loss="w1", h=0.05, t_end=4.0, clip=True, method="exact", progress=False)
    np.testing.assert_allclose(res.distance, theory.w1_stop_at_target(src, tgt, res.t), atol=1e-12)
    np.testing.assert_allclose(res.points, theory.w1_stop_at_target_flow(src, tgt, res.t), atol=1e-12)
    curve = theory.w1_stop_at_target(src, tgt, res.t)
    assert np.all(curve >= res.distance[0] - res.t - 1e-12)  # the rate-1 bound
    assert theory.w1_stop_at_target(src, tgt, 0.0) == pytest.approx(of.wasserstein(src, tgt, p=1), rel=1e-12)


# --- 3.2 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 2])
def test_within_cell_variance_and_energy_split(rng, d):
    """V from the plan against a dense brute force; W2^2 = kinetic + V at the optimum."""
    n, m = 17, 29
    src = of.Cloud(rng.standard_normal((n, d)), random_weights(rng, n))
    tgt = of.Cloud(rng.standard_normal((m, d)) + 1.0, random_weights(rng, m))
    pot = of.kantorovich(src, tgt)
    P = pot.plan.toarray()
    T = P @ tgt.points / src.weights[:, None]
    brute = sum(P[i, j] * np.sum((T[i] - tgt.points[j]) ** 2) for i in range(n) for j in range(m))
    assert theory.within_cell_variance(pot, tgt) == pytest.approx(brute, rel=1e-12)
    split = theory.w2_energy(pot, src.weights, tgt)
    assert split.variance > 0
    assert split.w2_squared == pytest.approx(of.wasserstein(src, tgt) ** 2, rel=1e-10)
    assert abs(split.defect) < 1e-12 * split.w2_squared
    assert split.rate == pytest.approx(-2 * split.kinetic, rel=1e-10)


def test_variance_is_zero_without_mass_splitting(rng):
    src, tgt = of.Cloud(rng.standard_normal((12, 2))), of.Cloud(rng.standard_normal((12, 2)))
    assert theory.within_cell_variance(of.kantorovich(src, tgt), tgt) == pytest.approx(0.0, abs=1e-14)


def test_one_step_bound_holds_along_an_euler_run(rng):
    src = of.Cloud(rng.standard_normal((15, 2)))
    tgt = of.Cloud(rng.standard_normal((60, 2)) * 2.0)
    h = 0.25
    res = of.simulate(src, tgt, h=h, t_end=3.0, method="exact", progress=False,
                      observe=lambda pot: theory.within_cell_variance(pot, tgt))
    D, V = res.distance**2, res.observed
    assert np.all(V > 0)
    bound = theory.w2_one_step_bound(D[:-1], V[:-1], h)
    assert np.all(D[1:] <= bound + 1e-12 * D[:-1])
    assert np.all(D >= V - 1e-12)


def test_variance_of_a_density_result_comes_from_its_info():
    base = dict(cost=1.0, f=np.zeros(2), g=None, plan=None, targets=np.zeros((2, 1)), drift=np.zeros((2, 1)))
    pot = KantorovichResult(info={"cell_variance": np.array([0.25, 0.5])}, **base)
    assert theory.within_cell_variance(pot) == 0.75
    with pytest.raises(ValueError, match="cell_variance"):
        theory.within_cell_variance(KantorovichResult(info={}, **base))
    with pytest.raises(ValueError, match="^pot: .*'w2'"):
        theory.within_cell_variance(of.kantorovich([[0.0]], [[1.0]], loss="w1"), [[1.0]])


# --- 3.3 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_gaussian_flow_against_sqrtm_composition(rng, d):
    m0, m1 = rng.standard_normal(d), rng.standard_normal(d) + 1.0
    S0, S1 = _spd(rng, d), _spd(rng, d, 2.0)
    r0 = np.real(scipy.linalg.sqrtm(S0))
    A = np.linalg.inv(r0) @ np.real(scipy.linalg.sqrtm(r0 @ S1 @ r0)) @ np.linalg.inv(r0)
    np.testing.assert_allclose(theory.bures_map(S0, S1), A, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(A @ S0 @ A, S1, rtol=1e-8, atol=1e-10)
    for t in (0.0, 0.4, 2.5):
        s = 1 - np.exp(-t)
        M = (1 - s) * np.eye(d) + s * A
        m_t, S_t = theory.gaussian_flow(m0, S0, m1, S1, t)
        np.testing.assert_allclose(m_t, m1 + np.exp(-t) * (m0 - m1), rtol=1e-12)
        np.testing.assert_allclose(S_t, M @ S0 @ M, rtol=1e-8, atol=1e-10)
        # W2 to the target decays like e^{-t} (the trace formula of gaussian_w2, not the map)
        assert theory.gaussian_w2(m_t, S_t, m1, S1) == pytest.approx(
            np.exp(-t) * theory.gaussian_w2(m0, S0, m1, S1), rel=1e-7, abs=1e-9)
    ms, Ss = theory.gaussian_flow(m0, S0, m1, S1, np.array([0.0, 1.0]))
    assert ms.shape == (2, d) and Ss.shape == (2, d, d)


def test_gaussian_flow_is_the_gradient_flow(rng):
    """d/dt X_t = T_t(X_t) - X_t with T_t the optimal map from N(m_t, S_t) to the target, computed
    afresh (scipy.linalg.sqrtm) at every t: the pushed points move along the w2 drift."""
    d = 3
    m0, m1 = rng.standard_normal(d), rng.standard_normal(d)
    S0, S1 = _spd(rng, d), _spd(rng, d, 0.5)
    x = rng.standard_normal((5, d))
    for t in (0.3, 1.7):
        eps = 1e-6
        velocity = (theory.gaussian_pushforward(x, m0, S0, m1, S1, t + eps)
                    - theory.gaussian_pushforward(x, m0, S0, m1, S1, t - eps)) / (2 * eps)
        m_t, S_t = theory.gaussian_flow(m0, S0, m1, S1, t)
        r = np.real(scipy.linalg.sqrtm(S_t))
        A_t = np.linalg.inv(r) @ np.real(scipy.linalg.sqrtm(r @ S1 @ r)) @ np.linalg.inv(r)
        x_t = theory.gaussian_pushforward(x, m0, S0, m1, S1, t)
        drift = m1 + (x_t - m_t) @ A_t.T - x_t
        np.testing.assert_allclose(velocity, drift, atol=1e-7)


def test_gaussian_euler_counterpart_stays_on_the_geodesic(rng):
    """Euler on the Gaussian flow's moments, with the Bures map recomputed (sqrtm) every step,
    against gaussian_flow(h=h): s = 1 - (1-h)^n."""
    d, h, steps = 2, 0.2, 9
    m0, m1 = rng.standard_normal(d), rng.standard_normal(d)
    S0, S1 = _spd(rng, d), _spd(rng, d, 3.0)
    m, M = m0.copy(), np.eye(d)  # x_n = m_n + M_n (x_0 - m0)
    for _ in range(steps):
        S = M @ S0 @ M.T
        r = np.real(scipy.linalg.sqrtm(S))
        A_n = np.linalg.inv(r) @ np.real(scipy.linalg.sqrtm(r @ S1 @ r)) @ np.linalg.inv(r)
        m, M = m + h * (m1 - m), M + h * (A_n @ M - M)
    m_t, S_t = theory.gaussian_flow(m0, S0, m1, S1, steps * h, h=h)
    np.testing.assert_allclose(m_t, m, rtol=1e-12)
    np.testing.assert_allclose(S_t, M @ S0 @ M.T, rtol=1e-8)


def test_gaussian_pushforward_of_a_large_sample(rng):
    d, n = 3, 200_000
    m0, m1 = rng.standard_normal(d), rng.standard_normal(d) + 2
    S0, S1 = _spd(rng, d), _spd(rng, d, 2.0)
    sample = rng.multivariate_normal(m0, S0, size=n)
    pushed = theory.gaussian_pushforward(sample, m0, S0, m1, S1, 0.8)
    m_t, S_t = theory.gaussian_flow(m0, S0, m1, S1, 0.8)
    # sampling error of a mean and a covariance entry ~ sqrt(S / n)
    tol = 6 * np.sqrt(np.max(np.diag(S_t)) / n) * np.sqrt(np.max(np.diag(S_t)))
    np.testing.assert_allclose(pushed.mean(0), m_t, atol=tol)
    np.testing.assert_allclose(np.cov(pushed.T), S_t, atol=4 * tol)


def test_gaussian_w2_commuting_case():
    S0, S1 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    expected = np.sqrt(1.0 + (1 - 3) ** 2 + (2 - 1) ** 2)
    assert theory.gaussian_w2([0.0, 0.0], S0, [1.0, 0.0], S1) == pytest.approx(expected, rel=1e-14)


# --- 3.4 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["euler", "rk4"])
def test_quantile_flow_matches_simulate_on_equal_size_clouds(rng, scheme):
    src = of.Cloud(rng.standard_normal((40, 1)))
    tgt = of.Cloud(rng.exponential(size=(40, 1)))
    h = 0.1
    res = of.simulate(src, tgt, scheme=scheme, h=h, t_end=1.5, method="onedim", progress=False)
    flows = theory.quantile_flow(src, tgt, res.t, h=h, scheme=scheme)
    for pts, cloud in zip(res.points, flows):
        np.testing.assert_allclose(np.sort(pts[:, 0]), cloud.points[:, 0], atol=1e-12)
        np.testing.assert_allclose(cloud.weights, 1 / 40, rtol=1e-12)


def test_quantile_flow_with_weights(rng):
    """Any weights: law of src at t = 0, W2 to the target decays like e^{-t} (exact LP, not sorting);
    with split mass the particle flow is not the continuum flow (docs/theory.rst §3.4)."""
    src = of.Cloud(rng.standard_normal((9, 1)), random_weights(rng, 9))
    tgt = of.Cloud(rng.standard_normal((14, 1)) + 3.0, random_weights(rng, 14))
    import ot

    def w2(a, b):
        return np.sqrt(ot.emd2(a.weights, b.weights, ot.dist(a.points, b.points)))

    assert w2(theory.quantile_flow(src, tgt, 0.0), src) < 1e-7
    w0 = w2(src, tgt)
    for t in (0.5, 2.0):
        assert w2(theory.quantile_flow(src, tgt, t), tgt) == pytest.approx(np.exp(-t) * w0, rel=1e-6)
    res = of.simulate(src, tgt, scheme="rk4", h=0.05, t_end=1.0, progress=False)
    assert w2(res.final, theory.quantile_flow(src, tgt, 1.0)) > 1e-3


# --- validation -----------------------------------------------------------------------------------

def test_bad_inputs_name_the_argument(rng):
    a = rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match="^tgt: .*equal-size"):
        theory.equal_size_flow(a, a[:4], 1.0)
    with pytest.raises(ValueError, match="^t: "):
        theory.decay_factor(-1.0)
    with pytest.raises(ValueError, match="^h: "):
        theory.decay_factor(1.0, h=1.5)
    with pytest.raises(ValueError, match="^scheme: "):
        theory.decay_factor(1.0, h=0.5, scheme="rk45")
    with pytest.raises(ValueError, match="^S0: .*positive definite"):
        theory.gaussian_flow([0.0, 0.0], [[1.0, 0.0], [0.0, 0.0]], [0.0, 0.0], np.eye(2), 1.0)
    with pytest.raises(ValueError, match="^S1: .*symmetric"):
        theory.gaussian_flow([0.0, 0.0], np.eye(2), [0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]], 1.0)
    with pytest.raises(ValueError, match="^m1: "):
        theory.gaussian_flow([0.0, 0.0], np.eye(2), [0.0], np.eye(2), 1.0)
    with pytest.raises(ValueError, match="^src: .*one-dimensional"):
        theory.quantile_flow(a, a, 1.0)
    with pytest.raises(TypeError, match="^observe: "):
        of.simulate(a, a, h=0.5, t_end=1.0, progress=False, observe=3)
