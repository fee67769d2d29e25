"""Exact 2-D semi-discrete transport against Gaussians and Gaussian mixtures (odeflow.potentials.semidiscrete.gauss2d).

Every integral is checked by a route that shares no code with the kernels: polygon integrals against
scipy.integrate and a tensor Gauss-Legendre rule on a fan of triangles (no whitening, no Green's
theorem, no erf), facet integrals against scipy's quad, the Hessian against finite differences of the
masses, and whole solves against Monte Carlo cells rebuilt from the returned duals alone (brute-force
argmin over samples of the density drawn with numpy).
"""

import numpy as np
import pytest
from scipy import integrate
from scipy.spatial import ConvexHull
from scipy.stats import norm

import odeflow as of
from odeflow.potentials.semidiscrete.gauss2d import (GaussianPowerDiagram2D, bounding_box, cell_variance_gauss2d,
                                        mixture_components, solve_gauss2d, whitening)
from odeflow.potentials.semidiscrete.gauss2d_kernels import gauss_cells, gauss_polygon

TH = 0.6
ROT = np.array([[np.cos(TH), -np.sin(TH)], [np.sin(TH), np.cos(TH)]])
ANISO = ROT @ np.diag([1.0, 0.1]) @ ROT.T  # eigenvalues 1 and 0.1, rotated
GAUSS = of.Gaussian([0.3, -0.2], ANISO)
MIX = of.GaussianMixture([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]],
                         [ANISO, 0.3 * np.eye(2), [[0.5, 0.2], [0.2, 0.3]]], [0.5, 0.3, 0.2])


def kernel_args(density):
    means, covs, weights = mixture_components(density)
    factor, whiten = whitening(covs)
    return means, whiten, factor, weights


def density_at(y, density):
    """The mixture density at points ``y`` (..., 2), written out directly."""
    means, covs, weights = mixture_components(density)
    out = 0.0
    for m, c, w in zip(means, covs, weights):
        d = y - m
        q = np.einsum("...i,ij,...j->...", d, np.linalg.inv(c), d)
        out = out + w * np.exp(-0.5 * q) / (2 * np.pi * np.sqrt(np.linalg.det(c)))
    return out


def fan_quadrature(vx, vy, origin, density, n=80):
    """Mass, first moment and second moment about ``origin`` by a tensor Gauss-Legendre rule on each
    triangle of a fan (Duffy map of the square onto the triangle)."""
    t, w = np.polynomial.legendre.leggauss(n)
    t, w = 0.5 * (t + 1), 0.5 * w
    r, s = np.meshgrid(t, t, indexing="ij")
    wr = np.outer(w, w) * r
    out = np.zeros(4)
    a = np.array([vx[0], vy[0]])
    for k in range(1, len(vx) - 1):
        b = np.array([vx[k], vy[k]])
        c = np.array([vx[k + 1], vy[k + 1]])
        jac = abs((b - a)[0] * (c - b)[1] - (b - a)[1] * (c - b)[0])
        y = a + r[..., None] * (b - a) + (r * s)[..., None] * (c - b)
        f = density_at(y, density) * wr * jac
        d = y - origin
        out += [f.sum(), (f * d[..., 0]).sum(), (f * d[..., 1]).sum(), (f * (d**2).sum(-1)).sum()]
    return out


def scipy_polygon(vx, vy, origin, density):
    """The same four integrals by scipy.integrate.dblquad on the fan (Duffy map)."""
    out = np.zeros(4)
    a = np.array([vx[0], vy[0]])
    for k in range(1, len(vx) - 1):
        b = np.array([vx[k], vy[k]])
        c = np.array([vx[k + 1], vy[k + 1]])
        jac = abs((b - a)[0] * (c - b)[1] - (b - a)[1] * (c - b)[0])
        for which in range(4):
            def f(s, r):
                y = a + r * (b - a) + r * s * (c - b)
                d = y - origin
                return density_at(y, density) * jac * r * [1.0, d[0], d[1], d @ d][which]
            out[which] += integrate.dblquad(f, 0, 1, 0, 1, epsabs=0, epsrel=1e-12)[0]
    return out


