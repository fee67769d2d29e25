"""Kantorovich potentials between a particle cloud and a target: one entry point, several methods.

``kantorovich(src, tgt, loss, method)`` is the one-shot call; :func:`make_solver` returns the solver
object behind it, which :func:`odeflow.simulate` calls once per step (keeping warm-start state).

Methods
-------
``"exact"``         discrete target, any dimension: POT's network simplex (:mod:`.exact`); along a
                    trajectory the previous plan is reused while a dual certificate shows it optimal
                    (:mod:`.warm`)
``"onedim"``        discrete target, d = 1: sorting (:mod:`.onedim`)
``"semidiscrete"``  density target (w2): Laguerre cells, exact in 2-D for boxes and images, sampled
                    otherwise (:mod:`.semidiscrete`)
``"auto"``          ``"onedim"`` for d = 1 clouds, ``"exact"`` for other clouds, and the density method
                    for density targets when one is registered
"""

from __future__ import annotations

import numpy as np

from .._checks import as_rng, check_choice, check_int
from ..losses import Loss, get_loss
from ..measures import Cloud, Density, as_cloud, as_measure
from .exact import DEFAULT_MAX_ITER, solve_exact
from .onedim import solve_onedim
from .result import KantorovichResult
from .warm import make_state, repair_budget, try_reuse

__all__ = ["KantorovichResult", "PotentialSolver", "kantorovich", "make_solver", "wasserstein", "METHODS"]


class PotentialSolver:
    """Solves the Kantorovich problem against one fixed target, repeatedly (one call per flow stage).

    Subclasses set ``name`` and ``target_kind`` (``"cloud"`` or ``"density"``), accept their options
    as keyword arguments, and implement :meth:`solve`. State kept between calls (warm starts) lives
    on the instance; :meth:`reset` forgets it.
    """

    name = "?"
    target_kind = "cloud"
    #: True when the method draws random numbers; it then receives ``rng`` (a Generator).
    uses_rng = False

    def __init__(self, target, loss: Loss):
        self.target = target
        self.loss = loss

    def solve(self, cloud: Cloud) -> KantorovichResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:
        """Forget any warm-start state."""

    def __call__(self, cloud: Cloud) -> KantorovichResult:
        return self.solve(cloud)


