"""Within-cell variance of the semi-discrete solver (docs/theory.rst §3.2) and the W2 energy identity on its solves,
checked against independent fine-grid integrals of the cells recomputed from the duals alone."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

import odeflow as of
from odeflow import convergence as cv
from odeflow import theory

BOX = of.UniformBox([0.0, 0.0], [1.0, 1.0])


def grid_cells(x, psi, points, density):
    """Mass, cost ``int |y - x_i|^2/2`` and variance about the grid centroid of every cell, by a midpoint rule
    (``points`` and ``density`` the midpoints and the density there, each point of area ``dA``)."""
    lift = np.sqrt(np.max(2 * psi) - 2 * psi)
    _, idx = cKDTree(np.column_stack([x, lift])).query(np.column_stack([points, np.zeros(len(points))]))
    n = x.shape[0]
    w = density
    mass = np.bincount(idx, weights=w, minlength=n)
    cen = np.stack([np.bincount(idx, weights=w * points[:, k], minlength=n) for k in range(2)], 1) / mass[:, None]
    cost = 0.5 * np.bincount(idx, weights=w * np.sum((points - x[idx]) ** 2, 1), minlength=n)
    var = np.bincount(idx, weights=w * np.sum((points - cen[idx]) ** 2, 1), minlength=n)
    return mass, cost, var, cen


def midpoints(lo, hi, k):
    u = lo[0] + (np.arange(k) + 0.5) * (hi[0] - lo[0]) / k
    v = lo[1] + (np.arange(k) + 0.5) * (hi[1] - lo[1]) / k
    X, Y = np.meshgrid(u, v)
    return np.column_stack([X.ravel(), Y.ravel()]), (hi[0] - lo[0]) * (hi[1] - lo[1]) / k**2


def test_exact2d_box_cell_variance_matches_a_fine_grid(rng):
    n = 40
    x = rng.random((n, 2)) * [0.6, 0.4] + [0.5, 0.7]  # partly outside the box
    pot = of.kantorovich(x, BOX, method="semidiscrete")
    assert pot.success and pot.info["path"] == "exact2d"
    v = pot.info["cell_variance"]
    assert v.shape == (n,) and np.all(v > 0)
    pts, dA = midpoints([0, 0], [1, 1], 1000)
    mass, cost, var, cen = grid_cells(x, pot.f, pts, np.full(len(pts), dA))
    np.testing.assert_allclose(mass, 1 / n, rtol=5e-3)
    np.testing.assert_allclose(v, var, rtol=1e-2)
    assert v.sum() == pytest.approx(var.sum(), rel=1e-3)
    assert pot.cost == pytest.approx(cost.sum(), rel=1e-4)  # cost = sum_i int_{L_i} |y - x_i|^2 / 2
    # the check can fail: variance about the site instead of the centroid is far off
    assert not np.allclose(2 * cost, var, rtol=1e-2)
    # energy identity W2^2 = sum a_i |x_i - T_i|^2 + V, exact up to the mass tolerance
    e = theory.w2_energy(pot, np.full(n, 1 / n))
    assert abs(e.defect) < 1e-8 * e.w2_squared, e


def test_exact2d_image_cell_variance_matches_a_fine_grid(rng):
    g = np.linspace(-1, 1, 20)
    X, Y = np.meshgrid(g, g)
    img_array = (np.hypot(X, Y) < 0.9) * (1.5 + X * Y)  # zero pixels in the corners, uneven elsewhere
    img = of.ImageDensity(img_array, extent=(-1, 1, -1, 1))
    n = 30
    x = rng.normal(0.0, 0.3, (n, 2))
    pot = of.kantorovich(x, img, method="semidiscrete")
    assert pot.success and pot.info["path"] == "exact2d"
    k = 1000  # 50 x 50 midpoints per pixel
    pts, dA = midpoints([-1, -1], [1, 1], k)
    rows, cols = img.grid.shape
    r = np.minimum(((pts[:, 1] + 1) / 2 * rows).astype(int), rows - 1)
    c = np.minimum(((pts[:, 0] + 1) / 2 * cols).astype(int), cols - 1)
    mass, cost, var, _ = grid_cells(x, pot.f, pts, img.grid[r, c] * dA)
    np.testing.assert_allclose(mass, 1 / n, rtol=1e-2)
    np.testing.assert_allclose(pot.info["cell_variance"], var, rtol=2e-2)
    assert pot.info["cell_variance"].sum() == pytest.approx(var.sum(), rel=2e-3)
    assert pot.cost == pytest.approx(cost.sum(), rel=1e-3)
    e = theory.w2_energy(pot, np.full(n, 1 / n))
    assert abs(e.defect) < 1e-8 * e.w2_squared, e


def test_sampled_cell_variance_and_cost_are_those_of_its_quadrature(rng):
    n = 30
    x = rng.random((n, 2))
    solver = of.make_solver(2, BOX, method="semidiscrete", path="sampled", n_samples=6000, epsilon=0.002, rng=3)
    pot = solver.solve(of.Cloud(x))
    assert pot.success and pot.info["path"] == "sampled"
    y = solver._quad.samples
    # hard cells of the quadrature from the duals alone (the smoothing is small: eps = 0.002 l^2)
    mass, cost, var, _ = grid_cells(x, pot.f, y, np.full(len(y), 1 / len(y)))
    assert np.abs(mass - 1 / n).max() < 0.05 / n
    assert pot.cost == pytest.approx(cost.sum(), rel=2e-3)
    assert pot.info["cell_variance"].sum() == pytest.approx(var.sum(), rel=5e-3)
    # the identity holds on the soft cells (masses a_i to tol 1e-6)
    e = theory.w2_energy(pot, np.full(n, 1 / n))
    assert abs(e.defect) < 1e-5 * e.w2_squared, e
    # and against the density itself V agrees with the exact path within the quadrature error
    exact = of.kantorovich(x, BOX, method="semidiscrete")
    assert pot.info["cell_variance"].sum() == pytest.approx(exact.info["cell_variance"].sum(), rel=0.05)


def test_gaussian_single_particle_variance_is_the_trace(rng):
    g = of.Gaussian([1.0, -1.0], [[1.0, 0.3], [0.3, 0.5]])
    pot = of.kantorovich([[0.0, 0.0]], g, method="semidiscrete", n_samples=50_000, rng=0, path="sampled")
    assert pot.info["cell_variance"].sum() == pytest.approx(1.5, rel=0.02)
    assert 2 * pot.cost == pytest.approx(1.5 + 2.0, rel=0.02)  # trace + |mean|^2
    exact = of.kantorovich([[0.0, 0.0]], g, method="semidiscrete")  # exact 2-D Gaussian cells
    assert exact.info["path"] == "exact2d"
    assert exact.info["cell_variance"].sum() == pytest.approx(1.5, rel=1e-12)
    assert 2 * exact.cost == pytest.approx(1.5 + 2.0, rel=1e-12)


def test_coincident_particles_split_their_cell_variance():
    merged = of.kantorovich([[0.3, 0.5], [0.8, 0.5]], BOX, method="semidiscrete", tol=1e-12)
    split = of.kantorovich(of.Cloud([[0.3, 0.5], [0.3, 0.5], [0.8, 0.5]], [0.25, 0.25, 0.5]), BOX,
                           method="semidiscrete", tol=1e-12)
    v, w = merged.info["cell_variance"], split.info["cell_variance"]
    np.testing.assert_allclose(w, [v[0] / 2, v[0] / 2, v[1]], rtol=1e-9)
    assert split.cost == pytest.approx(merged.cost, rel=1e-12)


def test_decay_study_uses_the_solver_cell_variance(rng):
    src = of.Cloud(0.2 * rng.standard_normal((30, 2)) + [-1.0, 1.5])
    study = cv.decay_study(src, BOX, method="semidiscrete", h=0.05, t_end=4.0)
    assert study.info["variance_source"] == "solver's cell variance"
    assert study.one_step_violation < 1e-9
    # the finite-difference residual is Euler's own first-order term: removing it leaves O(h^2)
    assert study.identity_euler_excess < 0.1 * study.identity_max
    assert abs(study.rate - np.log1p(-0.05) / 0.05) < 0.02


def test_w2_decay_study_runs_on_the_density(tmp_path):
    """analysis/w2_decay on the semi-discrete density target: rate near Euler's log(1-h)/h, V from the solver,
    and the identity's residual first order in h (halving h about halves it)."""
    from analysis import w2_decay

    numbers = w2_decay.run(out=str(tmp_path / "w2"), progress=False, ns=(30, 60), h=0.05, t_end=4.0)
    assert (tmp_path / "w2.png").exists() and (tmp_path / "w2.json").exists()
    assert numbers["method"] == "semidiscrete" and "UniformBox" in numbers["target"]
    for r in numbers["runs"].values():
        assert r["variance_source"] == "solver's cell variance"
        assert abs(r["rate"] - numbers["euler_rate_log1mh_over_h"]) < 0.02, r["rate"]
    assert 1.6 < numbers["identity_residual_ratio_h_over_h2"] < 2.4