def random_polygon(rng, centre, size, k=7):
    pts = np.asarray(centre) + size * rng.standard_normal((k, 2))
    v = pts[ConvexHull(pts).vertices]  # counter-clockwise
    return v[:, 0].copy(), v[:, 1].copy()


def kernel_polygon(vx, vy, origin, density):
    mass, first, second, edges = gauss_polygon(vx, vy, np.asarray(origin, float), *kernel_args(density), True)
    return np.array([mass, first[0], first[1], second]), edges


# --- kernels on single polygons ------------------------------------------------------------------


@pytest.mark.parametrize("density", [GAUSS, MIX], ids=["gaussian", "mixture"])
def test_polygon_integrals_match_a_fine_fan_quadrature(density, rng):
    cases = [((0.5, 0.0), 0.02), ((0.0, 0.5), 0.3), ((-0.5, 1.0), 1.0), ((0.0, 0.0), 3.0), ((2.5, -1.5), 0.4)]
    for centre, size in cases:
        vx, vy = random_polygon(rng, centre, size)
        origin = np.asarray(centre) + 0.1 * size
        got, _ = kernel_polygon(vx, vy, origin, density)
        ref = fan_quadrature(vx, vy, origin, density)
        scale = np.array([ref[0], *(np.sqrt(ref[0] * ref[3]),) * 2, ref[3]])  # first moments may vanish
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * scale.max())
        assert abs(got[0] / ref[0] - 1) < 1e-12, (centre, size)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")  # asks 1e-12: at the roundoff level
def test_polygon_integrals_match_scipy_dblquad(rng):
    for density, centre, size in [(GAUSS, (0.4, -0.1), 0.7), (MIX, (1.0, 1.0), 0.5)]:
        vx, vy = random_polygon(rng, centre, size, k=5)
        origin = np.array(centre)
        got, _ = kernel_polygon(vx, vy, origin, density)
        ref = scipy_polygon(vx, vy, origin, density)
        np.testing.assert_allclose(got, ref, rtol=1e-11)


def test_tail_polygon_and_whole_plane():
    # a small polygon far in the tail (whitened distance about 7) keeps its relative accuracy
    vx, vy = np.array([2.0, 2.3, 2.2]), np.array([-3.0, -3.0, -2.7])
    got, _ = kernel_polygon(vx, vy, [2.1, -2.9], GAUSS)
    ref = fan_quadrature(vx, vy, np.array([2.1, -2.9]), GAUSS)
    assert 0 < ref[0] < 1e-15
    np.testing.assert_allclose(got, ref, rtol=1e-11)
    # a huge square: the whole mass, mean and second moment of the density, in closed form
    big = np.array([-40.0, 40.0, 40.0, -40.0]), np.array([-40.0, -40.0, 40.0, 40.0])
    got, _ = kernel_polygon(*big, [0.0, 0.0], MIX)
    means, covs, weights = mixture_components(MIX)
    mean = weights @ means
    second = weights @ (np.einsum("kii->k", covs) + (means**2).sum(1))
    np.testing.assert_allclose(got, [1.0, mean[0], mean[1], second], rtol=1e-14)


@pytest.mark.parametrize("density", [GAUSS, MIX], ids=["gaussian", "mixture"])
def test_edge_integrals_match_scipy_quad(density, rng):
    for size in (0.01, 0.3, 2.0):
        vx, vy = random_polygon(rng, (0.3, 0.2), size)
        _, edges = kernel_polygon(vx, vy, [0.0, 0.0], density)
        for k in range(len(vx)):
            p = np.array([vx[k], vy[k]])
            q = np.array([vx[(k + 1) % len(vx)], vy[(k + 1) % len(vx)]])
            ref = integrate.quad(lambda t: density_at(p + t * (q - p), density), 0, 1, epsabs=0,
                                 epsrel=1e-13, limit=200)[0] * np.linalg.norm(q - p)
            assert edges[k] == pytest.approx(ref, rel=1e-11)


