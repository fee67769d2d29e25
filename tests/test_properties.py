"""Property-based tests of the theorems of the theory page, docs/theory.rst (§4, and §3.1, §3.2, §3.4, §3.5).

Each property's docstring names the statement it checks. Inputs come from ``tests/strategies.py``;
how many examples run is set by the hypothesis profile (``tests/conftest.py``: ``ci`` or ``dev``).

Tolerances are relative to the problem's own scale, never absolute: a cloud of extent 1e3 has w2 costs
near 1e6, and one of extent 1e-3 costs near 1e-6. With ``L`` the larger of the point set's diameter and
its largest coordinate, every cost is at most ``c(L) = L^2/2`` (w2) or ``L`` (w1) and is computed with an
error of a few ``eps c(L)``; sums over a plan or a dual tree path of at most ``n + m`` terms add a factor
``n + m``. So a cost-level identity is checked to ``SAFETY * (n + m) * eps * c(L)`` with ``SAFETY = 64``
(about 1e-12 relative for 60 + 60 points): far below any mistake of the mathematics (a wrong weight, sign
or target is an error of the size of a weight times a cost) yet far above rounding. Distances carry the
error of a square root, see :func:`distance_tol`.

Plan-derived quantities (targets, drifts, positions) compared between two *different* solves get a
per-particle bound growing like ``1 / a_i``: the simplex's plan entries carry absolute errors of order
``(n + m) eps`` in units of the total mass, so a particle of mass 1e-8 knows how its mass splits only to
about 1e-6 relative (see :func:`trajectory_tol`).

What is deliberately *not* compared: optimal plans themselves (w1 plans are rarely unique, and ties make
w2 plans non-unique too); plan-derived quantities are compared across solves only on generic inputs (no
ties, almost surely), see the strategies module.

Semi-discrete (density-target) properties are at the end of this file, checked against an independent
oracle: the Laguerre cells clipped as polygons from the returned duals.
"""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, note, reject
from scipy.spatial import QhullError
from hypothesis import strategies as st

import odeflow as of
from odeflow.schemes import Euler
from odeflow.simulate import step_sizes as simulate_step_sizes
from strategies import (
    GEOMETRIES,
    MAX_N,
    SCALES,
    WEIGHTINGS,
    cloud_pairs,
    clouds,
    dims,
    generic_cloud_pairs,
    orthogonal_matrices,
    point_arrays,
    positive_step_sizes,
    seeded_permutation,
    seeds,
    semidiscrete_problems,
    step_sizes,
    weight_vectors,
)

EPS = np.finfo(np.float64).eps
SAFETY = 64.0
INV_GOLDEN = 2.0 / (1.0 + np.sqrt(5.0))

losses = st.sampled_from(["w2", "w1"])
schemes = st.sampled_from(["euler", "heun", "rk4"])
fractions = st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False)
positive_fractions = st.floats(1e-3, 1.0, allow_nan=False)


# --- independent oracles and tolerances ------------------------------------------------------------

def cost_matrix(loss, x, y):
    """``c(x_i, y_j)`` by broadcasting (independent of odeflow.losses, which uses scipy's cdist)."""
    diff = x[:, None, :] - y[None, :, :]
    sq = np.einsum("ijk,ijk->ij", diff, diff)
    return 0.5 * sq if loss == "w2" else np.sqrt(sq)


def length_scale(*point_sets):
    """``L``: the larger of the diameter (bounding-box diagonal) and the largest coordinate magnitude."""
    pts = np.concatenate([np.asarray(p, dtype=np.float64) for p in point_sets])
    diameter = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    return max(diameter, float(np.abs(pts).max()))


def cost_of_length(loss, length):
    return 0.5 * length**2 if loss == "w2" else length


def cost_tol(loss, terms, *point_sets, floor=0.0):
    """Rounding bound of a cost-level quantity summing ``terms`` costs of the given points."""
    return SAFETY * max(terms, 1) * EPS * max(cost_of_length(loss, length_scale(*point_sets)), floor)


def distance_tol(p, value, tol_cost):
    """Rounding bound of a distance computed from a cost known to ``tol_cost``.

    W1 is the cost. W2 = sqrt(2 cost): an error ``e = 2 tol_cost`` of ``W2^2`` moves the square root by at
    most ``2 e / (W2 + sqrt(e))`` (about ``e / W2`` for a large distance, ``sqrt(e)`` near 0).
    """
    if p == 1:
        return tol_cost
    e = 2.0 * tol_cost
    return 2.0 * e / (value + np.sqrt(e)) if e > 0 else 0.0


def solve(src, tgt, loss, method="auto"):
    pot = of.kantorovich(src, tgt, loss=loss, method=method)
    assert pot.success, pot.info["message"]
    return pot


def dual_scale(pot):
    """The largest dual magnitude: dual values enter sums alongside costs."""
    return max(float(np.abs(pot.f).max()), float(np.abs(pot.g).max()))


def no_field(points):  # pragma: no cover - plain Euler must not call the field again
    raise AssertionError("plain Euler evaluated the drift field a second time")


def euler_step(x, h, pot, *, clip=False):
    """One Euler step driven by ``pot`` (the same plan that the test then reads)."""
    return Euler(clip=clip).step(np.asarray(x), h, no_field, pot)


