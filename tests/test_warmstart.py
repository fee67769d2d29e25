"""Warm-started exact solves along trajectories: every path gives the cold solve's cost and valid duals."""

import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import odeflow as of
from conftest import random_weights
from odeflow.potentials import warm as kernels
from odeflow.losses import get_loss
from odeflow.potentials.exact import solve_exact
from odeflow.schemes import make_scheme
from test_potentials import check_duality


def _trajectory(src, tgt, loss, scheme, h, steps, **options):
    """Drive a warm solver along a flow; every solve is returned with the points it was made at."""
    solver = of.make_solver(src.dim, tgt, loss, "exact", **options)
    stepper = make_scheme(scheme)
    calls = []

    def field(points):
        cloud = of.Cloud._trusted(points, src.weights)
        pot = solver.solve(cloud)
        calls.append((cloud, pot))
        return pot

    x = np.array(src.points)
    for _ in range(steps):
        x = stepper.step(x, h, field, field(x))
    field(x)
    return calls


def _check_against_cold(calls, tgt, loss):
    loss_obj = get_loss(loss)
    for cloud, pot in calls:
        cold = solve_exact(cloud, tgt, loss_obj)
        scale = max(1.0, abs(cold.cost))
        assert pot.success
        assert abs(pot.cost - cold.cost) <= 1e-9 * scale, pot.info["warm"]
        check_duality(pot, cloud, tgt, loss)
        if pot.info["warm"] == "reused" and loss == "w2":
            # the reused plan is the cold solve's plan (unique for random data): same targets
            live = cloud.weights > 0
            np.testing.assert_allclose(pot.targets[live], cold.targets[live], atol=1e-12)
    return collections.Counter(pot.info["warm"] for _, pot in calls)


@pytest.mark.parametrize("scheme", ["euler", "heun", "rk4"])
def test_equal_size_w2_reuses_the_assignment_at_every_stage(rng, scheme):
    """docs/theory.rst §3.1: every stage is x0 + beta (y_s - x0), beta in [0, 1], so the assignment survives."""
    n = 60
    src = of.Cloud(rng.standard_normal((n, 2)))
    tgt = of.Cloud(rng.standard_normal((n, 2)) + [2.0, 0.0])
    calls = _trajectory(src, tgt, "w2", scheme, 0.2, 6)
    counts = _check_against_cold(calls, tgt, "w2")
    assert counts == {"cold": 1, "reused": len(calls) - 1}
    assert all(pot.info["repair_scans"] == 0 for _, pot in calls[1:])  # the closed-form guess is exact


@pytest.mark.parametrize(
    "loss, n, m, weighted, scheme",
    [
        ("w2", 40, 57, False, "euler"),  # unequal sizes: mass splits, the plan changes
        ("w2", 45, 45, True, "euler"),  # non-uniform weights
        ("w2", 40, 57, True, "heun"),
        ("w1", 40, 40, False, "euler"),  # w1: arrivals change the assignment
        ("w1", 35, 50, True, "rk4"),
    ],
)
def test_warm_path_matches_cold_solves_when_the_plan_changes(rng, loss, n, m, weighted, scheme):
    a = random_weights(rng, n) if weighted else None
    src = of.Cloud(rng.standard_normal((n, 2)), a)
    tgt = of.Cloud(rng.standard_normal((m, 2)) * 0.7 + [1.5, 0.0])
    calls = _trajectory(src, tgt, loss, scheme, 0.15, 5)
    counts = _check_against_cold(calls, tgt, loss)
    assert counts["cold"] == 1
    assert counts["resolved"] >= 1  # the plan did change, so the re-solve path ran and was checked


def test_w1_equal_size_reuses_before_arrivals(rng):
    n, h = 30, 0.01
    src = of.Cloud(rng.standard_normal((n, 2)))
    tgt = of.Cloud(rng.standard_normal((n, 2)) + 3.0)
    calls = _trajectory(src, tgt, "w1", "euler", h, 10)
    gaps = np.linalg.norm(calls[0][1].targets - src.points, axis=1)
    assert gaps.min() > 11 * h  # nobody arrives in this window, so the assignment is optimal throughout
    assert _check_against_cold(calls, tgt, "w1") == {"cold": 1, "reused": 10}


def test_zero_weight_particle_on_the_reused_path(rng):
    n = 20
    w = np.full(n, 1.0 / (n - 1))
    w[3] = 0.0
    src = of.Cloud(rng.standard_normal((n, 2)), w)
    tgt = of.Cloud(rng.standard_normal((n - 1, 2)) + 1.0)  # the plan is a permutation of the others
    calls = _trajectory(src, tgt, "w2", "euler", 0.3, 4)
    counts = _check_against_cold(calls, tgt, "w2")
    assert counts == {"cold": 1, "reused": 4}
    for cloud, pot in calls[1:]:
        reduced = 0.5 * ((cloud.points[3] - tgt.points) ** 2).sum(1) - pot.g
        assert pot.f[3] == pytest.approx(reduced.min(), abs=1e-12)  # the c-transform (POT's cold f is lower)
        np.testing.assert_allclose(pot.targets[3], tgt.points[reduced.argmin()], atol=1e-12)


