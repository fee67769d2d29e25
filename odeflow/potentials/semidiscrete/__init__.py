"""Semi-discrete Kantorovich potentials: particles against a density (docs/theory.rst §1).

``method="semidiscrete"`` solves the w2 semi-dual for the particle duals ``psi`` (``KantorovichResult.f``):
every Laguerre cell ``L_i = {y : |y - x_i|^2/2 - psi_i <= |y - x_j|^2/2 - psi_j for all j}`` must carry
the mass ``a_i``, and the particle's target is the cell's centroid (``targets``; ``drift = targets - x``).
There is no ``N x M`` matrix: N unknowns.

Three paths behind one call (option ``path``, default ``"auto"``):

``"exact2d"``   2-D :class:`~odeflow.UniformBox`, :class:`~odeflow.ImageDensity`, :class:`~odeflow.Gaussian`
                and :class:`~odeflow.GaussianMixture`: exact polygonal cells (:mod:`.laguerre2d` with
                :mod:`.polygons` and :mod:`.pixels`; :mod:`.gauss2d` for Gaussians, whose cells are clipped
                to a rectangle outside of which the density's mass is below 1e-16).
``"exact3d"``   3-D :class:`~odeflow.UniformBox`: exact polyhedral cells (:mod:`.laguerre3d`, :mod:`.polyhedra`,
                :mod:`.cellsearch`).
                Both exact paths run the one damped Newton method of Kitagawa-Merigot-Thibert
                (:mod:`.newton`); ``tol`` (default 1e-9) bounds
                ``info["max_mass_error"] = max_i |mu_d(L_i) - a_i| / a_i`` exactly.
``"sampled"``   any density with a sampler, any dimension: randomized quasi-Monte Carlo quadratures
                (replicated scrambled Sobol rules through inverse transforms for Gaussians, mixtures and
                boxes; i.i.d. samples otherwise), a cold start from exact discrete duals, and damped Newton
                on the smoothed semi-dual over a ladder of growing quadratures (:mod:`.sampled`, whose
                docstring says why). ``tol`` (default 1e-6) bounds the mass error of the smoothed cells **of
                the quadrature**; ``info["quadrature_error"]`` estimates, from the spread of the replicates,
                the rms relative error of the cells against the density itself (option ``accuracy``).

Every path reports ``pot.cost = sum_i int_{L_i} |y - x_i|^2 / 2 dmu_d`` (the optimal semi-discrete cost,
``W2^2 / 2``; on the sampled path that of the soft cells of the quadrature) and ``info["cell_variance"]``,
per particle ``int_{L_i} |y - T_i|^2 dmu_d`` (the exact path integrates the polygons exactly, against the
uniform or pixel-constant density; the sampled path sums over the quadrature). They satisfy the energy
identity of docs/theory.rst §3.2, ``2 cost = sum_i mu_d(L_i) |x_i - T_i|^2 + sum_i cell_variance_i``, where
``mu_d(L_i) = a_i`` to ``tol``.

Warm start: the solver object keeps the last particles and duals. On the next call it predicts
``psi'_i = psi_i + (|T_i - x'_i|^2 - |T_i - x_i|^2) / 2`` (the power distance of each old centroid to its
own particle is kept), and falls back to a cold start when that leaves a cell empty or is worse.

``loss="w1"`` takes the path ``"sampled_w1"`` (:mod:`.apollonius`, any dimension): additively weighted
(Apollonius) cells ``L_i = {y : |y - x_i| - psi_i <= |y - x_k| - psi_k}`` on a quadrature, found by an exact
search; ``drift`` is the mean over each cell of the unit vectors from its particle (length <= 1),
``cost`` is W1, and ``targets`` are the cells' geometric medians (where the drift would vanish; ``clip=True``
stops particles there). Its warm start is a tangent prediction of the duals from the previous solve. Paths
``"exact2d"`` and ``"exact3d"`` are refused for w1 (``ValueError`` naming ``path``). Particles need positive weights;
particles at the same position share one cell (split in proportion to their weights).

Examples
--------
>>> import odeflow as of
>>> pot = of.kantorovich([[0.25, 0.5], [0.75, 0.5]], of.UniformBox([0, 0], [1, 1]), method="semidiscrete")
>>> pot.info["path"], pot.success, pot.targets.round(12).tolist()
('exact2d', True, [[0.25, 0.5], [0.75, 0.5]])
"""

