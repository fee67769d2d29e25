"""Numba kernels of the sampled semi-discrete path (:mod:`.sampled`).

Notation: particles ``x_j`` with duals ``psi_j``; quadrature points ``y_s`` with weights ``w_s``; the power
cost of sample ``s`` at particle ``j`` is ``pi_sj = |y_s - x_j|^2 / 2 - psi_j``; the Laguerre cell of ``j``
holds the samples whose smallest power cost is at ``j``. Each sample keeps a list of ``k`` candidate
particles (its ``k`` smallest power costs when the list was last searched).

Threads and interrupts: the ``parallel=True`` kernels run numba ``prange`` loops, which end (all threads
joined) before the kernel returns. No kernel returns an array: outputs go to arrays the caller allocated,
and only scalars come back. (Returning an array makes numba run Python code while it boxes the result; a
signal handler raising ``KeyboardInterrupt`` there surfaces as a ``SystemError``.) So a Python signal
handler (Ctrl-C) runs only between kernel calls, and an interrupt never leaves a thread writing into
memory that Python has released.
"""

from __future__ import annotations

import numba
import numpy as np

#: Points per leaf of the particle tree.
LEAF_SIZE = 12
#: Depth of the search stack (the tree depth is about log2(N / LEAF_SIZE) + 1).
STACK = 256
#: A soft weight below exp(-CUTOFF) is taken as zero.
CUTOFF = 40.0


# --- a kd-tree of the particles, searched in power cost ------------------------------------------


@numba.njit(cache=True)
def build_tree(x, weight, leaf_size, perm, lo, hi, start, end, left):
    """A kd-tree of the rows of ``x``: median splits along the side of largest ``weight_t x width_t``.

    Fills the caller's arrays (``2 n + 1`` rows each; ``lo, hi`` of ``x.shape[1]`` columns) and returns the
    number of nodes: node ``v`` holds the points ``perm[start[v]:end[v]]`` inside the box ``[lo[v], hi[v]]``;
    its children are ``left[v]`` and ``left[v] + 1`` (``left[v] = -1`` for a leaf), numbered after it.

    Examples
    --------
    >>> import numpy as np
    >>> t = tree_arrays(4, 2)
    >>> m = build_tree(np.arange(8.0).reshape(4, 2), np.ones(2), 1, *t)
    >>> m, sorted(t[0].tolist()), int(t[4][0])
    (7, [0, 1, 2, 3], 4)
    """
    n, d = x.shape
    for q in range(n):
        perm[q] = q
    left[:] = -1
    stack = np.empty(2 * n + 1, np.int64)
    start[0], end[0] = 0, n
    count, top = 1, 0
    stack[0] = 0
    while top >= 0:
        v = stack[top]
        top -= 1
        s, e = start[v], end[v]
        for t in range(d):
            lo[v, t] = np.inf
            hi[v, t] = -np.inf
        for q in range(s, e):
            for t in range(d):
                c = x[perm[q], t]
                lo[v, t] = min(lo[v, t], c)
                hi[v, t] = max(hi[v, t], c)
        if e - s <= leaf_size:
            continue
        axis, width = 0, -1.0
        for t in range(d):
            if weight[t] * (hi[v, t] - lo[v, t]) > width:
                axis, width = t, weight[t] * (hi[v, t] - lo[v, t])
        if width <= 0.0:
            continue
        seg = perm[s:e].copy()
        order = np.argsort(x[seg, axis])
        for q in range(e - s):
            perm[s + q] = seg[order[q]]
        mid = s + (e - s) // 2
        left[v] = count
        start[count], end[count] = s, mid
        start[count + 1], end[count + 1] = mid, e
        stack[top + 1] = count
        stack[top + 2] = count + 1
        top += 2
        count += 2
    return count


def tree_arrays(n, d):
    """Arrays for :func:`build_tree` of ``n`` points in ``d`` coordinates: ``perm, lo, hi, start, end, left``."""
    cap = 2 * n + 1
    return (np.empty(n, np.int64), np.empty((cap, d)), np.empty((cap, d)), np.empty(cap, np.int64),
            np.empty(cap, np.int64), np.empty(cap, np.int64))


