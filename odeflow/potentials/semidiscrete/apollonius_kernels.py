"""Numba kernels of the semi-discrete w1 solver (:mod:`.apollonius`).

A k-d tree over the *lifted* sites ``(x_i, z_i)``, ``z_i = max(psi) - psi_i >= 0``; the exact search of the
additively weighted (Apollonius) cells through it; the soft cells of the smoothed semi-dual and the pairs
of its Hessian; cell moments and Weiszfeld medians. All kernels are serial (``cache=True``).

Why the search is exact. Give ``R^{d+1}`` the norm ``||(u, t)|| = |u| + |t|`` (Euclidean on the first ``d``
coordinates, absolute value on the last). For a sample ``y`` lifted to ``(y, 0)``,

    ||(y, 0) - (x_i, z_i)|| = |y - x_i| + max(psi) - psi_i,

so the owner of ``y`` (the ``i`` minimising ``|y - x_i| - psi_i``) is the nearest lifted site in that norm,
and ranking by the norm is ranking by cell value. For a tree node whose sites lie in the box
``[lo, hi]`` (first ``d`` coordinates) with ``z >= zlo``, every site of the node satisfies
``|y - x_i| + z_i >= dist(y, [lo, hi]) + zlo``: a lower bound. The search visits nodes nearest first and
skips a node only when that bound exceeds the current threshold (the best value found plus the window,
or the worst value kept when the candidate list is full), so no site whose value is within the window of
the true minimum is ever skipped. Among equal values the tie is broken arbitrarily.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def build_tree(pts, leaf_size):
    """k-d tree over ``pts`` (n, D): median splits on the widest coordinate.

    Returns ``perm`` (tree order -> row of ``pts``), per node the bounding box ``lo, hi`` (nodes, D),
    the range ``start, end`` in tree order and the children ``left, right`` (-1 for a leaf).

    Examples
    --------
    >>> import numpy as np
    >>> perm, lo, hi, start, end, left, right = build_tree(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]), 1)
    >>> sorted(perm.tolist()), lo[0].tolist(), hi[0].tolist(), int(left[0] > 0)
    ([0, 1, 2], [0.0, 0.0], [2.0, 0.0], 1)
    """
    n, D = pts.shape
    cap = 2 * n + 1
    perm = np.arange(n)
    lo = np.empty((cap, D))
    hi = np.empty((cap, D))
    start = np.empty(cap, np.int64)
    end = np.empty(cap, np.int64)
    left = np.full(cap, -1, np.int64)
    right = np.full(cap, -1, np.int64)
    stack = np.empty(cap, np.int64)
    start[0], end[0] = 0, n
    count, top = 1, 1
    stack[0] = 0
    while top > 0:
        top -= 1
        node = stack[top]
        s0, e0 = start[node], end[node]
        for t in range(D):
            lo[node, t] = np.inf
            hi[node, t] = -np.inf
        for q in range(s0, e0):
            p = perm[q]
            for t in range(D):
                v = pts[p, t]
                lo[node, t] = min(lo[node, t], v)
                hi[node, t] = max(hi[node, t], v)
        if e0 - s0 <= leaf_size:
            continue
        dim, width = 0, -1.0
        for t in range(D):
            if hi[node, t] - lo[node, t] > width:
                dim, width = t, hi[node, t] - lo[node, t]
        if width <= 0.0:
            continue  # all points equal: a leaf
        block = perm[s0:e0].copy()
        keys = np.empty(e0 - s0)
        for q in range(e0 - s0):
            keys[q] = pts[block[q], dim]
        order = np.argsort(keys)
        for q in range(e0 - s0):
            perm[s0 + q] = block[order[q]]
        mid = (s0 + e0) // 2
        left[node], right[node] = count, count + 1
        start[count], end[count] = s0, mid
        start[count + 1], end[count + 1] = mid, e0
        stack[top], stack[top + 1] = count, count + 1
        top += 2
        count += 2
    return perm, lo[:count].copy(), hi[:count].copy(), start[:count].copy(), end[:count].copy(), \
        left[:count].copy(), right[:count].copy()


@numba.njit(cache=True)
def node_geometry(xs, start, end):
    """Centre (mean) and radius (largest distance to it) of every node's sites (``xs`` in tree order)."""
    nodes = start.shape[0]
    d = xs.shape[1]
    centre = np.zeros((nodes, d))
    radius = np.zeros(nodes)
    for node in range(nodes):
        m = end[node] - start[node]
        for q in range(start[node], end[node]):
            for t in range(d):
                centre[node, t] += xs[q, t]
        for t in range(d):
            centre[node, t] /= m
        for q in range(start[node], end[node]):
            acc = 0.0
            for t in range(d):
                acc += (xs[q, t] - centre[node, t]) ** 2
            radius[node] = max(radius[node], acc)
        radius[node] = np.sqrt(radius[node])
    return centre, radius


