"""Exact search of the additively weighted cells for the semi-discrete w1 solver (:mod:`.apollonius`).

A k-d tree over the *lifted* sites ``(x_i, z_i)``, ``z_i = max(psi) - psi_i >= 0``; the exact search of the
additively weighted (Apollonius) cells through it. The soft cells, their Laplacian, moments and medians are
in :mod:`.apollonius_kernels`.

Why the search is exact. Give ``R^{d+1}`` the norm ``||(u, t)|| = |u| + |t|`` (Euclidean on the first ``d``
coordinates, absolute value on the last). For a sample ``y`` lifted to ``(y, 0)``,

    ||(y, 0) - (x_i, z_i)|| = |y - x_i| + max(psi) - psi_i,

so the owner of ``y`` (the ``i`` minimising ``|y - x_i| - psi_i``) is the nearest lifted site in that norm,
and ranking by the norm is ranking by cell value. For a tree node whose sites lie in the box
``[lo, hi]`` (first ``d`` coordinates) with ``z >= zlo``, every site of the node satisfies
``|y - x_i| + z_i >= dist(y, [lo, hi]) + zlo``: a lower bound. A second one holds when the node's sites
also satisfy ``z_i >= b + g.(x_i - c)`` and ``|x_i - c| <= r`` (a plane under the lifts, fitted by
:func:`node_lifts`, and a ball around the centre ``c``): with ``e = (y - c) / |y - c|``,
``|y - x_i| >= e.(y - x_i) = |y - c| - e.(x_i - c)``, so

    |y - x_i| + z_i >= |y - c| + b + (g - e).(x_i - c) >= |y - c| + b - |g - e| r

(for ``y = c``: ``>= b - (|g| + 1) r``, weaker still). The search visits nodes best bound first and skips a
node only when the larger bound exceeds the current threshold: the best value found so far plus the
window (the best found is never below the true minimum, so this threshold is never below the true one),
or, when the candidate list is full, its worst value. Inside a leaf a site is skipped only when
``z_i`` alone, or ``|y - x_i| + z_i``, exceeds it. So every site whose value is within the window of the
true minimum is kept, except where the cap ``kmax`` is reached, and then exactly the ``kmax`` best are kept
and ``cut_gap`` says so. A final pass drops list entries outside the window of the true minimum. Among equal
values the tie is broken arbitrarily.

Threads and interrupts: :func:`nearest_cells` is the one ``parallel=True`` kernel (numba ``prange`` over
chunks of samples); its threads are joined before it returns. No kernel here or in
:mod:`.apollonius_kernels` returns an array: outputs go to arrays the caller allocated and only scalars come
back. (Boxing a returned array runs Python code, and a signal handler raising ``KeyboardInterrupt`` there
surfaces as a ``SystemError`` with the array lost.) So Ctrl-C is handled between kernel calls and leaves the
solver usable.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def build_tree(pts, leaf_size, perm, lo, hi, start, end, left, right):
    """k-d tree over ``pts`` (n, D): median splits on the widest coordinate.

    Fills (arrays from :func:`tree_arrays`) ``perm`` (tree order -> row of ``pts``), per node the bounding box
    ``lo, hi`` (nodes, D), the range ``start, end`` in tree order and the children ``left, right`` (-1 for a
    leaf); returns the number of nodes (the rows of the node arrays in use).

    Examples
    --------
    >>> import numpy as np
    >>> pts = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    >>> perm, lo, hi, start, end, left, right = arrays = tree_arrays(3, 2)
    >>> m = build_tree(pts, 1, *arrays)
    >>> m, sorted(perm.tolist()), lo[0].tolist(), hi[0].tolist(), int(left[0] > 0)
    (5, [0, 1, 2], [0.0, 0.0], [2.0, 0.0], 1)
    """
    n, D = pts.shape
    cap = 2 * n + 1
    for q in range(n):
        perm[q] = q
    for node in range(cap):
        left[node] = -1
        right[node] = -1
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
    return count


def tree_arrays(n, d):
    """Arrays for :func:`build_tree` of ``n`` points in ``d`` coordinates: ``perm, lo, hi, start, end, left,
    right`` (room for ``2 n + 1`` nodes)."""
    cap = 2 * n + 1
    return (np.empty(n, np.int64), np.empty((cap, d)), np.empty((cap, d)), np.empty(cap, np.int64),
            np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64))


@numba.njit(cache=True)
def node_geometry(xs, start, end, centre, radius):
    """Centre (mean) and radius (largest distance to it) of every node's sites (``xs`` in tree order), written
    to ``centre`` (nodes, d) and ``radius`` (nodes,)."""
    nodes = start.shape[0]
    d = xs.shape[1]
    for node in range(nodes):
        radius[node] = 0.0
        for t in range(d):
            centre[node, t] = 0.0
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


@numba.njit(cache=True)
def node_lifts(xs, zs, start, end, centre, zlo, slope, offset):
    """Per node: ``zlo = min z``, a slope ``g`` (least squares of z on x) and ``b = min (z - g.(x - c))``,
    written to ``zlo`` (nodes,), ``slope`` (nodes, d) and ``offset`` (nodes,).

    Every site of the node then satisfies ``z_i >= zlo`` and ``z_i >= b + g.(x_i - c)``.
    """
    nodes = start.shape[0]
    d = xs.shape[1]
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
        slope[node, :] = 0.0
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
    """:func:`nearest_cells` for the samples ``s0 <= s < s1`` (writes their rows of the outputs, every entry)."""
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
        for l in range(kept, cand.shape[1]):
            cand[s, l] = -1
            dist[s, l] = 0.0
        count[s] = kept
        cut_gap[s] = np.inf
        if nb == kmax and kept == kmax:
            cut_gap[s] = vals[kmax - 1] - vals[0]


#: Samples per task of the parallel search.
CHUNK = 512


@numba.njit(cache=True, parallel=True)
def nearest_cells(y, xs, zs, perm, rank, tree, lifts, window, kmax, guess, cand, dist, count, cut_gap):
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

    Outputs (allocated by the caller, rows ``S``)
    ----------------------------------------------
    cand : (S, >= kmax) int32 sites, best first, -1 padded. dist : (S, >= kmax) ``|y_s - x_cand|``.
    count : (S,) int32 entries kept. cut_gap : (S,) for a list that the cap ``kmax`` cut short, the value gap
        between its last and first entries (sites left out are at least that far); ``inf`` otherwise.
    """
    S = y.shape[0]
    chunks = (S + CHUNK - 1) // CHUNK
    for c in numba.prange(chunks):
        _search(y, c * CHUNK, min(S, (c + 1) * CHUNK), xs, zs, perm, rank, tree, lifts, window, kmax, guess, cand,
                dist, count, cut_gap)
