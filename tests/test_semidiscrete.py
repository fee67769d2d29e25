"""Densities and semi-discrete potentials: both paths, checked against independent computations."""

import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.spatial import cKDTree

import odeflow as of

BOX = of.UniformBox([0.0, 0.0], [1.0, 1.0])


# --- densities -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "build, exc, word",
    [
        (lambda: of.Gaussian([0.0, np.nan], np.eye(2)), ValueError, "mean"),
        (lambda: of.Gaussian([[0.0, 0.0]], np.eye(2)), ValueError, "mean"),
        (lambda: of.Gaussian([0.0, 0.0], np.eye(3)), ValueError, "cov"),
        (lambda: of.Gaussian([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]]), ValueError, "cov: is not symmetric"),
        (lambda: of.Gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), ValueError, "cov: is not positive semidefinite"),
        (lambda: of.Gaussian([0.0, 0.0], np.zeros((2, 2))), ValueError, "cov"),
        (lambda: of.Gaussian([0.0, 0.0], "x"), TypeError, "cov"),
        (lambda: of.GaussianMixture([[0.0, 0.0]], np.eye(2)), ValueError, "covs"),
        (lambda: of.GaussianMixture([[0.0, 0.0], [1.0, 1.0]], [np.eye(2), -np.eye(2)]), ValueError, "covs[1]: is not positive"),
        (lambda: of.GaussianMixture([[0.0, 0.0], [1.0, 1.0]], [np.eye(2)] * 2, [0.5, 0.6]), ValueError, "weights"),
        (lambda: of.GaussianMixture([[0.0, 0.0], [1.0, 1.0]], [np.eye(2)] * 2, [1.5, -0.5]), ValueError, "weights"),
        (lambda: of.UniformBox([0.0, 0.0], [1.0, 0.0]), ValueError, "high"),
        (lambda: of.UniformBox([0.0, 0.0], [1.0]), ValueError, "high"),
        (lambda: of.UniformBox([0.0, np.inf], [1.0, 1.0]), ValueError, "low"),
        (lambda: of.ImageDensity([[1.0, -1.0]], (0, 1, 0, 1)), ValueError, "array: contains negative"),
        (lambda: of.ImageDensity(np.zeros((3, 3)), (0, 1, 0, 1)), ValueError, "array: has zero total mass"),
        (lambda: of.ImageDensity([[1.0, np.nan]], (0, 1, 0, 1)), ValueError, "array"),
        (lambda: of.ImageDensity([1.0, 2.0], (0, 1, 0, 1)), ValueError, "array"),
        (lambda: of.ImageDensity(np.ones((2, 2)), (0, 1, 0)), ValueError, "extent"),
        (lambda: of.ImageDensity(np.ones((2, 2)), (1, 0, 0, 1)), ValueError, "extent"),
    ],
)
def test_densities_reject_bad_parameters(build, exc, word):
    with pytest.raises(exc) as info:
        build()
    assert str(info.value).startswith(word), str(info.value)


def test_density_samplers(rng):
    g = of.Gaussian([1.0, -2.0], [[2.0, 0.6], [0.6, 0.5]])
    y = g.sample(200_000, rng)
    np.testing.assert_allclose(y.mean(0), g.mean, atol=0.02)
    np.testing.assert_allclose(np.cov(y.T), g.cov, atol=0.03)
    gm = of.GaussianMixture([[-5.0, 0.0], [5.0, 0.0]], [0.01 * np.eye(2)] * 2, [0.25, 0.75])
    z = gm.sample(40_000, rng)
    assert abs(np.mean(z[:, 0] > 0) - 0.75) < 0.01
    box = of.UniformBox([0.0, 1.0], [2.0, 1.5])
    u = box.sample(1000, rng)
    assert np.all((u >= box.low) & (u <= box.high)) and box.volume == 1.0
    # image: row 0 is the top; samples land in positive pixels with the right frequencies
    img = of.ImageDensity([[0.0, 3.0], [1.0, 0.0]], extent=(0.0, 2.0, 0.0, 2.0))
    w = img.sample(40_000, rng)
    top_right = np.mean((w[:, 0] > 1) & (w[:, 1] > 1))
    bottom_left = np.mean((w[:, 0] < 1) & (w[:, 1] < 1))
    assert abs(top_right - 0.75) < 0.01 and abs(bottom_left - 0.25) < 0.01
    assert abs(top_right + bottom_left - 1.0) < 1e-12


# --- exact 2-D path: independent Monte Carlo check -------------------------------------------------