@numba.njit(cache=True)
def node_lifts(xs, zs, start, end, centre):
    """Per node: ``zlo = min z``, a slope ``g`` (least squares of z on x) and ``b = min (z - g.(x - c))``.

    Every site of the node then satisfies ``z_i >= zlo`` and ``z_i >= b + g.(x_i - c)``.
    """
    nodes = start.shape[0]
    d = xs.shape[1]
    zlo = np.empty(nodes)
    slope = np.zeros((nodes, d))
    offset = np.empty(nodes)
    A = np.empty((d, d))
    r = np.empty(d)
    for node in range(nodes):
        s0, e0 = start[node], end[node]
        zmin, zmean = np.inf, 0.0
        for q in range(s0, e0):
            zmean += zs[q]
            zmin = min(zmin, zs[q])
        zmean /= e0 - s0
        zlo[node] = zmin
        A[:] = 0.0
        r[:] = 0.0
        for q in range(s0, e0):
            for t in range(d):
                dt = xs[q, t] - centre[node, t]
                r[t] += dt * (zs[q] - zmean)
                for u in range(d):
                    A[t, u] += dt * (xs[q, u] - centre[node, u])
        trace = 0.0
        for t in range(d):
            trace += A[t, t]
        if e0 - s0 > d and trace > 0.0:
            for t in range(d):
                A[t, t] += 1e-9 * trace
            g = np.linalg.solve(A, r)
            for t in range(d):
                slope[node, t] = g[t]
        b = np.inf
        for q in range(s0, e0):
            v = zs[q]
            for t in range(d):
                v -= slope[node, t] * (xs[q, t] - centre[node, t])
            b = min(b, v)
        offset[node] = b
    return zlo, slope, offset


@numba.njit(cache=True)
def _node_bound(y, s, lo, hi, centre, radius, zlo, slope, offset, node, d):
    """A lower bound of ``|y_s - x_i| + z_i`` over the sites of ``node``: the larger of
    ``dist(y_s, box) + zlo`` and, with ``e`` the unit vector from the node's centre ``c`` to ``y_s``
    (``|y - x| >= e.(y - x)``), ``|y_s - c| + b - |g - e| radius``."""
    acc = 0.0
    rc = 0.0
    for t in range(d):
        v = y[s, t]
        if v < lo[node, t]:
            acc += (lo[node, t] - v) ** 2
        elif v > hi[node, t]:
            acc += (v - hi[node, t]) ** 2
        rc += (v - centre[node, t]) ** 2
    box = np.sqrt(acc) + zlo[node]
    rc = np.sqrt(rc)
    ge = 0.0
    if rc > 0.0:
        for t in range(d):
            ge += (slope[node, t] - (y[s, t] - centre[node, t]) / rc) ** 2
        ge = np.sqrt(ge)
    else:
        for t in range(d):
            ge += slope[node, t] ** 2
        ge = np.sqrt(ge) + 1.0
    tilt = rc + offset[node] - ge * radius[node]
    return max(tilt, box)


@numba.njit(cache=True)
def _insert(vals, dists, slots, nb, kmax, v, dist, q):
    """Insert ``(v, dist, q)`` into the ascending buffer of at most ``kmax`` entries; returns the new size."""
    if nb == kmax:
        if v >= vals[kmax - 1]:
            return nb
        pos = kmax - 1
    else:
        pos = nb
        nb += 1
    while pos > 0 and vals[pos - 1] > v:
        vals[pos] = vals[pos - 1]
        dists[pos] = dists[pos - 1]
        slots[pos] = slots[pos - 1]
        pos -= 1
    vals[pos] = v
    dists[pos] = dist
    slots[pos] = q
    return nb