from __future__ import annotations

import time

import numpy as np

from ..._checks import as_rng, check_choice, check_int, check_real
from ...losses import Loss
from ...measures import Density, Gaussian, GaussianMixture, ImageDensity, UniformBox
from ..base import KantorovichResult, PotentialSolver
from .newton import solve_cells

DEFAULT_TOL = {"exact2d": 1e-9, "exact3d": 1e-9, "sampled": 1e-6}
DEFAULT_MAX_ITER = 100
#: loss 'w1': more room, for clustered or outlying particles whose needle-shaped cells make Newton crawl (a
#: weighted cloud half outside a box, N = 400, took 139 steps).
DEFAULT_MAX_ITER_W1 = 500
#: loss 'w1': the message says so when the hard cells miss their mass by more than this many quadrature errors.
HARD_WARNING = 5.0
PATHS = ("auto", "exact2d", "exact3d", "sampled")


def exact_path(density: Density):
    """The exact path that handles ``density`` (``"exact2d"`` or ``"exact3d"``), else None."""
    if isinstance(density, ImageDensity) or (isinstance(density, (UniformBox, Gaussian, GaussianMixture))
                                             and density.dim == 2):
        return "exact2d"
    if isinstance(density, UniformBox) and density.dim == 3:
        return "exact3d"
    return None


def make_diagram(sites, weights, density):
    """The cells oracle of the exact path for ``density`` (see :mod:`.newton` for its protocol)."""
    if isinstance(density, (Gaussian, GaussianMixture)):
        from .gauss2d import GaussianPowerDiagram2D  # noqa: PLC0415  (kernels compiled on first use)

        return GaussianPowerDiagram2D(sites, density, weights, moments=False)
    if isinstance(density, UniformBox) and density.dim == 3:
        from .laguerre3d import PowerDiagram3D  # noqa: PLC0415

        return PowerDiagram3D(sites, density.low, density.high)
    from .laguerre2d import PowerDiagram2D  # noqa: PLC0415

    return PowerDiagram2D(sites, density.low, density.high, getattr(density, "grid", None))


def _unique_sites(x, a):
    """Merge particles at the same position: ``(sites, site_weight, index of each particle's site)``."""
    n = x.shape[0]
    order = np.lexsort(x.T[::-1])
    xs = x[order]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(xs[1:] != xs[:-1], axis=1)
    if new.all():
        return x, a, None
    group = np.cumsum(new) - 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = group
    sites = xs[new]
    weight = np.bincount(inverse, weights=a, minlength=sites.shape[0])
    return sites, weight, inverse


