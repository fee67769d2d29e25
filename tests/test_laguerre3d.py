"""Exact 3-D semi-discrete path (issue 13): polyhedral Laguerre cells and the shared damped Newton.

Every check goes through a route that shares no code with the thing checked: scipy's Qhull (half-space
intersection, convex hulls, Delaunay tetrahedra) for single cells, finite differences for the Hessian,
and brute-force nearest-power assignment of uniform samples (numpy) for whole solves.
"""

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, Delaunay, HalfspaceIntersection

from odeflow.potentials.semidiscrete import newton as laguerre2d
from odeflow.potentials.semidiscrete.laguerre3d import PowerDiagram3D, solve_laguerre3d
from odeflow.potentials.semidiscrete.polyhedra import laguerre_cells_3d

LO, HI = np.zeros(3), np.ones(3)


# --- independent references ------------------------------------------------------------------------

def halfspaces(x, psi, i, lo=LO, hi=HI):
    """Rows ``[A, b]`` with ``A y + b <= 0`` for cell i (box, then every other site), and their sites."""
    rows, sites = [], []
    for a in range(3):
        e = np.zeros(3)
        e[a] = 1.0
        rows += [np.append(-e, lo[a]), np.append(e, -hi[a])]
        sites += [-1, -1]
    for j in range(len(x)):
        if j != i:
            n = x[j] - x[i]
            c = 0.5 * n @ n + psi[i] - psi[j]
            rows.append(np.append(n, -(n @ x[i] + c)))
            sites.append(j)
    return np.array(rows), np.array(sites)


def reference_cell(x, psi, i):
    """Volume, centroid, ``int |y - x_i|^2``, and facet area per neighbour, by Qhull; None if empty."""
    hs, sites = halfspaces(x, psi, i)
    A, b = hs[:, :3], hs[:, 3]
    norm = np.linalg.norm(A, axis=1)
    lp = linprog([0, 0, 0, -1], A_ub=np.column_stack([A, norm]), b_ub=-b, bounds=[(None, None)] * 3 + [(0, None)])
    if lp.status != 0 or lp.x[3] < 1e-6:  # infeasible or too thin: empty
        return None
    v = HalfspaceIntersection(hs, lp.x[:3]).intersections
    vol = ConvexHull(v).volume
    tets = v[Delaunay(v).simplices]
    tv = np.abs(np.linalg.det(tets[:, 1:] - tets[:, :1])) / 6
    s = tets.sum(axis=1)
    centroid = (tv[:, None] * s / 4).sum(0) / tv.sum()
    # int y y^T over a tetrahedron = vol / 20 (sum_k v_k v_k^T + s s^T)
    second = np.einsum("t,tkab->ab", tv / 20, np.einsum("tka,tkb->tkab", tets, tets)) \
        + np.einsum("t,tab->ab", tv / 20, np.einsum("ta,tb->tab", s, s))
    sq = np.trace(second) - 2 * x[i] @ (centroid * tv.sum()) + tv.sum() * x[i] @ x[i]
    hull = ConvexHull(v)
    areas = {}
    for simplex, eq in zip(hull.simplices, hull.equations):
        tri = v[simplex]
        area = 0.5 * np.linalg.norm(np.cross(tri[1] - tri[0], tri[2] - tri[0]))
        match = np.abs(A / norm[:, None] @ eq[:3] - 1) + np.abs(b / norm - eq[3])
        k = int(np.argmin(match))
        if sites[k] >= 0:
            areas[sites[k]] = areas.get(sites[k], 0.0) + area
    return vol, centroid, sq, areas


def power_assignment(x, psi, y, chunk=20_000):
    """Index of the smallest ``|y - x_i|^2 / 2 - psi_i`` for every sample (brute force)."""
    key = 0.5 * np.einsum("ij,ij->i", x, x) - psi
    out = np.empty(len(y), dtype=np.int64)
    for s in range(0, len(y), chunk):
        out[s:s + chunk] = np.argmin(key[None, :] - y[s:s + chunk] @ x.T, axis=1)
    return out


def monte_carlo(x, psi, m, rng):
    """Cell counts, centroids and mean per-coordinate variances of m uniform samples of the unit cube."""
    y = rng.random((m, 3))
    idx = power_assignment(x, psi, y)
    n = len(x)
    count = np.bincount(idx, minlength=n).astype(float)
    safe = np.maximum(count, 1)
    cen = np.stack([np.bincount(idx, weights=y[:, k], minlength=n) for k in range(3)], 1) / safe[:, None]
    sq = np.bincount(idx, weights=np.sum(y * y, 1), minlength=n) / safe
    return count, cen, (sq - np.sum(cen**2, 1)) / 3


def all_candidates(n):
    cidx = np.concatenate([np.delete(np.arange(n), i) for i in range(n)]).astype(np.int64)
    return np.arange(n + 1, dtype=np.int64) * (n - 1), cidx


# --- the polyhedron kernel ---------------------------------------------------------------------------