@numba.njit(cache=True)
def _search(y, s0, s1, xs, zs, perm, rank, tree, lifts, window, kmax, guess, cand, dist, count, cut_gap):
    """:func:`nearest_cells` for the samples ``s0 <= s < s1`` (writes their rows of the outputs)."""
    lo, hi, start, end, left, right, centre, radius = tree
    zlo, slope, offset = lifts
    d = y.shape[1]
    vals = np.empty(kmax)
    dists = np.empty(kmax)
    slots = np.empty(kmax, np.int64)
    n_nodes = lo.shape[0]
    stack = np.empty(n_nodes + 1, np.int64)
    bounds = np.empty(n_nodes + 1)
    for s in range(s0, s1):
        nb = 0
        g = -1
        if guess[s] >= 0:
            g = rank[guess[s]]
            acc = 0.0
            for t in range(d):
                diff = y[s, t] - xs[g, t]
                acc += diff * diff
            r = np.sqrt(acc)
            nb = _insert(vals, dists, slots, nb, kmax, r + zs[g], r, g)
        top = 1
        stack[0] = 0
        bounds[0] = _node_bound(y, s, lo, hi, centre, radius, zlo, slope, offset, 0, d)
        while top > 0:
            top -= 1
            node = stack[top]
            thr = np.inf
            if nb > 0:
                thr = vals[0] + window[s]
                if nb == kmax and vals[kmax - 1] < thr:
                    thr = vals[kmax - 1]
            if bounds[top] > thr:
                continue
            if left[node] < 0:
                for q in range(start[node], end[node]):
                    if q == g or zs[q] > thr:
                        continue
                    room = thr - zs[q]
                    acc = 0.0
                    for t in range(d):
                        diff = y[s, t] - xs[q, t]
                        acc += diff * diff
                    if acc > room * room:
                        continue
                    r = np.sqrt(acc)
                    nb = _insert(vals, dists, slots, nb, kmax, r + zs[q], r, q)
                    if nb > 0:
                        thr = vals[0] + window[s]
                        if nb == kmax and vals[kmax - 1] < thr:
                            thr = vals[kmax - 1]
                continue
            bl = _node_bound(y, s, lo, hi, centre, radius, zlo, slope, offset, left[node], d)
            br = _node_bound(y, s, lo, hi, centre, radius, zlo, slope, offset, right[node], d)
            near, far, bn, bf = left[node], right[node], bl, br
            if br < bl:
                near, far, bn, bf = right[node], left[node], br, bl
            if bf <= thr:
                stack[top], bounds[top] = far, bf
                top += 1
            if bn <= thr:
                stack[top], bounds[top] = near, bn
                top += 1
        limit = vals[0] + window[s]
        kept = 0
        for l in range(nb):
            if vals[l] <= limit:
                cand[s, l] = perm[slots[l]]
                dist[s, l] = dists[l]
                kept += 1
        count[s] = kept
        if nb == kmax and kept == kmax:
            cut_gap[s] = vals[kmax - 1] - vals[0]


#: Samples per task of the parallel search.
CHUNK = 512


@numba.njit(cache=True, parallel=True)
def nearest_cells(y, xs, zs, perm, rank, tree, lifts, window, kmax, guess):
    """Exact candidate lists of the additively weighted cells, through the tree of :func:`build_tree`.

    Parameters
    ----------
    y : (S, d) samples. xs, zs : (n, d), (n,) the sites and their lifts ``max(psi) - psi`` in tree order.
    perm, rank : tree order -> site and its inverse.
    tree : ``(lo, hi, start, end, left, right, centre, radius)`` from :func:`build_tree` and
        :func:`node_geometry`. lifts : ``(zlo, slope, offset)`` from :func:`node_lifts` for ``zs``.
    window : (S,) keep every site whose value ``|y - x_i| - psi_i`` is within ``window[s]`` of the minimum
        (``inf``: keep the ``kmax`` best).
    kmax : int, the most sites kept per sample (the best ones).
    guess : (S,) a site likely to own each sample (-1: none); it only speeds the search up.

    Returns
    -------
    cand : (S, kmax) int32 sites, best first, -1 padded. dist : (S, kmax) ``|y_s - x_cand|``.
    count : (S,) int32 entries kept. cut_gap : (S,) for a list that the cap ``kmax`` cut short, the value gap
        between its last and first entries (sites left out are at least that far); ``inf`` otherwise.
    """
    S = y.shape[0]
    cand = np.full((S, kmax), -1, np.int32)
    dist = np.zeros((S, kmax))
    count = np.zeros(S, np.int32)
    cut_gap = np.full(S, np.inf)
    chunks = (S + CHUNK - 1) // CHUNK
    for c in numba.prange(chunks):
        _search(y, c * CHUNK, min(S, (c + 1) * CHUNK), xs, zs, perm, rank, tree, lifts, window, kmax, guess, cand,
                dist, count, cut_gap)
    return cand, dist, count, cut_gap


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
def soft_laplacian(cand, count, prob, eps, floor, n, shift):
    """The soft cells' Laplacian ``(1/S) sum_s (diag(p_s) - p_s p_s^T) / eps_s`` (minus the Hessian of the
    smoothed semi-dual) plus ``shift`` times the identity, as CSR arrays ``(data, indices, indptr)``.

    Pairs with ``p_si p_sj < floor`` are dropped (a Laplacian smaller in the Loewner order). The matrix is
    symmetric, so the same arrays are also its CSC form.

    Examples
    --------
    >>> import numpy as np
    >>> data, indices, indptr = soft_laplacian(np.array([[0, 1]], np.int32), np.array([2], np.int32),
    ...                                        np.array([[0.5, 0.5]]), np.array([1.0]), 0.0, 2, 0.0)
    >>> data.tolist(), indices.tolist(), indptr.tolist()
    ([0.25, -0.25, -0.25, 0.25], [0, 1, 0, 1], [0, 2, 4])
    """
    S = cand.shape[0]
    per_row = np.zeros(n + 1, np.int64)
    for s in range(S):
        k = count[s]
        for l in range(k):
            for m in range(l + 1, k):
                if prob[s, l] * prob[s, m] >= floor:
                    per_row[cand[s, l] + 1] += 1
                    per_row[cand[s, m] + 1] += 1
    for i in range(n):
        per_row[i + 1] += per_row[i]
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
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(per_row[n] + n, np.int64)
    data = np.empty(per_row[n] + n)
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
    return data[:q].copy(), indices[:q].copy(), indptr