def w1_on_the_line(x, a, y, b):
    """W1 of two 1-D measures: the integral of |F - G| over the merged support (independent oracle)."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    knots = np.unique(np.concatenate([x, y]))
    F = np.array([a[x <= k].sum() for k in knots])
    G = np.array([b[y <= k].sum() for k in knots])
    return float(np.sum(np.abs(F - G)[:-1] * np.diff(knots)))


def pair_with_method(data, **pair_kwargs):
    """A :func:`cloud_pairs` pair and a method for it: ``onedim`` or ``exact`` in 1-D, ``exact`` otherwise.

    The method is chosen before the pair (small choices first: see the draw-order note in strategies).
    """
    sort_in_1d = data.draw(st.booleans(), label="use onedim if d == 1")
    src, tgt = data.draw(cloud_pairs(**pair_kwargs), label="src, tgt")
    method = "onedim" if sort_in_1d and src.dim == 1 else "exact"
    return src, tgt, method


# --- docs/theory.rst §4: duality ------------------------------------------------------------------

@given(data=st.data(), loss=losses)
def test_duals_are_feasible(data, loss):
    """docs/theory.rst §1 and §4, dual feasibility: ``f_i + g_j <= c(x_i, y_j)`` for every i, j, every exact potential
    (network simplex in any dimension, sorting in 1-D), whatever the weights, ties or scale."""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, loss, method)
    C = cost_matrix(loss, src.points, tgt.points)
    tol = cost_tol(loss, src.n + tgt.n, src.points, tgt.points, floor=dual_scale(pot))
    slack = C - pot.f[:, None] - pot.g[None, :]
    note(f"min slack {slack.min():.3e}, tol {tol:.3e}")
    assert slack.min() >= -tol


@given(data=st.data(), loss=losses)
def test_complementary_slackness(data, loss):
    """docs/theory.rst §1, §4, complementary slackness: ``f_i + g_j = c(x_i, y_j)`` where the plan carries mass."""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, loss, method)
    rows, cols = pot.plan.nonzero()
    C = cost_matrix(loss, src.points, tgt.points)
    tol = cost_tol(loss, src.n + tgt.n, src.points, tgt.points, floor=dual_scale(pot))
    gap = C[rows, cols] - pot.f[rows] - pot.g[cols]
    assert rows.size >= 1
    assert np.abs(gap).max() <= tol


@given(data=st.data(), loss=losses)
def test_plan_is_a_coupling_with_zero_duality_gap(data, loss):
    """docs/theory.rst §1 and §4, zero gap: the plan is a coupling of (a, b) and
    ``sum a_i f_i + sum b_j g_j = sum pi_ij c_ij = cost``. With feasibility and slackness this certifies
    optimality independently of the solver."""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, loss, method)
    plan = pot.plan.toarray()
    n_terms = src.n + tgt.n
    assert plan.min() >= 0.0
    np.testing.assert_allclose(plan.sum(axis=1), src.weights, rtol=0, atol=SAFETY * n_terms * EPS)
    np.testing.assert_allclose(plan.sum(axis=0), tgt.weights, rtol=0, atol=SAFETY * n_terms * EPS)
    C = cost_matrix(loss, src.points, tgt.points)
    tol = cost_tol(loss, n_terms, src.points, tgt.points, floor=dual_scale(pot))
    primal = float(np.sum(plan * C))
    dual = float(src.weights @ pot.f + tgt.weights @ pot.g)
    assert abs(pot.cost - primal) <= tol
    assert abs(dual - primal) <= tol


@given(data=st.data(), loss=losses)
def test_plans_are_c_cyclically_monotone(data, loss):
    """docs/theory.rst §4, c-cyclical monotonicity: for support points ``(x_i1, y_j1) ... (x_ik, y_jk)`` of the plan,
    ``sum_l c(x_il, y_jl) <= sum_l c(x_il, y_j(l+1))``; every 2-cycle is checked, and drawn k-cycles."""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, loss, method)
    rows, cols = pot.plan.nonzero()
    C = cost_matrix(loss, src.points, tgt.points)
    # The simplex certifies its plan through its duals, which are exact to ~ (n + m) eps c(L); a cycle's
    # excess is a sum of four dual slacks, so it is known to that accuracy too, not to a few eps.
    tol = cost_tol(loss, src.n + tgt.n, src.points, tgt.points)
    on = C[rows, cols]
    swapped = C[rows[:, None], cols[None, :]] + C[rows[None, :], cols[:, None]]
    assert (on[:, None] + on[None, :] - swapped).max() <= tol
    cycle = np.asarray(data.draw(st.lists(st.integers(0, rows.size - 1), min_size=3, max_size=6),
                                 label="k-cycle of support entries"))
    r, c = rows[cycle], cols[cycle]
    assert C[r, c].sum() <= C[r, np.roll(c, -1)].sum() + tol


@given(data=st.data())
def test_w1_potentials_are_1_lipschitz(data):
    """docs/theory.rst §4, w1: the potential is 1-Lipschitz. On particles with mass, ``f_i`` is the c-transform
    ``min_j |x_i - y_j| - g_j`` (a minimum of 1-Lipschitz functions), so ``|f_i - f_k| <= |x_i - x_k|``;
    likewise ``|g_j - g_l| <= |y_j - y_l|`` on targets with mass."""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, "w1", method)
    tol = cost_tol("w1", src.n + tgt.n, src.points, tgt.points, floor=dual_scale(pot))
    for pts, w, dual in [(src.points, src.weights, pot.f), (tgt.points, tgt.weights, pot.g)]:
        live = w > 0
        p, u = pts[live], dual[live]
        dist = np.sqrt(np.einsum("ijk,ijk->ij", p[:, None] - p[None], p[:, None] - p[None]))
        assert (np.abs(u[:, None] - u[None, :]) - dist).max() <= tol


# --- docs/theory.rst §1: the drift rules ----------------------------------------------------------

@given(data=st.data())
def test_w2_targets_are_weighted_barycentres(data):
    """docs/theory.rst §1, w2: ``T_i = sum_j pi_ij y_j / a_i`` (weighted by the plan, divided by the particle's
    mass) and ``drift = T - x``; a massless particle is sent to a minimiser of ``c(x_i, y_j) - g_j``.

    The particle's mass is read as its plan row sum ``sum_j pi_ij`` (equal to ``a_i`` to rounding, see the
    coupling property): the plan's entries carry absolute errors of order ``eps`` in units of the total
    mass, so dividing by ``a_i`` instead would move the target of a particle of mass 1e-8 by 1e-8
    relative; odeflow normalises by the row sum, which keeps ``T_i`` a convex combination."""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, "w2", method)
    plan = pot.plan.toarray()
    a, x, y = src.weights, src.points, tgt.points
    live = a > 0
    tol_x = SAFETY * (tgt.n + 1) * EPS * length_scale(x, y)
    bary = plan[live] @ y / plan[live].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(pot.targets[live], bary, rtol=0, atol=tol_x)
    np.testing.assert_allclose(pot.drift, pot.targets - x, rtol=0, atol=tol_x)
    if not live.all():
        C = cost_matrix("w2", x, y)
        transform = C[~live] - pot.g[None, :]
        tol_c = cost_tol("w2", src.n + tgt.n, x, y, floor=dual_scale(pot))
        for T, row in zip(pot.targets[~live], transform):
            hits = np.flatnonzero(np.linalg.norm(y - T, axis=1) <= tol_x)
            assert hits.size and row[hits].min() <= row.min() + tol_c


@given(data=st.data())
def test_w1_drift_is_mean_unit_vector_of_norm_at_most_one(data):
    """docs/theory.rst §1 and §4, w1: the drift is the plan-weighted mean of unit vectors ``(y_j - x_i)/|y_j - x_i|``
    (0 for mass already on its target), so every drift has norm <= 1. (Weights: the plan's row sums, as
    for the w2 targets.)"""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, "w1", method)
    x, y, a = src.points, tgt.points, src.weights
    norms = np.linalg.norm(pot.drift, axis=1)
    assert np.all(norms <= 1.0 + SAFETY * EPS)
    plan = pot.plan.toarray()
    diff = y[None, :, :] - x[:, None, :]
    length = np.linalg.norm(diff, axis=-1, keepdims=True)
    unit = np.divide(diff, length, out=np.zeros_like(diff), where=length > 0)
    live = a > 0
    expected = np.einsum("ij,ijk->ik", plan[live], unit[live]) / plan[live].sum(axis=1)[:, None]
    np.testing.assert_allclose(pot.drift[live], expected, rtol=0, atol=SAFETY * (tgt.n + 1) * EPS)


# --- docs/theory.rst §3.2: general clouds ---------------------------------------------------------

def within_cell_variance(pot, tgt):
    """``V = sum_ij pi_ij |T_i - y_j|^2`` from the potential's own plan and targets."""
    plan = pot.plan.tocoo()
    diff = pot.targets[plan.row] - tgt.points[plan.col]
    return float(np.sum(plan.data * np.einsum("ij,ij->i", diff, diff)))


