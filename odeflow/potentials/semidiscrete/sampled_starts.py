"""Starting duals for the sampled semi-discrete paths (:mod:`.sampled`; :mod:`.apollonius` uses :func:`emd_duals`).

``psi`` are the particles' duals: the cell of particle ``i`` holds the points ``y`` where
``|y - x_i|^2 / 2 - psi_i`` is smallest, i.e. where ``x_i . y - u_i`` is largest, ``u_i = |x_i|^2 / 2 - psi_i``.
"""

from __future__ import annotations

import math

import numpy as np


def emd_start(x, a, y, w):
    """Duals of the exact discrete problem between the particles ``(x, a)`` and the points ``(y, w)``.

    Each particle's cell then holds the points the optimal plan sends to it (at least one), whatever the
    particles' positions: a start with no empty cell. Returns ``(psi, note)``; ``psi`` is None when the
    network simplex did not finish (``note`` says why).

    >>> import numpy as np
    >>> psi, note = emd_start(np.array([[0.0], [0.1]]), np.full(2, 0.5), np.array([[5.0], [-5.0]]), np.full(2, 0.5))
    >>> note, bool(0.5 * (5.0 - 0.1) ** 2 - psi[1] <= 0.5 * 5.0 ** 2 - psi[0])  # x_1 wins y = 5
    ('emd', True)
    """
    M = 0.5 * ((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :]) - x @ y.T
    u, warning = emd_duals(a, w, M)
    if warning or u is None:
        return None, f"emd: {warning}"
    return u, "emd"


def emd_duals(a, w, M):
    """The particles' duals of the exact discrete problem ``(a, w, M)`` (POT's network simplex), centred so
    that ``a . u = 0``, or None when they are not finite; and POT's warning (None when it finished).

    >>> import numpy as np
    >>> u, warning = emd_duals(np.full(2, 0.5), np.full(2, 0.5), np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> warning is None, float(abs(np.full(2, 0.5) @ u)) < 1e-12
    (True, True)
    """
    import ot

    _, log = ot.emd(a, w, M, numItermax=50 * M.size + 100_000, log=True)
    u = np.asarray(log["u"], dtype=np.float64)
    return (u - a @ u if np.all(np.isfinite(u)) else None), log.get("warning")


def fit_start(x, a, y, w):
    """Duals whose cells are the Voronoi cells of the particles moved onto the points' mean and spread.

    With ``z_i = b + s x_i`` (``s`` the ratio of root-mean-square spreads, ``b`` matching the means):
    ``psi_i = (1 - s) |x_i|^2 / 2 - b . x_i``.

    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0]]); psi = fit_start(x, np.full(2, 0.5), np.array([[10.0], [14.0]]), np.full(2, 0.5))
    >>> [int(np.argmin(0.5 * (v - x[:, 0]) ** 2 - psi)) for v in (11.0, 13.0)]  # z = (10, 14): split at 12
    [0, 1]
    """
    mx, my = a @ x, w @ y
    sx = math.sqrt(float(a @ ((x - mx) ** 2).sum(1)))
    sy = math.sqrt(float(w @ ((y - my) ** 2).sum(1)))
    s = sy / sx if sx > 0 else 1.0
    b = my - s * mx
    psi = 0.5 * (1.0 - s) * (x * x).sum(1) - x @ b
    return psi - a @ psi


def blend_prediction(x, psi, centroids, x_new):
    """Duals for moved particles that keep each cell where the move points to.

    A particle moving a fraction ``lam`` of the way to its centroid ``T`` gets
    ``u' = (1 - lam) u + lam |T|^2 / 2``: the old cells blended with the Voronoi cells of the centroids, both
    of which put the neighbourhood of ``T_i`` in cell ``i``. The rest of the move ``r`` (off the line to the
    centroid) gets the first-order ``u' += r . T``. For small moves this is the first-order predictor
    ``psi' = psi + (|T - x'|^2 - |T - x|^2) / 2``; for the large first steps of a flow from a tight cluster,
    where the first-order predictor scrambles the cells, it keeps them.

    >>> import numpy as np
    >>> x = np.array([[0.0], [0.01]]); T = np.array([[-1.0], [1.0]]); psi = np.array([0.0, 0.0])
    >>> p = blend_prediction(x, psi, T, x + 0.5 * (T - x))
    >>> [int(np.argmin(0.5 * (v - (x + 0.5 * (T - x))[:, 0]) ** 2 - p)) for v in (-1.0, 1.0)]
    [0, 1]
    """
    dT = centroids - x
    move = x_new - x
    norm = np.einsum("ij,ij->i", dT, dT)
    lam = np.where(norm > 0, np.einsum("ij,ij->i", move, dT) / np.where(norm > 0, norm, 1.0), 0.0)
    lam = np.clip(lam, 0.0, 1.0)
    rest = move - lam[:, None] * dT
    u = 0.5 * np.einsum("ij,ij->i", x, x) - psi
    u_new = (1 - lam) * u + lam * 0.5 * np.einsum("ij,ij->i", centroids, centroids) + np.einsum("ij,ij->i", rest,
                                                                                                 centroids)
    return 0.5 * np.einsum("ij,ij->i", x_new, x_new) - u_new
