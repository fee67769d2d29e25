"""Persistence on particles: what K moves per potential solve do to a flow (docs/theory.rst §2).

The papers' "persistent training" fits the generator by K gradient steps toward targets frozen at one
critic solve. On particles there is no generator, so persistence changes exactly one thing: how far
along the frozen drift a particle moves per solve. With the drift ``v`` at the step's start the
displacement is ``s v``, where the *effective step* ``s`` is

* ``"targets"`` (frozen Euler targets ``z = x + h v``, K relaxation moves of rate eta):
  ``s = h (1 - (1-eta)^K)``; it grows with K toward the full Euler step ``h`` and never passes it;
* ``"naive"`` (K moves ``eta h v`` along the stale drift): ``s = K eta h``, unbounded in K.

For w2 the drift ends at the transport target, so ``s`` is the fraction of the way to the target:
``s > 1`` overshoots, which only the naive mode can do (once ``K eta h > 1``). On equal-size uniform
clouds a step multiplies W2 by exactly ``1 - s`` while ``0 <= s <= 1`` (the optimal assignment does not
change); past the target the particles are reflected through it and W2 is at most ``|1 - s|`` times the
old value (the assignment may change, and only lower the cost). For w1 the drift is a unit vector
and a step lowers W1 by exactly ``s`` until the first particle reaches its target.

:func:`sweep` runs the flows for several K in both modes from one start; :class:`PersistenceSweep`
holds them with the predictions to compare against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_choice, check_int, check_real, progress_bar
from ..measures import as_cloud, as_measure
from ..potentials import KantorovichResult, kantorovich
from ..simulate import SimulationResult, simulate, step_sizes

MODES = ("targets", "naive")


def predicted_step(k, eta, h, mode="targets") -> float:
    """Effective step ``s`` (displacement = ``s`` x drift) of one persistent Euler step.

    Parameters
    ----------
    k : int
        Number of persistent moves, >= 1.
    eta : float
        Rate of each move, in (0, 1].
    h : float
        Euler step, > 0.
    mode : {"targets", "naive"}

    Examples
    --------
    >>> predicted_step(4, 0.5, 0.3, "targets"), predicted_step(4, 0.5, 0.3, "naive")
    (0.28125, 0.6)
    """
    k = check_int(k, "k", minimum=1)
    eta = check_real(eta, "eta", positive=True, upper=1.0)
    h = check_real(h, "h", positive=True)
    check_choice(mode, "mode", set(MODES))
    if mode == "naive":
        return k * eta * h
    return h * (1.0 - (1.0 - eta) ** k)


def predicted_factor(k, eta, h, mode="targets") -> float:
    """Per-step W2 factor ``|1 - s|`` on equal-size uniform clouds (w2 loss).

    Exact while ``s <= 1``; past the target (naive mode, ``K eta h > 1``) an upper bound, since the
    reflected particles may be re-assigned at lower cost.

    >>> round(predicted_factor(16, 0.5, 0.3, "naive"), 12)
    1.4
    """
    return abs(1.0 - predicted_step(k, eta, h, mode))


def measured_steps(result: SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    """Effective step of every step of a run: the least-squares ``s_n`` in ``x_{n+1} - x_n = s_n v_n``.

    Parameters
    ----------
    result : SimulationResult
        A run recorded at every step (``record_every=1``).

    Returns
    -------
    steps : (T-1,) array
        ``s_n = sum_i a_i <x_{n+1,i} - x_{n,i}, v_{n,i}> / sum_i a_i |v_{n,i}|^2`` (NaN where the drift
        vanishes).
    residual : (T-1,) array
        ``max_i |x_{n+1,i} - x_{n,i} - s_n v_{n,i}|``: zero (to rounding) when every particle moved
        along its drift by the same multiple, as Euler with persistence does without clipping.

    Examples
    --------
    >>> import odeflow as of
    >>> res = of.simulate([[0.0, 0.0]], [[1.0, 0.0]], h=0.3, t_end=0.6, persistence=4,
    ...                   persistence_rate=0.5, persistence_mode="naive", progress=False)
    >>> s, r = measured_steps(res)
    >>> s.round(12).tolist(), float(r.max()) < 1e-12
    ([0.6, 0.6], True)
    """
    if not isinstance(result, SimulationResult):
        raise TypeError(f"result: expected a SimulationResult, got {type(result).__name__}")
    if result.info.get("record_every", 1) != 1:
        raise ValueError("result: measured_steps needs a run recorded at every step (record_every=1)")
    w = result.final.weights
    dx = np.diff(result.points, axis=0)
    v = result.drift[:-1]
    num = np.einsum("i,tij,tij->t", w, dx, v)
    den = np.einsum("i,tij,tij->t", w, v, v)
    steps = np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)
    resid = np.abs(dx - np.nan_to_num(steps)[:, None, None] * v).max(axis=(1, 2)) if dx.size else np.zeros(0)
    return steps, resid


@dataclass(repr=False)
class PersistenceSweep:
    """Flows from one start for several ``K`` in both persistence modes, with their predictions.

    Attributes
    ----------
    results : dict[(mode, k), SimulationResult]
    initial : KantorovichResult
        The potential at the start (its targets tell which particles a first step passes).
    loss : str
    h, eta, t_end : float
    ks : tuple of int
    modes : tuple of str
    """

    results: dict
    initial: KantorovichResult
    loss: str
    h: float
    eta: float
    t_end: float
    ks: tuple
    modes: tuple

    def predicted_curve(self, mode, k) -> np.ndarray:
        """The distance the theory predicts at the recorded times of run ``(mode, k)``.

        w2: ``W2_0 |1 - s|^n`` (exact while ``s <= 1``, an upper bound past it). w1: ``W1_0 - n s`` up
        to the last step before the first particle could reach its target, NaN after.
        """
        res = self.results[(mode, k)]
        s = predicted_step(k, self.eta, self.h, mode)
        n = np.arange(res.t.size)
        d0 = res.distance[0]
        if self.loss == "w2":
            return d0 * abs(1.0 - s) ** n
        reach = np.linalg.norm(self.initial.targets - res.points[0], axis=1).min()
        return np.where(n * s <= reach, d0 - n * s, np.nan)

    def table(self) -> list[dict]:
        """One row per run: predicted and measured effective step and first-step change, overshoot.

        Keys: ``mode, k, kappa`` (``K eta h``), ``predicted_step``, ``measured_step`` (mean over steps),
        ``step_spread`` (max - min of the per-step measurements), ``step_residual``,
        ``overshoot_fraction`` (mass whose first move is longer than its distance to its target),
        ``predicted_first`` and ``measured_first`` (w2: factor ``W2_1/W2_0``; w1: drop ``W1_0 - W1_1``),
        ``final_distance``, ``n_solves``.
        """
        rows = []
        for (mode, k), res in self.results.items():
            s_pred = predicted_step(k, self.eta, self.h, mode)
            steps, resid = measured_steps(res)
            sizes = step_sizes(self.h, self.t_end)[: steps.size]
            full = steps[np.isclose(sizes, self.h, rtol=1e-12, atol=0)]  # a shorter last step has another s
            full = full[np.isfinite(full)]  # (no drift left: every particle sits on its target)
            room = np.linalg.norm(self.initial.targets - res.points[0], axis=1)
            moved = np.linalg.norm(res.points[1] - res.points[0], axis=1) if res.t.size > 1 else np.zeros(len(room))
            over = float(res.final.weights @ (moved > room * (1 + 1e-9) + 1e-12))
            if self.loss == "w2":
                pred_first, meas_first = abs(1.0 - s_pred), res.distance[1] / res.distance[0]
            else:
                pred_first, meas_first = s_pred, res.distance[0] - res.distance[1]
            rows.append({
                "mode": mode, "k": k, "kappa": k * self.eta * self.h,
                "predicted_step": s_pred, "measured_step": float(np.mean(full)),
                "step_spread": float(np.ptp(full)), "step_residual": float(resid.max(initial=0.0)),
                "overshoot_fraction": over, "predicted_first": pred_first, "measured_first": float(meas_first),
                "final_distance": float(res.distance[-1]), "n_solves": res.n_solves,
            })
        return rows

    def __repr__(self) -> str:
        return (f"PersistenceSweep(loss={self.loss!r}, h={self.h:g}, eta={self.eta:g}, ks={list(self.ks)}, "
                f"modes={list(self.modes)}, runs={len(self.results)})")


def sweep(src, tgt, *, ks=(1, 2, 4, 8, 16), modes=MODES, eta=0.5, h=0.3, t_end=3.0, loss="w2",
          method="exact", progress=None, **options) -> PersistenceSweep:
    """Run persistent Euler flows for every ``K`` in ``ks`` and every mode, from the same start.

    Every step costs one potential solve whatever ``K`` is; runs are recorded at every step and
    without clipping, so :func:`measured_steps` applies.

    Parameters
    ----------
    src : Cloud or (N, d) array
    tgt : Cloud, Density or (M, d) array
    ks : sequence of int
        Persistence values, each >= 1.
    modes : sequence of {"targets", "naive"}
    eta, h, t_end : float
        Rate of each persistent move, Euler step, final time.
    loss : {"w2", "w1"}
    method : str
        Potential method (see :func:`odeflow.kantorovich`).
    progress : bool
        A tqdm bar over the runs.
    **options
        Passed to :func:`odeflow.simulate`'s potential method.

    Returns
    -------
    PersistenceSweep

    Examples
    --------
    >>> import odeflow as of
    >>> sw = sweep([[0.0, 0.0]], [[1.0, 0.0]], ks=(1, 4), h=0.5, t_end=1.0, progress=False)
    >>> [(r["mode"], r["k"], r["measured_step"]) for r in sw.table()]
    [('targets', 1, 0.25), ('targets', 4, 0.46875), ('naive', 1, 0.25), ('naive', 4, 1.0)]
    """
    src = as_cloud(src, "src")
    tgt = as_measure(tgt, "tgt")
    ks = tuple(check_int(k, "ks", minimum=1) for k in ks)
    modes = tuple(check_choice(m, "modes", set(MODES)) for m in modes)
    if not ks or not modes:
        raise ValueError("ks: and modes must both be non-empty")
    eta = check_real(eta, "eta", positive=True, upper=1.0)
    initial = kantorovich(src, tgt, loss=loss, method=method, **options)
    results = {}
    runs = [(mode, k) for mode in modes for k in ks]
    for mode, k in progress_bar(progress, iterable=runs, desc=f"persistence {loss}"):
        results[(mode, k)] = simulate(src, tgt, loss=loss, method=method, h=h, t_end=t_end, persistence=k,
                                      persistence_rate=eta, persistence_mode=mode, progress=False, **options)
    first = results[runs[0]]
    return PersistenceSweep(results=results, initial=initial, loss=first.info["loss"], h=first.info["h"],
                            eta=eta, t_end=first.info["t_end"], ks=ks, modes=modes)