@numba.njit(cache=True)
def soft_laplacian_dense(cand, count, prob, eps, n, shift):
    """:func:`soft_laplacian` as a dense (n, n) array, every pair kept (for small n and long lists)."""
    S = cand.shape[0]
    H = np.zeros((n, n))
    inv = 1.0 / S
    for s in range(S):
        k = count[s]
        w = inv / eps[s]
        for l in range(k):
            i = cand[s, l]
            pl = prob[s, l] * w
            H[i, i] += pl * (1.0 - prob[s, l])
            for m in range(l + 1, k):
                j = cand[s, m]
                v = pl * prob[s, m]
                H[i, j] -= v
                H[j, i] -= v
    for i in range(n):
        H[i, i] += shift
    return H


@numba.njit(cache=True)
def tangent_rhs(y, x, dx, cand, count, prob, eps):
    """``r_i = (1/S) sum_s (p_si / eps_s) (w_si - sum_j p_sj w_sj)`` with ``w_sj = u_sj . dx_j``: the first-order
    change of the soft cells' masses when the sites move by ``dx`` (``u_sj`` the unit vector from ``x_j`` to
    ``y_s``). Moving the duals by ``-L^{-1} r`` (``L`` the soft cells' Laplacian) keeps the masses."""
    S, d = y.shape
    n = x.shape[0]
    r = np.zeros(n)
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
    return r


@numba.njit(cache=True)
def cell_moments(y, x, cand, dist, count, prob, psi, n):
    """Integrals of the soft cells on the quadrature, and the hard cells' masses.

    Returns per site ``unit = sum_s p_sj u_sj / S`` (``u_sj`` the unit vector from ``x_j`` to ``y_s``, 0 when
    they coincide), ``cost = sum_s p_sj |y_s - x_j| / S`` and ``hard``, the fraction of samples whose best
    site (smallest ``|y_s - x_j| - psi_j`` on the list) is ``j``; and per sample that smallest value ``phi``.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.array([[1.0, 0.0], [0.0, 2.0]]), np.zeros((1, 2))
    >>> u, c, h, phi = cell_moments(y, x, np.zeros((2, 1), np.int32), np.array([[1.0], [2.0]]),
    ...                             np.ones(2, np.int32), np.ones((2, 1)), np.zeros(1), 1)
    >>> u.tolist(), c.tolist(), h.tolist(), phi.tolist()
    ([[0.5, 0.5]], [1.5], [1.0], [1.0, 2.0])
    """
    S, d = y.shape
    unit = np.zeros((n, d))
    cost = np.zeros(n)
    hard = np.zeros(n)
    phi = np.empty(S)
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
    return unit, cost, hard, phi


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
def cell_medians(y, cand, count, prob, z0, tol, max_iter):
    """Geometric medians of the soft cells, ``argmin_z sum_s p_sj |y_s - z|``, by safeguarded Newton.

    Each sweep evaluates every active site's objective, gradient and Hessian at its trial point. A trial that
    lowers the objective is kept and the next trial is its Newton step; otherwise the next trial is the
    Weiszfeld step from the last kept point (which always lowers the objective). A site stops when its
    Newton (or Weiszfeld) step is shorter than ``tol[j]``. Returns the medians, the sweeps done and the number of sites not
    converged within ``max_iter`` sweeps.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> z, it, left = cell_medians(y, np.zeros((5, 1), np.int32), np.ones(5, np.int32), np.ones((5, 1)),
    ...                            np.array([[0.3, 0.2]]), np.array([1e-9]), 100)
    >>> bool(np.abs(z).max() < 1e-6), left
    (True, 0)
    """
    n, d = z0.shape
    best = z0.copy()
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
    return best, sweeps, remaining