def monte_carlo_cells(x, psi, density, m, rng):
    """Cells recomputed from the duals alone: nearest lifted point (docs/theory.rst §1) for m samples."""
    lift = np.sqrt(np.max(2 * psi) - 2 * psi)
    _, idx = cKDTree(np.column_stack([x, lift])).query(np.column_stack([y := density.sample(m, rng), np.zeros(m)]))
    n = x.shape[0]
    count = np.bincount(idx, minlength=n).astype(float)
    safe = np.maximum(count, 1.0)
    cen = np.stack([np.bincount(idx, weights=y[:, k], minlength=n) for k in range(2)], 1) / safe[:, None]
    sq = np.bincount(idx, weights=np.sum(y**2, 1), minlength=n) / safe
    var = 0.5 * (sq - np.sum(cen**2, 1))  # mean per-coordinate variance in the cell
    return count, cen, var


def assert_consistent_with_monte_carlo(x, pot, density, a, m, rng):
    """Cell counts are Binomial(m, a_i) and MC centroids scatter around ``targets`` at their standard error."""
    count, cen, var = monte_carlo_cells(x, pot.f, density, m, rng)
    z = (count - m * a) / np.sqrt(m * a * (1 - a))
    n = x.shape[0]
    chi2 = float(np.mean(z**2))
    assert abs(chi2 - 1.0) < 5 * np.sqrt(2.0 / n), f"cell masses: chi2/n = {chi2}"
    zc = (cen - pot.targets) / np.sqrt(var / count)[:, None]
    assert abs(np.mean(zc**2) - 1.0) < 5 * np.sqrt(1.0 / n), f"centroids: mean z^2 = {np.mean(zc**2)}"
    return chi2


def test_exact2d_box_matches_independent_monte_carlo(rng):
    n = 300
    x = rng.random((n, 2))
    pot = of.kantorovich(x, BOX, method="semidiscrete")
    assert pot.success and pot.info["path"] == "exact2d" and pot.info["status"] == "optimal"
    assert pot.info["max_mass_error"] <= 1e-9 and pot.g is None and pot.plan is None
    np.testing.assert_allclose(pot.drift, pot.targets - x)
    a = np.full(n, 1.0 / n)
    assert_consistent_with_monte_carlo(x, pot, BOX, a, 600_000, rng)
    # the same check fails for duals that are slightly wrong (it can fail)
    spacing2 = 1.0 / n
    bad = of.KantorovichResult(cost=0.0, f=pot.f + 0.05 * spacing2 * rng.standard_normal(n), g=None, plan=None,
                               targets=pot.targets, drift=pot.drift)
    with pytest.raises(AssertionError, match="cell masses"):
        assert_consistent_with_monte_carlo(x, bad, BOX, a, 600_000, rng)
    # cost = sum_i int_{L_i} |y - x_i|^2 / 2 and sum_i a_i T_i = the box's mean
    np.testing.assert_allclose(a @ pot.targets, [0.5, 0.5], atol=1e-12)
    count, cen, var = monte_carlo_cells(x, pot.f, BOX, 400_000, rng)
    y_cost = np.sum(count * (np.sum((cen - x) ** 2, 1) + 2 * var)) / (2 * count.sum())
    assert pot.cost == pytest.approx(y_cost, rel=0.01)


def test_exact2d_image_with_empty_pixels_and_outside_particles(rng):
    g = np.linspace(-1, 1, 40)
    X, Y = np.meshgrid(g, g)
    r = np.hypot(X, Y)
    ring = ((r > 0.4) & (r < 0.9)) * (1.0 + X)  # zero inside and outside the ring, uneven on it
    img = of.ImageDensity(ring, extent=(-1, 1, -1, 1))
    n = 150
    x = np.vstack([rng.normal(0.0, 0.05, (n - 20, 2)), rng.normal(3.0, 0.1, (20, 2))])  # 20 outside the image
    pot = of.kantorovich(x, img, method="semidiscrete")
    assert pot.success and pot.info["start"] == "continuation", pot.info
    assert_consistent_with_monte_carlo(x, pot, img, np.full(n, 1.0 / n), 300_000, rng)
    assert np.all(np.isfinite(pot.targets)) and np.all(np.hypot(*pot.targets.T) < 0.95)