class SemidiscreteSolver(PotentialSolver):
    """Semi-discrete potentials against a density (w2: Laguerre cells; w1: Apollonius cells); see the module
    docstring.

    Options
    -------
    tol : float
        Bound on ``info["max_mass_error"]`` (default 1e-9 exact2d, 1e-6 sampled).
    max_iter : int
        Newton iterations allowed per solve (default 100; 500 for loss "w1"). A solve that misses ``tol`` returns
        ``success=False`` with ``status`` ``"max_iter_reached"`` or ``"stalled"``.
    path : {"auto", "exact2d", "exact3d", "sampled"}  (loss "w1": "auto" or "sampled" only)
    warm_start : bool
        Reuse the previous call's duals (default True).
    n_samples, epsilon, neighbours, accuracy
        Sampled path only: see :mod:`.sampled` (``accuracy``: the rms relative cell-mass error against the
        density that the quadrature is grown to reach; ``n_samples`` fixes its size instead). For loss
        ``"w1"`` see :mod:`.apollonius` (``neighbours``: the most candidate sites kept per sample, default 64;
        ``accuracy`` is not used).

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> solver = of.make_solver(2, of.Gaussian([0, 0], np.eye(2)), method="semidiscrete", path="sampled",
    ...                         n_samples=4000, rng=0)
    >>> pot = solver(of.Cloud([[-1.0, 0.0], [1.0, 0.0]]))
    >>> pot.info["path"], pot.success, bool(pot.targets[0, 0] < 0 < pot.targets[1, 0])
    ('sampled', True, True)
    """

    name = "semidiscrete"
    target_kind = "density"
    uses_rng = True

    def __init__(self, target, loss: Loss, *, tol=None, max_iter=None, path="auto",
                 warm_start=True, n_samples=None, epsilon=None, neighbours=None, accuracy=None, rng=None):
        super().__init__(target, loss)
        self.path_option = check_choice(path, "path", PATHS)
        if loss.name == "w1":
            self._init_w1(tol, max_iter, warm_start, n_samples, epsilon, neighbours, accuracy, rng)
            return
        exact = exact_path(target)
        if self.path_option in ("exact2d", "exact3d") and exact != self.path_option:
            raise ValueError(
                f"path: {self.path_option!r} does not handle a {target.dim}-D {type(target).__name__} (exact2d: 2-D "
                f"UniformBox, Gaussian, GaussianMixture, ImageDensity; exact3d: 3-D UniformBox); use path='sampled'"
            )
        self.path = exact if (self.path_option != "sampled" and exact is not None) else "sampled"
        self.tol = DEFAULT_TOL[self.path] if tol is None else check_real(tol, "tol", positive=True)
        self.max_iter = check_int(DEFAULT_MAX_ITER if max_iter is None else max_iter, "max_iter", minimum=1)
        self.warm_start = bool(warm_start)
        self.rng = as_rng(rng)
        self._sampled_options = {"n_samples": n_samples, "epsilon": epsilon, "neighbours": neighbours,
                                 "accuracy": accuracy}
        if self.path == "sampled":
            from .sampled import SampledSolver  # noqa: PLC0415  (numba kernels compiled on first use)

            self._quad = SampledSolver(target, rng=self.rng, **self._sampled_options)
        elif any(v is not None for v in self._sampled_options.values()):
            given = sorted(k for k, v in self._sampled_options.items() if v is not None)
            raise ValueError(f"{given[0]}: only used by path='sampled' (this target takes an exact path)")
        self.reset()

    def _init_w1(self, tol, max_iter, warm_start, n_samples, epsilon, neighbours, accuracy, rng):
        """loss 'w1': additively weighted cells on a quadrature (:mod:`.apollonius`), any dimension."""
        from .apollonius import ApolloniusSolver  # noqa: PLC0415  (numba kernels compiled on first use)

        if self.path_option in ("exact2d", "exact3d"):
            raise ValueError(f"path: {self.path_option!r} exists only for loss 'w2'; loss 'w1' takes path "
                             "'sampled' (the Apollonius cells of a quadrature) for every density")
        if accuracy is not None:
            raise ValueError("accuracy: only used by loss 'w2' on path='sampled'; for loss 'w1' set n_samples")
        self.path = "sampled_w1"
        self.tol = DEFAULT_TOL["sampled"] if tol is None else check_real(tol, "tol", positive=True)
        self.max_iter = check_int(DEFAULT_MAX_ITER_W1 if max_iter is None else max_iter, "max_iter", minimum=1)
        self.warm_start = bool(warm_start)
        self.rng = as_rng(rng)
        self._quad = ApolloniusSolver(self.target, rng=self.rng, n_samples=n_samples, epsilon=epsilon,
                                      max_candidates=neighbours)
        self.reset()

    def reset(self):
        """Forget the warm-start state."""
        self._last = None  # (sites, psi, centroids) of the previous solve (w1: drifts instead of centroids)

    def _predict(self, sites):
        """Warm-start duals for new sites, or None."""
        if not self.warm_start or self._last is None:
            return None
        old_sites, psi, targets = self._last
        if old_sites.shape != sites.shape:
            return None
        old = np.einsum("ij,ij->i", targets - old_sites, targets - old_sites)
        new = np.einsum("ij,ij->i", targets - sites, targets - sites)
        return psi + 0.5 * (new - old)

    def solve(self, cloud):
        start = time.perf_counter()
        x, a = cloud.points, cloud.weights
        if x.shape[1] != self.target.dim:
            raise ValueError(f"src: has dimension {x.shape[1]}, the density has dimension {self.target.dim}")
        if np.any(a <= 0):
            raise ValueError("src: method='semidiscrete' needs positive particle weights "
                             f"({int(np.count_nonzero(a <= 0))} are zero)")
        sites, w, inverse = _unique_sites(x, a)
        if self.loss.name == "w1":
            return self._solve_w1(x, sites, w, inverse, start)
        psi0 = self._predict(sites)
        if self.path != "sampled":
            diagram = make_diagram(sites, w, self.target)
            psi, cells, info = solve_cells(diagram, w, self.tol, self.max_iter, psi0)
            if cells is None:  # no admissible start at all: report it with the sites as targets
                mass, centroids, cost = np.zeros_like(w), sites.copy(), 0.0
                info["cell_variance"] = np.zeros_like(w)
            else:
                cells = diagram.complete(psi, cells)
                mass, centroids, cost = cells.mass, cells.centroids(sites), float(cells.cost.sum())
                info["cell_variance"] = diagram.cell_variance(psi, cells, centroids)
        else:
            psi, mass, centroids, cost, info = self._quad.solve(sites, w, self.tol, self.max_iter, psi0)
        success = info["status"] == "optimal"
        self._last = (sites.copy(), psi.copy(), centroids.copy()) if success else None
        if inverse is not None:
            psi, centroids = psi[inverse], centroids[inverse]
            # a shared cell's variance, split in proportion to the weights
            info["cell_variance"] = info["cell_variance"][inverse] * (a / w[inverse])
        info.update({
            "method": "semidiscrete",
            "path": self.path,
            "warm": "cold" if psi0 is None else "warm",
            "tol": self.tol,
            "max_iter": self.max_iter,
            "support_size": int(sites.shape[0]),
            "min_mass_ratio": float(np.min(mass / w)),
        })
        info["message"] = _message(info)
        info["seconds"] = time.perf_counter() - start
        return KantorovichResult(cost=cost, f=psi, g=None, plan=None, targets=centroids,
                                 drift=centroids - x, info=info, loss="w2")

    def _solve_w1(self, x, sites, w, inverse, start):
        """loss 'w1': duals, drifts (mean unit vectors over the cells), W1, targets (the cells' medians)."""
        psi0 = None
        if self.warm_start and self._last is not None and self._last[0].shape == sites.shape:
            psi0 = self._quad.predict(self._last[0], self._last[1], sites)
        psi, mass, drift, cost, info = self._quad.solve(sites, w, self.tol, self.max_iter, psi0)
        medians = info.pop("targets")
        success = info["status"] == "optimal"
        self._last = (sites.copy(), psi.copy(), drift.copy()) if success else None
        if inverse is not None:
            psi, drift, medians = psi[inverse], drift[inverse], medians[inverse]
        info.update({"method": "semidiscrete", "path": self.path, "warm": info["start"],
                     "tol": self.tol, "max_iter": self.max_iter, "support_size": int(sites.shape[0]),
                     "min_mass_ratio": float(np.min(mass / w))})
        info["message"] = _message(info)
        if success and info["hard_mass_error"] > HARD_WARNING * info["quadrature_error"]:
            info["message"] += (f"; the unsmoothed cells of these duals hold their mass only to "
                                f"{info['hard_mass_error']:.2g} (relative) on the quadrature: many particles "
                                "nearly tie (clustered or far from the density), see the apollonius module")
        info["seconds"] = time.perf_counter() - start
        return KantorovichResult(cost=cost, f=psi, g=None, plan=None, targets=medians, drift=drift, info=info,
                                 loss="w1")


def _message(info) -> str:
    status, err, tol = info["status"], info["max_mass_error"], info["tol"]
    if status == "optimal":
        return f"converged: max relative cell-mass error {err:.2e} <= tol {tol:.1e} ({info['iterations']} Newton iterations)"
    if status == "max_iter_reached":
        return (f"not converged: max relative cell-mass error {err:.2e} > tol {tol:.1e} after max_iter = "
                f"{info['max_iter']} Newton iterations")
    if status == "stalled":
        return (f"not converged: the damped Newton step could not reduce the mass error {err:.2e} (> tol "
                f"{tol:.1e}); tol may be below the attainable precision")
    return f"not converged ({status}): max relative cell-mass error {err:.2e}"