@given(data=st.data())
def test_w2_pythagorean_split(data):
    """docs/theory.rst §3.2: ``W2^2(mu, mu_d) = sum_i a_i |x_i - T_i|^2 + V``, ``V = sum_ij pi_ij |T_i - y_j|^2``."""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, "w2", method)
    V = within_cell_variance(pot, tgt)
    moved = float(src.weights @ np.einsum("ij,ij->i", pot.drift, pot.drift))
    tol = 2 * cost_tol("w2", src.n + tgt.n, src.points, tgt.points)
    assert abs(2 * pot.cost - (moved + V)) <= tol


@given(data=st.data(), h=step_sizes())
def test_w2_one_euler_step_inequality(data, h):
    """docs/theory.rst §3.2: one Euler step of any size ``h`` in [0, 1] satisfies
    ``W2^2(mu_{n+1}, mu_d) <= (1-h)^2 W2^2(mu_n, mu_d) + h(2-h) V_n``, with ``V_n`` from the plan that drove
    the step; and the step does not increase W2."""
    src, tgt, method = pair_with_method(data)
    pot = solve(src, tgt, "w2", method)
    V = within_cell_variance(pot, tgt)
    nxt = of.Cloud(euler_step(src.points, h, pot), src.weights)
    w2sq_next = 2 * solve(nxt, tgt, "w2", method).cost
    w2sq = 2 * pot.cost
    tol = 2 * cost_tol("w2", src.n + tgt.n, src.points, tgt.points)
    bound = (1 - h) ** 2 * w2sq + h * (2 - h) * V
    note(f"W2^2 {w2sq:.6e} -> {w2sq_next:.6e}, bound {bound:.6e}, V {V:.3e}, tol {tol:.1e}")
    assert w2sq_next <= bound + tol
    assert w2sq_next <= w2sq + tol  # the bound is a convex combination of W2^2 and V <= W2^2


# --- docs/theory.rst §3.1: equal-size uniform clouds, w2 ------------------------------------------

@given(data=st.data(), h=positive_step_sizes, steps=st.integers(1, 4))
def test_w2_equal_size_euler_ratio_is_one_minus_h(data, h, steps):
    """docs/theory.rst §3.1: for equal-size uniform clouds the optimal assignment is never split, so every Euler
    step multiplies W2 by exactly ``1 - h``: ``W2(mu_{n+1}) = (1-h) W2(mu_n)``, to rounding."""
    src, tgt, method = pair_with_method(data, equal_size=True, uniform=True)
    res = of.simulate(src, tgt, loss="w2", method=method, h=h, t_end=steps * h, progress=False)
    assert res.status == 0
    hs = simulate_step_sizes(h, steps * h)
    w2sq = res.distance**2
    tol = 2 * cost_tol("w2", 2 * src.n, src.points, tgt.points)
    np.testing.assert_allclose(w2sq[1:], (1 - hs) ** 2 * w2sq[:-1], rtol=0, atol=tol)


# --- docs/theory.rst §3.5: w1 ---------------------------------------------------------------------

@given(data=st.data(), scheme=schemes, clip=st.booleans(), frac=positive_fractions,
       steps=st.integers(1, 3))
def test_w1_loses_at_most_h_per_step(data, scheme, clip, frac, steps):
    """docs/theory.rst §3.5: for any scheme (Euler, Heun, RK4; clipped or not) and any weights,
    ``W1(mu_{n+1}, mu_d) >= W1(mu_n, mu_d) - h``: no particle moves farther than ``h`` in a step."""
    src, tgt, method = pair_with_method(data)
    h = frac * (length_scale(src.points, tgt.points) or 1.0)
    res = of.simulate(src, tgt, loss="w1", method=method, scheme=scheme, clip=clip, h=h,
                      t_end=steps * h, progress=False)
    assert res.status == 0
    hs = simulate_step_sizes(h, steps * h)
    tol = cost_tol("w1", src.n + tgt.n, *res.points, tgt.points)
    assert np.all(np.diff(res.distance) >= -hs - tol)


