"""Figures (matplotlib's object API only: no pyplot state, safe on machines without a display)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def _scatter(ax, pts, **kw):
    ax.scatter(pts[:, 0], pts[:, 1] if pts.shape[1] > 1 else np.zeros(len(pts)), s=3, **kw)


def flow_figure(runs, target_points=None, n_snapshots=4, reference_rate=None, references=None) -> Figure:
    """Snapshots of one or more 2-D flows, plus their distance against time on a log axis.

    Parameters
    ----------
    runs : dict[str, SimulationResult]
        Label -> result; one row of snapshots per run.
    target_points : (M, 2) array, optional
        Drawn in grey behind every snapshot.
    n_snapshots : int
        Snapshots per run, evenly spaced over the recorded times.
    reference_rate : dict[str, float], optional
        Label -> rate r: draws ``distance(0) e^{-r t}`` beside that run's curve (r = 1 for w2).
    references : dict[str, list of (name, t, values)], optional
        Label -> further theoretical curves drawn on that run's distance panel.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import odeflow as of
    >>> from odeflow.plotting import flow_figure
    >>> res = of.simulate([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], h=0.5, t_end=1.0, progress=False)
    >>> fig = flow_figure({"w2": res}, reference_rate={"w2": 1.0})
    """
    reference_rate = reference_rate or {}
    references = references or {}
    n_rows = len(runs)
    fig = Figure(figsize=(3.0 * (n_snapshots + 1.4), 3.0 * n_rows), layout="constrained")
    grid = fig.add_gridspec(n_rows, n_snapshots + 1, width_ratios=[1] * n_snapshots + [1.4])
    for row, (label, res) in enumerate(runs.items()):
        picks = np.unique(np.linspace(0, res.t.size - 1, n_snapshots).round().astype(int))
        for col, k in enumerate(picks):
            ax = fig.add_subplot(grid[row, col])
            if target_points is not None:
                _scatter(ax, target_points, color="0.8", label="target")
            _scatter(ax, res.points[k], color="C0" if row == 0 else "C1")
            ax.set_title(f"{label}, t = {res.t[k]:.2f}", fontsize=9)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        ax = fig.add_subplot(grid[row, n_snapshots])
        positive = res.distance > 0
        ax.semilogy(res.t[positive], res.distance[positive], "o-", ms=2, label=f"{label} (particles)")
        if label in reference_rate:
            r = reference_rate[label]
            ax.semilogy(res.t, res.distance[0] * np.exp(-r * res.t), "k--", label=f"$d_0 e^{{-{r:g}t}}$")
        for style, (name, t, values) in zip([":", "-.", "--"], references.get(label, [])):
            keep = np.asarray(values) > 0
            ax.semilogy(np.asarray(t)[keep], np.asarray(values)[keep], "k" + style, label=name)
        ax.set_xlabel("t")
        ax.set_ylabel("W2" if res.info.get("loss") == "w2" else "W1")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def save(fig: Figure, numbers: dict, stem) -> tuple[str, str]:
    """Write ``fig`` to ``<stem>.png`` and the numbers it shows to ``<stem>.json`` (sorted keys).

    NumPy arrays and scalars in ``numbers`` are converted to lists and floats.

    >>> import tempfile, os
    >>> from matplotlib.figure import Figure
    >>> d = tempfile.mkdtemp()
    >>> png, js = save(Figure(), {"x": [1.0]}, os.path.join(d, "empty"))
    >>> os.path.exists(png) and os.path.exists(js)
    True
    """
    import json
    import os

    stem = os.fspath(stem)
    os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
    png, js = stem + ".png", stem + ".json"
    fig.savefig(png, dpi=110, metadata={"Software": None})
    with open(js, "w") as fh:
        json.dump(_jsonable(numbers), fh, indent=1, sort_keys=True)
        fh.write("\n")
    return png, js


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj


# --- persistence ---------------------------------------------------------------------------------


def persistence_figure(sweeps, title=None) -> Figure:
    """One row per :class:`~odeflow.persistence.PersistenceSweep`: distance against potential solves
    for frozen targets and for naive persistence, then the effective step against ``K``.

    In the first two panels solid lines are the runs, dotted lines the prediction of
    :meth:`~odeflow.persistence.PersistenceSweep.predicted_curve` (w2: ``W2_0 |1-s|^n``; w1:
    ``W1_0 - n s`` until the first arrival); the top axis is the flow time ``t = n h``. The third panel
    shows the measured effective step (markers) against ``h(1-(1-eta)^K)`` and ``K eta h`` (lines).

    Parameters
    ----------
    sweeps : dict[str, PersistenceSweep]
        Row label -> sweep.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import odeflow as of
    >>> from odeflow.persistence import sweep
    >>> sw = sweep([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], ks=(1, 4), h=0.5, t_end=1.0,
    ...            progress=False)
    >>> fig = persistence_figure({"toy": sw})
    """
    from ..studies.persistence import predicted_step

    n_rows = len(sweeps)
    fig = Figure(figsize=(14.0, 3.3 * n_rows + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, 3, squeeze=False)
    for row, (label, sw) in enumerate(sweeps.items()):
        name = "W2" if sw.loss == "w2" else "W1"
        colors = {k: _cmap(i, len(sw.ks)) for i, k in enumerate(sw.ks)}
        for col, mode in enumerate(("targets", "naive")):
            ax = axes[row, col]
            if mode not in sw.modes:
                ax.set_visible(False)
                continue
            d0 = None
            for k in sw.ks:
                res = sw.results[(mode, k)]
                n = np.arange(res.t.size)
                d0 = res.distance[0]
                s = predicted_step(k, sw.eta, sw.h, mode)
                passes = ", passes targets" if sw.loss == "w2" and s > 1 else ""
                _semilogy_positive(ax, n, res.distance, "-o", color=colors[k], ms=2.5,
                                   label=f"K={k}  ($s$={s:.3g}{passes})")
                _semilogy_positive(ax, n, sw.predicted_curve(mode, k), ":", color=colors[k], lw=1.5)
            res = sw.results[(mode, sw.ks[0])]
            n = np.arange(res.t.size)
            ax.axhline(d0, color="0.5", lw=0.8)
            if sw.loss == "w2" and mode == "targets":
                ax.semilogy(n, d0 * (1 - sw.h) ** n, "k--", lw=1, label="full Euler $(1-h)^n$")
                ax.semilogy(n, d0 * np.exp(-sw.h * n), "k-.", lw=1, label="exact flow $e^{-t}$")
            kind = "frozen targets" if mode == "targets" else "naive (stale drift)"
            ax.set_title(f"{label}: {kind}", fontsize=9)
            ax.set_xlabel("potential solves n (one per step, any K)")
            ax.set_ylabel(f"{name} to target")
            top = ax.secondary_xaxis("top", functions=(lambda x, h=sw.h: x * h, lambda t, h=sw.h: t / h))
            top.set_xlabel("t = n h", fontsize=8)
            top.tick_params(labelsize=7)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="lower left")
        ax = axes[row, 2]
        kk = np.geomspace(min(sw.ks), max(sw.ks), 200)
        rows = sw.table()
        for mode, marker, style in (("targets", "o", "-"), ("naive", "s", "--")):
            if mode not in sw.modes:
                continue
            line = (sw.h * (1 - (1 - sw.eta) ** kk)) if mode == "targets" else kk * sw.eta * sw.h
            ax.plot(kk, line, "k" + style, lw=1, label=f"predicted ({mode})")
            mine = [r for r in rows if r["mode"] == mode]
            ax.plot([r["k"] for r in mine], [r["measured_step"] for r in mine], marker, ls="none",
                    color="C3" if mode == "naive" else "C0", ms=6, mfc="none", label=f"measured ({mode})")
        ax.axhline(sw.h, color="C2", lw=1, label=f"full Euler step h = {sw.h:g}")
        if sw.loss == "w2":
            ax.axhline(1.0, color="C3", lw=1, ls=":", label="s = 1: lands on the targets")
            ax.axhline(2.0, color="C3", lw=0.8, ls="-.", label="s = 2: W2 grows")
            ax.set_ylabel("effective step s (fraction of the way to the target)")
        else:
            reach = np.linalg.norm(sw.initial.targets - sw.results[(sw.modes[0], sw.ks[0])].points[0], axis=1)
            ax.axhline(reach.min(), color="C3", lw=1, ls=":", label="nearest particle's distance to its target")
            ax.set_ylabel("effective step s (distance moved per step)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("K (persistent moves per solve)")
        ax.set_title(f"{label}: step per solve, eta = {sw.eta:g}, h = {sw.h:g}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_ylim(0.12 * min(r["predicted_step"] for r in rows), 2.0 * max(2.0, max(r["measured_step"] for r in rows)))
        ax.legend(fontsize=6.5, loc="lower right", ncol=2)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _cmap(i, n):
    from matplotlib import colormaps

    return colormaps["viridis"](0.9 * i / max(n - 1, 1))


def _semilogy_positive(ax, x, y, fmt, **kw):
    """``semilogy`` of the finite positive entries only (log axes cannot show 0 or NaN)."""
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(y) & (y > 0)
    if np.any(keep):
        ax.semilogy(np.asarray(x)[keep], y[keep], fmt, **kw)


# --- snapshot grids ------------------------------------------------------------------------------


def nearest_record(result, t) -> int:
    """Index of the recorded time of ``result`` nearest to ``t``.

    >>> import odeflow as of
    >>> res = of.simulate([[0.0]], [[1.0]], h=0.25, t_end=1.0, progress=False)
    >>> nearest_record(res, 0.6)
    2
    """
    return int(np.argmin(np.abs(np.asarray(result.t) - float(t))))


def snapshot_grid(rows, snapshots, target_points=None, curves=None, curve_title=None, point_size=2.0) -> Figure:
    """A grid of particle snapshots, one row per problem, plus an optional log-scale curve panel per row.

    Parameters
    ----------
    rows : dict[str, dict[str, SimulationResult]]
        Row label -> {run label -> result} (e.g. ``{"ring8": {"w2": res2, "w1": res1}}``).
    snapshots : list of (run label, t)
        The columns: which run of the row to draw, at the recorded time nearest ``t``.
    target_points : dict[str, (M, 2) array], optional
        Row label -> target points, drawn in grey behind that row's snapshots.
    curves : dict[str, list of (label, t, values, fmt)], optional
        Row label -> curves for a last panel with a log y axis (``fmt`` a matplotlib format string;
        non-positive and NaN values are skipped).
    curve_title : str, optional
        Title of every curve panel.
    point_size : float

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import odeflow as of
    >>> res = of.simulate([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], h=0.5, t_end=1.0, progress=False)
    >>> fig = snapshot_grid({"toy": {"w2": res}}, [("w2", 0.0), ("w2", 1.0)],
    ...                     curves={"toy": [("W2", res.t, res.distance, "o-")]})
    >>> len(fig.axes)
    3
    """
    if not rows:
        raise ValueError("rows: needs at least one row")
    if not snapshots:
        raise ValueError("snapshots: needs at least one (run label, t) column")
    target_points = target_points or {}
    n_rows, n_cols = len(rows), len(snapshots)
    extra = 1 if curves else 0
    fig = Figure(figsize=(1.95 * n_cols + 3.6 * extra, 2.0 * n_rows + 0.4), layout="constrained")
    grid = fig.add_gridspec(n_rows, n_cols + extra, width_ratios=[1] * n_cols + [1.9] * extra)
    for row_label, runs in rows.items():
        for run, _ in snapshots:
            if run not in runs:
                raise ValueError(f"snapshots: row {row_label!r} has no run {run!r} (it has {sorted(runs)})")
    for r, (row_label, runs) in enumerate(rows.items()):
        tgt = target_points.get(row_label)
        lim = _limits([res.points[nearest_record(res, t)] for run, t in snapshots
                       for res in [runs[run]]] + ([np.asarray(tgt)] if tgt is not None else []))
        for c, (run, t) in enumerate(snapshots):
            res = runs[run]
            k = nearest_record(res, t)
            ax = fig.add_subplot(grid[r, c])
            if tgt is not None:
                ax.scatter(tgt[:, 0], tgt[:, 1], s=point_size, color="0.82", lw=0)
            pts = res.points[k]
            ax.scatter(pts[:, 0], pts[:, 1], s=point_size, color=f"C{sorted(runs).index(run)}", lw=0)
            ax.set(xlim=lim[0], ylim=lim[1], xticks=[], yticks=[], aspect="equal")
            ax.set_title(f"{row_label} {run}, t = {res.t[k]:.2g}", fontsize=8)
        if curves and curves.get(row_label):
            ax = fig.add_subplot(grid[r, n_cols])
            for label, t, values, fmt in curves[row_label]:
                _semilogy_positive(ax, t, values, fmt, ms=2.5, label=label)
            ax.set_xlabel("t", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=6, ncol=2)
            if curve_title:
                ax.set_title(f"{row_label}: {curve_title}", fontsize=8)
    return fig


def _limits(clouds, pad=0.05):
    allpts = np.concatenate([np.asarray(c)[:, :2] for c in clouds])
    lo, hi = np.quantile(allpts, 0.002, axis=0), np.quantile(allpts, 0.998, axis=0)
    centre, half = (lo + hi) / 2, (1 + pad) * max(hi - lo) / 2
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


# --- animation -----------------------------------------------------------------------------------


# --- convergence figures -----------------------------------------------------------------------

def order_figure(panels, key="w2_sup", ylabel=None) -> Figure:
    """Error against step size on log-log axes, one panel per problem, with the fitted slopes printed.

    Parameters
    ----------
    panels : dict[str, dict[str, StepSizeStudy]]
        Panel title -> (label -> study). Each study's ``errors[key]`` is drawn against its ``hs``; where an
        order was fitted the line ``C h^p`` is drawn and ``p`` with its interval is printed; errors at
        rounding level (no fit) are drawn and labelled as such.
    key : str
        Which error curve (``"w2_sup"``, ``"w2_end"``, ``"distance_sup"``, ``"distance_end"``).
    ylabel : str, optional

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> from odeflow.convergence import step_size_study
    >>> from odeflow.plotting import order_figure
    >>> rng = np.random.default_rng(0)
    >>> st = step_size_study(rng.standard_normal((5, 2)), rng.standard_normal((5, 2)), hs=[0.4, 0.2, 0.1],
    ...                      t_end=1.0, reference="exact")
    >>> fig = order_figure({"equal-size": {"euler": st}})
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    fig = Figure(figsize=(4.6 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, studies) in zip(axes, panels.items()):
        all_h = set()
        for j, (label, st) in enumerate(studies.items()):
            color = f"C{j}"
            e = np.asarray(st.errors[key])
            all_h.update(np.asarray(st.hs).tolist())
            fit = st.fits.get(key)
            if fit is not None:
                hh = np.geomspace(st.hs.min(), st.hs.max(), 20)
                ax.loglog(hh, fit.constant * hh**fit.order, "-", color=color, lw=1.2)
                ax.loglog(st.hs, e, "o", color=color, ms=5,
                          label=f"{label}: p = {fit.order:.3f} [{fit.interval[0]:.3f}, {fit.interval[1]:.3f}]")
            else:
                ax.loglog(st.hs, e, "o:", color=color, ms=5, lw=1.0,
                          label=f"{label}: exact to rounding (max {e.max():.1e})")
        ax.xaxis.set_major_locator(FixedLocator(sorted(all_h)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{h:g}" for h in sorted(all_h)], fontsize=7.5)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step size h")
        ax.set_ylabel(ylabel or key.replace("_", " "))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7.5, loc="best", title="fitted order, 95% interval", title_fontsize=7.5)
    return fig


def decay_figure(studies, reference_rate=1.0, identity=None) -> Figure:
    """W2 against time (log axis) for several decay studies, with ``W2_0 e^{-t}``, the floors, the fitted
    rates, the energy-identity residual along each run, and the floor against N.

    Parameters
    ----------
    studies : dict[str, DecayStudy]
        Label -> study (labels like ``"N = 100"``); their ``info["n"]`` gives the floor panel's abscissa.
    reference_rate : float
        Draws ``W2_0 e^{-rate t}``.
    identity : dict[str, DecayStudy], optional
        Extra studies (e.g. the same problem at ``h/2``) drawn only on the identity panel.

    Examples
    --------
    >>> import numpy as np
    >>> from odeflow.convergence import decay_study
    >>> from odeflow.plotting import decay_figure
    >>> rng = np.random.default_rng(0)
    >>> st = decay_study(rng.standard_normal((5, 2)) + 5, 0.1 * rng.standard_normal((20, 2)), h=0.1, t_end=6.0)
    >>> fig = decay_figure({"N = 5": st})
    """
    fig = Figure(figsize=(14.0, 4.2), layout="constrained")
    ax_d, ax_i, ax_f = fig.subplots(1, 3)
    for j, (label, st) in enumerate(studies.items()):
        c = f"C{j}"
        ax_d.semilogy(st.t, st.distance, "-", color=c, lw=1.5,
                      label=f"{label}: rate {st.rate:.3f} [{st.rate_interval[0]:.3f}, {st.rate_interval[1]:.3f}]")
        ax_d.semilogy(st.t, np.sqrt(st.variance), ":", color=c, lw=1.0)
        ax_d.axvspan(*st.window, color=c, alpha=0.06)
        ax_d.axhline(st.floor, color=c, ls="--", lw=0.6)
    first = next(iter(studies.values()))
    ax_d.semilogy(first.t, first.distance[0] * np.exp(-reference_rate * first.t), "k--", lw=1.0,
                  label=f"$W_2(0)\\, e^{{-{reference_rate:g} t}}$")
    ax_d.set_ylim(bottom=0.3 * min(st.floor for st in studies.values()))
    ax_d.set_xlabel("t")
    ax_d.set_ylabel("W2 (solid), sqrt(V) (dotted), floor (dashed)")
    ax_d.set_title("W2 decay; shaded: fit window before the floor", fontsize=9)
    ax_d.grid(True, which="both", alpha=0.3)
    ax_d.legend(fontsize=7.5)

    both = dict(studies)
    both.update(identity or {})
    for j, (label, st) in enumerate(both.items()):
        c = f"C{j}"
        tm = st.t[:-1]
        ax_i.semilogy(tm, np.maximum(np.abs(st.identity_residual), 1e-17), "-", color=c, lw=1.0,
                      label=f"{label}, h = {st.info['h']:g}: max {st.identity_max:.1e}")
        if st.identity_euler_excess is not None:
            euler_term = np.diff(st.t) * st.kinetic[:-1] / (2 * st.distance[:-1] ** 2)
            ax_i.semilogy(tm, np.maximum(np.abs(st.identity_residual - euler_term), 1e-17), ":", color=c, lw=0.8)
    ax_i.set_ylim(1e-8, 1.0)
    ax_i.set_xlabel("t")
    ax_i.set_ylabel("|residual| / (2 W2^2)")
    ax_i.set_title("$d/dt\\,W_2^2 = -2W_2^2 + 2V$: forward-difference residual (solid)\n"
                   "dotted: what is left after Euler's own term $h\\,\\sum a_i|x_i-T_i|^2$", fontsize=9)
    ax_i.grid(True, which="both", alpha=0.3)
    ax_i.legend(fontsize=7, loc="upper right")

    ns = np.array([st.info["n"] for st in studies.values()], dtype=float)
    floors = np.array([st.floor for st in studies.values()])
    ax_f.loglog(ns, floors, "o-", label="floor (W2 at t_end)")
    from matplotlib.ticker import FixedLocator, NullLocator

    ax_f.xaxis.set_major_locator(FixedLocator(ns))
    ax_f.xaxis.set_minor_locator(NullLocator())
    ax_f.set_xticklabels([f"{n:g}" for n in ns])
    if ns.size >= 2:
        slope = np.polyfit(np.log(ns), np.log(floors), 1)[0]
        ax_f.text(0.05, 0.05, f"slope {slope:.2f}", transform=ax_f.transAxes, fontsize=9)
    ax_f.set_xlabel("particles N")
    ax_f.set_ylabel("floor")
    ax_f.set_title("quantization floor against N", fontsize=9)
    ax_f.grid(True, which="both", alpha=0.3)
    ax_f.legend(fontsize=8)
    return fig


def distance_figure(panels) -> Figure:
    """Distance curves against time, one panel per entry, each with any number of labelled curves.

    Parameters
    ----------
    panels : dict[str, dict]
        Title -> ``{"curves": [(label, t, values, style), ...], "ylabel": str, "log": bool}``.

    Examples
    --------
    >>> import numpy as np
    >>> from odeflow.plotting import distance_figure
    >>> t = np.linspace(0, 1, 5)
    >>> fig = distance_figure({"W1": {"curves": [("bound", t, 1 - t, "k--")], "ylabel": "W1"}})
    """
    fig = Figure(figsize=(5.0 * len(panels), 4.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, spec) in zip(axes, panels.items()):
        for label, t, values, style in spec["curves"]:
            values = np.asarray(values, dtype=float)
            if spec.get("log"):
                keep = values > 0
                ax.semilogy(np.asarray(t)[keep], values[keep], style, label=label, lw=1.2, ms=3)
            else:
                ax.plot(t, values, style, label=label, lw=1.2, ms=3)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t")
        ax.set_ylabel(spec.get("ylabel", ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7.5)
    return fig
