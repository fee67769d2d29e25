"""Semi-discrete optimal transport on a replicated quadrature: any dimension, any start, with an error bar.

Problem. Particles ``x_i`` with weights ``a_i`` against a density ``mu``. The density is replaced by a
quadrature ``(y_s, w_s)`` (:mod:`.qmc`: ``R = 4`` independently scrambled Sobol rules
where an inverse transform exists, i.i.d. samples otherwise) and the Laguerre cells by soft cells: sample
``s`` goes to particle ``j`` with probability ``p_sj ~ exp(-pi_sj / eps_s)``, ``pi_sj = |y_s - x_j|^2/2 - psi_j``.
The duals maximise the concave semi-dual ``F(psi) = a . psi + sum_s w_s softmin_eps_s(pi_s)``, whose gradient
is ``a - G`` (``G`` the soft masses) and whose negative Hessian is the graph Laplacian
``W_ij = sum_s w_s p_si p_sj / eps_s``.

Design (each choice measured; numbers in ``benchmarks/sampled.py`` and the report of issue 14).

* Cold start: the exact discrete problem between the particles and the first ``~N`` points of the rule
  (``ot.emd``, N x N, 1.5 s at N = 2048 in 10-D) gives duals whose cells each hold at least one point, in
  any dimension and from any particle position. The old start (Voronoi cells of the particles mapped onto
  the target) leaves cells empty when the particles are far from or shaped unlike the target, and the
  annealed Newton method then spends its budget moving them (issue 14: stalled / timed out).
* Multiscale in the samples (a ladder): Newton runs first on ``8 N`` points, then on rules of growing size
  (``x2`` to ``x16``, predicted from the measured error) until the estimated error reaches ``accuracy``.
  Each level starts from the previous duals, which are already within that level's noise, so the large
  rules see a few Newton steps only. Coarse levels use a wider smoothing (``eps = 4 / (points per cell)``
  relative, at most 0.5), so that every cell has boundary samples and a well-posed Hessian.
* Smoothing relative to each cell: ``eps_s = epsilon x`` (mean gap between the two smallest power costs of
  the samples of ``s``'s cell). The fraction of a cell's samples that are soft is then about ``epsilon``
  whatever the dimension, the anisotropy or the cell size (tails included).
* Newton: exact Laplacian (dense Cholesky up to 3000 particles, sparse LU above) with a small diagonal floor,
  a trust radius of 50 eps per dual and an Armijo line search on ``F``: cost per step near-linear in ``S``
  (one pass over the lists, plus the pairs of the soft samples). Cells that hold less than a quarter of
  their mass at the start of a level are first *captured*: their dual is raised to the value at which they
  win half their mass (an exact one-dimensional c-transform).
* Candidate lists without a per-step search: each sample keeps its ``k`` smallest power costs (exact
  branch-and-bound on a kd-tree of the particles, numba ``prange``) and a bound on every other particle's
  cost. After a dual step, a particle's cost can fall by at most ``max_j (psi_j - psi_ref_j)``, so a list stays
  exact while ``bound - max rise >= best + margin``; only the samples that fail this test are searched
  again. Memory is ``O(S (d + k) + N)``; no ``N x S`` array.
* Accuracy: after the solve, the hard cells of ``psi`` are counted in each replicate; the spread of the
  replicates estimates the sampling error of the pooled rule without bias, and the difference between the
  pooled hard masses and ``a`` adds the smoothing and tolerance error. ``info["quadrature_error"]`` is
  ``1.1 x`` that estimate (rms over cells of the relative mass error of the cells of ``psi`` against the
  density itself).

Threads: only numba ``prange`` kernels (:mod:`.sampled_kernels`), ``ot.emd`` (one thread) and LAPACK run
outside the interpreter; each returns before Python handles a signal, so Ctrl-C mid-solve leaves the
solver reusable (state is committed only at the end of a solve).
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..._checks import check_int, check_real, memory_budget
from . import sampled_kernels as K
from .qmc import Level, Quadrature, replicate_error

DEFAULT_ACCURACY = 0.03
DEFAULT_EPSILON = 0.05
REPLICATES = 4
#: First rung of the ladder: points per cell.
LADDER_START = 8
LADDER_GROWTH = (2.0, 16.0)
AIM = 0.93
#: Coarse-level smoothing: about this many soft samples per cell (relative eps = SOFT / points per cell).
SOFT = 16
COARSE_EPS_MAX = 0.5
#: Intermediate levels stop at a max relative mass error of LOOSE / sqrt(points per cell).
LOOSE = 0.5
LEVEL_MAX_ITER = 30
MAX_SAMPLES = 2 ** 23
#: Margin kept by a certified list, in units of eps (exp(-20) ~ 2e-9 of weight left out).
TRUNC = 20.0
ARMIJO = 1e-4
#: Relative rounding error of the objective.
ROUNDING = 1e-12
MAX_HALVINGS = 30
TRUST = 300.0
#: A search touching more than this fraction of the samples re-bases every list.
REBASE = 0.25
#: Newton matrix floor: HESS_FLOOR x a_i / eps_i on the diagonal.
HESS_FLOOR = 1e-6
STARVED = 0.25
CAPTURE_ROUNDS = 3
#: Newton matrix: pairs of soft weights above exp(-HESS_CUT); sparse LU up to this fraction of non-zeros,
#: conjugate gradients (to CG_RTOL) above.
HESS_CUT = 12.0
SPARSE_FILL = 0.02
CG_RTOL = 1e-8
CG_MAX_ITER = 1000
EMD_MAX = 4096
ERROR_SAFETY = 1.1
#: A warm prediction whose hard masses on the first rung are off by more than this (rms, relative) climbs
#: the ladder instead of going straight to the final rule (that rung's own noise is about 0.35 i.i.d.).
WARM_DIRECT = 0.6
#: The particle tree is used up to this dimension (a scan of all particles above: measured faster).
TREE_MAX_DIM = 3
#: At most this many particles are checked one by one in a certificate.
MAX_EXTRA = 64
#: Partial searches keep their own reference duals (a frame); past this many, all lists are searched again.
MAX_FRAMES = 16
#: Smoothing per cell: PRIOR pseudo-samples of the median gap, and at least GAP_FLOOR x the median.
PRIOR = 2.0
GAP_FLOOR = 0.05


class _Problem:
    """The particles of one solve, their search structure, and counters."""

    def __init__(self, x, a):
        self.x, self.a = x, a
        self.n, self.d = x.shape
        self.tree = self.d <= TREE_MAX_DIM
        self.scan = None  # single-precision centred copies for the scan (set per level)
        self.chunks = 4 * numba.get_num_threads()
        self.stats = {"iterations": 0, "searched": 0, "rebases": 0, "captured": 0, "levels": [],
                      "search_seconds": 0.0}


class SampledSolver:
    """Sampled-path semi-discrete solver for one density; keeps its quadrature and lists across calls.

    Parameters
    ----------
    density : Density
    rng : int or numpy.random.Generator, optional
        Seeds the quadrature's scrambles (once).
    n_samples : int, optional
        Fix the quadrature size ``S`` (the ladder ends there). Default: grow it until the estimated
        error reaches ``accuracy``.
    epsilon : float, optional
        Final smoothing, relative to each cell's typical cost gap (default 0.05).
    neighbours : int, optional
        Candidate particles kept per sample (default 8 in 1-D/2-D, 12 above; at least 2).
    accuracy : float, optional
        Target rms relative error of the cell masses against the density (default 0.03; ignored when
        ``n_samples`` is given). Halving it costs about 4x the samples (less in low dimension, where the
        Sobol rules converge faster).
    replicates : int, optional
        Independent scrambles (default 4, at least 2).

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> q = SampledSolver(of.UniformBox([0.0], [1.0]), rng=0, n_samples=4000)
    >>> psi, mass, cen, cost, info = q.solve(np.array([[0.1], [0.2]]), np.array([0.5, 0.5]), 1e-6, 50)
    >>> info["status"], bool(abs(cen[0, 0] - 0.25) < 0.01 and abs(cen[1, 0] - 0.75) < 0.01)
    ('optimal', True)
    """

    def __init__(self, density, rng=None, n_samples=None, epsilon=None, neighbours=None, accuracy=None,
                 replicates=None):
        self.density = density
        self.n_samples = None if n_samples is None else check_int(n_samples, "n_samples", minimum=2)
        self.epsilon = DEFAULT_EPSILON if epsilon is None else check_real(epsilon, "epsilon", positive=True)
        self.k = None if neighbours is None else check_int(neighbours, "neighbours", minimum=2)
        self.accuracy = DEFAULT_ACCURACY if accuracy is None else check_real(accuracy, "accuracy", positive=True)
        R = REPLICATES if replicates is None else check_int(replicates, "replicates", minimum=2)
        self.quad = Quadrature(density, R, rng)
        self._level = None  # the last solve's final level (kept for warm starts)
        self._prev = None  # (particles, duals, centroids) of the last successful solve

    # -- public -------------------------------------------------------------------------------------
    @property
    def samples(self):
        """The points of the current quadrature (the last solve's final level), or None."""
        return None if self._level is None else self._level.y

    def solve(self, x, a, tol, max_iter, psi0=None):
        """Duals, soft masses, centroids, transport cost and info for particles ``x`` with weights ``a``.

        ``cost = sum_s w_s sum_i p_si |y_s - x_i|^2 / 2`` and ``info["cell_variance"]_i =
        sum_s w_s p_si |y_s - T_i|^2`` (``T_i`` the centroid): ``2 cost = sum_i m_i |x_i - T_i|^2 +
        sum_i cell_variance_i`` exactly, with ``m`` the returned masses.
        """
        t0 = time.perf_counter()
        x = np.ascontiguousarray(x, dtype=np.float64)
        a = np.ascontiguousarray(a, dtype=np.float64)
        tol = check_real(tol, "tol", positive=True)
        max_iter = check_int(max_iter, "max_iter", minimum=1)
        if x.shape[0] == 1:
            return self._single(x, a, t0)
        P = _Problem(x, a)
        k = min(self.k or (8 if P.d <= 2 else 12), P.n)
        start, status = "cold", None
        lv, self._level = self._level, None  # committed again only when this solve returns
        prev, self._prev = self._prev, None
        pred = np.zeros(0)
        if psi0 is not None and lv is not None and lv.cand.shape[1] == k:
            psi0 = np.asarray(psi0, dtype=np.float64)
            if psi0.shape == (P.n,) and np.all(np.isfinite(psi0)):
                psi, coarse_err = self._pick_warm(P, psi0, prev, k)
                pred = psi
                if coarse_err <= WARM_DIRECT:
                    start = "warm"
                    alt = None if prev is None or prev[3] is None else psi + prev[3]
                    lv, psi, ev, err, status = self._climb(P, lv, psi, tol, max_iter, warm=True, alt=alt)
                else:  # a poor prediction (large moves): climb the ladder from it, as from a cold start
                    start = "warm-ladder"
                    lv, psi, ev, err, status = self._climb(P, self._new_level(self._first_rung(P.n), k), psi,
                                                           tol, max_iter)
                if status != "optimal":
                    P.stats["warm_failed"] = status
        if status != "optimal":
            start = "cold" if start == "cold" else start + "->cold"
            psi = self._start_duals(P)
            lv = self._new_level(self._first_rung(P.n), k)
            lv, psi, ev, err, status = self._climb(P, lv, psi, tol, max_iter)
        out = self._finish(P, lv, psi, status, start, t0)
        self._level = lv
        if status == "optimal":
            # the last prediction's error: the next step's prediction is offered with it added (the
            # quadrature and the particles' geometry change little from step to step)
            corr = out[0] - pred if start == "warm" and pred.shape == out[0].shape else None
            self._prev = (x.copy(), out[0].copy(), out[2].copy(), corr)
        return out

    def _pick_warm(self, P, psi0, prev, k):
        """The better of the caller's prediction and :meth:`_blend`, by the rms relative error of their hard
        cell masses on the first rung (about 8 points per cell): ``(psi, that error)``."""
        cands = [("caller", psi0)]
        if prev is not None and prev[0].shape == P.x.shape:
            cands.append(("blend", self._blend(prev, P.x)))
        coarse = self._new_level(self._first_rung(P.n), k)
        best = (None, np.inf, None)
        for name, psi in cands:
            psi = psi - P.a @ psi
            self._search(P, coarse, psi)
            self._evaluate(P, coarse, psi)
            hard = np.bincount(coarse.best, weights=coarse.w, minlength=P.n)
            e = float(np.sqrt(np.mean(((hard - P.a) / P.a) ** 2)))
            P.stats.setdefault("warm_candidates", {})[name] = e
            if e < best[1]:
                best = (psi, e, name)
        P.stats["warm_choice"] = best[2]
        return best[0], best[1]

    @staticmethod
    def _blend(prev, x_new):
        """Duals for moved particles that keep each cell where the move points to.

        With ``u = |x|^2 / 2 - psi`` (cell ``i`` maximises ``x_i . y - u_i``), a particle moving a fraction
        ``lam`` of the way to its centroid gets ``u' = (1 - lam) u + lam |T|^2 / 2``: the old cells blended
        with the Voronoi cells of the centroids, both of which put ``T_i``'s neighbourhood in cell ``i``. The
        rest of the move ``r`` (off the line to the centroid) gets the first-order ``u' += r . T``. For small
        moves this is the first-order predictor; for the large first steps of a flow from a tight cluster it
        stays valid where the first-order one scrambles the cells.
        """
        x, psi, T = prev[:3]
        dT = T - x
        move = x_new - x
        norm = np.einsum("ij,ij->i", dT, dT)
        lam = np.where(norm > 0, np.einsum("ij,ij->i", move, dT) / np.where(norm > 0, norm, 1.0), 0.0)
        lam = np.clip(lam, 0.0, 1.0)
        rest = move - lam[:, None] * dT
        u = 0.5 * np.einsum("ij,ij->i", x, x) - psi
        u_new = (1 - lam) * u + lam * 0.5 * np.einsum("ij,ij->i", T, T) + np.einsum("ij,ij->i", rest, T)
        return 0.5 * np.einsum("ij,ij->i", x_new, x_new) - u_new

    # -- the ladder ---------------------------------------------------------------------------------
    def _new_level(self, n_rep, k):
        y, w, rep = self.quad.points(n_rep)
        return Level(y, w, rep, n_rep, k)

    def _first_rung(self, n):
        n_rep = math.ceil(LADDER_START * n / self.quad.replicates)
        if self.n_samples is not None:
            n_rep = min(n_rep, math.ceil(self.n_samples / self.quad.replicates))
        return n_rep

    def _final_rung(self, n, d, k):
        """Points per replicate of the largest rule allowed (``n_samples``, or the size/memory cap)."""
        R = self.quad.replicates
        if self.n_samples is not None:
            return math.ceil(self.n_samples / R)
        per_point = 8 * d + 4 * k + 80
        cap = min(MAX_SAMPLES, memory_budget() // (4 * per_point))
        return max(1, cap // R)

    def _next_rung(self, n_rep, spread, final):
        """Points per replicate of the next rule: the sampling error ``spread`` falls at least like
        ``S^(-1/2)``; aim it at ``AIM x accuracy`` (the rest is left to the smoothing and the tolerance)."""
        ratio = LADDER_GROWTH[1] if spread is None else (spread / (AIM * self.accuracy)) ** 2
        ratio = min(max(ratio, LADDER_GROWTH[0]), LADDER_GROWTH[1])
        return min(final, math.ceil(n_rep * ratio))

    def _climb(self, P, lv, psi, tol, max_iter, warm=False, alt=None):
        """Solve on ``lv``, then on larger rules, until the estimated error reaches ``accuracy`` (or the
        rule reaches ``n_samples`` / the cap); the last level is solved to ``tol`` at the final smoothing.
        A warm start solves its first level to ``tol`` and grows only past 1.3 x ``accuracy``."""
        k = lv.cand.shape[1]
        final = self._final_rung(P.n, P.d, k)
        while True:
            n_c = lv.S / P.n
            last = lv.n_rep >= final
            eps_rel = max(self.epsilon, min(COARSE_EPS_MAX, SOFT / n_c))
            if warm or eps_rel < 1.5 * self.epsilon:
                eps_rel = self.epsilon
            exact = last or warm
            level_tol = tol if exact else max(tol, LOOSE / math.sqrt(n_c))
            level_iter = max_iter if exact else min(max_iter, LEVEL_MAX_ITER)
            psi = self._prepare(P, lv, psi, eps_rel, alt)
            alt = None
            psi, ev, err, status = self._newton(P, lv, psi, level_tol, level_iter, eps_rel)
            if warm and status != "optimal":
                return lv, psi, ev, err, status
            est = spread = None
            done = last
            if not done and self.n_samples is None:
                est, spread, _ = self._estimate(P, lv)
                done = est <= (1.3 if warm else 1.0) * self.accuracy
            if done:
                if eps_rel != self.epsilon or (err > tol and not exact):
                    self._set_eps(P, lv, self.epsilon)
                    psi, ev, err, status = self._newton(P, lv, psi, tol, max_iter, self.epsilon)
                return lv, psi, ev, err, status
            lv = self._new_level(self._next_rung(lv.n_rep, spread, final), k)
            warm = False

    # -- starts -------------------------------------------------------------------------------------
    def _start_duals(self, P):
        """Duals of the exact problem between the particles and the first ~N points of the rule."""
        if P.n > EMD_MAX:
            P.stats["start_duals"] = "fit"
            return self._fit_start(P)
        import ot

        y0, w0, _ = self.quad.points(max(1, math.ceil(P.n / self.quad.replicates)))
        M = 0.5 * ((P.x * P.x).sum(1)[:, None] + (y0 * y0).sum(1)[None, :]) - P.x @ y0.T
        _, log = ot.emd(P.a, w0, M, numItermax=50 * M.size + 100_000, log=True)
        del M
        u = np.asarray(log["u"], dtype=np.float64)
        if log.get("warning") or not np.all(np.isfinite(u)):
            P.stats["start_duals"] = f"fit (emd: {log.get('warning')})"
            return self._fit_start(P)
        P.stats["start_duals"] = "emd"
        return u - P.a @ u

    def _fit_start(self, P):
        """Duals whose cells are the Voronoi cells of the particles mapped onto the rule's mean and spread."""
        y, w, _ = self.quad.points(64)
        mx, my = P.a @ P.x, w @ y
        sx = math.sqrt(float(P.a @ ((P.x - mx) ** 2).sum(1)))
        sy = math.sqrt(float(w @ ((y - my) ** 2).sum(1)))
        s = sy / sx if sx > 0 else 1.0
        b = my - s * mx
        psi = 0.5 * (1.0 - s) * (P.x * P.x).sum(1) - P.x @ b
        return psi - P.a @ psi

    # -- one level: lists, smoothing, capture, damped Newton ---------------------------------------------
    def _prepare(self, P, lv, psi, eps_rel, alt=None):
        """Search every list at ``psi``, set the smoothing, capture starved cells; the duals to start from.
        ``alt``: other duals, taken instead when the semi-dual is larger there."""
        psi = np.array(psi, dtype=np.float64)
        self._search(P, lv, psi)
        self._evaluate(P, lv, psi)  # hard cells and gaps at psi
        self._set_eps(P, lv, eps_rel)
        if alt is not None:
            alt = alt - P.a @ alt
            here, there = self._evaluate(P, lv, psi)[0], self._evaluate(P, lv, alt)[0]
            P.stats["warm_corrected"] = bool(there > here)
            psi = alt if there > here else psi
            self._evaluate(P, lv, psi)
        for _ in range(CAPTURE_ROUNDS):
            psi, moved = self._capture(P, lv, psi)
            if moved.size == 0:
                break
            self._evaluate(P, lv, psi, moved)
            self._set_eps(P, lv, eps_rel)
        return psi

    def _newton(self, P, lv, psi, tol, max_iter, eps_rel):
        """Damped Newton on the soft problem of one level: ``(psi, (F, mass), err, status)``."""
        ev = self._evaluate(P, lv, psi)
        it, status = 0, None
        while True:
            err = float(np.max(np.abs(ev[1] - P.a) / P.a))
            if err <= tol:
                status = "optimal"
                break
            if it >= max_iter:
                status = "max_iter_reached"
                break
            it += 1
            P.stats["iterations"] += 1
            g = P.a - ev[1]
            d = self._direction(P, lv, psi, g)
            d -= P.a @ d
            slope = float(g @ d)
            if not (slope > 0 and np.all(np.isfinite(d))):
                status = "stalled"
                break
            reach = float(np.max(np.abs(d) / lv.eps_cell))
            tau = min(1.0, TRUST / reach) if reach > 0 else 1.0
            for _ in range(MAX_HALVINGS):
                trial = psi + tau * d
                trial -= P.a @ trial
                ev_t = self._evaluate(P, lv, trial)
                gain = ev_t[0] - ev[0]
                if gain >= ARMIJO * tau * slope or (
                        abs(gain) <= ROUNDING * (abs(ev[0]) + 1.0)
                        and np.max(np.abs(ev_t[1] - P.a) / P.a) < err):
                    # (the second test: near the optimum F changes below its rounding error; a step that
                    # lowers the mass error is then taken)
                    psi, ev = trial, ev_t
                    break
                tau *= 0.5
            else:
                ev = self._evaluate(P, lv, psi)
                status = "stalled"
                break
        P.stats["levels"].append({"n_samples": lv.S, "epsilon": eps_rel, "iterations": it, "status": status,
                                  "max_mass_error": err})
        return psi, ev, err, status

    def _search(self, P, lv, psi, rows=None):
        """Exact lists of ``rows`` (default: all samples, which re-bases the lists at ``psi``)."""
        t0 = time.perf_counter()
        full = rows is None or len(lv.frames) >= MAX_FRAMES
        r = np.arange(lv.S, dtype=np.int64) if full else rows.astype(np.int64)
        if P.tree:
            o, spread = lv.centre
            z = np.column_stack([P.x, 0.5 * ((P.x - o) ** 2).sum(1) - psi])
            perm, lo, hi, start, end, left = K.tree_arrays(P.n, P.d + 1)
            m = K.build_tree(z, np.append(spread, 1.0), K.LEAF_SIZE, perm, lo, hi, start, end, left)
            lo, hi, start, end, left = lo[:m], hi[:m], start[:m], end[:m], left[:m]
            top = np.empty(m)
            K.node_max(psi, perm, start, end, left, top)
            K.knn_search(lv.y, r, P.x, psi, o, np.ascontiguousarray(P.x[perm]), np.ascontiguousarray(psi[perm]),
                         perm, lo, hi, start, end, left, top, lv.cand, lv.bound, lv.lead, True, P.chunks)
        else:
            o = lv.centre[0]
            if lv.y32 is None:
                lv.y32 = (lv.y - o).astype(np.float32)
            xc = P.x - o
            half = 0.5 * np.einsum("ij,ij->i", xc, xc) - psi
            scale = np.array([float(np.abs(half).max()), float(np.sqrt(np.einsum("ij,ij->i", xc, xc).max()))])
            K.brute_search(lv.y, r, P.x, psi, lv.y32, np.ascontiguousarray(xc.T, dtype=np.float32),
                           half.astype(np.float32), scale, lv.cand, lv.bound, lv.lead, True, P.chunks)
        lv.gapk[r] = lv.bound[r] - lv.lead[r]
        lv.margin[r] = np.minimum(TRUNC * lv.eps[r], 0.5 * lv.gapk[r])
        if full:
            lv.frames = [psi.copy()]
            lv.frame[:] = 0
            P.stats["rebases"] += 1
        else:
            lv.frames.append(psi.copy())
            lv.frame[r] = len(lv.frames) - 1
        P.stats["searched"] += r.size
        P.stats["search_seconds"] += time.perf_counter() - t0

    def _evaluate(self, P, lv, psi, extra=None):
        """``(F(psi), soft masses)``, after searching again the samples whose lists lost their certificate.

        ``extra``: particles whose cost is checked one by one (default: the few whose duals rose far more
        than the others since the lists were based), so that the others' rise bounds the rest."""
        rise = psi - lv.frames[0]
        if extra is None:
            q = float(np.quantile(rise, 0.95))
            extra = np.flatnonzero(rise > q + 0.5 * (float(rise.max()) - q))
            if extra.size > MAX_EXTRA:
                extra = extra[:0]
        extra = np.asarray(extra, dtype=np.int64)
        keep = np.ones(P.n, dtype=bool)
        keep[extra] = False
        rises = np.array([float(np.max((psi - f)[keep], initial=-np.inf)) for f in lv.frames])
        fail = np.empty(lv.S, dtype=np.bool_)
        K.certify(lv.y, P.x, psi, lv.cand, lv.bound, lv.margin, rises, lv.frame, extra, fail)
        rows = np.flatnonzero(fail)
        if rows.size > REBASE * lv.S:
            self._search(P, lv, psi)
        elif rows.size:
            self._search(P, lv, psi, rows)
        mass = np.empty(P.n)
        smooth = K.soft_eval(lv.y, lv.w, P.x, psi, lv.cand, lv.eps, P.chunks, lv.best, lv.gap, lv.low, mass)
        return float(P.a @ psi + smooth), mass

    def _set_eps(self, P, lv, eps_rel):
        """Smoothing of each sample: ``eps_rel`` x the mean cost gap of the samples of its hard cell."""
        wsum = np.bincount(lv.best, weights=lv.w, minlength=P.n)
        gsum = np.bincount(lv.best, weights=lv.w * lv.gap, minlength=P.n)
        has = wsum > 0
        typical = float(np.median(gsum[has] / wsum[has]))
        # a cell with few samples borrows PRIOR samples' worth of the typical gap (ties, e.g. the points of
        # the exact start that sit on a facet, have gap 0)
        prior = PRIOR * float(lv.w.mean())
        cell = (gsum + prior * typical) / (wsum + prior)
        cell = np.maximum(cell, GAP_FLOOR * typical)
        if not typical > 0:
            cell = np.ones(P.n)
        lv.eps_cell = eps_rel * cell
        lv.eps = lv.eps_cell[lv.best]
        lv.margin = np.minimum(TRUNC * lv.eps, 0.5 * lv.gapk)

    def _capture(self, P, lv, psi):
        """Raise the dual of each starved cell until it wins half its mass (hard cells at ``psi``)."""
        hard = np.bincount(lv.best, weights=lv.w, minlength=P.n)
        starved = np.flatnonzero(hard < STARVED * P.a)
        if starved.size == 0:
            return psi, starved
        psi = psi.copy()
        low = lv.low.copy()  # each sample's smallest cost at psi (from the last evaluation)
        wmean = float(lv.w.mean())
        for i in starved[np.argsort(hard[starved] / P.a[starved])]:
            v = 0.5 * np.einsum("ij,ij->i", lv.y - P.x[i], lv.y - P.x[i]) - low
            m = max(1, min(lv.S - 1, int(0.5 * P.a[i] / wmean)))
            t = float(np.partition(v, m)[m])
            if t > psi[i]:
                low = np.minimum(low, v + low - t)
                psi[i] = t
        P.stats["captured"] += int(starved.size)
        return psi - P.a @ psi, starved

    def _direction(self, P, lv, psi, g):
        """Newton direction: ``(L + floor) d = g``, ``L`` the soft cells' Laplacian, scaled to a unit
        diagonal; sparse LU when it is sparse (low dimension), conjugate gradients otherwise."""
        offsets = np.empty(P.chunks + 1, np.int64)
        m = K.hessian_count(lv.y, P.x, psi, lv.cand, lv.eps, lv.gap, HESS_CUT, offsets)
        r, c, v = np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m)
        K.hessian_fill(lv.y, lv.w, P.x, psi, lv.cand, lv.eps, lv.gap, HESS_CUT, offsets, r, c, v)
        n = P.n
        W = sp.coo_array((v, (r, c)), shape=(n, n)).tocsr()
        W = W + W.T
        diag = np.asarray(W.sum(axis=1)).ravel() + HESS_FLOOR * P.a / lv.eps_cell
        scale = 1.0 / np.sqrt(diag)
        Ws = (sp.diags_array(scale) @ W @ sp.diags_array(scale)).tocsr()
        L = sp.eye_array(n, format="csr") - Ws
        b = g * scale
        if Ws.nnz <= SPARSE_FILL * n * n:
            z = spla.splu(L.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                          options={"SymmetricMode": True}).solve(b)
        else:
            z, info = spla.cg(L, b, rtol=CG_RTOL, atol=0.0, maxiter=CG_MAX_ITER)
            P.stats["cg_failures"] = P.stats.get("cg_failures", 0) + int(info != 0)
        return z * scale

    # -- results ------------------------------------------------------------------------------------
    def _estimate(self, P, lv):
        """``(quadrature_error, sampling part, (R, N) hard masses per replicate)`` of the cells at the
        duals of the last evaluation."""
        R = self.quad.replicates
        m = np.bincount(lv.rep * P.n + lv.best, weights=lv.w * R, minlength=R * P.n).reshape(R, P.n)
        est, spread = replicate_error(m, P.a)
        return ERROR_SAFETY * est, ERROR_SAFETY * spread, m

    def _finish(self, P, lv, psi, status, start, t0):
        self._evaluate(P, lv, psi)
        mass, cen, tcost, var = np.empty(P.n), np.empty((P.n, P.d)), np.empty(P.n), np.empty(P.n)
        K.soft_moments(lv.y, lv.w, P.x, psi, lv.cand, lv.eps, P.chunks, mass, cen, tcost, var)
        qerr, spread, m = self._estimate(P, lv)
        st = P.stats
        info = {
            "status": status,
            "iterations": int(st["iterations"]),
            "max_mass_error": float(np.max(np.abs(mass - P.a) / P.a)),
            "quadrature_error": float(qerr),
            "sampling_error": float(spread),
            "hard_mass_error": float(np.sqrt(np.mean(((m.mean(0) - P.a) / P.a) ** 2))),
            "accuracy": None if self.n_samples is not None else self.accuracy,
            "n_samples": int(lv.S),
            "replicates": self.quad.replicates,
            "rule": self.quad.rule,
            "epsilon": self.epsilon,
            "neighbours": int(lv.cand.shape[1]),
            "cell_variance": var,
            "start": start,
            "start_duals": st.get("start_duals"),
            "levels": st["levels"],
            "searched_per_sample": float(st["searched"] / lv.S),
            "search_seconds": float(st["search_seconds"]),
            "rebases": int(st["rebases"]),
            "captured": int(st["captured"]),
            "solve_seconds": time.perf_counter() - t0,
        }
        for key in ("warm_failed", "warm_candidates", "warm_choice", "warm_corrected"):
            if key in st:
                info[key] = st[key]
        return psi, mass, cen, float(tcost.sum()), info

    def _single(self, x, a, t0):
        """One particle: its cell is the whole space."""
        y, w, _ = (self._level.y, self._level.w, None) if self._level is not None else self.quad.points(1024)
        cen = (w @ y)[None, :]
        cost = float(0.5 * w @ ((y - x[0]) ** 2).sum(1))
        var = np.array([float(w @ ((y - cen[0]) ** 2).sum(1))])
        info = {"status": "optimal", "iterations": 0, "max_mass_error": 0.0, "quadrature_error": 0.0,
                "sampling_error": 0.0, "hard_mass_error": 0.0, "n_samples": int(y.shape[0]),
                "replicates": self.quad.replicates, "rule": self.quad.rule, "cell_variance": var, "start": "cold",
                "levels": [], "solve_seconds": time.perf_counter() - t0}
        return np.zeros(1), np.ones(1), cen, cost, info