@given(data=st.data(), frac=positive_fractions)
def test_w1_equal_size_unit_speed_before_arrival(data, frac):
    """docs/theory.rst §3.5: for equal-size uniform clouds every particle moves at unit speed toward its target, so
    a step of ``h`` no longer than any remaining distance gives ``W1(mu_{n+1}) = W1(mu_n) - h m``, ``m`` the
    mass not yet on its target (``m = 1`` while no particle has arrived)."""
    src, tgt, method = pair_with_method(data, equal_size=True, uniform=True)
    pot = solve(src, tgt, "w1", method)
    gaps = np.linalg.norm(pot.targets - src.points, axis=1)
    speeds = np.linalg.norm(pot.drift, axis=1)
    assert np.all(np.abs(speeds - (gaps > 0)) <= SAFETY * EPS)  # the assignment is not split
    away = gaps > 0
    h = frac * (gaps[away].min() if away.any() else length_scale(src.points, tgt.points))
    nxt = of.Cloud(euler_step(src.points, h, pot), src.weights)
    tol = cost_tol("w1", 2 * src.n, src.points, tgt.points)
    expected = pot.cost - h * src.weights[away].sum()
    assert abs(solve(nxt, tgt, "w1", method).cost - expected) <= tol


@given(data=st.data(), frac=fractions)
def test_w1_clipped_step_is_exact(data, frac):
    """docs/theory.rst §3.5: with the step clipped at arrival (``min(h, distance)``), equal-size uniform clouds give
    ``W1(mu_{n+1}) = sum_i a_i max(|x_i - y_s(i)| - h, 0)`` exactly, for every ``h`` (arrivals included)."""
    src, tgt, method = pair_with_method(data, equal_size=True, uniform=True)
    pot = solve(src, tgt, "w1", method)
    gaps = np.linalg.norm(pot.targets - src.points, axis=1)
    h = 1.5 * frac * max(gaps.max(), EPS)
    nxt = of.Cloud(euler_step(src.points, h, pot, clip=True), src.weights)
    tol = cost_tol("w1", 2 * src.n, src.points, tgt.points)
    expected = float(src.weights @ np.maximum(gaps - h, 0.0))
    assert abs(solve(nxt, tgt, "w1", method).cost - expected) <= tol


# --- docs/theory.rst §3.4: one dimension ----------------------------------------------------------

@given(pair=cloud_pairs(d=1), loss=losses)
def test_onedim_cost_equals_exact(pair, loss):
    """docs/theory.rst §3.4: in 1-D the monotone (sorted) plan is optimal for w2 and w1, for any weights: the
    ``onedim`` cost equals the network simplex's, ties and zero weights included."""
    src, tgt = pair
    exact = solve(src, tgt, loss, "exact")
    onedim = solve(src, tgt, loss, "onedim")
    tol = cost_tol(loss, src.n + tgt.n, src.points, tgt.points)
    assert abs(onedim.cost - exact.cost) <= tol


@given(pair=generic_cloud_pairs(d=1), loss=losses)
def test_onedim_drift_equals_exact_without_ties(pair, loss):
    """docs/theory.rst §3.4: without ties (distinct points, no particle on a target point) the drift is a function
    of the input even where plans are not unique (w1), so ``onedim`` and ``exact`` drifts agree."""
    src, tgt = pair
    exact = solve(src, tgt, loss, "exact")
    onedim = solve(src, tgt, loss, "onedim")
    scale = length_scale(src.points, tgt.points) if loss == "w2" else 1.0
    tol = SAFETY * (src.n + tgt.n) * EPS * scale / src.weights[:, None]  # see trajectory_tol: ~ 1 / a_i
    assert np.all(np.abs(onedim.drift - exact.drift) <= tol)


@st.composite
def unsplit_1d_pairs(draw):
    """Equal-size 1-D pairs whose monotone plan never splits a particle: uniform weights, or target
    weights equal to the particle weights in sorted order (``b[iy] = a[ix]``)."""
    weighting = draw(st.sampled_from(["uniform", "skewed", "zeros"]), label="weighting")
    n = draw(st.integers(1, MAX_N), label="n")
    a = draw(weight_vectors(n, weighting=weighting), label="weights")
    src, tgt = draw(cloud_pairs(d=1, n=n, equal_size=True, uniform=True), label="points")
    if a is not None:
        ix = np.argsort(src.points[:, 0], kind="stable")
        iy = np.argsort(tgt.points[:, 0], kind="stable")
        b = np.empty_like(a)
        b[iy] = a[ix]
        src, tgt = of.Cloud(src.points, a), of.Cloud(tgt.points, b)
    return src, tgt


@given(pair=unsplit_1d_pairs(), h=positive_step_sizes, steps=st.integers(1, 4), data=st.data())
def test_onedim_euler_moves_each_quantile(pair, h, steps, data):
    """docs/theory.rst §3.4: when no particle's mass is split, Euler moves every quantile linearly:
    ``Q_n = Q_d + prod_k (1 - h_k) (Q_0 - Q_d)`` (the measure of the particles, compared by W1 on the line).

    The sorting method never splits these pairs. The network simplex is also used when the particles
    are distinct: particles at one point make every split of their joint mass optimal, and the simplex
    may pick one (a legitimate optimal plan whose Euler step is not the quantile flow)."""
    src, tgt = pair
    distinct = np.unique(src.points[:, 0]).size == src.n
    method = data.draw(st.sampled_from(["onedim", "exact"] if distinct else ["onedim"]), label="method")
    res = of.simulate(src, tgt, loss="w2", method=method, h=h, t_end=steps * h, progress=False)
    assert res.status == 0
    ix = np.argsort(src.points[:, 0], kind="stable")
    iy = np.argsort(tgt.points[:, 0], kind="stable")
    q0, qd, w = src.points[ix, 0], tgt.points[iy, 0], src.weights[ix]
    factor = np.concatenate([[1.0], np.cumprod(1 - simulate_step_sizes(h, steps * h))])
    tol = SAFETY * (src.n + steps) * EPS * length_scale(src.points, tgt.points)
    for k, pts in enumerate(res.points):
        predicted = qd + factor[k] * (q0 - qd)
        assert w1_on_the_line(pts, src.weights, predicted, w) <= tol