def test_mass_only_kernel_agrees_and_leaves_moments_nan(rng):
    x = rng.standard_normal((60, 2))
    d = GaussianPowerDiagram2D(x, MIX)
    psi = d.fit_start()
    c = d(psi, fresh=True)
    args = (d.x, psi, c.indptr, c.indices, d.lo, d.hi, d.means, d.whiten, d.factor, d.weights, c.area > 0)
    full = gauss_cells(*args, True, 0.0)
    light = gauss_cells(*args, False, 0.0)
    np.testing.assert_allclose(light[0], full[0], rtol=1e-13)
    np.testing.assert_array_equal(light[3], full[3])
    assert np.all(np.isnan(light[1])) and np.all(np.isnan(light[2]))
    assert np.all(np.isfinite(full[1])) and np.all(full[2] > 0)
    assert full[5] and light[5]
    # a damped Newton floor: the kernel gives up (ok False) when some mass is below it, not otherwise
    assert gauss_cells(*args, False, 0.5 * full[0].min())[5]
    assert not gauss_cells(*args, False, 2.0 * full[0].min())[5]
    # and a diagram evaluation with that floor comes back not exact, so the trial is rejected
    assert not d(psi, floor=2.0 * full[0].min()).exact and d(psi, floor=0.5 * full[0].min()).exact


# --- the diagram ---------------------------------------------------------------------------------


def test_bounding_box_holds_all_but_1e16_and_ignores_the_particles():
    means, covs, weights = mixture_components(MIX)
    lo, hi = bounding_box(means, covs)
    outside = 0.0  # union bound over the four sides, per component
    for m, c, w in zip(means, covs, weights):
        sd = np.sqrt(np.diag(c))
        outside += w * (norm.sf((hi - m) / sd).sum() + norm.cdf((lo - m) / sd).sum())
    assert outside < 1e-16
    near = GaussianPowerDiagram2D(np.zeros((1, 2)), MIX)
    far = GaussianPowerDiagram2D(np.array([[1e3, -1e3], [0.0, 0.0]]), MIX)
    np.testing.assert_array_equal(near.lo, far.lo)
    np.testing.assert_array_equal(near.hi, far.hi)
    assert near.rho_max >= density_at(np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]]), MIX).max()


def test_hessian_matches_finite_differences_of_the_masses(rng):
    n = 25
    x = rng.standard_normal((n, 2))
    d = GaussianPowerDiagram2D(x, GAUSS)
    psi = d.fit_start()
    cells = d(psi, fresh=True)
    assert np.all(cells.mass > 0)
    H = cells.matrix().toarray()  # the Laplacian dG/dpsi (off-diagonal -hess)
    h = 1e-6
    fd = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        fd[:, j] = (d(psi + e, fresh=True).mass - d(psi - e, fresh=True).mass) / (2 * h)
    np.testing.assert_allclose(H, fd, rtol=0, atol=1e-7 * np.abs(H).max())
    assert np.count_nonzero(np.abs(H) > 1e-3 * np.abs(H).max()) > 3 * n  # a real graph, not a diagonal
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-15 * np.abs(H).max())


# --- full solves, checked by Monte Carlo -------------------------------------------------------------


def sample(density, m, rng):
    """``m`` points of the density, drawn with numpy only."""
    means, covs, weights = mixture_components(density)
    comp = rng.choice(len(weights), size=m, p=weights)
    z = rng.standard_normal((m, 2))
    chol = np.linalg.cholesky(covs)
    return means[comp] + np.einsum("nij,nj->ni", chol[comp], z)