def test_single_cells_match_qhull(rng):
    n = 25
    x = rng.random((n, 3)) * 1.2 - 0.1  # a few sites outside the box
    psi = 0.02 * rng.standard_normal(n)
    cptr, cidx = all_candidates(n)
    mass, moment, cost, volume, hess, status = laguerre_cells_3d(x, psi, np.arange(n), cptr, cidx, LO, HI, 1.0, x)
    assert np.all(status == 1)
    assert abs(volume.sum() - 1.0) < 1e-13
    checked = 0
    for i in range(n):
        ref = reference_cell(x, psi, i)
        if ref is None:
            assert volume[i] < 1e-9
            continue
        vol, centroid, sq, areas = ref
        checked += 1
        assert volume[i] == pytest.approx(vol, rel=1e-9)
        np.testing.assert_allclose(moment[i] / mass[i], centroid, atol=1e-9)
        assert 2 * cost[i] == pytest.approx(sq, rel=1e-8)
        facets = {cidx[p]: hess[p] * np.linalg.norm(x[cidx[p]] - x[i]) for p in range(cptr[i], cptr[i + 1])
                  if hess[p] > 0}
        big = {j: a for j, a in areas.items() if a > 1e-10}
        assert set(big) <= set(facets)
        for j, a in facets.items():
            assert a == pytest.approx(areas.get(j, 0.0), rel=1e-7, abs=1e-12)
    assert checked >= 15


