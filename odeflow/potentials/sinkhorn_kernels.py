"""Numba kernels of the log-domain Sinkhorn (:mod:`odeflow.potentials.sinkhorn`): every pass over an
``N x M`` kernel. Costs are computed on the fly from the points (no cost matrix is stored)."""

from __future__ import annotations

import math

import numba
import numpy as np

from .warm import _cost  # the one pair-cost kernel, c(x_i, y_j)

#: Kernel entries below ``exp(CUTOFF)`` times their row's largest entry are stored as 0.
CUTOFF = -100.0


@numba.njit(cache=True)
def absorb_rows(x, y, g, b, eps, p, f, K):
    """Log-domain row step: ``f_i = -eps log sum_j b_j exp((g_j - C_ij)/eps)`` and the kernel
    ``K_ij = exp((f_i + g_j - C_ij)/eps)`` (0 below ``exp(CUTOFF)`` of the row's largest), in place."""
    n, m = x.shape[0], y.shape[0]
    inv = 1.0 / eps
    for i in range(n):
        row = K[i]
        top = -np.inf
        for j in range(m):
            w = (g[j] - _cost(x, i, y, j, p)) * inv
            row[j] = w
            if w > top:
                top = w
        low = top + CUTOFF
        s = 0.0
        for j in range(m):
            w = row[j]
            if w > low:
                e = math.exp(w - top)
                row[j] = e
                s += b[j] * e
            else:
                row[j] = 0.0
        scale = 1.0 / s
        for j in range(m):
            row[j] *= scale
        f[i] = -eps * (top + math.log(s))


@numba.njit(cache=True)
def softmin_cols(x, y, f, a, eps, p, g):
    """Log-domain column step ``g_j = -eps log sum_i a_i exp((f_i - C_ij)/eps)`` (rows with a_i = 0 skipped)."""
    n, m = x.shape[0], y.shape[0]
    inv = 1.0 / eps
    top = np.full(m, -np.inf)
    for i in range(n):
        if a[i] <= 0.0:
            continue
        for j in range(m):
            w = (f[i] - _cost(x, i, y, j, p)) * inv
            if w > top[j]:
                top[j] = w
    s = np.zeros(m)
    for i in range(n):
        if a[i] <= 0.0:
            continue
        for j in range(m):
            w = (f[i] - _cost(x, i, y, j, p)) * inv - top[j]
            if w > CUTOFF:
                s[j] += a[i] * math.exp(w)
    for j in range(m):
        g[j] = -eps * (top[j] + math.log(s[j]))


@numba.njit(cache=True, fastmath=True)
def sweep(K, a, bv, lu, omega, ktu):
    """One Sinkhorn iteration's products in a single pass over ``K`` (each row is read once from memory).

    For every row: ``kbv_i = sum_j K_ij bv_j``; ``lu_i <- (1 - omega) lu_i - omega log kbv_i`` (in place);
    then ``ktu += a_i exp(lu_i) K_i.``. Returns the row marginal error ``sum_i a_i |exp(lu_i) kbv_i - 1|``
    (``bv = b * v``; the plan is ``a_i b_j K_ij u_i v_j``).
    """
    n, m = K.shape
    ktu[:] = 0.0
    err = 0.0
    for i in range(n):
        row = K[i]
        s = 0.0
        for j in range(m):
            s += row[j] * bv[j]
        lu[i] = (1.0 - omega) * lu[i] - omega * math.log(s)
        ui = math.exp(lu[i])
        err += a[i] * abs(ui * s - 1.0)
        c = a[i] * ui
        for j in range(m):
            ktu[j] += c * row[j]
    return err


@numba.njit(cache=True)
def absorb_sym(x, f, eps, p, K):
    """Symmetric kernel ``K_ik = exp((f_i + f_k - C_ik)/eps)`` of a self-problem (0 below ``exp(CUTOFF)`` of
    the row's largest), in place."""
    n = x.shape[0]
    inv = 1.0 / eps
    for i in range(n):
        row = K[i]
        top = -np.inf
        for k in range(n):
            w = (f[i] + f[k] - _cost(x, i, x, k, p)) * inv
            row[k] = w
            if w > top:
                top = w
        low = top + CUTOFF
        for k in range(n):
            w = row[k]
            row[k] = math.exp(w) if w > low else 0.0


@numba.njit(cache=True, fastmath=True)
def matvec(K, w, out):
    """``out = K @ w``, single-threaded (BLAS threads fight over a loaded machine's cores)."""
    n, m = K.shape
    for i in range(n):
        row = K[i]
        s = 0.0
        for j in range(m):
            s += row[j] * w[j]
        out[i] = s


@numba.njit(cache=True)
def readout(x, y, K, a, b, u, v, p):
    """Everything the result needs from the plan ``pi_ij = a_i b_j K_ij u_i v_j``, in one pass.

    Returns ``targets`` (row-normalised barycentres), ``units`` (row-normalised mean unit vectors toward
    the targets; zeros unless p == 1), ``row_mass`` ``(pi 1)_i``, ``col_mass`` ``(pi^T 1)_j`` and the
    transport cost ``<C, pi>``. Rows are normalised by their own kernel mass, not by ``a_i``, so particles of
    weight 0 get the gradient of the entropic potential too.
    """
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    targets = np.zeros((n, d))
    units = np.zeros((n, d))
    row_mass = np.zeros(n)
    col_mass = np.zeros(m)
    cost = 0.0
    for i in range(n):
        s = 0.0
        c_row = 0.0
        for j in range(m):
            w = b[j] * K[i, j] * v[j]
            if w == 0.0:
                continue
            s += w
            c = _cost(x, i, y, j, p)
            c_row += w * c
            for k in range(d):
                targets[i, k] += w * y[j, k]
            if p == 1 and c > 0.0:
                for k in range(d):
                    units[i, k] += w * (y[j, k] - x[i, k]) / c
            col_mass[j] += a[i] * u[i] * w
        for k in range(d):
            targets[i, k] /= s
            units[i, k] /= s
        row_mass[i] = a[i] * u[i] * s
        cost += a[i] * u[i] * c_row
    return targets, units, row_mass, col_mass, cost


@numba.njit(cache=True)
def plan_csr(K, a, b, u, v, floor):
    """The plan's entries with ``K_ij u_i v_j >= floor`` (i.e. ``pi_ij >= floor a_i b_j``) as CSR arrays."""
    n, m = K.shape
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        c = 0
        if a[i] > 0.0:
            for j in range(m):
                if K[i, j] * u[i] * v[j] >= floor:
                    c += 1
        indptr[i + 1] = indptr[i] + c
    indices = np.empty(indptr[n], dtype=np.int64)
    data = np.empty(indptr[n])
    for i in range(n):
        if a[i] <= 0.0:
            continue
        q = indptr[i]
        for j in range(m):
            k = K[i, j] * u[i] * v[j]
            if k >= floor:
                indices[q] = j
                data[q] = a[i] * b[j] * k
                q += 1
    return indptr, indices, data


@numba.njit(cache=True)
def mean_cost(x, a, y, b, p):
    """``sum_ij a_i b_j c(x_i, y_j)``, the cost of the independent coupling."""
    total = 0.0
    for i in range(x.shape[0]):
        s = 0.0
        for j in range(y.shape[0]):
            s += b[j] * _cost(x, i, y, j, p)
        total += a[i] * s
    return total