def assign(x, psi, y):
    """``argmin_i |y - x_i|^2 / 2 - psi_i`` for each sample, by brute force (``|y|^2 / 2`` dropped)."""
    return np.argmin(0.5 * np.sum(x * x, 1) - psi - y @ x.T, axis=1)


def monte_carlo_cells(x, psi, y, chunk=20_000):
    """Counts and coordinate sums of the cells of ``psi`` over the samples ``y``."""
    n = x.shape[0]
    count = np.zeros(n)
    first = np.zeros((n, 2))
    for s in range(0, len(y), chunk):
        yy = y[s:s + chunk]
        idx = assign(x, psi, yy)
        count += np.bincount(idx, minlength=n)
        for k in range(2):
            first[:, k] += np.bincount(idx, weights=yy[:, k], minlength=n)
    return count, first


def chi2_per_cell(count, a):
    m = count.sum()
    z = (count - m * a) / np.sqrt(m * a * (1 - a))
    return float(np.mean(z**2)), float(np.max(np.abs(z)))


@pytest.mark.parametrize("density", [GAUSS, MIX], ids=["gaussian", "mixture"])
def test_solve_n300_to_1e9_verified_by_monte_carlo(density, rng):
    n = 300
    x = rng.standard_normal((n, 2))
    a = np.full(n, 1.0 / n)
    psi, cells, info = solve_gauss2d(x, a, density, tol=1e-9, max_iter=100)
    assert info["status"] == "optimal" and info["max_mass_error"] <= 1e-9
    assert np.max(np.abs(cells.mass - a) / a) <= 1e-9
    y = sample(density, 1_000_000, rng)
    count, first = monte_carlo_cells(x, psi, y)
    mean_z2, max_z = chi2_per_cell(count, a)
    assert 0.7 < mean_z2 < 1.35 and max_z < 5.0, (mean_z2, max_z)
    # centroids: Monte Carlo cell means against the exact ones, in units of their standard errors
    cen = first / count[:, None]
    exact = cells.centroids(x)
    sd = np.sqrt(0.5 * (2 * cells.cost / cells.mass - np.sum((exact - x) ** 2, 1)))  # per coordinate, roughly
    zc = (cen - exact) / (sd / np.sqrt(count))[:, None]
    assert 0.5 < np.mean(zc**2) < 1.5, np.mean(zc**2)
    # the check can fail: the starting duals give cells that Monte Carlo tells apart
    start = GaussianPowerDiagram2D(x, density, a).fit_start()
    assert chi2_per_cell(monte_carlo_cells(x, start, y[:200_000])[0], a)[0] > 10


def test_cost_and_variance_satisfy_the_energy_identity_and_monte_carlo(rng):
    n = 100
    x = rng.standard_normal((n, 2))
    a = np.full(n, 1.0 / n)
    psi, cells, info = solve_gauss2d(x, a, MIX, tol=1e-10)
    assert info["status"] == "optimal"
    centres = cells.centroids(x)
    var = cell_variance_gauss2d(x, psi, cells, MIX, centres)
    assert np.all(var > 0)
    # per cell, about the centroid c_i: int |y - x_i|^2 rho = mass |x_i - c_i|^2 + int |y - c_i|^2 rho
    np.testing.assert_allclose(2 * cells.cost, cells.mass * np.sum((x - centres) ** 2, 1) + var, rtol=1e-11)
    y = sample(MIX, 400_000, rng)
    idx = assign(x, psi, y)
    mc_cost = 0.5 * np.mean(np.sum((y - x[idx]) ** 2, 1))
    assert cells.cost.sum() == pytest.approx(mc_cost, rel=5e-3)


# --- failure modes --------------------------------------------------------------------------------