class ExactSolver(PotentialSolver):
    """POT network simplex, warm-started along a trajectory.

    Options: ``max_iter`` (int, default 10^7); ``warm_start`` (bool, default True): reuse the previous
    call's plan when a dual certificate shows it is still optimal (:mod:`.warm`), else re-solve.
    ``info["warm"]`` says which path a call took: ``"cold"`` (no usable previous solve),
    ``"reused"`` or ``"resolved"`` (the previous plan was not certified).
    """

    name = "exact"

    def __init__(self, target, loss, *, max_iter: int = DEFAULT_MAX_ITER, warm_start: bool = True):
        super().__init__(target, loss)
        self.max_iter = check_int(max_iter, "max_iter", minimum=1)
        if not isinstance(warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start: expected a bool, got {type(warm_start).__name__}")
        self.warm_start = bool(warm_start)
        self._state = None

    def reset(self):
        self._state = None

    def solve(self, cloud):
        attempt = None
        if self._state is not None:
            attempt = try_reuse(self._state, cloud.points, cloud.weights, self.target, self.loss,
                                max_scans=repair_budget(cloud.n, self.target.n))
            if attempt.result is not None:
                return attempt.result
        warm = attempt is not None and attempt.duals_init is not None
        result = solve_exact(cloud, self.target, self.loss, max_iter=self.max_iter,
                             duals_init=attempt.duals_init if warm else None)
        result.info["warm"] = "resolved" if warm else "cold"
        if attempt is not None:
            result.info.update(attempt.info)
            result.info["seconds"] += attempt.info["check_seconds"]
        if self.warm_start and result.success:
            self._state = make_state(cloud.points, cloud.weights, result)
        else:
            self._state = None
        return result


class OnedimSolver(PotentialSolver):
    """Sorting in one dimension; no options."""

    name = "onedim"

    def solve(self, cloud):
        return solve_onedim(cloud, self.target, self.loss)


#: name -> solver class; new methods register here.
METHODS: dict[str, type[PotentialSolver]] = {"exact": ExactSolver, "onedim": OnedimSolver}

from .semidiscrete import SemidiscreteSolver  # noqa: E402  (subclasses PotentialSolver, defined above)

METHODS["semidiscrete"] = SemidiscreteSolver


def _resolve_method(method: str, dim: int, target) -> str:
    check_choice(method, "method", set(METHODS) | {"auto"})
    is_density = isinstance(target, Density)
    if method == "auto":
        if is_density:
            if "semidiscrete" not in METHODS:
                raise ValueError("method: no method for density targets is available")
            return "semidiscrete"
        return "onedim" if dim == 1 else "exact"
    kind = METHODS[method].target_kind
    if is_density and kind != "density":
        raise ValueError(f"method: {method!r} needs a Cloud target, got a density; use method='semidiscrete'")
    if not is_density and kind == "density":
        raise ValueError(f"method: {method!r} needs a density target, got a Cloud; use method='exact'")
    if method == "onedim" and dim != 1:
        raise ValueError(f"method: 'onedim' needs one-dimensional points, got dimension {dim}; use 'exact'")
    return method


def make_solver(dim: int, tgt, loss="w2", method="auto", *, rng=None, **options) -> PotentialSolver:
    """Build the solver for particles of dimension ``dim`` against ``tgt`` (validated).

    Parameters
    ----------
    dim : int
        Dimension of the particles.
    tgt : Cloud, Density or (m, d) array
    loss : {"w2", "w1"}
    method : {"auto", "exact", "onedim", ...}
    rng : int or numpy.random.Generator, optional
        Passed (as a Generator) to methods that sample; ignored by the others.
    **options
        Method options (e.g. ``max_iter`` for ``"exact"``); an unknown one raises TypeError.

    Examples
    --------
    >>> import odeflow as of
    >>> solver = make_solver(2, of.Cloud([[1.0, 1.0]]), loss="w2", method="exact")
    >>> solver(of.Cloud([[0.0, 0.0]])).drift.tolist()
    [[1.0, 1.0]]
    """
    tgt = as_measure(tgt, "tgt")
    loss = get_loss(loss)
    if tgt.dim != dim:
        raise ValueError(f"tgt: has dimension {tgt.dim}, the particles have dimension {dim}")
    name = _resolve_method(method, dim, tgt)
    cls = METHODS[name]
    rng = as_rng(rng)
    if cls.uses_rng:
        options["rng"] = rng
    try:
        return cls(tgt, loss, **options)
    except TypeError as exc:
        raise TypeError(f"options: {exc}") from None


def kantorovich(src, tgt, loss="w2", method="auto", *, rng=None, **options) -> KantorovichResult:
    """Kantorovich potential, optimal plan, cost and drift from ``src`` to ``tgt``.

    Parameters
    ----------
    src : Cloud or (n, d) array
        The particles (the model law).
    tgt : Cloud, Density or (m, d) array
        The data law.
    loss : {"w2", "w1"}
        ``"w2"``: cost ``1/2 |x-y|^2``, result cost ``1/2 W2^2``; ``"w1"``: cost ``|x-y|``, cost ``W1``.
    method : {"auto", "exact", "onedim", "semidiscrete"}
        See the module docstring.
    rng : int or numpy.random.Generator, optional
        Randomness for methods that sample (the semi-discrete quadrature).
    **options
        Passed to the method (``max_iter`` for exact; ``tol`` etc. for semidiscrete).

    Returns
    -------
    KantorovichResult
        ``cost, f, g, plan, targets, drift, info``. Check ``info["status"]`` (or ``.success``): a
        solver that stopped early says so there.

    Examples
    --------
    >>> import odeflow as of
    >>> pot = of.kantorovich([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], loss="w2")
    >>> round(pot.cost, 12), pot.drift.tolist()
    (0.5, [[0.0, 1.0], [0.0, 1.0]])
    """
    src = as_cloud(src, "src")
    return make_solver(src.dim, tgt, loss, method, rng=rng, **options).solve(src)


def wasserstein(a, b, p=2, **options) -> float:
    """Exact Wasserstein distance ``W_p`` between two clouds (p = 1 or 2).

    Uses sorting in one dimension and the network simplex otherwise.

    Examples
    --------
    >>> import odeflow as of
    >>> of.wasserstein([[0.0], [1.0]], [[3.0], [4.0]], p=2)
    3.0
    """
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"p: must be 1 or 2, got {p!r}")
    a = as_cloud(a, "a")
    b = as_cloud(b, "b")
    pot = kantorovich(a, b, loss=f"w{p}", method="auto", **options)
    if not pot.success:
        raise RuntimeError(f"wasserstein: the solver did not reach optimality: {pot.info['message']}")
    return pot.distance