def test_simulate_distances_identical_with_and_without_warm_start(rng):
    n = 80
    src = of.Cloud(rng.standard_normal((n, 2)))
    tgt = of.Cloud(rng.standard_normal((n, 2)) * 0.5 + [2.0, 1.0])
    args = {"loss": "w2", "method": "exact", "h": 0.1, "t_end": 2.0, "progress": False}
    warm = of.simulate(src, tgt, **args)
    cold = of.simulate(src, tgt, warm_start=False, **args)
    np.testing.assert_allclose(warm.distance, cold.distance, rtol=1e-9, atol=0)
    np.testing.assert_allclose(warm.points, cold.points, atol=1e-12)
    assert warm.info["solver_info"]["warm"] == "reused"
    assert cold.info["solver_info"]["warm"] == "cold"
    assert warm.n_solves == cold.n_solves == 21  # the recorded distance reuses each step's solve


def test_reset_and_incompatible_clouds_solve_cold(rng):
    tgt = of.Cloud(rng.standard_normal((10, 2)))
    solver = of.make_solver(2, tgt, "w2", "exact")
    src = of.Cloud(rng.standard_normal((10, 2)))
    assert solver.solve(src).info["warm"] == "cold"
    assert solver.solve(src).info["warm"] == "reused"
    solver.reset()
    assert solver.solve(src).info["warm"] == "cold"
    other = of.Cloud(rng.standard_normal((7, 2)))
    assert solver.solve(other).info["warm"] == "cold"  # other particles: nothing to reuse
    reweighted = of.Cloud(other.points, random_weights(rng, 7))
    assert solver.solve(reweighted).info["warm"] == "cold"


def test_warm_start_option_is_validated():
    with pytest.raises(TypeError, match="warm_start"):
        of.make_solver(1, [[0.0]], "w2", "exact", warm_start="yes")


def test_repair_rejects_a_plan_that_is_no_longer_optimal():
    x = np.array([[0.0], [1.0]])
    y = np.array([[0.0], [1.0]])
    ptr = np.array([0, 1, 2])
    crossed = np.array([1, 0])  # the crossing assignment: cost 1 against 0 for the identity
    f, g, ok, scans = kernels.repair_duals(x, y, 2, np.zeros(2), ptr, crossed, 1e-12, 50)
    assert not ok and scans == 50
    f, g, ok, scans = kernels.repair_duals(x, y, 2, np.array([5.0, -3.0]), ptr, np.array([0, 1]), 1e-12, 50)
    assert ok  # the identity is optimal: from any guess the corrections converge to certifying duals
    C = 0.5 * (x - y.T) ** 2
    assert np.all(f[:, None] + g[None, :] <= C + 1e-12)
    np.testing.assert_allclose(f + g, [0.0, 0.0], atol=1e-12)


def test_repair_from_a_poor_guess_still_certifies_an_optimal_plan(rng):
    n, m = 30, 45
    src = of.Cloud(rng.standard_normal((n, 3)), random_weights(rng, n))
    tgt = of.Cloud(rng.standard_normal((m, 3)))
    pot = solve_exact(src, tgt, get_loss("w1"))
    plan = pot.plan.tocsr()
    plan.sort_indices()
    f, g, ok, _ = kernels.repair_duals(src.points, tgt.points, 1, np.zeros(m), plan.indptr.astype(np.int64),
                                       plan.indices.astype(np.int64), 1e-13, 100 * m)
    assert ok
    fixed = of.KantorovichResult(cost=pot.cost, f=f, g=g, plan=plan, targets=pot.targets, drift=pot.drift,
                                 loss="w1")
    check_duality(fixed, src, tgt, "w1")


def test_c_transform_kernel_matches_dense(rng):
    x = rng.standard_normal((13, 3))
    y = rng.standard_normal((17, 3))
    g = rng.standard_normal(17)
    for p, loss in [(2, "w2"), (1, "w1")]:
        C = get_loss(loss).cost_matrix(x, y)
        f, arg = kernels.c_transform(x, y, g, p)
        np.testing.assert_allclose(f, (C - g).min(1), rtol=0, atol=1e-14)
        np.testing.assert_array_equal(arg, (C - g).argmin(1))
        np.testing.assert_allclose(kernels.pair_costs(x, y, np.arange(13), arg, p), C[np.arange(13), arg],
                                   rtol=0, atol=1e-14)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 25),
    m=st.integers(2, 25),
    weighted=st.booleans(),
    loss=st.sampled_from(["w2", "w1"]),
    scheme=st.sampled_from(["euler", "heun", "rk4"]),
    h=st.floats(0.05, 0.6),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_every_warm_solve_equals_a_cold_one(n, m, weighted, loss, scheme, h, seed):
    rng = np.random.default_rng(seed)
    a = random_weights(rng, n) if weighted else None
    src = of.Cloud(rng.standard_normal((n, 2)), a)
    tgt = of.Cloud(rng.standard_normal((m, 2)) + rng.standard_normal(2))
    calls = _trajectory(src, tgt, loss, scheme, h, 3)
    counts = _check_against_cold(calls, tgt, loss)
    assert counts["cold"] == 1 and sum(counts.values()) == len(calls)