# --- docs/theory.rst §4: distances ----------------------------------------------------------------

@given(pair=cloud_pairs(), p=st.sampled_from([1, 2]))
def test_distances_are_symmetric_and_vanish_on_the_diagonal(pair, p):
    """docs/theory.rst §4: ``W_p(mu, nu) = W_p(nu, mu)`` and ``W_p(mu, mu) = 0`` (p = 1, 2; any weights)."""
    src, tgt = pair
    forward, backward = of.wasserstein(src, tgt, p=p), of.wasserstein(tgt, src, p=p)
    loss = f"w{p}"
    tol_c = cost_tol(loss, src.n + tgt.n, src.points, tgt.points)
    assert abs(forward - backward) <= distance_tol(p, min(forward, backward), tol_c)
    assert of.wasserstein(src, src, p=p) <= distance_tol(p, 0.0, cost_tol(loss, 2 * src.n, src.points))


@st.composite
def cloud_triples(draw):
    """Three clouds of one dimension, each with its own size, geometry, weighting and scale."""
    d = draw(dims)
    kinds = [dict(n=draw(st.integers(1, MAX_N)), geometry=draw(st.sampled_from(GEOMETRIES)),
                  weighting=draw(st.sampled_from(WEIGHTINGS)), scale=draw(st.sampled_from(SCALES)))
             for _ in range(3)]
    return tuple(draw(clouds(d=d, **kind)) for kind in kinds)


@given(triple=cloud_triples(), p=st.sampled_from([1, 2]))
def test_triangle_inequality(triple, p):
    """docs/theory.rst §4: ``W_p(mu, rho) <= W_p(mu, nu) + W_p(nu, rho)`` for p = 1, 2."""
    mu, nu, rho = triple
    direct = of.wasserstein(mu, rho, p=p)
    via = of.wasserstein(mu, nu, p=p) + of.wasserstein(nu, rho, p=p)
    tol_c = cost_tol(f"w{p}", mu.n + nu.n + rho.n, mu.points, nu.points, rho.points)
    assert direct <= via + 3 * distance_tol(p, 0.0, tol_c)


@given(data=st.data(), p=st.sampled_from([1, 2]))
def test_distances_are_invariant_under_isometries_and_relabelling(data, p):
    """docs/theory.rst §4: translating and rotating (or reflecting) both clouds, and relabelling particles, leaves
    W1 and W2 unchanged. This holds for every input, ties included (only plans may change)."""
    d = data.draw(dims, label="d")
    Q = data.draw(orthogonal_matrices(d), label="Q")
    unit_shift = data.draw(point_arrays(1, d, geometry="grid", scale=1.0), label="shift / L")
    perm_seed = data.draw(seeds, label="permutation seed")
    src, tgt = data.draw(cloud_pairs(d=d), label="src, tgt")
    shift = unit_shift * length_scale(src.points, tgt.points)
    ps, pt = seeded_permutation(perm_seed, src.n), seeded_permutation(perm_seed + 1, tgt.n)
    moved_src = of.Cloud(src.points[ps] @ Q.T + shift, src.weights[ps])
    moved_tgt = of.Cloud(tgt.points[pt] @ Q.T + shift, tgt.weights[pt])
    before, after = of.wasserstein(src, tgt, p=p), of.wasserstein(moved_src, moved_tgt, p=p)
    tol_c = cost_tol(f"w{p}", src.n + tgt.n, src.points, tgt.points, moved_src.points, moved_tgt.points)
    assert abs(after - before) <= 2 * distance_tol(p, min(before, after), tol_c)


@given(pair=cloud_pairs(), p=st.sampled_from([1, 2]), log_lam=st.floats(-3, 3),
       sign=st.sampled_from([1.0, -1.0]))
def test_distances_scale_with_the_clouds(pair, p, log_lam, sign):
    """docs/theory.rst §4: scaling both clouds by ``lambda`` scales W2 and W1 by ``|lambda|``."""
    src, tgt = pair
    lam = sign * 10.0**log_lam
    base = of.wasserstein(src, tgt, p=p)
    scaled = of.wasserstein(of.Cloud(lam * src.points, src.weights), of.Cloud(lam * tgt.points, tgt.weights),
                            p=p)
    tol_c = cost_tol(f"w{p}", src.n + tgt.n, src.points, tgt.points)
    assert abs(scaled / abs(lam) - base) <= 2 * distance_tol(p, base, tol_c)


# --- docs/theory.rst §4: equivariance of the flow (generic clouds: unique plans) ------------------

def trajectory(src, tgt, loss, scheme, h, steps, method):
    res = of.simulate(src, tgt, loss=loss, method=method, scheme=scheme, h=h, t_end=steps * h,
                      progress=False)
    assert res.status == 0, res.message
    return res


def flow_setup(data, loss, d):
    """Scheme, step count, step size and a generic pair (small choices first)."""
    sort_in_1d = data.draw(st.booleans(), label="use onedim if d == 1")
    scheme = data.draw(schemes, label="scheme")
    steps = data.draw(st.integers(1, 3), label="steps")
    frac = data.draw(positive_fractions, label="h (fraction)")
    src, tgt = data.draw(generic_cloud_pairs(d=d), label="src, tgt")
    method = "onedim" if sort_in_1d and d == 1 else "exact"
    # w2: h < 1 strictly. h = 1 puts every particle whose mass is not split exactly onto its target
    # point, several particles onto one point: ties, so the next step's plan is no longer unique and a
    # transformed problem may legitimately take another one.
    # w1: the unclipped Euler step is discontinuous where a particle lands on its target (the drift
    # flips), so a step must not land within rounding of one. With continuous data that only happens if h
    # is tied to a distance, as L is for a single pair of points (L = |x - y|, so frac = 1 would land
    # exactly): the irrational factor 1/golden ratio keeps k h != L for every step count k.
    h = 0.95 * frac if loss == "w2" else frac * INV_GOLDEN * (length_scale(src.points, tgt.points) or 1.0)
    return src, tgt, method, scheme, steps, h