def test_search_finds_every_cutting_site(rng):
    """The grid search with its bound against clipping by all sites, with strongly varying duals."""
    n = 300
    x = rng.random((n, 3)) * 1.4 - 0.2
    for scale in (0.0, 0.01, 0.05):
        psi = scale * rng.standard_normal(n)
        d = PowerDiagram3D(x, LO, HI)
        cells = d.search(psi)
        cptr, cidx = all_candidates(n)
        ref = laguerre_cells_3d(x, psi, np.arange(n), cptr, cidx, LO, HI, 1.0, x)
        np.testing.assert_allclose(cells.area, ref[3], rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(cells.moment, ref[1], rtol=1e-9, atol=1e-14)
        assert scale < 0.05 or np.count_nonzero(ref[3] == 0) > 10  # empty cells handled too
        # exact neighbour lists: the same Hessian as from all candidates
        full = np.zeros((n, n))
        full[np.repeat(np.arange(n), n - 1), cidx] = ref[4]
        mine = np.zeros((n, n))
        np.add.at(mine, (np.repeat(np.arange(n), np.diff(cells.indptr)), cells.indices), cells.hess)
        np.testing.assert_allclose(mine, full, rtol=1e-8, atol=1e-12)


def test_facet_areas_are_the_mass_derivatives(rng):
    n = 40
    x = rng.random((n, 3))
    psi = 0.005 * rng.standard_normal(n)
    d = PowerDiagram3D(x, LO, HI)
    H = d(psi, fresh=True).matrix().toarray()  # the Newton matrix: dG/dpsi (off-diagonal -rho |facet| / |x_i - x_j|)
    h = 1e-6
    for j in rng.choice(n, 6, replace=False):
        e = np.zeros(n)
        e[j] = h
        fd = (d(psi + e, fresh=True).mass - d(psi - e, fresh=True).mass) / (2 * h)
        np.testing.assert_allclose(fd, H[:, j], rtol=1e-5, atol=1e-7 * np.abs(H).max())


# --- whole solves, checked by Monte Carlo ------------------------------------------------------------

def test_solve_500_against_monte_carlo(rng):
    n = 500
    x = rng.random((n, 3))
    a = np.full(n, 1.0 / n)
    psi, cells, info = solve_laguerre3d(x, a, LO, HI, 1e-9, 100)
    assert info["status"] == "optimal" and info["max_mass_error"] <= 1e-9
    assert set(info) >= {"status", "iterations", "evaluations", "triangulations", "start", "max_mass_error"}
    # the duals alone, through brute force: cell counts of 10^6 uniform samples
    m = 1_000_000
    count, cen, var = monte_carlo(x, psi, m, np.random.default_rng(11))
    z = (count - m * a) / np.sqrt(m * a * (1 - a))
    assert np.max(np.abs(z)) < 5.0
    assert 0.8 < np.mean(z**2) < 1.2
    zc = (cen - cells.centroids(x)) / np.sqrt(var / count)[:, None]
    assert 0.8 < np.mean(zc**2) < 1.2
    # within-cell variance and the energy identity 2 cost = sum m |x - T|^2 + sum variance
    d = PowerDiagram3D(x, LO, HI)
    T = cells.centroids(x)
    variance = d.cell_variance(psi, cells, T)
    ratio = (variance / a) / (3 * var)  # mean |y - T_i|^2 over the cell, exact against sampled
    assert abs(np.mean(ratio) - 1) < 0.01 and np.max(np.abs(ratio - 1)) < 0.25
    lhs = 2 * cells.cost.sum()
    rhs = np.sum(cells.mass * np.sum((x - T) ** 2, 1)) + variance.sum()
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("case", ["outside", "clustered", "near_duplicates", "weights"])
def test_degenerate_inputs(case, rng):
    n = 400
    x = rng.random((n, 3))
    a = np.full(n, 1.0 / n)
    if case == "outside":
        x[:60] = rng.random((60, 3)) * 3 - 1  # 15% of the sites outside the box, some far
    elif case == "clustered":
        x = 0.1 * rng.random((n, 3))
    elif case == "near_duplicates":
        x[n // 2:] = x[:n // 2] + 1e-6 * rng.standard_normal((n // 2, 3))
    else:
        a = np.exp(rng.standard_normal(n))
        a /= a.sum()
    psi, _cells, info = solve_laguerre3d(x, a, LO, HI, 1e-9, 100)
    assert info["status"] == "optimal", info
    fresh = PowerDiagram3D(x, LO, HI).search(psi)
    assert np.max(np.abs(fresh.mass - a) / a) <= 1e-9
    assert abs(fresh.area.sum() - 1.0) < 1e-12
    m = 400_000
    count = monte_carlo(x, psi, m, np.random.default_rng(5))[0]
    z = (count - m * a) / np.sqrt(m * a * (1 - a))
    assert np.max(np.abs(z)) < 5.0


def test_closer_duplicates_stop_honestly(rng):
    """Sites 1e-9 apart: the split of a pair's mass moves by ``|facet| / 1e-9`` per unit of dual, so
    tol = 1e-9 would need the duals to a few units of the last place: the solver says it stalled."""
    n = 200
    x = rng.random((n, 3))
    x[n // 2:] = x[:n // 2] + 1e-9 * rng.standard_normal((n // 2, 3))
    a = np.full(n, 1.0 / n)
    psi, _cells, info = solve_laguerre3d(x, a, LO, HI, 1e-9, 100)
    assert info["status"] in ("optimal", "stalled")
    assert np.all(np.isfinite(psi)) and info["max_mass_error"] < 1e-5
    fresh = PowerDiagram3D(x, LO, HI).search(psi)
    assert np.max(np.abs(fresh.mass - a) / a) == pytest.approx(info["max_mass_error"], rel=1e-3, abs=1e-12)


def test_warm_start_and_repair(rng):
    n = 300
    x = rng.random((n, 3))
    a = np.full(n, 1.0 / n)
    psi, cells, info = solve_laguerre3d(x, a, LO, HI, 1e-9, 100)
    x2 = x + 0.002 * rng.standard_normal(x.shape)
    T = cells.centroids(x)
    guess = psi + 0.5 * (np.sum((T - x2) ** 2, 1) - np.sum((T - x) ** 2, 1))
    _psi2, _cells2, info2 = solve_laguerre3d(x2, a, LO, HI, 1e-9, 100, psi_warm=guess)
    assert info2["start"] == "warm" and info2["status"] == "optimal"
    assert info2["iterations"] < info["iterations"]
    low = guess.copy()
    low[:3] -= 1.0  # three empty cells: repaired, not a cold start
    _psi3, cells3, info3 = solve_laguerre3d(x2, a, LO, HI, 1e-9, 100, psi_warm=low)
    assert info3["start"] == "warm" and info3["status"] == "optimal"
    np.testing.assert_allclose(cells3.mass, a, rtol=1e-9)


def test_one_newton_driver(rng, monkeypatch):
    calls = []
    real = laguerre2d.damped_newton
    monkeypatch.setattr(laguerre2d, "damped_newton", lambda *args, **kw: calls.append(1) or real(*args, **kw))
    x = rng.random((50, 3))
    assert solve_laguerre3d(x, np.full(50, 0.02), LO, HI, 1e-9, 100)[2]["status"] == "optimal"
    assert calls == [1]


def test_stops_short_and_says_so(rng):
    x = 0.1 * rng.random((200, 3))
    psi, _cells, info = solve_laguerre3d(x, np.full(200, 1 / 200), LO, HI, 1e-12, 1)
    assert info["status"] == "max_iter_reached" and info["max_mass_error"] > 1e-12
    assert np.all(np.isfinite(psi))


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: PowerDiagram3D(np.zeros((3, 2)), LO, HI), "x"),
        (lambda: PowerDiagram3D([[0, 0, np.nan]], LO, HI), "x"),
        (lambda: PowerDiagram3D(np.zeros((3, 3)), [0, 0], HI), "lo"),
        (lambda: PowerDiagram3D(np.zeros((3, 3)), LO, [1, 1, 0]), "hi"),
        (lambda: solve_laguerre3d(np.zeros((2, 3)), [0.5, 0.4], LO, HI, 1e-9, 10), "a"),
        (lambda: solve_laguerre3d(np.zeros((2, 3)), [1.0, 0.0], LO, HI, 1e-9, 10), "a"),
        (lambda: solve_laguerre3d(np.zeros((2, 3)), [0.5, 0.5], LO, HI, 0.0, 10), "tol"),
        (lambda: solve_laguerre3d(np.zeros((2, 3)), [0.5, 0.5], LO, HI, 1e-9, 10, psi_warm=[0.0]), "psi_warm"),
    ],
)
def test_bad_input_names_the_argument(call, word):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(word), str(info.value)