@pytest.mark.parametrize("density", [GAUSS, MIX], ids=["gaussian", "mixture"])
@pytest.mark.parametrize("far", [[50.0, 0.0], [-35.0, 35.0], [1e3, 0.0]])
def test_a_particle_50_sigma_away_still_converges(density, far, rng):
    n = 200
    x = np.vstack([rng.standard_normal((n, 2)), far])
    a = np.full(n + 1, 1.0 / (n + 1))
    psi, cells, info = solve_gauss2d(x, a, density, tol=1e-9)
    assert info["status"] == "optimal", info
    # independently of the solver's own cells: a fresh diagram at the returned duals
    fresh = GaussianPowerDiagram2D(x, density)(psi, fresh=True)
    assert np.max(np.abs(fresh.mass - a) / a) < 1e-9
    # the far particle's cell is a tail slice in its direction: its centroid beyond 2 sd along it
    means, covs, weights = mixture_components(density)
    mu = weights @ means
    cov = np.einsum("k,kij->ij", weights, covs + np.einsum("ki,kj->kij", means - mu, means - mu))
    u = np.asarray(far) / np.linalg.norm(far)
    assert np.dot(cells.centroids(x)[-1] - mu, u) > 2 * np.sqrt(u @ cov @ u)


def test_near_duplicate_sites_with_skewed_weights(rng):
    n = 150
    x = rng.standard_normal((n, 2))
    x[1] = x[0] + 1e-5 * np.array([0.6, 0.8])
    x[5] = x[4] - 1e-5 * np.array([0.8, -0.6])
    a = np.ones(n)
    a[0], a[5] = 1e3, 1e3  # each twin pair: one heavy, one light
    a /= a.sum()
    psi, cells, info = solve_gauss2d(x, a, GAUSS, tol=1e-9)
    assert info["status"] == "optimal", info
    np.testing.assert_allclose(cells.mass, a, rtol=1e-9)
    # the light twins' cells are thin slivers next to the heavy ones: areas tiny, masses right
    assert cells.area[1] < 1e-2 * cells.area[0]


def test_single_site_collinear_sites_and_warm_start(rng):
    psi, cells, info = solve_gauss2d(np.array([[3.0, 4.0]]), np.ones(1), MIX)
    assert info["status"] == "optimal" and cells.mass[0] == pytest.approx(1.0, abs=1e-15)
    x = np.column_stack([np.linspace(-1, 1, 40), np.zeros(40)])
    psi, cells, info = solve_gauss2d(x, np.full(40, 1 / 40), GAUSS)
    assert info["status"] == "optimal"
    x = rng.standard_normal((200, 2))
    a = np.full(200, 1 / 200)
    psi, cells, cold = solve_gauss2d(x, a, GAUSS)
    moved = x + 1e-3 * rng.standard_normal(x.shape)
    psi2, cells2, warm = solve_gauss2d(moved, a, GAUSS, psi_warm=psi)
    assert warm["status"] == "optimal" and warm["start"] == "warm"
    assert warm["iterations"] < cold["iterations"]


def test_bad_input_raises_naming_the_argument():
    x = np.zeros((2, 2))
    a = np.full(2, 0.5)
    with pytest.raises(TypeError, match="density"):
        solve_gauss2d(x, a, of.UniformBox([0, 0], [1, 1]))
    with pytest.raises(ValueError, match="density"):
        solve_gauss2d(x, a, of.Gaussian([0, 0], [[1.0, 1.0], [1.0, 1.0]]))  # singular
    with pytest.raises(ValueError, match="density"):
        solve_gauss2d(x, a, of.Gaussian([0, 0, 0], np.eye(3)))
    with pytest.raises(ValueError, match="x"):
        solve_gauss2d(np.zeros((2, 3)), a, GAUSS)
    with pytest.raises(ValueError, match="a"):
        solve_gauss2d(x, np.array([1.0, -1.0]), GAUSS)
    with pytest.raises(ValueError, match="sum to 1"):
        solve_gauss2d(x, np.array([0.5, 0.6]), GAUSS)
    with pytest.raises(ValueError, match="tol"):
        solve_gauss2d(x, a, GAUSS, tol=0.0)
