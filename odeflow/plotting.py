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
