"""What every potential method shares: the solver protocol, the result type and its diagnostics.

Every method (``exact``, ``onedim``, ``semidiscrete`` and any later one) is a :class:`PotentialSolver`
subclass whose :meth:`~PotentialSolver.solve` returns a :class:`KantorovichResult`. Its ``info`` is a
:class:`SolveInfo`: one read-only mapping with the same keys on every method (see :data:`COMMON_KEYS`)
and the same status word for the same outcome (:data:`STATUSES`). A solve that stops short is not an
exception: it returns a result with ``success=False``. Functions that promise a number (such as
:func:`odeflow.wasserstein` and the studies) turn such a result into a :class:`SolveError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Keys present in every ``KantorovichResult.info``.
COMMON_KEYS = {
    "method": "the method's registered name (``exact``, ``onedim``, ``semidiscrete``, ...)",
    "path": "which algorithm of the method ran (``network_simplex``, ``monotone``, ``exact2d``, ``sampled``, ...)",
    "status": "one word of :data:`STATUSES`",
    "success": "``status == 'optimal'``",
    "message": "one human-readable sentence",
    "iterations": "int: iterations of the method's main loop (0 for closed forms; -1 when the backend hides it)",
    "seconds": "wall-clock seconds of the solve",
    "warm": "how the solve started: ``cold``, ``warm`` (from the previous call's duals), ``reused`` (the "
            "previous plan certified optimal again) or ``resolved`` (re-solved from the previous duals)",
    "support_size": "number of (particle, target piece) pairs carrying mass: non-zeros of the plan for "
                    "clouds, distinct particle sites (cells) for densities",
}

#: Status words. ``optimal`` is the only successful one, on every method.
STATUSES = {
    "optimal": "solved to the method's optimality criterion (exact LP optimum, or ``tol`` met)",
    "max_iter_reached": "the iteration cap stopped the solver before optimality",
    "stalled": "the line search could not make progress (``tol`` may be below attainable precision)",
    "numerical_failure": "a non-finite value appeared (singular Newton system)",
    "no_admissible_start": "no starting point with every cell non-empty was found",
    "infeasible": "the LP was reported infeasible",
    "unbounded": "the LP was reported unbounded",
}


class SolveInfo(Mapping):
    """Read-only diagnostics of one solve: the :data:`COMMON_KEYS` plus documented method extras.

    Built once by the solver; ``success`` is derived from ``status``. Use :meth:`replace` to get a
    modified copy.

    Examples
    --------
    >>> info = SolveInfo(method="onedim", path="monotone", status="optimal", message="optimal",
    ...                  iterations=0, seconds=0.0, warm="cold", support_size=3)
    >>> info["success"], info.replace(seconds=1.5)["seconds"]
    (True, 1.5)
    """

    __slots__ = ("_data",)

    def __init__(self, **entries):
        entries.pop("success", None)
        missing = sorted(set(COMMON_KEYS) - {"success"} - set(entries))
        if missing:
            raise ValueError(f"info: missing diagnostics {missing} (method {entries.get('method')!r})")
        status = entries["status"]
        if status not in STATUSES:
            raise ValueError(f"info: status must be one of {sorted(STATUSES)}, got {status!r}")
        it = entries["iterations"]
        if isinstance(it, bool) or not isinstance(it, (int, np.integer)):
            raise TypeError(f"info: iterations must be an int, got {type(it).__name__}")
        entries["iterations"] = int(it)
        entries["success"] = status == "optimal"
        object.__setattr__(self, "_data", entries)

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __setattr__(self, name, value):
        raise AttributeError("SolveInfo is read-only; use .replace(...)")

    def replace(self, **changes) -> SolveInfo:
        """A copy with ``changes`` applied."""
        return SolveInfo(**{**self._data, **changes})

    def __repr__(self) -> str:
        return f"SolveInfo({self._data!r})"


class SolveError(RuntimeError):
    """A potential solve stopped short where a number was promised; the message is the solver's."""


@dataclass(frozen=True, repr=False)
class KantorovichResult:
    """A Kantorovich potential between a particle cloud and a target, with everything derived from it.

    Attributes
    ----------
    cost : float
        Optimal transport cost: ``1/2 W2^2`` for w2, ``W1`` for w1.
    f : ndarray, shape (n,)
        Dual on the particles (for density targets: the semi-dual ``psi``).
    g : ndarray, shape (m,) or None
        Dual on the target points (None for density targets).
    plan : scipy.sparse.csr_array, shape (n, m), or None
        Optimal plan for discrete targets (only its non-zero entries are stored).
    targets : ndarray, shape (n, d)
        Barycentric targets ``T_i = sum_j pi_ij y_j / a_i`` (cell centroids for densities).
    drift : ndarray, shape (n, d)
        ``-grad phi`` at the particles: ``T_i - x_i`` for w2, the plan-weighted mean of unit vectors for w1.
    info : SolveInfo
        Solver diagnostics (a read-only mapping; a plain dict given here is converted). A result built
        by hand (``info`` missing, or without a ``method``) gets ``method="given"``, status ``"optimal"``:
        no solver ran.
    loss : str
        ``"w2"`` or ``"w1"``.

    Examples
    --------
    >>> import odeflow as of
    >>> pot = of.kantorovich([[0.0, 0.0]], [[3.0, 4.0]])
    >>> pot.distance, pot.success, pot.info["status"]
    (5.0, True, 'optimal')
    """

    cost: float
    f: np.ndarray
    g: np.ndarray | None
    plan: object
    targets: np.ndarray
    drift: np.ndarray
    info: SolveInfo = None
    loss: str = "w2"

    def __post_init__(self):
        info = self.info
        if not isinstance(info, SolveInfo):
            info = dict(info or {})
            if "method" not in info:  # built by hand, not by a solver
                info = {"method": "given", "path": "given", "status": "optimal",
                        "message": "constructed directly; no solver ran", "iterations": 0, "seconds": 0.0,
                        "warm": "cold", "support_size": int(np.shape(self.f)[0]), **info}
            object.__setattr__(self, "info", SolveInfo(**info))

    @property
    def distance(self) -> float:
        """The Wasserstein distance: ``sqrt(2 cost)`` for w2, ``cost`` for w1."""
        return float(np.sqrt(max(2.0 * self.cost, 0.0))) if self.loss == "w2" else float(self.cost)

    @property
    def success(self) -> bool:
        """True when the solver reported ``status == "optimal"``."""
        return bool(self.info["success"])

    def raise_for_status(self, what: str) -> KantorovichResult:
        """Return ``self`` if the solve succeeded, else raise :class:`SolveError` naming ``what``."""
        if not self.success:
            raise SolveError(f"{what}: the {self.info['method']} solver stopped short "
                             f"({self.info['status']}): {self.info['message']}")
        return self

    def __repr__(self) -> str:
        n = self.f.shape[0]
        m = "density" if self.g is None else self.g.shape[0]
        return (
            f"KantorovichResult(loss={self.loss!r}, method={self.info['method']!r}, n={n}, m={m}, "
            f"cost={self.cost:.6g}, distance={self.distance:.6g}, status={self.info['status']!r})"
        )


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

    def __init__(self, target, loss):
        self.target = target
        self.loss = loss

    def solve(self, cloud) -> KantorovichResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:
        """Forget any warm-start state."""

    def __call__(self, cloud) -> KantorovichResult:
        return self.solve(cloud)
