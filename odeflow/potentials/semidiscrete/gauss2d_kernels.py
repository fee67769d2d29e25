"""Numba kernels: Laguerre cells integrated exactly against a 2-D Gaussian mixture.

For each component ``N(m, C)`` with ``C = L L^T`` (``L = V sqrt(Lambda)``, ``det V = +1``) and whitening
``W = L^{-1}``, the affine map ``q = W (y - m)`` sends a convex polygon to a convex polygon with the same
orientation and the component's measure to the standard normal ``phi(q_1) phi(q_2) dq``. In whitened
coordinates each cell is then integrated as follows.

* Reference point. ``c`` is the point of the polygon nearest to the component's centre (the centre itself
  when it lies inside). A rotation ``R`` puts ``c`` on the second axis, ``R c = (0, |c|)``; in the local
  coordinates ``w = R (q - c)`` the density is ``phi(w_u) phi(|c| + w_v)`` and the polygon lies in
  ``w_v >= 0`` (where the density decreases away from ``c``). All moments are taken about ``c``, so no
  large moments cancel.
* Green's theorem. ``int_P phi(w_u) w_u^a phi(|c| + w_v) w_v^b dA = oint phi(|c| + w_v) w_v^b k_a(w_u) dw_v``
  with ``k_a(x) = int_0^x t^a phi(t) dt`` in closed form (erf, expm1; a power series near 0, where the closed
  form would cancel). Each slice ``w_v = const`` is integrated exactly from the line ``w_u = 0`` through
  ``c`` and the centre; the remaining edge integrals have entire integrands, done by Gauss-Legendre with
  a node count chosen from the edge's "variation" ``V = l (|c| + max |w| + 1)`` (``l`` its length; the
  exponent of the density changes by about ``l (|c| + max |w|)`` along the edge and curves by ``l^2``)
  and long edges split in pieces. The parts of the polygon where the density is below ``e^-46`` times
  its value at ``c`` (``w_v`` or ``|w_u|`` large) are cut off first (half-planes: it stays convex).
* Facets. The density along a segment is a 1-D Gaussian: ``int phi_2 ds`` is closed form with erf/erfc
  (taken on the tail side), or Gauss-Legendre when the segment is short (where erf differences cancel).

In a mixture, components are visited in decreasing order of the bound ``w_k Q(|c_k|)`` on their mass in
the cell (the polygon lies in a half-plane at whitened distance ``|c_k|``; ``Q`` the normal tail), and a
component is skipped when that bound is below ``1e-18`` times the mass already found.

The kernels either integrate everything (``full=True``: masses, first and second moments) or only the
masses and facets (``full=False``, what the Newton iterations need: one closed-form function per node
instead of three, fewer nodes, and moments and costs left NaN).

Accuracy: about 1e-15 relative on masses and moments of ordinary cells (the tests ask 1e-12 against
scipy.integrate); moments about a point far from the cell, and cells far in a tail (whitened distance
> 6, where the density itself is only known to ``|q|^2 eps``), lose up to ~1e-13.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .polygons import _clip, _laguerre_polygon, _polygon_moments, _recentre
from .gauss2d_quadrature import INV_2PI, SQRT2, _green_full, _green_mass, segment_gauss

#: Cut-off of the whitened polygon: density below ``exp(-TAIL)`` times its value at the reference point.
TAIL = 46.0
#: Components whose mass bound is below this fraction of the mass found so far are skipped.
SKIP = 1e-18


@numba.njit(cache=True)
def _nearest(px, py, m, ox, oy, w00, w01, w10, w11):
    """Nearest point of the polygon to the component's centre, in whitened coordinates.

    ``(px, py)`` are the vertices relative to an origin; ``(ox, oy)`` the centre relative to that origin.
    Returns ``(distance, edge, t)``: the point is on edge ``edge`` at parameter ``t``; ``edge = -1`` when
    the centre is inside (distance 0).
    """
    inside = True
    best = np.inf
    bk = 0
    bt = 0.0
    ax = px[0] - ox
    ay = py[0] - oy
    qx0 = w00 * ax + w01 * ay
    qy0 = w10 * ax + w11 * ay
    qx = qx0
    qy = qy0
    for k in range(m):
        if k + 1 < m:
            ax = px[k + 1] - ox
            ay = py[k + 1] - oy
            nx = w00 * ax + w01 * ay
            ny = w10 * ax + w11 * ay
        else:
            nx = qx0
            ny = qy0
        ex = nx - qx
        ey = ny - qy
        if ey * qx - ex * qy < 0.0:
            inside = False
        ee = ex * ex + ey * ey
        t = 0.0
        if ee > 0.0:
            t = min(max(-(qx * ex + qy * ey) / ee, 0.0), 1.0)
        dx = qx + t * ex
        dy = qy + t * ey
        d2 = dx * dx + dy * dy
        if d2 < best:
            best = d2
            bk = k
            bt = t
        qx = nx
        qy = ny
    if inside:
        return 0.0, -1, 0.0
    return math.sqrt(best), bk, bt


@numba.njit(cache=True, inline="always")
def _cut_tails(wx, wy, wlab, m, vmax, cn, bx, by, blab):
    """Clip the local polygon to ``w_v <= cut``, ``|w_u| <= sqrt(2 TAIL)``, where the density is above
    ``exp(-TAIL)`` times its value at the reference point; returns the new vertex count."""
    cut = 2.0 * TAIL / (math.sqrt(cn * cn + 2.0 * TAIL) + cn)
    side = math.sqrt(2.0 * TAIL)
    umax = 0.0
    for k in range(m):
        umax = max(umax, abs(wx[k]))
    for c in range(3):
        if c == 0 and vmax <= cut or c > 0 and umax <= side:
            continue
        a = (0.0, 1.0, -1.0)[c]
        b = 1.0 if c == 0 else 0.0
        m = _clip(wx, wy, wlab, m, a, b, cut if c == 0 else side, -1, bx, by, blab)
        for k in range(m):
            wx[k] = bx[k]
            wy[k] = by[k]
            wlab[k] = blab[k]
        if m < 3:
            return m
    return m


@numba.njit(cache=True)
def _component(px, py, want, m, ox, oy, wh, fac, edge, t, full, sc):
    """One component's integrals over the polygon ``(px, py)[:m]`` (relative to an origin ``o``).

    ``(ox, oy)`` is the component's mean relative to ``o``, ``wh`` / ``fac`` its whitening / factor
    (2 x 2), ``(edge, t)`` the nearest point from :func:`_nearest`, ``sc`` the scratch of
    :func:`_scratch`. For the edges with ``want[k]``, the scratch's ``facet[k]`` receives the mean of
    ``phi_2`` along the edge, so that ``int_{edge k} rho_k ds = |edge k| facet[k] / det L``.

    Returns ``(mass, first_x, first_y, second)``: ``int rho_k``, ``int (y - o) rho_k``,
    ``int |y - o|^2 rho_k`` (the last three 0 unless ``full``).
    """
    wx, wy, wlab, bx, by, blab, facet = sc[5], sc[6], sc[7], sc[8], sc[9], sc[10], sc[11]
    cx = ox
    cy = oy
    r00 = 1.0
    r01 = 0.0
    r10 = 0.0
    r11 = 1.0
    cn = 0.0
    if edge >= 0:
        k1 = edge + 1 if edge + 1 < m else 0
        ex = px[edge] + t * (px[k1] - px[edge])
        ey = py[edge] + t * (py[k1] - py[edge])
        ax = ex - ox
        ay = ey - oy
        qx = wh[0, 0] * ax + wh[0, 1] * ay
        qy = wh[1, 0] * ax + wh[1, 1] * ay
        qn = math.hypot(qx, qy)
        if qn > 0.0:  # else the centre is on the boundary: keep it as the reference point
            cx = ex
            cy = ey
            cn = qn
            r00 = qy / qn
            r01 = -qx / qn
            r10 = qx / qn
            r11 = qy / qn
    a00 = r00 * wh[0, 0] + r01 * wh[1, 0]
    a01 = r00 * wh[0, 1] + r01 * wh[1, 1]
    a10 = r10 * wh[0, 0] + r11 * wh[1, 0]
    a11 = r10 * wh[0, 1] + r11 * wh[1, 1]
    vmax = -np.inf
    for k in range(m):
        dx = px[k] - cx
        dy = py[k] - cy
        wx[k] = a00 * dx + a01 * dy
        wy[k] = a10 * dx + a11 * dy
        wlab[k] = -1
        vmax = max(vmax, wy[k])
    for k in range(m):
        if want[k]:
            k1 = k + 1 if k + 1 < m else 0
            facet[k] = segment_gauss(wx[k], wy[k] + cn, wx[k1], wy[k1] + cn)
    mm = _cut_tails(wx, wy, wlab, m, vmax, cn, bx, by, blab)
    if mm < 3:
        return 0.0, 0.0, 0.0, 0.0
    if not full:
        return _green_mass(wx, wy, mm, cn) * INV_2PI, 0.0, 0.0, 0.0
    i00, i10, i01, i20, i11, i02 = _green_full(wx, wy, mm, cn)
    i00 *= INV_2PI
    i10 *= INV_2PI
    i01 *= INV_2PI
    i20 *= INV_2PI
    i11 *= INV_2PI
    i02 *= INV_2PI
    # B = L R^T maps local whitened coordinates back: y - c = B w
    b00 = fac[0, 0] * r00 + fac[0, 1] * r01
    b01 = fac[0, 0] * r10 + fac[0, 1] * r11
    b10 = fac[1, 0] * r00 + fac[1, 1] * r01
    b11 = fac[1, 0] * r10 + fac[1, 1] * r11
    f1x = b00 * i10 + b01 * i01
    f1y = b10 * i10 + b11 * i01
    g00 = b00 * b00 + b10 * b10
    g01 = b00 * b01 + b10 * b11
    g11 = b01 * b01 + b11 * b11
    second = ((cx * cx + cy * cy) * i00 + 2.0 * (cx * f1x + cy * f1y)
              + g00 * i20 + 2.0 * g01 * i11 + g11 * i02)
    return i00, cx * i00 + f1x, cy * i00 + f1y, second


@numba.njit(cache=True)
def _scratch(size, K):
    """Work arrays: per component (order, bound, distance, edge, t) and per vertex (``size`` each)."""
    return (np.empty(K, np.int64), np.empty(K), np.empty(K), np.empty(K, np.int64), np.empty(K),
            np.empty(size), np.empty(size), np.empty(size, np.int64), np.empty(size), np.empty(size),
            np.empty(size, np.int64), np.zeros(size), np.zeros(size))


@numba.njit(cache=True)
def _polygon_mixture(px, py, want, m, o0, o1, means, whiten, factor, weights, inv_det, full, sc):
    """Mixture integrals over the polygon ``(px, py)[:m]`` given relative to the origin ``(o0, o1)``.

    Returns ``(mass, first_x, first_y, second)`` as :func:`_component`. The scratch's ``fsum[k]``
    receives, for the edges with ``want[k]``, the mean density ``int_{edge k} rho ds / |edge k|``.
    """
    order, bound, cnear, enear, tnear, facet, fsum = sc[0], sc[1], sc[2], sc[3], sc[4], sc[11], sc[12]
    K = means.shape[0]
    for c in range(K):
        dist, e, t = _nearest(px, py, m, means[c, 0] - o0, means[c, 1] - o1, whiten[c, 0, 0], whiten[c, 0, 1],
                              whiten[c, 1, 0], whiten[c, 1, 1])
        cnear[c] = dist
        enear[c] = e
        tnear[c] = t
        bound[c] = weights[c] * 0.5 * math.erfc(dist / SQRT2)
        order[c] = c
    for a in range(1, K):  # insertion sort, decreasing bound
        c = order[a]
        b = a - 1
        while b >= 0 and bound[order[b]] < bound[c]:
            order[b + 1] = order[b]
            b -= 1
        order[b + 1] = c
    for k in range(m):
        fsum[k] = 0.0
    mass = 0.0
    f0 = 0.0
    f1 = 0.0
    sec = 0.0
    for a in range(K):
        c = order[a]
        if bound[c] < SKIP * mass:
            break
        res = _component(px, py, want, m, means[c, 0] - o0, means[c, 1] - o1, whiten[c], factor[c], enear[c],
                         tnear[c], full, sc)
        wt = weights[c]
        mass += wt * res[0]
        f0 += wt * res[1]
        f1 += wt * res[2]
        sec += wt * res[3]
        scale = wt * inv_det[c]
        for k in range(m):
            if want[k]:
                fsum[k] += scale * facet[k]
    return mass, f0, f1, sec


@numba.njit(cache=True)
def _inverse_dets(factor):
    K = factor.shape[0]
    out = np.empty(K)
    for c in range(K):
        out[c] = 1.0 / (factor[c, 0, 0] * factor[c, 1, 1] - factor[c, 0, 1] * factor[c, 1, 0])
    return out


@numba.njit(cache=True)
def _max_degree(indptr):
    top = 0
    for i in range(indptr.shape[0] - 1):
        top = max(top, indptr[i + 1] - indptr[i])
    return top


@numba.njit(cache=True)
def _polygons(x, psi, indptr, indices, lo, hi, active, stop_on_empty):
    """Every active cell's clipped polygon (relative to its site), stored back to back.

    Returns ``start, count, px, py, lab, area, ok``: cell i's vertices are ``start[i]:start[i] + count[i]``.
    With ``stop_on_empty``, stops at the first active cell without area (``ok`` False).
    """
    n = x.shape[0]
    start = np.empty(n + 1, np.int64)
    start[0] = 0
    for i in range(n):
        start[i + 1] = start[i] + indptr[i + 1] - indptr[i] + 6
    size = _max_degree(indptr) + 6
    bx = np.empty(size)
    by = np.empty(size)
    blab = np.empty(size, np.int64)
    qx = np.empty(size)
    qy = np.empty(size)
    qlab = np.empty(size, np.int64)
    px = np.empty(start[n])
    py = np.empty(start[n])
    lab = np.empty(start[n], np.int64)
    count = np.zeros(n, np.int64)
    area = np.zeros(n)
    for i in range(n):
        if not active[i]:
            continue
        m = _laguerre_polygon(i, x, psi, indptr, indices, lo, hi, bx, by, blab, qx, qy, qlab)
        if m >= 3:
            area[i] = max(_polygon_moments(bx, by, m)[0], 0.0)
        if area[i] <= 0.0:
            if stop_on_empty:
                return start, count, px, py, lab, area, False
            continue
        count[i] = m
        s = start[i]
        for k in range(m):
            px[s + k] = bx[k]
            py[s + k] = by[k]
            lab[s + k] = blab[k]
    return start, count, px, py, lab, area, True


@numba.njit(cache=True)
def gauss_cells(x, psi, indptr, indices, lo, hi, means, whiten, factor, weights, active, full, floor):
    """Masses, first moments, costs, Hessian entries and areas of the Laguerre cells against a mixture.

    The cells are those of :func:`odeflow.kernels.laguerre_cells_box` (clipped to the box ``[lo, hi]``);
    the density is ``sum_k weights[k] N(means[k], factor[k] factor[k]^T)`` with ``whiten[k] =
    factor[k]^{-1}`` (``det factor[k] > 0``). Each facet is integrated once, from the cell of the
    smaller index, and written to both slots (the Hessian is exactly symmetric).

    With ``floor > 0`` the kernel gives up as soon as an active cell has no area or a mass below
    ``floor`` (a damped Newton trial that will be rejected: the polygons are clipped first, so an empty
    cell costs no integral at all); ``ok`` is then False and the other outputs are incomplete.

    Returns
    -------
    mass : (n,); moment : (n, 2) ``int_{L_i} y rho``; cost : (n,) ``int_{L_i} |y - x_i|^2 / 2 rho``
        (moment and cost NaN unless ``full``)
    hess : (nnz,) ``int_{facet ij} rho ds / |x_i - x_j|`` in the slot of neighbour j of i
    area : (n,) Lebesgue area of each cell
    ok : bool

    Examples
    --------
    Two sites splitting the standard normal at ``y_1 = 0``: halves, and the density ``phi(0)`` along the
    line, over the distance 2:

    >>> import numpy as np
    >>> eye = np.eye(2)[None]
    >>> out = gauss_cells(np.array([[-1.0, 0.0], [1.0, 0.0]]), np.zeros(2), np.array([0, 1, 2]),
    ...                   np.array([1, 0]), np.full(2, -9.0), np.full(2, 9.0), np.zeros((1, 2)), eye, eye,
    ...                   np.ones(1), np.ones(2, np.bool_), True, 0.0)
    >>> out[0].round(12).tolist(), round(float(out[3][0] * 2 * np.sqrt(2 * np.pi)), 12)
    ([0.5, 0.5], 1.0)
    """
    n = x.shape[0]
    K = means.shape[0]
    inv_det = _inverse_dets(factor)
    start, count, pxs, pys, labs, area, ok = _polygons(x, psi, indptr, indices, lo, hi, active, floor > 0.0)
    size = _max_degree(indptr) + 8
    want = np.zeros(size, np.bool_)
    sc = _scratch(size, K)
    fsum = sc[12]
    mass = np.zeros(n)
    moment = np.full((n, 2), np.nan)
    cost = np.full(n, np.nan)
    hess = np.zeros(indices.shape[0])
    if not ok:
        return mass, moment, cost, hess, area, False
    for i in range(n):
        m = count[i]
        if m < 3:
            continue
        s = start[i]
        px = pxs[s:s + m]  # read only: _component works in its own scratch
        py = pys[s:s + m]
        lab = labs[s:s + m]
        for k in range(m):
            slot = lab[k]
            want[k] = slot >= 0 and (indices[slot] > i or not active[indices[slot]])
        ms, f0, f1, sec = _polygon_mixture(px, py, want, m, x[i, 0], x[i, 1], means, whiten, factor, weights,
                                           inv_det, full, sc)
        mass[i] = ms
        if ms < floor:
            return mass, moment, cost, hess, area, False
        if full:
            moment[i, 0] = x[i, 0] * ms + f0
            moment[i, 1] = x[i, 1] * ms + f1
            cost[i] = 0.5 * sec
        for k in range(m):
            if want[k]:
                slot = lab[k]
                k1 = k + 1 if k + 1 < m else 0
                j = indices[slot]
                length = math.hypot(px[k1] - px[k], py[k1] - py[k])
                h = fsum[k] * length / math.hypot(x[j, 0] - x[i, 0], x[j, 1] - x[i, 1])
                hess[slot] = h
                for q in range(indptr[j], indptr[j + 1]):  # the mirror slot: i in j's list
                    if indices[q] == i:
                        hess[q] = h
                        break
    return mass, moment, cost, hess, area, True


@numba.njit(cache=True)
def gauss_cell_variance(x, psi, indptr, indices, lo, hi, means, whiten, factor, weights, active, centres):
    """``int_{L_i} |y - c_i|^2 rho`` of every cell of :func:`gauss_cells`, about the centres ``c_i``.

    The polygon is shifted to ``c_i`` before it is integrated, so the variance is computed directly.

    >>> import numpy as np
    >>> eye = np.eye(2)[None]
    >>> v = gauss_cell_variance(np.zeros((1, 2)), np.zeros(1), np.zeros(2, np.int64), np.zeros(0, np.int64),
    ...                         np.full(2, -9.0), np.full(2, 9.0), np.zeros((1, 2)), eye, eye, np.ones(1),
    ...                         np.ones(1, np.bool_), np.array([[1.0, 0.0]]))
    >>> round(float(v[0]), 12)   # about (1, 0): 2 + 1
    3.0
    """
    n = x.shape[0]
    K = means.shape[0]
    inv_det = np.ones(K)
    size = _max_degree(indptr) + 8
    px = np.empty(size)
    py = np.empty(size)
    lab = np.empty(size, np.int64)
    qx = np.empty(size)
    qy = np.empty(size)
    qlab = np.empty(size, np.int64)
    want = np.zeros(size, np.bool_)
    sc = _scratch(size, K)
    out = np.zeros(n)
    for i in range(n):
        if not active[i]:
            continue
        m = _laguerre_polygon(i, x, psi, indptr, indices, lo, hi, px, py, lab, qx, qy, qlab)
        if m < 3:
            continue
        _recentre(px, py, m, x, i, centres)
        out[i] = _polygon_mixture(px, py, want, m, centres[i, 0], centres[i, 1], means, whiten, factor, weights,
                                  inv_det, True, sc)[3]
    return out


@numba.njit(cache=True)
def gauss_polygon(vx, vy, origin, means, whiten, factor, weights, full):
    """Integrals of the mixture over one convex polygon (CCW vertices ``vx, vy``), about ``origin``.

    Returns ``(mass, first, second, edge_mass)``: ``int rho``, ``int (y - origin) rho`` (2,),
    ``int |y - origin|^2 rho`` (NaN unless ``full``) and, per edge k (vertex k to k+1),
    ``int_{edge} rho ds`` (m,).

    >>> import numpy as np
    >>> eye = np.eye(2)[None]
    >>> sq = np.array([-50.0, 50.0, 50.0, -50.0]), np.array([-50.0, -50.0, 50.0, 50.0])
    >>> out = gauss_polygon(sq[0], sq[1], np.zeros(2), np.zeros((1, 2)), eye, eye, np.ones(1), True)
    >>> round(out[0], 14), round(out[2], 12)
    (1.0, 2.0)
    """
    m = vx.shape[0]
    K = means.shape[0]
    inv_det = _inverse_dets(factor)
    px = np.empty(m + 4)
    py = np.empty(m + 4)
    for k in range(m):
        px[k] = vx[k] - origin[0]
        py[k] = vy[k] - origin[1]
    want = np.ones(m + 4, np.bool_)
    sc = _scratch(m + 4, K)
    ms, f0, f1, sec = _polygon_mixture(px, py, want, m, origin[0], origin[1], means, whiten, factor, weights,
                                       inv_det, full, sc)
    first = np.array([f0, f1]) if full else np.full(2, np.nan)
    edge_mass = np.empty(m)
    for k in range(m):
        k1 = k + 1 if k + 1 < m else 0
        edge_mass[k] = sc[12][k] * math.hypot(px[k1] - px[k], py[k1] - py[k])
    return ms, first, sec if full else np.nan, edge_mass