@pytest.mark.parametrize("case", ["one", "duplicates", "collinear", "far", "grid"])
def test_exact2d_degenerate_inputs(case, rng):
    if case == "one":
        x = np.array([[3.0, -1.0]])
    elif case == "duplicates":
        x = np.repeat(rng.random((20, 2)), [1, 2] * 10, axis=0)
    elif case == "collinear":
        x = np.column_stack([np.linspace(-1.0, 2.0, 30), np.full(30, 0.3)])
    elif case == "far":
        x = rng.normal(5.0, 0.1, (100, 2))
    else:
        g = (np.arange(10) + 0.5) / 10
        x = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    pot = of.kantorovich(x, BOX, method="semidiscrete")
    assert pot.success, pot.info["message"]
    assert np.all(np.isfinite(pot.targets)) and np.all(np.isfinite(pot.f))
    np.testing.assert_allclose(np.full(len(x), 1 / len(x)) @ pot.targets, [0.5, 0.5], atol=1e-9)
    if case == "one":
        np.testing.assert_allclose(pot.targets, [[0.5, 0.5]])
    if case == "duplicates":
        _, first = np.unique(x, axis=0, return_inverse=True)
        for k in range(first.max() + 1):
            same = pot.targets[first.ravel() == k]
            assert np.ptp(same, axis=0).max() == 0.0
    if case == "collinear":  # vertical strips: targets at height 0.5
        np.testing.assert_allclose(pot.targets[:, 1], 0.5, atol=1e-12)
    if case == "grid":  # the grid is already optimal: every cell is its own square
        np.testing.assert_allclose(pot.targets, x, atol=1e-9)


def test_failure_is_reported_never_passed_off(rng):
    x = rng.random((200, 2))
    pot = of.kantorovich(x, BOX, method="semidiscrete", max_iter=1)
    assert not pot.success and pot.info["status"] == "max_iter_reached"
    assert "not converged" in pot.info["message"] and pot.info["max_mass_error"] > 1e-9
    res = of.simulate(x, BOX, method="semidiscrete", h=0.5, t_end=1.0, max_iter=1, progress=False)
    assert res.status == -1 and "not converged" in res.message


def test_semidiscrete_option_errors(rng):
    x = rng.random((10, 2))
    with pytest.raises(ValueError, match="^path"):  # w1 has only the sampled path (tests/test_w1_semidiscrete.py)
        of.kantorovich(x, BOX, loss="w1", method="semidiscrete", path="exact2d")
    with pytest.raises(ValueError, match="^path"):
        of.kantorovich(rng.random((10, 3)), of.UniformBox([0] * 3, [1] * 3), loss="w1", method="semidiscrete",
                       path="exact3d")
    with pytest.raises(ValueError, match="^path"):  # no exact cells for a 3-D Gaussian
        of.kantorovich(rng.random((10, 3)), of.Gaussian(np.zeros(3), np.eye(3)), method="semidiscrete", path="exact2d")
    with pytest.raises(ValueError, match="^path"):
        of.kantorovich(x, of.Gaussian([0, 0], np.eye(2)), method="semidiscrete", path="exact3d")
    with pytest.raises(ValueError, match="^n_samples"):
        of.kantorovich(x, BOX, method="semidiscrete", n_samples=100)
    with pytest.raises(ValueError, match="^tol"):
        of.kantorovich(x, BOX, method="semidiscrete", tol=-1.0)
    with pytest.raises(ValueError, match="^src"):
        of.kantorovich(of.Cloud(x, np.r_[0.0, np.full(9, 1 / 9)]), BOX, method="semidiscrete")
    with pytest.raises(ValueError, match="^tgt"):
        of.kantorovich(rng.random((5, 3)), BOX, method="semidiscrete")
    assert of.kantorovich(x, BOX).info["method"] == "semidiscrete"  # auto


# --- sampled path ----------------------------------------------------------------------------------

def test_sampled_path_converges_to_the_exact_lp_on_its_quadrature(rng):
    """As eps -> 0 the smoothed solution tends to the LP between the particles and the quadrature."""
    x = rng.random((15, 2))
    errors, gaps = [], []
    for eps in (0.05, 0.01, 0.002):
        solver = of.make_solver(2, BOX, method="semidiscrete", path="sampled", n_samples=1500, epsilon=eps, rng=3)
        pot = solver.solve(of.Cloud(x))
        assert pot.success and pot.info["path"] == "sampled" and pot.info["max_mass_error"] <= 1e-6
        lp = of.kantorovich(x, solver._quad.samples, method="exact")
        ell = np.sqrt(1.0 / x.shape[0])  # a cell's linear size in the unit box
        errors.append(np.abs(pot.targets - lp.targets).max() / ell)
        gaps.append(pot.cost / lp.cost - 1.0)
    assert errors[-1] < 0.03 and errors[-1] < errors[0] / 3, errors
    assert 0 <= gaps[-1] < 1e-3 and gaps[-1] < gaps[0] / 10, gaps


