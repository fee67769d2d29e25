"""The one entry point to every potential method: the registry, :func:`make_solver`, :func:`kantorovich`.

A method is a :class:`~odeflow.potentials.base.PotentialSolver` subclass registered in :data:`METHODS`
under its ``name``. ``"auto"`` picks ``"onedim"`` for one-dimensional clouds, ``"exact"`` for other
clouds and ``"semidiscrete"`` for densities.
"""

from __future__ import annotations

from .._checks import as_rng, check_choice
from ..losses import get_loss
from ..measures import Density, as_cloud, as_measure
from .base import KantorovichResult, PotentialSolver
from .entropic import EntropicSolver
from .exact import ExactSolver
from .onedim import OnedimSolver
from .semidiscrete import SemidiscreteSolver

#: name -> solver class; new methods register here.
METHODS: dict[str, type[PotentialSolver]] = {
    "exact": ExactSolver,
    "onedim": OnedimSolver,
    "semidiscrete": SemidiscreteSolver,
    "entropic": EntropicSolver,
}


def _resolve_method(method: str, dim: int, target) -> str:
    check_choice(method, "method", set(METHODS) | {"auto"})
    is_density = isinstance(target, Density)
    if method == "auto":
        if is_density:
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

    Uses sorting in one dimension and the network simplex otherwise. Raises
    :class:`~odeflow.potentials.base.SolveError` if the solver stops short.

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
    return kantorovich(a, b, loss=f"w{p}", method="auto", **options).raise_for_status("wasserstein").distance
