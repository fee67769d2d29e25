"""Semi-discrete w1 potentials (Apollonius cells), checked by routes that share no code with the solver:
numpy brute force for the cell search, POT's exact LP for W1, fresh Monte Carlo for the cells' masses, drifts
and medians, finite differences of W1 along a flow for the energy identity."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import ot
import pytest
from scipy.optimize import minimize
from scipy.spatial.distance import cdist

import odeflow as of
from odeflow.potentials.semidiscrete.apollonius_search import (
    build_tree,
    nearest_cells,
    node_geometry,
    node_lifts,
    tree_arrays,
)

BOX = of.UniformBox([0.0, 0.0], [1.0, 1.0])
N_SAMPLES = 20_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def brute_owner(y, x, psi):
    """Index of the cell holding each row of y: argmin_i |y - x_i| - psi_i (numpy, in chunks)."""
    out = np.empty(y.shape[0], dtype=np.int64)
    for s in range(0, y.shape[0], 20_000):
        out[s:s + 20_000] = np.argmin(cdist(y[s:s + 20_000], x) - psi[None, :], axis=1)
    return out


@pytest.fixture(scope="module")
def box_solve():
    rng = np.random.default_rng(3)
    x = rng.random((60, 2))
    pot = of.kantorovich(x, BOX, loss="w1", method="semidiscrete", rng=3, n_samples=N_SAMPLES)
    return x, pot


# --- the exact search ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dim, slope", [(2, 0.0), (2, 0.9), (4, 0.5)])
def test_nearest_cells_is_exact(dim, slope, rng):
    """The k-d tree search returns exactly the sites within the window of the best (numpy brute force),
    for duals that are not 1-Lipschitz and have a large spread."""
    n, S, window = 300, 3000, 0.05
    x = rng.standard_normal((n, dim))
    y = 1.3 * rng.standard_normal((S, dim))
    psi = slope * x[:, 0] + 0.2 * rng.random(n)
    z = psi.max() - psi
    arrays = tree_arrays(n, dim)
    m = build_tree(x, 8, *arrays)
    perm = arrays[0]
    lo, hi, start, end, left, right = (v[:m] for v in arrays[1:])
    rank = np.empty(n, np.int64)
    rank[perm] = np.arange(n)
    xs, zs = np.ascontiguousarray(x[perm]), z[perm].copy()
    centre, radius = np.empty((m, dim)), np.empty(m)
    node_geometry(xs, start, end, centre, radius)
    lifts = (np.empty(m), np.empty((m, dim)), np.empty(m))
    node_lifts(xs, zs, start, end, centre, *lifts)
    guess = rng.integers(-1, n, S)  # any guess (or none) must give the same answer
    cand, dist = np.full((S, 64), 7, np.int32), np.full((S, 64), 7.0)  # garbage: every entry must be written
    count, cut_gap = np.full(S, 7, np.int32), np.zeros(S)
    nearest_cells(y, xs, zs, perm, rank, (lo, hi, start, end, left, right, centre, radius), lifts,
                  np.full(S, window), 64, guess, cand, dist, count, cut_gap)
    values = cdist(y, x) - psi[None, :]
    best = values.min(axis=1)
    assert np.all(cand[:, 0] == values.argmin(axis=1))
    inside = values <= best[:, None] + window
    assert np.all(count == inside.sum(axis=1))
    for s in range(0, S, 97):
        assert set(cand[s, :count[s]].tolist()) == set(np.flatnonzero(inside[s]).tolist())
        assert np.all(cand[s, count[s]:] == -1)
    assert np.all(np.isinf(cut_gap) | (count == 64))
    np.testing.assert_allclose(dist[np.arange(S), 0], cdist(y, x)[np.arange(S), cand[:, 0]], rtol=1e-12)



@pytest.mark.parametrize("dim, scale", [(2, 1e-3), (2, 3e-2), (3, 1e-2)])
def test_certified_lists_stay_exact_after_dual_moves(dim, scale, rng):
    """After a dual step, the lists the certificate keeps and those it re-searches hold every site within
    WINDOW eps of each sample's best value at the new duals (numpy brute force), with every sample's best."""
    from odeflow.potentials.semidiscrete.apollonius_lists import WINDOW, CandidateLists, Sites

    n, S = 200, 4000
    x = rng.standard_normal((n, dim))
    y = 1.5 * rng.standard_normal((S, dim))
    psi0 = 0.7 * x[:, 0] + 0.05 * rng.random(n)
    eps = np.full(S, 1e-3)
    lists = CandidateLists(Sites(x, y, 64), psi0, eps)
    kept_total = 0
    for _ in range(3):
        psi = psi0 + scale * rng.standard_normal(n) + scale * x[:, 1]
        new = lists.at(psi)
        kept_total += int(np.sum(np.all(new.cand == lists.cand, axis=1)))
        values = cdist(y, x) - psi[None, :]
        best = values.min(axis=1)
        uncut = ~np.isfinite(new.cut_gap)
        for s in np.flatnonzero(uncut):
            listed = set(new.cand[s, :new.count[s]].tolist())
            assert set(np.flatnonzero(values[s] <= best[s] + WINDOW * eps[s]).tolist()) <= listed
        listed_best = np.min(np.where(new.cand >= 0, new.dist - psi[np.maximum(new.cand, 0)], np.inf), axis=1)
        np.testing.assert_allclose(listed_best, best, rtol=0, atol=1e-12)
        lists = new
        psi0 = psi
    assert kept_total > 0  # the certificate did keep lists (otherwise this checks only the search)


# --- against the exact LP and fresh Monte Carlo -----------------------------------------------------------

def test_box_cost_matches_exact_lp(box_solve):
    """W1 of the semi-discrete solve against the exact LP to a fine midpoint grid of the box (100^2 points;
    the grid's own error is below 1e-4 here: the 60^2 grid gives the same LP value to 3e-5)."""
    x, pot = box_solve
    assert pot.success and pot.info["path"] == "sampled_w1" and pot.loss == "w1"
    c = (np.arange(100) + 0.5) / 100
    grid = np.stack(np.meshgrid(c, c), -1).reshape(-1, 2)
    n = x.shape[0]
    lp = ot.emd2(np.full(n, 1.0 / n), np.full(grid.shape[0], 1.0 / grid.shape[0]), cdist(x, grid),
                 numItermax=10**7)
    err = pot.info["cost_error"]
    assert 0 < err < 0.01
    assert abs(pot.cost - lp) <= 3.0 * err + 1e-4, (pot.cost, lp, err)
    assert pot.distance == pot.cost
    # the smoothing's certified bracket: F_eps(psi) <= W1 of the quadrature <= cost
    assert 0 <= pot.info["dual_gap"] < err


def test_box_cells_from_duals_hold_their_mass(box_solve):
    """Cells rebuilt from the returned duals alone (argmin over fresh i.i.d. samples) hold mass a_i within
    the Monte Carlo error of the check and of the solver's quadrature."""
    x, pot = box_solve
    n, M = x.shape[0], 200_000
    y = BOX.sample(M, np.random.default_rng(99))
    share = np.bincount(brute_owner(y, x, pot.f), minlength=n) / M
    a = np.full(n, 1.0 / n)
    z = (share - a) / np.sqrt(a * (1 - a) * (1.0 / M + 1.0 / N_SAMPLES))
    assert np.mean(z**2) < 1.8, np.mean(z**2)  # chi-square per cell: 1 for pure Monte Carlo error
    assert np.max(np.abs(z)) < 4.5
    assert "hold their mass only" not in pot.info["message"]


def test_box_drifts_and_medians_by_monte_carlo(box_solve):
    """Drift = mean unit vector over the cell (|drift| <= 1); targets = the cells' geometric medians."""
    x, pot = box_solve
    n, M = x.shape[0], 200_000
    y = BOX.sample(M, np.random.default_rng(7))
    owner = brute_owner(y, x, pot.f)
    u = y - x[owner]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    count = np.bincount(owner, minlength=n)
    drift_mc = np.stack([np.bincount(owner, weights=u[:, k], minlength=n) for k in range(2)], 1) / count[:, None]
    norms = np.linalg.norm(pot.drift, axis=1)
    assert np.all(norms <= 1.0 + 1e-12)
    # quadrature error of the solve ~ 1/sqrt(S a) = 0.055 per component, plus that of the check
    assert np.max(np.abs(pot.drift - drift_mc)) < 0.25
    assert np.mean(np.abs(pot.drift - drift_mc)) < 0.05
    for i in np.argsort(count)[-3:]:  # the best-sampled cells: median by scipy on the fresh samples
        pts = y[owner == i]
        med = minimize(lambda z, p=pts: np.sum(np.linalg.norm(p - z, axis=1)), pts.mean(0), method="Nelder-Mead",
                       options={"xatol": 1e-7, "fatol": 1e-10}).x
        size = np.sqrt(np.mean(np.sum((pts - pts.mean(0)) ** 2, axis=1)))
        assert np.linalg.norm(pot.targets[i] - med) < 0.15 * size


def test_two_halves_closed_form():
    """Two particles at the centres of the two halves of the unit square: the cells are the halves, the
    drifts vanish, the medians are the particles, W1 = 0.296617 (scipy.integrate)."""
    pot = of.kantorovich([[0.25, 0.5], [0.75, 0.5]], BOX, loss="w1", method="semidiscrete", rng=0,
                         n_samples=40_000)
    assert pot.success
    assert abs(pot.cost - 0.2966167) < 3 * pot.info["cost_error"]
    assert np.abs(pot.drift).max() < 0.03
    assert np.abs(pot.targets - [[0.25, 0.5], [0.75, 0.5]]).max() < 0.01


def test_drift_is_minus_the_gradient_of_the_cost_by_finite_differences():
    """drift_i = -(1/a_i) dW1/dx_i: central differences of the returned cost (the quadrature and the smoothing
    fixed, both kept by the warm start) against the drift kernel. The difference error is O(h^2): about 3e-3
    at h = 1e-3 and 3e-5 at h = 1e-4 here, so 3e-4 at h = 1e-4 would catch a wrong factor or sign."""
    x = np.random.default_rng(5).random((30, 2))
    solver = of.make_solver(2, BOX, loss="w1", method="semidiscrete", rng=0, n_samples=N_SAMPLES, tol=1e-10)
    pot = solver(of.Cloud(x))
    assert pot.success
    h, a = 1e-4, 1.0 / 30
    for i, k in ((3, 0), (17, 1), (25, 0)):
        cost = []
        for sign in (1.0, -1.0):
            xp = x.copy()
            xp[i, k] += sign * h
            moved = solver(of.Cloud(xp))
            assert moved.success and moved.info["warm"] == "warm" and moved.info["smoothing"] == "kept"
            cost.append(moved.cost)
        assert abs(-(cost[0] - cost[1]) / (2 * h) / a - pot.drift[i, k]) < 3e-4, (i, k)


def test_warm_start_takes_fewer_newton_steps_than_cold():
    x = np.random.default_rng(5).random((30, 2))
    solver = of.make_solver(2, BOX, loss="w1", method="semidiscrete", rng=0, n_samples=N_SAMPLES)
    first = solver(of.Cloud(x))
    moved = x + 0.01 * first.drift
    warm = solver(of.Cloud(moved))
    solver.reset()
    cold = solver(of.Cloud(moved))
    assert warm.success and cold.success and (warm.info["warm"], cold.info["warm"]) == ("warm", "cold")
    assert warm.info["iterations"] < cold.info["iterations"]
    # the cold start refits the smoothing, the warm one keeps it: each cost brackets the quadrature's W1 from
    # below within its dual gap, so the two differ by at most the larger gap
    gap = max(warm.info["dual_gap"], cold.info["dual_gap"])
    assert 0 < gap < 1e-3 and abs(warm.cost - cold.cost) <= gap


INTERRUPT = textwrap.dedent("""
    import signal, time, numpy as np, odeflow as of

    def alarm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, alarm)
    target = of.Gaussian(np.zeros(2), np.eye(2))
    x = 0.3 * np.random.default_rng(0).standard_normal((80, 2)) + 1.0
    solver = of.make_solver(2, target, loss="w1", method="semidiscrete", rng=0)
    solver(of.Cloud(x[:20]))  # load the kernels
    solver.reset()
    start = time.perf_counter()
    solver(of.Cloud(x))
    took = time.perf_counter() - start  # timers inside a solve on this machine, however fast it is
    hits = 0
    for delay in (0.05 * took, 0.5 * took):
        solver.reset()
        signal.setitimer(signal.ITIMER_REAL, delay)
        try:
            solver(of.Cloud(x))
        except KeyboardInterrupt:
            hits += 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        solver.reset()
        assert solver(of.Cloud(x)).info["status"] == "optimal"  # the same solver, again
    signal.setitimer(signal.ITIMER_REAL, 0.3)  # a flow, interrupted mid-step, then run again
    try:
        of.simulate(x, target, loss="w1", h=0.25, t_end=3.0, rng=0, progress=False)
    except KeyboardInterrupt:
        hits += 1
    signal.setitimer(signal.ITIMER_REAL, 0)
    assert of.simulate(x, target, loss="w1", h=0.5, t_end=0.5, rng=0, progress=False).status == 0
    print("hits", hits)
""")


def test_interrupted_solves_and_flows_leave_the_process_usable():
    """Ctrl-C (a timer signal raising KeyboardInterrupt) mid-solve on two numba threads surfaces as a
    KeyboardInterrupt, never a SystemError, and the same solver then solves again in the same process."""
    out = subprocess.run([sys.executable, "-c", INTERRUPT], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT, "NUMBA_NUM_THREADS": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.split("hits")[-1]) >= 2  # most timers fired mid-solve


# --- other dimensions, degenerate input, options -------------------------------------------------------

def test_five_dimensions_and_a_far_cloud(rng):
    """5-D, a cloud far from the density (nearly tied sites): solved, drifts of length about 1 pointing home."""
    x = 0.2 * rng.standard_normal((40, 5)) + [4.0, 0, 0, 0, 0]
    pot = of.kantorovich(x, of.Gaussian(np.zeros(5), np.eye(5)), loss="w1", method="semidiscrete", rng=1,
                         n_samples=8000)
    assert pot.success, pot.info["message"]
    norms = np.linalg.norm(pot.drift, axis=1)
    assert np.all(norms <= 1 + 1e-12) and np.all(norms > 0.9)
    assert np.all(pot.drift[:, 0] < -0.85)
    assert 3.5 < pot.cost < 4.6  # W1 ~ distance 4 to the Gaussian, about 4.1


def test_weighted_cloud_half_outside_the_box_converges_and_clustered_cells_are_flagged():
    """Particles half outside the density with unequal weights: Newton needs more steps than the w2 default
    of 100 (71 here, 139 at N = 400), which loss w1's default allows. A tight blob inside the box: the soft
    cells converge, but the hard cells of the duals cannot hold their mass (W1's near-ties): the message
    says so, with the size reported in hard_mass_error."""
    r = np.random.default_rng(13)
    x = np.c_[3.0 * r.random(150) - 0.5, 2.0 * r.random(150) - 1.2]
    a = r.random(150) + 0.5
    box = of.UniformBox([0.0, -1.0], [2.0, 0.5])
    pot = of.kantorovich(of.Cloud(x, a / a.sum()), box, loss="w1", method="semidiscrete", rng=13)
    assert pot.success and pot.info["max_iter"] == 500 and pot.info["iterations"] > 50
    blob = 0.15 * r.standard_normal((100, 2)) + [0.4, 0.2]
    pot = of.kantorovich(blob, box, loss="w1", method="semidiscrete", rng=1)
    assert pot.success and pot.info["hard_mass_error"] > 5 * pot.info["quadrature_error"]
    assert "hold their mass only to" in pot.info["message"]


def test_duplicate_particles_share_their_cell(rng):
    x = rng.random((20, 2))
    x[5] = x[11]
    pot = of.kantorovich(x, BOX, loss="w1", method="semidiscrete", rng=0, n_samples=6000)
    assert pot.success and pot.info["support_size"] == 19
    np.testing.assert_array_equal(pot.drift[5], pot.drift[11])
    assert pot.f[5] == pot.f[11]


def test_method_auto_routes_w1_against_any_density_to_the_apollonius_path(rng):
    """Even where w2 takes an exact path (2-D Gaussian, 3-D box), w1 takes the Apollonius cells."""
    for x, density in ((rng.random((12, 2)), of.Gaussian([0.0, 0.0], np.eye(2))),
                       (rng.random((12, 3)), of.UniformBox([0.0] * 3, [1.0] * 3))):
        pot = of.kantorovich(x, density, loss="w1", rng=0, n_samples=4000)
        assert pot.success and pot.info["path"] == "sampled_w1" and pot.loss == "w1"
        assert of.kantorovich(x, density, rng=0).info["path"] in ("exact2d", "exact3d")
    res = of.simulate(rng.random((12, 2)), BOX, loss="w1", h=0.1, t_end=0.2, rng=0, n_samples=4000, progress=False)
    assert res.success and res.info["solver_info"]["path"] == "sampled_w1"


def test_refusals_and_honest_failures():
    with pytest.raises(ValueError, match="^path"):
        of.make_solver(2, BOX, loss="w1", method="semidiscrete", path="exact2d")
    with pytest.raises(ValueError, match="^path"):
        of.make_solver(3, of.UniformBox([0.0] * 3, [1.0] * 3), loss="w1", path="exact3d")
    with pytest.raises(ValueError, match="^accuracy"):
        of.make_solver(2, BOX, loss="w1", method="semidiscrete", accuracy=0.01)
    with pytest.raises(ValueError, match="^n_samples"):
        of.make_solver(2, BOX, loss="w1", method="semidiscrete", n_samples=1)
    with pytest.raises(ValueError, match="^tgt"):
        of.kantorovich(np.zeros((3, 3)), BOX, loss="w1", method="semidiscrete")
    with pytest.raises(ValueError, match="^src"):
        of.kantorovich(of.Cloud(np.eye(2), [1.0, 0.0]), BOX, loss="w1", method="semidiscrete")
    with pytest.raises(ValueError, match="^epsilon"):
        of.make_solver(2, BOX, loss="w1", method="semidiscrete", epsilon=-1.0)
    with pytest.raises(TypeError, match="^options"):
        of.make_solver(2, BOX, loss="w1", method="semidiscrete", bogus=1)
    x = np.random.default_rng(0).random((50, 2))
    pot = of.kantorovich(x, BOX, loss="w1", method="semidiscrete", rng=0, n_samples=5000, max_iter=1, tol=1e-12)
    assert not pot.success and pot.info["status"] in ("max_iter_reached", "stalled")
    assert "not converged" in pot.info["message"] and isinstance(pot.info["iterations"], int)
    with pytest.raises(of.SolveError):
        pot.raise_for_status("test")
    res = of.simulate(x, BOX, loss="w1", method="semidiscrete", h=0.1, t_end=0.3, rng=0, n_samples=5000,
                      max_iter=1, tol=1e-12, progress=False)
    assert res.status == -1 and "solver failed" in res.message


# --- the flow ----------------------------------------------------------------------------------------------

def test_flow_energy_identity_and_warm_starts(rng):
    """d/dt W1 = -sum a_i |drift_i|^2 along an Euler run, to O(h): the residual halves with h. (The first
    steps are left out: W1 bends sharply there, over a time of about 0.01, while the blob's nearly tied
    particles separate, so a step of 0.05 does not resolve it.)"""
    x = 0.15 * rng.standard_normal((40, 2)) + [0.5, 1.6]
    gauss = of.Gaussian([0.0, 0.0], np.eye(2))
    resid = {}
    for h in (0.1, 0.05):
        infos = []
        res = of.simulate(x, gauss, loss="w1", method="semidiscrete", h=h, t_end=0.6, rng=0, n_samples=8000,
                          progress=False, observe=lambda p, infos=infos: infos.append(dict(p.info)) or 0.0)
        assert res.success
        kinetic = np.einsum("tij,tij->t", res.drift, res.drift) / x.shape[0]
        r = np.diff(res.distance) / np.diff(res.t) + kinetic[:-1]
        resid[h] = np.max(np.abs(r[res.t[:-1] >= 0.2 - 1e-9]))
        assert resid[h] < 0.1 * kinetic.max()
        assert infos[0]["warm"] == "cold" and sum(i["warm"] == "warm" for i in infos) >= len(infos) - 2
        assert np.all(np.diff(res.distance) < 0)
    assert 1.4 < resid[0.1] / resid[0.05] < 2.8, resid


def test_far_blob_flow_stays_warm_with_few_newton_steps():
    """From a far blob the cells are needles and many particles nearly tie: before the damped (Levenberg-
    Marquardt) direction and the refit of a too sharp smoothing, the warm solves of this flow took up to 64
    Newton steps, crawling at steps of 1e-5 of a direction. Every solve after the first must stay warm, within
    45 steps (measured 8 - 34)."""
    rng = np.random.default_rng(1)
    x = 0.25 * rng.standard_normal((150, 2)) + [1.5, 0.0]
    infos = []
    res = of.simulate(x, of.Gaussian([0.0, 0.0], np.eye(2)), loss="w1", h=0.1, t_end=1.5, rng=2, n_samples=15_000,
                      progress=False, observe=lambda p: infos.append(dict(p.info)) or 0.0)
    assert res.success
    assert [i["warm"] for i in infos[1:]] == ["warm"] * (len(infos) - 1)
    assert max(i["iterations"] for i in infos[1:]) <= 45, [i["iterations"] for i in infos]


def test_clipped_flow_stops_at_the_medians(rng):
    x = 0.1 * rng.standard_normal((30, 2)) + [0.5, 0.5]
    plain = of.simulate(x, BOX, loss="w1", method="semidiscrete", h=0.2, t_end=1.6, rng=0, n_samples=6000,
                        progress=False)
    clipped = of.simulate(x, BOX, loss="w1", method="semidiscrete", h=0.2, t_end=1.6, rng=0, n_samples=6000,
                          clip=True, progress=False)
    assert plain.success and clipped.success
    assert plain.info["overshoots"] > 0 and "overshot" in plain.message
    # clipping never lets a step pass the median: the clipped run ends closer to the floor
    assert clipped.distance[-1] <= plain.distance[-1] + 1e-3