def test_sampled_path_agrees_with_exact2d_within_quadrature_error(rng):
    n, S = 100, 20_000
    x = rng.random((n, 2))
    exact = of.kantorovich(x, BOX, method="semidiscrete")
    sampled = of.kantorovich(x, BOX, method="semidiscrete", path="sampled", n_samples=S, rng=1)
    # randomized QMC: the estimated rms cell-mass error is below the i.i.d. binomial error 1/sqrt(S/n)
    assert sampled.success and 0 < sampled.info["quadrature_error"] <= 1 / np.sqrt(S / n)
    # centroid of a cell with S/n samples: standard error ~ cell radius / sqrt(S/n) ~ 0.1 l here
    ell = np.sqrt(1.0 / n)
    rms = np.sqrt(np.mean(np.sum((sampled.targets - exact.targets) ** 2, 1)))
    assert rms < 0.25 * ell, rms / ell
    assert sampled.cost == pytest.approx(exact.cost, rel=0.1)


def test_sampled_path_in_three_dimensions(rng):
    g = of.Gaussian([1.0, 0.0, -1.0], np.diag([1.0, 0.5, 0.25]))
    x = rng.standard_normal((40, 3))
    solver = of.make_solver(3, g, method="semidiscrete", n_samples=8000, rng=2)
    pot = solver.solve(of.Cloud(x))
    assert pot.success and pot.info["path"] == "sampled"
    # the cells split the quadrature: sum_i a_i T_i is its mean (to the mass tolerance)
    np.testing.assert_allclose(np.full(40, 1 / 40) @ pot.targets, solver._quad.samples.mean(0), atol=1e-5)


def bures_flow(m0, S0, m1, S1, s):
    """Closed form of docs/theory.rst §3.3 at geodesic time s: mean and covariance of ((1-s) I + s A)# N(m0, S0)."""
    r = np.real(sqrtm(S0))
    ri = np.linalg.inv(r)
    A = ri @ np.real(sqrtm(r @ S1 @ r)) @ ri
    M = (1 - s) * np.eye(len(m0)) + s * A
    return (1 - s) * m0 + s * m1, M @ S0 @ M


def test_gaussian_flow_follows_the_euler_geodesic(rng):
    """Euler with step h keeps the particles on the McCann geodesic at s_n = 1 - (1-h)^n (docs/theory.rst §3.3).

    The reference starts from the particles' own mean and covariance. Error sources, measured: the mean
    of the quadrature (the flow's centroids average to it exactly), off m1 by N(0, S1/S): we allow
    4 standard deviations; the covariance loses the within-cell variance of N = 200 cells and the
    quadrature's covariance error: 2.3 % (relative Frobenius) after 6 steps with these seeds; we allow 5 %.
    The exact-flow time s = 1 - e^{-t} puts the mean about 0.1 off (10x the Euler error here), more than
    twice the allowance, so the test tells the two apart.
    """
    m0, S0 = np.array([-1.0, 0.5]), np.array([[0.5, 0.2], [0.2, 0.3]])
    m1, S1 = np.array([1.0, -0.5]), np.array([[1.0, -0.3], [-0.3, 0.6]])
    n, h, steps, S = 200, 0.25, 6, 20_000
    x0 = np.random.default_rng(3).multivariate_normal(m0, S0, n)
    res = of.simulate(x0, of.Gaussian(m1, S1), method="semidiscrete", h=h, t_end=h * steps, rng=1,
                      progress=False, n_samples=S, path="sampled")
    assert res.status == 0, res.message
    assert res.info["solver_info"]["start"] == "warm"  # later steps reuse the previous duals
    m0h, S0h = x0.mean(0), np.cov(x0.T, bias=True)
    mean_tol = 4 * np.sqrt(np.linalg.eigvalsh(S1).max() / S)
    for k in range(1, steps + 1):
        s = 1 - (1 - h) ** k
        mt, St = bures_flow(m0h, S0h, m1, S1, s)
        xk = res.points[k]
        assert np.linalg.norm(xk.mean(0) - mt) < s * mean_tol + 1e-6
        assert np.linalg.norm(np.cov(xk.T, bias=True) - St) < 0.05 * np.linalg.norm(St)
        m_exact_flow = bures_flow(m0h, S0h, m1, S1, 1 - np.exp(-k * h))[0]
        assert np.linalg.norm(xk.mean(0) - m_exact_flow) > 2 * (s * mean_tol + 1e-6)


def test_warm_start_reduces_iterations(rng):
    """The duals of the previous step (moved by the predictor) start the next solve closer to the optimum
    than the fitted cold start, once the particles are spread over the target (exact 2-D path)."""
    x = rng.random((400, 2))
    runs = {}
    for warm in (True, False):
        res = of.simulate(x, BOX, method="semidiscrete", h=0.2, t_end=1.2, warm_start=warm, progress=False)
        assert res.status == 0
        runs[warm] = res.info["solver_info"]
    assert runs[True]["start"] == "warm"
    assert runs[True]["iterations"] < runs[False]["iterations"], runs