@numba.njit(cache=True)
def node_max(values, perm, start, end, left, out):
    """Largest of ``values`` over the points of every node of :func:`build_tree` (``out[:n_nodes]``).

    >>> import numpy as np
    >>> t = tree_arrays(4, 1)
    >>> m = build_tree(np.arange(4.0)[:, None], np.ones(1), 1, *t)
    >>> out = np.empty(m)
    >>> node_max(np.array([3.0, 1.0, 2.0, 0.0]), t[0], t[3], t[4], t[5], out)
    >>> float(out[0])
    3.0
    """
    for v in range(out.shape[0] - 1, -1, -1):
        if left[v] < 0:
            best = -np.inf
            for q in range(start[v], end[v]):
                best = max(best, values[perm[q]])
            out[v] = best
        else:
            out[v] = max(out[left[v]], out[left[v] + 1])


@numba.njit(cache=True, inline="always")
def _power(y, s, x, j, psi):
    acc = 0.0
    for t in range(y.shape[1]):
        diff = y[s, t] - x[j, t]
        acc += diff * diff
    return 0.5 * acc - psi[j]


@numba.njit(cache=True, inline="always")
def _box_bound(y, s, o, yo2, lo, hi, v, top):
    """Lower bound of the power cost of sample ``s`` over node ``v`` of the tree of ``(x, c)``.

    The larger of two bounds: ``|y - box_x|^2 / 2 - max psi`` (distance to the node's box of positions) and
    ``|y - o|^2 / 2 + min c - max_box (y - o) . (x - o)`` (the cost is affine in ``(x, c)``,
    ``c = |x - o|^2 / 2 - psi``). The second stays tight when the duals vary much more than the positions.
    """
    d = y.shape[1]
    acc = 0.0
    lin = 0.0
    for t in range(d):
        c = y[s, t]
        if c < lo[v, t]:
            acc += (lo[v, t] - c) ** 2
        elif c > hi[v, t]:
            acc += (c - hi[v, t]) ** 2
        u = c - o[t]
        lin += max(u * (lo[v, t] - o[t]), u * (hi[v, t] - o[t]))
    return max(0.5 * acc - top[v], yo2 + lo[v, d] - lin)


@numba.njit(cache=True, inline="always")
def _insert(val, idx, hv, hx, k):
    """Insert ``(val, idx)`` into the ascending list ``hv, hx`` of length ``k`` (no duplicates)."""
    if val >= hv[k - 1]:
        return
    for l in range(k):
        if hx[l] == idx:
            return
    q = k - 1
    while q > 0 and hv[q - 1] > val:
        hv[q] = hv[q - 1]
        hx[q] = hx[q - 1]
        q -= 1
    hv[q] = val
    hx[q] = idx


