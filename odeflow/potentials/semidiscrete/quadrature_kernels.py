"""Numba kernels of the sampled path: candidate lists, soft cells, the smoothed semi-dual and its Hessian."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def candidate_costs(y, x, cand):
    """``cost[s, l] = |y_s - x_{cand[s, l]}|^2 / 2`` for the candidate sites of every sample."""
    S, k = cand.shape
    d = y.shape[1]
    cost = np.empty((S, k))
    for s in range(S):
        for l in range(k):
            j = cand[s, l]
            acc = 0.0
            for t in range(d):
                diff = y[s, t] - x[j, t]
                acc += diff * diff
            cost[s, l] = 0.5 * acc
    return cost


@numba.njit(cache=True)
def star_pattern(cand, n):
    """Sparsity pattern of the pairs (first candidate, other candidate) of every sample.

    Returns ``indptr, indices`` (CSR over the first candidate) and ``slot[s, l]``, the position of the
    pair ``(cand[s, 0], cand[s, l])`` in ``indices`` (``-1`` for ``l = 0``).
    """
    S, k = cand.shape
    count = np.zeros(n + 1, np.int64)
    for s in range(S):
        count[cand[s, 0] + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    order = np.empty(S, np.int64)
    fill = count[:n].copy()
    for s in range(S):
        i = cand[s, 0]
        order[fill[i]] = s
        fill[i] += 1
    slot = np.full((S, k), -1, np.int32)
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(S * (k - 1) if k > 1 else 0, np.int64)
    mark = np.full(n, -1, np.int64)
    pos = np.zeros(n, np.int64)
    w = 0
    for i in range(n):
        for q in range(count[i], count[i + 1]):
            s = order[q]
            for l in range(1, k):
                j = cand[s, l]
                if mark[j] != i:
                    mark[j] = i
                    pos[j] = w
                    indices[w] = j
                    w += 1
                slot[s, l] = pos[j]
        indptr[i + 1] = w
    return indptr, indices[:w].copy(), slot


@numba.njit(cache=True)
def soft_cells(y, psi, cand, cost, eps, slot, nnz, n, prob):
    """Soft (entropic) Laguerre cells of the quadrature ``y`` (uniform weights ``1/S``).

    Sample ``s`` goes to its candidate ``cand[s, l]`` with probability ``p_sl`` proportional to
    ``exp((psi_j - cost[s, l]) / eps_s)``; ``eps`` (S,) is each sample's smoothing.

    Returns
    -------
    mass : (n,) ``sum_s p_sj / S``; moment : (n, d) ``sum_s p_sj y_s / S``; tcost : (n,) ``sum_s p_sj c_sj / S``
    smooth : float ``1 / S sum_s eps_s log sum_l exp((psi_l - c_sl) / eps_s)`` (smoothed c-transform term)
    star : (nnz,) ``sum_s p_s0 p_sl / (eps_s S)`` in the slots of :func:`star_pattern`
    tail : float, the largest probability of a last candidate (truncation check)

    The probabilities are written to ``prob`` (S, k).
    """
    S, k = cand.shape
    d = y.shape[1]
    mass = np.zeros(n)
    moment = np.zeros((n, d))
    tcost = np.zeros(n)
    star = np.zeros(nnz)
    p = np.empty(k)
    smooth = 0.0
    tail = 0.0
    for s in range(S):
        top = -np.inf
        e = eps[s]
        for l in range(k):
            v = (psi[cand[s, l]] - cost[s, l]) / e
            p[l] = v
            if v > top:
                top = v
        tot = 0.0
        for l in range(k):
            p[l] = np.exp(p[l] - top)
            tot += p[l]
        smooth += e * (top + np.log(tot))
        for l in range(k):
            p[l] /= tot
            prob[s, l] = p[l]
            j = cand[s, l]
            mass[j] += p[l]
            tcost[j] += p[l] * cost[s, l]
            for t in range(d):
                moment[j, t] += p[l] * y[s, t]
        for l in range(1, k):
            star[slot[s, l]] += p[0] * p[l] / e
        if p[k - 1] > tail:
            tail = p[k - 1]
    inv = 1.0 / S
    for j in range(n):
        mass[j] *= inv
        tcost[j] *= inv
        for t in range(d):
            moment[j, t] *= inv
    for q in range(nnz):
        star[q] *= inv
    return mass, moment, tcost, smooth * inv, star, tail


@numba.njit(cache=True)
def soft_objective(psi, cand, cost, eps):
    """Only the smoothed c-transform term of :func:`soft_cells` (for line searches)."""
    S, k = cand.shape
    smooth = 0.0
    for s in range(S):
        e = eps[s]
        top = -np.inf
        for l in range(k):
            v = (psi[cand[s, l]] - cost[s, l]) / e
            if v > top:
                top = v
        tot = 0.0
        for l in range(k):
            tot += np.exp((psi[cand[s, l]] - cost[s, l]) / e - top)
        smooth += e * (top + np.log(tot))
    return smooth / S


@numba.njit(cache=True)
def soft_hessian_matvec(prob, cand, v, eps):
    """``H v`` for ``H = (1 / S) sum_s (diag(p_s) - p_s p_s^T) / eps_s`` on the candidate lists."""
    S, k = cand.shape
    out = np.zeros(v.shape[0])
    for s in range(S):
        mean = 0.0
        for l in range(k):
            mean += prob[s, l] * v[cand[s, l]]
        w = 1.0 / eps[s]
        for l in range(k):
            j = cand[s, l]
            out[j] += w * prob[s, l] * (v[j] - mean)
    scale = 1.0 / S
    for j in range(out.shape[0]):
        out[j] *= scale
    return out


# --- within-cell variance of the soft cells (docs/theory.rst §3.2) ---------------------------------------



@numba.njit(cache=True)
def soft_cell_variance(y, cand, prob, centres):
    """``sum_s p_si |y_s - c_i|^2 / S`` of every soft cell of the quadrature (see :func:`soft_cells`).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[0.0], [1.0], [3.0]])
    >>> v = soft_cell_variance(y, np.array([[0], [0], [1]], np.int32), np.ones((3, 1)), np.array([[0.5], [3.0]]))
    >>> v.round(12).tolist()
    [0.166666666667, 0.0]
    """
    S, k = cand.shape
    d = y.shape[1]
    n = centres.shape[0]
    out = np.zeros(n)
    for s in range(S):
        for l in range(k):
            j = cand[s, l]
            acc = 0.0
            for t in range(d):
                diff = y[s, t] - centres[j, t]
                acc += diff * diff
            out[j] += prob[s, l] * acc
    inv = 1.0 / S
    for j in range(n):
        out[j] *= inv
    return out