def trajectory_tol(steps, scheme, weights, *point_sets):
    """Per-particle rounding bound of positions along a trajectory, shape ``(n, 1)``.

    Two runs whose inputs differ by rounding (a translation, a rotation) or by summation order (a
    relabelling) get plans whose entries differ by ``~ (n + m) eps`` in units of the total mass. A
    particle of mass ``a_i`` splits its mass in fractions known to ``(n + m) eps / a_i``, so its target
    (w2) or mean direction (w1) is known to that relative accuracy: the bound grows like ``1 / a_i``.
    """
    stages = {"euler": 1, "heun": 2, "rk4": 4}[scheme]
    n_terms = sum(len(p) for p in point_sets)
    base = SAFETY * steps * stages * n_terms * EPS * length_scale(*point_sets)
    return base / np.asarray(weights)[:, None]


def assert_trajectories_match(actual, expected, tol):
    """``|actual - expected| <= tol`` coordinate-wise, ``tol`` of shape ``(n, 1)`` (per particle)."""
    err = np.abs(actual - expected)
    worst = np.unravel_index(np.argmax(err / tol[None]), err.shape)
    assert np.all(err <= tol[None]), f"trajectories differ by {err[worst]:.3e} at {worst}, tol {tol[worst[1], 0]:.3e}"


def assert_distances_match(actual, expected, loss, *point_sets):
    terms = sum(len(p) for p in point_sets)
    tol_c = cost_tol(loss, terms, *point_sets)
    p = 2 if loss == "w2" else 1
    for u, v in zip(actual, expected):
        assert abs(u - v) <= 2 * distance_tol(p, min(u, v), tol_c)


@given(data=st.data(), loss=losses)
def test_flow_is_translation_equivariant(data, loss):
    """docs/theory.rst §4: translating both clouds by ``c`` translates the trajectory by ``c`` (any scheme) and
    leaves the distances unchanged."""
    d = data.draw(dims, label="d")
    unit_c = data.draw(point_arrays(1, d, geometry="grid", scale=1.0), label="c / L")
    src, tgt, method, scheme, steps, h = flow_setup(data, loss, d)
    c = unit_c * length_scale(src.points, tgt.points)
    base = trajectory(src, tgt, loss, scheme, h, steps, method)
    moved = trajectory(of.Cloud(src.points + c, src.weights), of.Cloud(tgt.points + c, tgt.weights),
                       loss, scheme, h, steps, method)
    tol = trajectory_tol(steps, scheme, src.weights, src.points + c, tgt.points + c, src.points, tgt.points)
    assert_trajectories_match(moved.points - c, base.points, tol)
    assert_distances_match(moved.distance, base.distance, loss, src.points + c, tgt.points + c)


@given(data=st.data(), loss=losses)
def test_flow_is_rotation_equivariant(data, loss):
    """docs/theory.rst §4: rotating or reflecting both clouds by an orthogonal ``Q`` maps the trajectory by ``Q``
    (any scheme) and leaves the distances unchanged."""
    d = data.draw(dims, label="d")
    Q = data.draw(orthogonal_matrices(d), label="Q")
    src, tgt, method, scheme, steps, h = flow_setup(data, loss, d)
    base = trajectory(src, tgt, loss, scheme, h, steps, method)
    moved = trajectory(of.Cloud(src.points @ Q.T, src.weights), of.Cloud(tgt.points @ Q.T, tgt.weights),
                       loss, scheme, h, steps, method)
    tol = trajectory_tol(steps, scheme, src.weights, src.points, tgt.points)
    assert_trajectories_match(moved.points, base.points @ Q.T, tol)
    assert_distances_match(moved.distance, base.distance, loss, src.points, tgt.points)


@given(data=st.data(), loss=losses)
def test_flow_is_permutation_equivariant(data, loss):
    """docs/theory.rst §4: relabelling the particles (points with their weights) relabels the trajectory the same
    way; relabelling the target points changes nothing."""
    perm_seed = data.draw(seeds, label="permutation seed")
    src, tgt, method, scheme, steps, h = flow_setup(data, loss, data.draw(dims, label="d"))
    ps, pt = seeded_permutation(perm_seed, src.n), seeded_permutation(perm_seed + 1, tgt.n)
    base = trajectory(src, tgt, loss, scheme, h, steps, method)
    moved = trajectory(of.Cloud(src.points[ps], src.weights[ps]), of.Cloud(tgt.points[pt], tgt.weights[pt]),
                       loss, scheme, h, steps, method)
    tol = trajectory_tol(steps, scheme, src.weights[ps], src.points, tgt.points)
    assert_trajectories_match(moved.points, base.points[:, ps], tol)
    assert_distances_match(moved.distance, base.distance, loss, src.points, tgt.points)


# --- docs/theory.rst §1: semi-discrete (density targets), exact 2-D path --------------------------
# Oracle, independent of odeflow's Qhull triangulation and numba clipping: the Laguerre cell of site i is
# the rectangle clipped (Sutherland-Hodgman) by the half-planes of *every* other site,
#   L_i = {y : (x_j - x_i) . y <= (|x_j|^2 - |x_i|^2) / 2 - psi_j + psi_i},
# then clipped by each pixel of the density; area, first moment and int |y - x_i|^2 / 2 of a polygon are
# exact (a fan of triangles; the edge-midpoint rule integrates quadratics exactly). O(N^2) clips: N <= 40.

def clip_half_plane(poly, normal, offset):
    """The part of a convex polygon ``(k, 2)`` where ``normal . y <= offset``."""
    if len(poly) == 0:
        return poly
    s = poly @ normal - offset
    out = []
    k = len(poly)
    for i in range(k):
        j = (i + 1) % k
        if s[i] <= 0:
            out.append(poly[i])
        if (s[i] < 0 < s[j]) or (s[j] < 0 < s[i]):
            out.append(poly[i] + s[i] / (s[i] - s[j]) * (poly[j] - poly[i]))
    return np.array(out) if out else np.zeros((0, 2))