@numba.njit(cache=True, parallel=True)
def knn_search(y, rows, x, psi, o, xp, psip, perm, lo, hi, start, end, left, top, cand, bound, lead, seeded,
               n_chunks):
    """Exact ``k`` smallest power costs of the samples ``rows``: branch and bound on a tree of ``(x, c)``.

    The tree (:func:`build_tree`) holds the rows ``(x_j, c_j)``, ``c_j = |x_j - o|^2 / 2 - psi_j``; ``xp, psip``
    are ``x[perm], psi[perm]`` and ``top`` is :func:`node_max` of ``psi``. A node is skipped when its
    :func:`_box_bound` is no smaller than the current ``k``-th cost. With ``seeded`` the search starts from
    the sample's current list (evaluated afresh), which only tightens the first bound.
    Writes ``cand[s]`` (ascending cost), ``bound[s]`` (the ``k``-th cost: every other particle costs at
    least this) and ``lead[s]`` (the smallest cost).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0], [3.0]]); psi = np.zeros(3); y = np.array([[0.9]]); o = np.zeros(1)
    >>> z = np.column_stack([x, 0.5 * x[:, 0] ** 2 - psi])
    >>> perm, lo, hi, start, end, left = tree_arrays(3, 2)
    >>> m = build_tree(z, np.ones(2), 1, perm, lo, hi, start, end, left)
    >>> top = np.empty(m); node_max(psi, perm, start, end, left[:m], top)
    >>> cand = np.zeros((1, 2), np.int32); bound = np.zeros(1); lead = np.zeros(1)
    >>> knn_search(y, np.array([0]), x, psi, o, x[perm], psi[perm], perm, lo, hi, start, end, left,
    ...            top, cand, bound, lead, False, 1)
    >>> cand.tolist(), round(float(bound[0]), 3)
    ([[1, 0]], 0.405)
    """
    k = cand.shape[1]
    n = x.shape[0]
    nr = rows.shape[0]
    for c in numba.prange(n_chunks):
        hv = np.empty(k)
        hx = np.empty(k, np.int64)
        st = np.empty(STACK, np.int64)
        sb = np.empty(STACK)
        for r in range(c * nr // n_chunks, (c + 1) * nr // n_chunks):
            s = rows[r]
            hv[:] = np.inf
            hx[:] = -1
            if seeded:
                for l in range(k):
                    j = cand[s, l]
                    if 0 <= j < n:
                        _insert(_power(y, s, x, j, psi), j, hv, hx, k)
            yo2 = 0.0
            for t in range(y.shape[1]):
                yo2 += 0.5 * (y[s, t] - o[t]) ** 2
            st[0] = 0
            sb[0] = _box_bound(y, s, o, yo2, lo, hi, 0, top)
            depth = 0
            while depth >= 0:
                v = st[depth]
                b = sb[depth]
                depth -= 1
                if b >= hv[k - 1]:
                    continue
                if left[v] < 0:
                    for q in range(start[v], end[v]):
                        kth = hv[k - 1]
                        acc = -psip[q]
                        for t in range(y.shape[1]):
                            diff = y[s, t] - xp[q, t]
                            acc += 0.5 * diff * diff
                            if acc >= kth:
                                break
                        if acc < kth:
                            _insert(acc, perm[q], hv, hx, k)
                else:
                    u = left[v]
                    bu = _box_bound(y, s, o, yo2, lo, hi, u, top)
                    bw = _box_bound(y, s, o, yo2, lo, hi, u + 1, top)
                    if bu <= bw:  # push the farther child first, so the nearer one is searched first
                        st[depth + 1], sb[depth + 1], st[depth + 2], sb[depth + 2] = u + 1, bw, u, bu
                    else:
                        st[depth + 1], sb[depth + 1], st[depth + 2], sb[depth + 2] = u, bu, u + 1, bw
                    depth += 2
            for l in range(k):
                cand[s, l] = hx[l]
            bound[s] = hv[k - 1]
            lead[s] = hv[0]


@numba.njit(cache=True, parallel=True)
def certify(y, x, psi, cand, bound, margin, rise, frame, extra, fail):
    """Flag the samples whose list may miss a particle within ``margin`` of their best cost.

    Sample ``s`` was last searched at the duals of frame ``frame[s]``, where ``bound[s]`` bounded the cost of
    every unlisted particle. Since then the particles ``extra`` may have moved anywhere (their costs are
    computed), and no other dual rose by more than ``rise[frame[s]]``: the other unlisted particles cost at
    least ``bound[s] - rise[frame[s]]`` now.

    >>> import numpy as np
    >>> fail = np.zeros(1, np.bool_)
    >>> certify(np.zeros((1, 1)), np.array([[0.0], [5.0]]), np.zeros(2), np.array([[0]], np.int32),
    ...         np.array([12.5]), np.array([1.0]), np.zeros(1), np.zeros(1, np.int16), np.zeros(0, np.int64), fail)
    >>> bool(fail[0])
    False
    """
    S, k = cand.shape
    for s in numba.prange(S):
        best = np.inf
        for l in range(k):
            best = min(best, _power(y, s, x, cand[s, l], psi))
        bad = bound[s] - rise[frame[s]] < best + margin[s]
        if not bad:
            for q in range(extra.shape[0]):
                j = extra[q]
                if _power(y, s, x, j, psi) < best + margin[s]:
                    listed = False
                    for l in range(k):
                        if cand[s, l] == j:
                            listed = True
                    if not listed:
                        bad = True
                        break
        fail[s] = bad


# --- soft cells on the lists ----------------------------------------------------------------------


@numba.njit(cache=True, parallel=True)
def soft_eval(y, w, x, psi, cand, eps, n_chunks, best, second, gap, low, mass):
    """Smoothed c-transform term and soft masses of the quadrature on the candidate lists.

    Sample ``s`` goes to candidate ``j`` with probability ``p_sj ~ exp(-pi_sj / eps_s)``. Returns
    ``smooth = sum_s w_s (min_l pi_sl - eps_s log sum_l exp(-(pi_sl - min) / eps_s))`` (so that the
    semi-dual is ``a . psi + smooth``); writes ``mass_j = sum_s w_s p_sj``, each sample's hard cell
    ``best[s]``, its cost ``low[s]``, the runner-up ``second[s]`` and the gap between their costs ``gap[s]``.

    >>> import numpy as np
    >>> best = np.zeros(2, np.int32); second = best.copy(); gap = np.zeros(2); low = np.zeros(2)
    >>> m = np.zeros(2)
    >>> sm = soft_eval(np.array([[0.0], [1.0]]), np.full(2, 0.5), np.array([[0.0], [1.0]]), np.zeros(2),
    ...                np.array([[0, 1], [1, 0]], np.int32), np.full(2, 1e-3), 1, best, second, gap, low, m)
    >>> m.round(6).tolist(), best.tolist()
    ([0.5, 0.5], [0, 1])
    """
    S, k = cand.shape
    n = x.shape[0]
    part = np.zeros((n_chunks, n))
    smooth = np.zeros(n_chunks)
    for c in numba.prange(n_chunks):
        pi = np.empty(k)
        acc = 0.0
        for s in range(c * S // n_chunks, (c + 1) * S // n_chunks):
            m1, m2, arg, arg2 = np.inf, np.inf, 0, 0
            for l in range(k):
                v = _power(y, s, x, cand[s, l], psi)
                pi[l] = v
                if v < m1:
                    m2, m1, arg2, arg = m1, v, arg, l
                elif v < m2:
                    m2, arg2 = v, l
            best[s] = cand[s, arg]
            second[s] = cand[s, arg2]
            gap[s] = m2 - m1
            low[s] = m1
            e = eps[s]
            z = 0.0
            for l in range(k):
                t = (pi[l] - m1) / e
                pi[l] = np.exp(-t) if t < CUTOFF else 0.0
                z += pi[l]
            acc += w[s] * (m1 - e * np.log(z))
            scale = w[s] / z
            for l in range(k):
                if pi[l] > 0.0:
                    part[c, cand[s, l]] += scale * pi[l]
        smooth[c] = acc
    mass[:] = 0.0
    for c in range(n_chunks):
        for j in range(n):
            mass[j] += part[c, j]
    return smooth.sum()


@numba.njit(cache=True, parallel=True)
def hessian_count(y, x, psi, cand, eps, gap, cut, offsets):
    """Number of Newton-matrix pairs (see :func:`hessian_fill`); ``offsets`` (``n_chunks + 1``) receives each
    chunk's first slot.

    >>> import numpy as np
    >>> off = np.zeros(2, np.int64)
    >>> hessian_count(np.array([[0.5]]), np.array([[0.0], [1.0]]), np.zeros(2), np.array([[0, 1]], np.int32),
    ...               np.ones(1), np.zeros(1), 40.0, off)
    1
    """
    S, k = cand.shape
    n_chunks = offsets.shape[0] - 1
    offsets[0] = 0
    for c in numba.prange(n_chunks):
        pi = np.empty(k)
        tot = 0
        for s in range(c * S // n_chunks, (c + 1) * S // n_chunks):
            if gap[s] >= cut * eps[s]:
                continue
            m1 = _list_costs(y, s, x, psi, cand, pi)
            active = 0
            for l in range(k):
                if pi[l] - m1 < cut * eps[s]:
                    active += 1
            tot += active * (active - 1) // 2
        offsets[c + 1] = tot
    for c in range(n_chunks):
        offsets[c + 1] += offsets[c]
    return offsets[n_chunks]


@numba.njit(cache=True, parallel=True)
def hessian_fill(y, w, x, psi, cand, eps, gap, cut, offsets, rows, cols, vals):
    """Off-diagonal entries of the semi-dual's negative Hessian, ``W_ij = sum_s w_s p_si p_sj / eps_s``.

    Writes COO entries ``rows, cols, vals`` (duplicates to be summed) from the slots of
    :func:`hessian_count`; the Hessian is the graph Laplacian ``diag(W 1) - W`` of the symmetrised ``W``.
    Only the samples shared by two cells contribute: those whose ``gap`` (second smallest minus smallest
    cost, from :func:`soft_eval` at the same ``psi``) is below ``cut eps_s``; the pairs are those of the
    candidates with a soft weight above ``exp(-cut)`` (relative to the largest; smaller pairs change the
    Newton direction by less than that).

    >>> import numpy as np
    >>> y, x, cand = np.array([[0.5]]), np.array([[0.0], [1.0]]), np.array([[0, 1]], np.int32)
    >>> off = np.zeros(2, np.int64); r = np.zeros(1, np.int64); c = np.zeros(1, np.int64); v = np.zeros(1)
    >>> hessian_fill(y, np.ones(1), x, np.zeros(2), cand, np.ones(1), np.zeros(1), 40.0, off, r, c, v)
    >>> r.tolist(), c.tolist(), v.tolist()
    ([0], [1], [0.25])
    """
    S, k = cand.shape
    n_chunks = offsets.shape[0] - 1
    for c in numba.prange(n_chunks):
        pi = np.empty(k)
        q = offsets[c]
        for s in range(c * S // n_chunks, (c + 1) * S // n_chunks):
            if gap[s] >= cut * eps[s]:
                continue
            e = eps[s]
            z = _soft_row(y, s, x, psi, cand, e, pi, cut)
            f = w[s] / (e * z * z)
            for l in range(k):
                if pi[l] == 0.0:
                    continue
                for m in range(l + 1, k):
                    if pi[m] == 0.0:
                        continue
                    rows[q] = cand[s, l]
                    cols[q] = cand[s, m]
                    vals[q] = f * pi[l] * pi[m]
                    q += 1


@numba.njit(cache=True, inline="always")
def _list_costs(y, s, x, psi, cand, pi):
    """Power costs of sample ``s`` to its listed particles (into ``pi``); returns the smallest."""
    m1 = np.inf
    for l in range(cand.shape[1]):
        pi[l] = _power(y, s, x, cand[s, l], psi)
        m1 = min(m1, pi[l])
    return m1


@numba.njit(cache=True, inline="always")
def _soft_row(y, s, x, psi, cand, e, pi, cut=CUTOFF):
    """Soft weights (unnormalised, in ``pi``; zero beyond ``cut``) of sample ``s`` over its list; returns
    their sum."""
    m1 = _list_costs(y, s, x, psi, cand, pi)
    z = 0.0
    for l in range(cand.shape[1]):
        t = (pi[l] - m1) / e
        pi[l] = np.exp(-t) if t < cut else 0.0
        z += pi[l]
    return z


@numba.njit(cache=True, parallel=True)
def soft_moments(y, w, x, psi, cand, eps, n_chunks, mass, cen, cost, var):
    """Soft masses ``m_j``, centroids ``T_j``, transport costs ``sum_s w_s p_sj |y_s - x_j|^2 / 2`` and variances
    ``sum_s w_s p_sj |y_s - T_j|^2`` of every soft cell (an empty cell gets ``T_j = x_j``), into
    ``mass, cen, cost, var``.

    >>> import numpy as np
    >>> m, T, cost, var = np.zeros(1), np.zeros((1, 1)), np.zeros(1), np.zeros(1)
    >>> soft_moments(np.array([[0.0], [2.0]]), np.full(2, 0.5), np.array([[0.0]]), np.zeros(1),
    ...              np.zeros((2, 1), np.int32), np.ones(2), 1, m, T, cost, var)
    >>> m.tolist(), T.tolist(), cost.tolist(), var.tolist()
    ([1.0], [[1.0]], [1.0], [1.0])
    """
    S, k = cand.shape
    n, d = x.shape
    part = np.zeros((n_chunks, n, d + 2))
    for c in numba.prange(n_chunks):
        pi = np.empty(k)
        for s in range(c * S // n_chunks, (c + 1) * S // n_chunks):
            z = _soft_row(y, s, x, psi, cand, eps[s], pi)
            for l in range(k):
                if pi[l] > 0.0:
                    p = w[s] * pi[l] / z
                    j = cand[s, l]
                    part[c, j, 0] += p
                    part[c, j, 1] += p * (_power(y, s, x, j, psi) + psi[j])
                    for t in range(d):
                        part[c, j, 2 + t] += p * y[s, t]
    tot = np.zeros((n, d + 2))
    for c in range(n_chunks):
        tot += part[c]
    for j in range(n):
        mass[j] = tot[j, 0]
        cost[j] = tot[j, 1]
        for t in range(d):
            cen[j, t] = tot[j, 2 + t] / mass[j] if mass[j] > 0.0 else x[j, t]
    vpart = np.zeros((n_chunks, n))
    for c in numba.prange(n_chunks):
        pi = np.empty(k)
        for s in range(c * S // n_chunks, (c + 1) * S // n_chunks):
            z = _soft_row(y, s, x, psi, cand, eps[s], pi)
            for l in range(k):
                if pi[l] > 0.0:
                    j = cand[s, l]
                    acc = 0.0
                    for t in range(d):
                        diff = y[s, t] - cen[j, t]
                        acc += diff * diff
                    vpart[c, j] += w[s] * pi[l] / z * acc
    var[:] = 0.0
    for c in range(n_chunks):
        var += vpart[c]


@numba.njit(cache=True, parallel=True, fastmath={"contract", "arcp", "nsz"})
def brute_search(y, rows, x, psi, y32, xT32, half32, scale, cand, bound, lead, seeded, n_chunks):
    """Exact ``k`` smallest power costs of the samples ``rows`` by a scan of all particles.

    Same outputs as :func:`knn_search`. The scan runs in single precision on centred coordinates (``y32``,
    ``xT32 = (x - o).T`` and ``half32 = |x - o|^2 / 2 - psi``, ``o`` any centre) so that the loop over
    particles vectorises (``pi_sj = |y_s|^2/2 - y_s . x_j + half_j``); the listed costs are then recomputed
    in double precision from ``y, x, psi``, and ``bound`` is lowered by the single-precision rounding bound
    ``(d + 3) 2^-22 (|y_s|^2 / 2 + scale[0] + |y_s| scale[1])`` (``scale = (max |half32|, max |x - o|)``), so it
    remains a lower bound of every unlisted cost. With ``seeded`` the current list bounds the scan from
    the start.

    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0], [3.0]]); psi = np.zeros(3); y = np.array([[0.9]])
    >>> half = (0.5 * x[:, 0] ** 2 - psi).astype(np.float32); scale = np.array([4.5, 3.0])
    >>> cand = np.zeros((1, 2), np.int32); bound = np.zeros(1); lead = np.zeros(1)
    >>> brute_search(y, np.array([0]), x, psi, y.astype(np.float32), x.T.astype(np.float32), half, scale,
    ...              cand, bound, lead, False, 1)
    >>> cand.tolist(), round(float(bound[0]), 3), round(float(lead[0]), 3)
    ([[1, 0]], 0.405, 0.005)
    """
    k = cand.shape[1]
    d, n = xT32.shape
    nr = rows.shape[0]
    unit = (d + 3) * 2.0 ** -22
    for c in numba.prange(n_chunks):
        v = np.empty(n, np.float32)
        hv = np.empty(k)
        hx = np.empty(k, np.int64)
        for r in range(c * nr // n_chunks, (c + 1) * nr // n_chunks):
            s = rows[r]
            ys = np.float32(0.0)
            for t in range(d):
                ys += y32[s, t] * y32[s, t]
            ys *= np.float32(0.5)
            for j in range(n):
                v[j] = half32[j] + ys
            for t in range(d):
                yt = y32[s, t]
                for j in range(n):
                    v[j] -= yt * xT32[t, j]
            hv[:] = np.inf
            hx[:] = -1
            if seeded:
                for l in range(k):
                    j = cand[s, l]
                    if 0 <= j < n:
                        _insert(np.float64(v[j]), j, hv, hx, k)
            for j in range(n):
                if v[j] < hv[k - 1]:
                    _insert(np.float64(v[j]), j, hv, hx, k)
            slack = unit * (np.float64(ys) + scale[0] + np.sqrt(2.0 * np.float64(ys)) * scale[1])
            bound[s] = hv[k - 1] - slack
            for l in range(k):  # exact costs of the list, in ascending order
                hv[l] = _power(y, s, x, hx[l], psi)
            for l in range(1, k):
                val, idx, q = hv[l], hx[l], l
                while q > 0 and hv[q - 1] > val:
                    hv[q] = hv[q - 1]
                    hx[q] = hx[q - 1]
                    q -= 1
                hv[q] = val
                hx[q] = idx
            for l in range(k):
                cand[s, l] = hx[l]
            lead[s] = hv[0]
            bound[s] = min(bound[s], hv[k - 1])
