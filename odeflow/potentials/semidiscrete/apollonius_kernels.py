"""Numba kernels of the semi-discrete w1 solver (:mod:`.apollonius`) on fixed candidate lists: the soft cells
of the smoothed semi-dual, their Laplacian (dense or CSR), the tangent right-hand side of the warm start,
cell moments and geometric medians. The lists come from the exact search of :mod:`.apollonius_search`.

All kernels are serial (``cache=True``) and, like those of :mod:`.apollonius_search`, return no array: they
write into arrays the caller allocated and return scalars (see there for why: interrupts).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def soft_cells(cand, dist, count, psi, eps, prob, mass):
    """Soft cells on the lists: ``p_sl`` proportional to ``exp((psi_j - |y_s - x_j|) / eps_s)``.

    Writes the probabilities to ``prob`` (S, kmax) and ``sum_s p_sj / S`` to ``mass`` (n,); returns the
    smoothed c-transform term ``(1/S) sum_s -eps_s log sum_l exp((psi_l - c_sl) / eps_s)``.
    """
    S = cand.shape[0]
    for j in range(mass.shape[0]):
        mass[j] = 0.0
    total = 0.0
    for s in range(S):
        k = count[s]
        e = eps[s]
        m = np.inf
        for l in range(k):
            v = dist[s, l] - psi[cand[s, l]]
            m = min(m, v)
        z = 0.0
        for l in range(k):
            w = np.exp(-(dist[s, l] - psi[cand[s, l]] - m) / e)
            prob[s, l] = w
            z += w
        for l in range(k):
            prob[s, l] /= z
            mass[cand[s, l]] += prob[s, l]
        total += m - e * np.log(z)
    inv = 1.0 / S
    for j in range(mass.shape[0]):
        mass[j] *= inv
    return total * inv


@numba.njit(cache=True)
def failing_lists(cand, dist, count, psi, bound, rise, window, eps, fail):
    """Flag the samples whose list may miss a site within ``window * eps_s`` of the best value at ``psi``:
    ``fail[s] = bound[s] - rise < min_l (dist[s, l] - psi[cand[s, l]]) + window * eps[s]`` (see
    :class:`.apollonius_lists.CandidateLists`); returns how many.

    Examples
    --------
    >>> import numpy as np
    >>> fail = np.zeros(1, np.bool_)
    >>> failing_lists(np.array([[0]], np.int32), np.array([[1.0]]), np.array([1], np.int32), np.zeros(1),
    ...               np.array([2.0]), 0.5, 12.0, np.array([0.01]), fail), bool(fail[0])
    (0, False)
    """
    total = 0
    for s in range(cand.shape[0]):
        best = np.inf
        for l in range(count[s]):
            best = min(best, dist[s, l] - psi[cand[s, l]])
        fail[s] = bound[s] - rise < best + window * eps[s]
        total += fail[s]
    return total


@numba.njit(cache=True)
def soft_pairs(cand, count, prob, floor, per_row):
    """Row offsets of the pairs :func:`soft_laplacian` keeps: ``per_row`` (n + 1,) gets the cumulative count
    of kept off-diagonal entries per row; returns their total."""
    S = cand.shape[0]
    n = per_row.shape[0] - 1
    per_row[:] = 0
    for s in range(S):
        k = count[s]
        for l in range(k):
            for m in range(l + 1, k):
                if prob[s, l] * prob[s, m] >= floor:
                    per_row[cand[s, l] + 1] += 1
                    per_row[cand[s, m] + 1] += 1
    for i in range(n):
        per_row[i + 1] += per_row[i]
    return per_row[n]


@numba.njit(cache=True)
def soft_laplacian(cand, count, prob, eps, floor, shift, per_row, data, indices, indptr):
    """The soft cells' Laplacian ``(1/S) sum_s (diag(p_s) - p_s p_s^T) / eps_s`` (minus the Hessian of the
    smoothed semi-dual) plus ``shift`` times the identity, as CSR arrays written to ``data, indices`` (room for
    ``per_row[n] + n`` entries) and ``indptr`` (n + 1,); returns the number of entries used.

    ``per_row`` comes from :func:`soft_pairs` with the same ``floor``. Pairs with ``p_si p_sj < floor`` are
    dropped (a Laplacian smaller in the Loewner order). The matrix is symmetric, so the same arrays are also
    its CSC form.

    Examples
    --------
    >>> import numpy as np
    >>> cand, count, prob = np.array([[0, 1]], np.int32), np.array([2], np.int32), np.array([[0.5, 0.5]])
    >>> per_row = np.empty(3, np.int64)
    >>> m = soft_pairs(cand, count, prob, 0.0, per_row) + 2
    >>> data, indices, indptr = np.empty(m), np.empty(m, np.int64), np.empty(3, np.int64)
    >>> q = soft_laplacian(cand, count, prob, np.array([1.0]), 0.0, 0.0, per_row, data, indices, indptr)
    >>> data[:q].tolist(), indices[:q].tolist(), indptr.tolist()
    ([0.25, -0.25, -0.25, 0.25], [0, 1, 0, 1], [0, 2, 4])
    """
    S = cand.shape[0]
    n = per_row.shape[0] - 1
    cols = np.empty(per_row[n], np.int64)
    vals = np.empty(per_row[n])
    fill = per_row[:n].copy()
    inv = 1.0 / S
    for s in range(S):
        k = count[s]
        for l in range(k):
            for m in range(l + 1, k):
                pq = prob[s, l] * prob[s, m]
                if pq >= floor:
                    i, j = cand[s, l], cand[s, m]
                    w = pq * inv / eps[s]
                    cols[fill[i]], vals[fill[i]] = j, w
                    fill[i] += 1
                    cols[fill[j]], vals[fill[j]] = i, w
                    fill[j] += 1
    indptr[0] = 0
    q = 0
    for i in range(n):
        r0, r1 = per_row[i], per_row[i + 1]
        order = np.argsort(cols[r0:r1])
        diag = shift
        placed = False
        last = -1
        for t in range(r1 - r0):
            j = cols[r0 + order[t]]
            w = vals[r0 + order[t]]
            diag += w
            if not placed and j > i:
                indices[q], data[q] = i, 0.0
                dpos = q
                q += 1
                placed = True
            if j == last:
                data[q - 1] -= w
            else:
                indices[q], data[q] = j, -w
                q += 1
                last = j
        if not placed:
            indices[q], data[q] = i, 0.0
            dpos = q
            q += 1
        data[dpos] = diag
        indptr[i + 1] = q
    return q


@numba.njit(cache=True)
def soft_laplacian_dense(cand, count, prob, eps, floor, shift, H):
    """:func:`soft_laplacian` written to the dense (n, n) array ``H``: pairs with ``p_si p_sj < floor`` dropped
    and the diagonal the sum of the kept pairs (a Laplacian), plus ``shift`` on the diagonal.

    A site with ``p_sl < floor`` can be in no kept pair, so it is skipped before the pair loop: on the lists of
    a w1 flow (2-D, N = 300) about a third of the entries, and most pairs, are skipped at ``floor = 1e-8``.

    Examples
    --------
    >>> import numpy as np
    >>> H = np.empty((2, 2))
    >>> soft_laplacian_dense(np.array([[0, 1]], np.int32), np.array([2], np.int32), np.array([[0.5, 0.5]]),
    ...                      np.array([1.0]), 0.0, 0.0, H)
    >>> H.tolist()
    [[0.25, -0.25], [-0.25, 0.25]]
    """
    S = cand.shape[0]
    n = H.shape[0]
    H[:] = 0.0
    inv = 1.0 / S
    keep = np.empty(cand.shape[1], np.int64)
    for s in range(S):
        k = 0
        for l in range(count[s]):
            if prob[s, l] >= floor:
                keep[k] = l
                k += 1
        w = inv / eps[s]
        for a in range(k):
            l = keep[a]
            i = cand[s, l]
            pl = prob[s, l]
            for b in range(a + 1, k):
                m = keep[b]
                pq = pl * prob[s, m]
                if pq >= floor:
                    j = cand[s, m]
                    v = pq * w
                    H[i, j] -= v
                    H[j, i] -= v
                    H[i, i] += v
                    H[j, j] += v
    for i in range(n):
        H[i, i] += shift


@numba.njit(cache=True)
def tangent_rhs(y, x, dx, cand, count, prob, eps, r):
    """``r_i = (1/S) sum_s (p_si / eps_s) (w_si - sum_j p_sj w_sj)`` with ``w_sj = u_sj . dx_j``: the first-order
    change of the soft cells' masses when the sites move by ``dx`` (``u_sj`` the unit vector from ``x_j`` to
    ``y_s``), written to ``r`` (n,). Moving the duals by ``-L^{-1} r`` (``L`` the soft cells' Laplacian) keeps the
    masses."""
    S, d = y.shape
    n = x.shape[0]
    r[:] = 0.0
    k = cand.shape[1]
    w = np.empty(k)
    for s in range(S):
        mean = 0.0
        for l in range(count[s]):
            j = cand[s, l]
            acc = 0.0
            dot = 0.0
            for t in range(d):
                diff = y[s, t] - x[j, t]
                acc += diff * diff
                dot += diff * dx[j, t]
            w[l] = dot / np.sqrt(acc) if acc > 0.0 else 0.0
            mean += prob[s, l] * w[l]
        for l in range(count[s]):
            r[cand[s, l]] += prob[s, l] * (w[l] - mean) / eps[s]
    for j in range(n):
        r[j] /= S


@numba.njit(cache=True)
def cell_moments(y, x, cand, dist, count, prob, psi, unit, cost, hard, phi):
    """Integrals of the soft cells on the quadrature, and the hard cells' masses.

    Writes per site ``unit = sum_s p_sj u_sj / S`` (``u_sj`` the unit vector from ``x_j`` to ``y_s``, 0 when
    they coincide), ``cost = sum_s p_sj |y_s - x_j| / S`` and ``hard``, the fraction of samples whose best
    site (smallest ``|y_s - x_j| - psi_j`` on the list) is ``j``; and per sample that smallest value ``phi``.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.array([[1.0, 0.0], [0.0, 2.0]]), np.zeros((1, 2))
    >>> u, c, h, phi = np.empty((1, 2)), np.empty(1), np.empty(1), np.empty(2)
    >>> cell_moments(y, x, np.zeros((2, 1), np.int32), np.array([[1.0], [2.0]]), np.ones(2, np.int32),
    ...              np.ones((2, 1)), np.zeros(1), u, c, h, phi)
    >>> u.tolist(), c.tolist(), h.tolist(), phi.tolist()
    ([[0.5, 0.5]], [1.5], [1.0], [1.0, 2.0])
    """
    S, d = y.shape
    n = cost.shape[0]
    unit[:] = 0.0
    cost[:] = 0.0
    hard[:] = 0.0
    for s in range(S):
        best, arg = np.inf, -1
        for l in range(count[s]):
            j = cand[s, l]
            p = prob[s, l]
            r = dist[s, l]
            if r - psi[j] < best:
                best, arg = r - psi[j], j
            cost[j] += p * r
            if r > 0.0:
                for t in range(d):
                    unit[j, t] += p * (y[s, t] - x[j, t]) / r
        phi[s] = best
        if arg >= 0:
            hard[arg] += 1.0
    inv = 1.0 / S
    for j in range(n):
        cost[j] *= inv
        hard[j] *= inv
        for t in range(d):
            unit[j, t] *= inv


@numba.njit(cache=True)
def _median_pass(y, cand, count, prob, z, active, f, g, H, wsum):
    """``f = sum_s p_sj |y_s - z_j|``, its gradient, Hessian and ``sum_s p_sj / |y_s - z_j|`` per active site."""
    n, d = z.shape
    for j in range(n):
        if active[j]:
            f[j] = 0.0
            wsum[j] = 0.0
            for t in range(d):
                g[j, t] = 0.0
                for u in range(d):
                    H[j, t, u] = 0.0
    diff = np.empty(d)
    for s in range(y.shape[0]):
        for l in range(count[s]):
            j = cand[s, l]
            if not active[j]:
                continue
            acc = 0.0
            for t in range(d):
                diff[t] = z[j, t] - y[s, t]
                acc += diff[t] * diff[t]
            r = np.sqrt(acc)
            p = prob[s, l]
            f[j] += p * r
            if r <= 0.0:
                continue
            w = p / r
            wsum[j] += w
            for t in range(d):
                g[j, t] += w * diff[t]
                for u in range(d):
                    H[j, t, u] -= w * diff[t] * diff[u] / acc
            for t in range(d):
                H[j, t, t] += w


@numba.njit(cache=True)
def cell_medians(y, cand, count, prob, z0, tol, max_iter, best):
    """Geometric medians of the soft cells, ``argmin_z sum_s p_sj |y_s - z|``, by safeguarded Newton.

    Each sweep evaluates every active site's objective, gradient and Hessian at its trial point. A trial that
    lowers the objective is kept and the next trial is its Newton step; otherwise the next trial is the
    Weiszfeld step from the last kept point (which always lowers the objective). A site stops when its
    Newton (or Weiszfeld) step is shorter than ``tol[j]``. Writes the medians to ``best`` (n, d); returns the
    sweeps done and the number of sites not converged within ``max_iter`` sweeps.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> z = np.empty((1, 2))
    >>> it, left = cell_medians(y, np.zeros((5, 1), np.int32), np.ones(5, np.int32), np.ones((5, 1)),
    ...                         np.array([[0.3, 0.2]]), np.array([1e-9]), 100, z)
    >>> bool(np.abs(z).max() < 1e-6), left
    (True, 0)
    """
    n, d = z0.shape
    best[:] = z0
    trial = z0.copy()
    fb = np.full(n, np.inf)
    gb = np.zeros((n, d))
    wb = np.zeros(n)
    f = np.empty(n)
    g = np.empty((n, d))
    H = np.empty((n, d, d))
    wsum = np.empty(n)
    active = np.ones(n, np.bool_)
    sweeps = 0
    remaining = n
    while sweeps < max_iter and remaining > 0:
        sweeps += 1
        _median_pass(y, cand, count, prob, trial, active, f, g, H, wsum)
        remaining = 0
        for j in range(n):
            if not active[j]:
                continue
            if wsum[j] <= 0.0:  # no samples (or all on the point): nothing to move
                best[j] = trial[j]
                active[j] = False
                continue
            if f[j] <= fb[j]:
                fb[j] = f[j]
                wb[j] = wsum[j]
                for t in range(d):
                    best[j, t] = trial[j, t]
                    gb[j, t] = g[j, t]
                step = np.linalg.solve(H[j] + 1e-12 * wsum[j] * np.eye(d), g[j])
                size = 0.0
                for t in range(d):
                    size += step[t] * step[t]
                if np.sqrt(size) <= tol[j]:
                    for t in range(d):
                        best[j, t] -= step[t]
                    active[j] = False
                    continue
                for t in range(d):
                    trial[j, t] = best[j, t] - step[t]
            else:  # the Newton trial failed: a Weiszfeld step from the kept point
                size = 0.0
                for t in range(d):
                    trial[j, t] = best[j, t] - gb[j, t] / wb[j]
                    size += (gb[j, t] / wb[j]) ** 2
                if np.sqrt(size) <= tol[j]:
                    active[j] = False
                    continue
            remaining += 1
    return sweeps, remaining