def polygon_moments(poly, site):
    """``(area, first moment, int |y - site|^2 / 2 dy)`` of a convex polygon."""
    area, moment, second = 0.0, np.zeros(2), 0.0
    for k in range(1, len(poly) - 1):
        p0, p1, p2 = poly[0], poly[k], poly[k + 1]
        tri = 0.5 * ((p1[0] - p0[0]) * (p2[1] - p0[1]) - (p2[0] - p0[0]) * (p1[1] - p0[1]))
        area += tri
        moment += tri * (p0 + p1 + p2) / 3.0
        mids = (0.5 * (p0 + p1), 0.5 * (p1 + p2), 0.5 * (p2 + p0))
        second += tri * sum(0.5 * float(np.sum((m - site) ** 2)) for m in mids) / 3.0
    return area, moment, second


def density_pieces(density):
    """``[(low, high, rho)]``: the rectangles on which the density is constant (one for a box)."""
    if isinstance(density, of.UniformBox):
        return [(density.low, density.high, 1.0 / density.volume)]
    rows, cols = density.grid.shape
    dx, dy = density.pixel
    return [(density.low + [c * dx, r * dy], density.low + [(c + 1) * dx, (r + 1) * dy], density.grid[r, c])
            for r in range(rows) for c in range(cols) if density.grid[r, c] > 0]


def rectangle(low, high):
    return np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]], [low[0], high[1]]])


def laguerre_oracle(sites, psi, density):
    """Masses, centroids and the transport cost of the Laguerre cells of distinct ``sites`` under ``psi``."""
    n = len(sites)
    half_sq = 0.5 * np.sum(sites**2, axis=1)
    mass, moment, cost = np.zeros(n), np.zeros((n, 2)), 0.0
    for i in range(n):
        cell = rectangle(density.low, density.high)
        for j in range(n):
            if j != i:
                cell = clip_half_plane(cell, sites[j] - sites[i], half_sq[j] - half_sq[i] - psi[j] + psi[i])
        for lo, hi, rho in density_pieces(density):
            piece = cell
            for normal, offset in (([-1, 0], -lo[0]), ([0, -1], -lo[1]), ([1, 0], hi[0]), ([0, 1], hi[1])):
                piece = clip_half_plane(piece, np.array(normal, dtype=float), offset)
            area, first, second = polygon_moments(piece, sites[i])
            mass[i] += rho * area
            moment[i] += rho * first
            cost += rho * second
    centroids = sites.copy()
    centroids[mass > 0] = moment[mass > 0] / mass[mass > 0, None]
    return mass, centroids, cost


def merged_sites(cloud, psi):
    """Distinct positions, their summed weights, each particle's position index; duplicates share one dual."""
    sites, first, inverse = np.unique(cloud.points, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    np.testing.assert_array_equal(psi, psi[first][inverse])  # particles at one position: one cell
    return sites, np.bincount(inverse, weights=cloud.weights), psi[first], inverse


def density_mean(density):
    """The exact mean of a box or image density."""
    return sum(rho * np.prod(hi - lo) * 0.5 * (lo + hi) for lo, hi, rho in density_pieces(density))


def semidiscrete_rounding(sites, psi, density):
    """``(L, unit)``: the length scale, and the rounding unit (absolute, in mass) of cell integrals.

    The boundary between sites i and j is the line ``(x_j - x_i) . y = (|x_j|^2 - |x_i|^2)/2 - psi_j + psi_i``:
    its right side carries an error of a few ``eps (L^2 + max |psi|)``, which moves the line by that over
    ``|x_j - x_i|`` (near-duplicate sites have ill-conditioned boundaries, for the solver as for the oracle).
    Each vertex so carries ``e = eps (L + (L^2 + max|psi|) / min |x_j - x_i|)`` per clip (N + 4 clips); an
    area ``(N + 4) e L``, and its mass that times the largest density; ``unit`` is that mass, SAFETY-padded.
    """
    L = length_scale(sites, rectangle(density.low, density.high))
    rho_max = max(rho for *_, rho in density_pieces(density))
    if len(sites) > 1:
        gaps = np.linalg.norm(sites[:, None] - sites[None], axis=2)
        sep = float(gaps[~np.eye(len(sites), dtype=bool)].min())
        vertex = EPS * (L + (L**2 + float(np.abs(psi).max())) / sep)
    else:
        vertex = EPS * L
    return L, SAFETY * (len(sites) + 4) * vertex * L * rho_max


def solve_semidiscrete(cloud, density, **options):
    """The exact 2-D solve, or None when it honestly reports a failure (then checked to be honest).

    The properties below are the solver's claims *when it claims success*. A solve may fail on
    legitimate but ill-conditioned input (a tolerance relative to ``a_i`` below the rounding of a tiny
    cell's mass; near-duplicate sites of skewed weights on an image with empty pixels): it must then say
    so (``success`` False, a ``"not converged"`` message) and still return finite arrays, never NaN.
    ``test_reliability.py`` pins the known failing inputs.
    """
    try:
        pot = of.kantorovich(cloud, density, method="semidiscrete", **options)
    except (ValueError, AttributeError, QhullError) as exc:
        # KNOWN BUG (pinned by test_reliability.py::test_exact2d_does_not_crash_on_clustered_sites):
        # on some clustered inputs the Newton system yields NaN duals and Qhull or the start logic
        # crashes. Reported to the solver's owner; such draws are rejected here and counted.
        event(f"semi-discrete solve crashed (known bug): {type(exc).__name__}")
        reject()
    note(f"info: {pot.info}")
    assert pot.info["path"] == "exact2d"
    assert np.all(np.isfinite(pot.f)) and np.all(np.isfinite(pot.targets)) and np.isfinite(pot.cost)
    if not pot.success:
        assert pot.info["status"] != "optimal" and "not converged" in pot.info["message"], pot.info["message"]
        event(f"semi-discrete solve reported failure: {pot.info['status']}")
        return None
    assert pot.info["status"] == "optimal" and pot.info["max_mass_error"] <= pot.info["tol"]
    return pot


@given(problem=semidiscrete_problems())
def test_semidiscrete_cells_hold_the_weights_and_targets_are_their_centroids(problem):
    """docs/theory.rst §1: at the semi-discrete optimum the Laguerre cells ``L_i`` of the returned duals partition the
    density's support, each holds its particle's mass (``|mu(L_i) - a_i| <= max_mass_error a_i``, and
    ``max_mass_error <= tol``), ``targets`` are the cells' centroids (inside the box), ``drift = T - x``,
    ``cost = sum_i int_{L_i} |y - x_i|^2/2 dmu``, and ``sum_i a_i T_i`` is the density's mean. Checked
    against the polygon oracle, on boxes and images with empty pixels, particles outside the box,
    duplicated particles and weights spread over 8 decades."""
    cloud, density = problem
    pot = solve_semidiscrete(cloud, density)
    if pot is None:
        return
    sites, weight, psi, inverse = merged_sites(cloud, pot.f)
    mass, centroids, cost = laguerre_oracle(sites, psi, density)
    L, unit = semidiscrete_rounding(sites, psi, density)
    note(f"oracle masses {mass}, weights {weight}")
    assert abs(mass.sum() - 1.0) <= unit, "the cells do not partition the density"
    err = pot.info["max_mass_error"]
    assert np.all(np.abs(mass - weight) <= err * weight * (1 + 1e-6) + unit), "a cell mass is off its weight"
    # centroid = moment / mass: the moment's rounding (unit L) divided by the cell's mass
    cen_tol = 4 * unit * L / np.maximum(mass, weight)[inverse, None]
    assert np.all(np.abs(pot.targets - centroids[inverse]) <= cen_tol), "targets are not the cell centroids"
    slack = SAFETY * EPS * L
    assert np.all(pot.targets >= density.low - slack) and np.all(pot.targets <= density.high + slack)
    np.testing.assert_array_equal(pot.drift, pot.targets - cloud.points)
    assert abs(pot.cost - cost) <= unit * L**2
    assert np.all(np.abs(cloud.weights @ pot.targets - density_mean(density)) <= err * L + unit * L)


@given(problem=semidiscrete_problems(), k=st.integers(8, 24))
def test_semidiscrete_cost_matches_the_lp_against_a_fine_grid(problem, k):
    """docs/theory.rst §1 and §4: the semi-discrete cost is ``W2^2(alpha, mu) / 2``. Replacing ``mu`` by its midpoint
    quadrature ``mu_h`` on a grid of ``k x k`` cells per pixel (spacing ``dx, dy``) moves every bit of mass
    at most ``delta = |(dx, dy)| / 2``, so ``|W2(alpha, mu) - W2(alpha, mu_h)| <= W2(mu, mu_h) <= delta``
    (triangle inequality); the exact LP (POT) gives ``W2(alpha, mu_h)``. The solved cells hold masses
    ``a_i (1 +- max_mass_error)``, which moves W2 by at most ``diam sqrt(max_mass_error)``."""
    cloud, density = problem
    pot = solve_semidiscrete(cloud, density)
    if pot is None:
        return
    nodes, masses = [], []
    for lo, hi, rho in density_pieces(density):
        t = (np.arange(k) + 0.5) / k
        gx, gy = np.meshgrid(lo[0] + t * (hi[0] - lo[0]), lo[1] + t * (hi[1] - lo[1]))
        nodes.append(np.column_stack([gx.ravel(), gy.ravel()]))
        masses.append(np.full(k * k, rho * np.prod(hi - lo) / k**2))
    y, b = np.concatenate(nodes), np.concatenate(masses)
    lp = solve(cloud, of.Cloud(y, b / b.sum()), "w2", method="exact")
    pixel = (density.high - density.low) / (density.grid.shape[::-1] if hasattr(density, "grid") else 1)
    delta = 0.5 * float(np.linalg.norm(pixel / k))
    L = length_scale(cloud.points, y)
    bound = delta + L * np.sqrt(pot.info["max_mass_error"]) + SAFETY * EPS * L
    note(f"W2 semi-discrete {pot.distance}, LP {lp.distance}, bound {bound}")
    assert abs(pot.distance - lp.distance) <= bound


@given(problem=semidiscrete_problems(), shift=st.tuples(st.integers(-8, 8), st.integers(-8, 8)))
def test_semidiscrete_solve_is_translation_equivariant(problem, shift):
    """docs/theory.rst §4 (equivariance): translating the particles and the density by ``t`` translates the targets
    by ``t`` and leaves the drift, the cost and the duals (up to an additive constant) unchanged: the
    cell test ``|y - x_i|^2/2 - psi_i`` is invariant under ``(x, y) -> (x + t, y + t)``. Both solves stop
    within ``tol``, so the cells agree to that tolerance; targets are compared to the cell radius times it,
    plus rounding of the shifted coordinates."""
    cloud, density = problem
    t = np.asarray(shift, dtype=np.float64) * (density.high - density.low)
    if isinstance(density, of.UniformBox):
        moved_density = of.UniformBox(density.low + t, density.high + t)
    else:
        lo, hi = density.low + t, density.high + t
        moved_density = of.ImageDensity(density.array, extent=(lo[0], hi[0], lo[1], hi[1]))
    pot = solve_semidiscrete(cloud, density)
    moved = solve_semidiscrete(cloud.with_points(cloud.points + t), moved_density)
    if pot is None or moved is None:
        return
    # a cell whose mass is off by a fraction e of a_i has its centroid moved by at most about 2 e diam;
    # rounding: the shifted problem works with coordinates of size L_moved (see semidiscrete_rounding)
    sites, _, psi, _ = merged_sites(cloud.with_points(cloud.points + t), moved.f)
    L_moved, unit = semidiscrete_rounding(sites, psi, moved_density)
    diam = float(np.linalg.norm(density.high - density.low))
    err = pot.info["max_mass_error"] + moved.info["max_mass_error"]
    tol = 4 * err * diam + 4 * unit * L_moved / cloud.weights[:, None]
    note(f"max target difference {np.abs(moved.targets - t - pot.targets).max()}, tol {tol.min()}")
    assert np.all(np.abs(moved.targets - t - pot.targets) <= tol)
    assert abs(moved.cost - pot.cost) <= 4 * err * diam**2 + unit * L_moved**2
