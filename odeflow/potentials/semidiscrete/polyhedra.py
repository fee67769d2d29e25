"""Numba kernels of the exact 3-D semi-discrete path: Laguerre cells as convex polyhedra in a box.

A cell is stored as a *simple* polyhedron: every vertex has exactly three edges. Vertex ``v`` keeps its
position ``P[:, v]`` (relative to its site), its three neighbours ``nb[v, 0..2]`` in counter-clockwise
order seen from outside, and the labels ``fc[v, k]`` of the three faces around it (``fc[v, k]`` lies
between the edges to ``nb[v, k]`` and ``nb[v, k + 1]``; walking that face counter-clockwise, the
vertex after ``v`` is ``nb[v, k]``). The box is simple, and clipping by a plane keeps the structure
simple: every new vertex sits on a cut edge, with that edge's two faces and the new one. Each vertex is
classified once (on the plane counts as inside), so the result is a valid polyhedron whatever the
rounding; degenerate input only makes zero-length edges.

Faces are labelled by what made them: negative labels are the sides of the box, the others name the
cutting site (or its slot in a candidate list). Volume, first and second moments come from tetrahedral
fans about the mean of the vertices, which lies inside the cell, so every term is positive.

The loops over cells are written as chunks of cells under ``numba.prange``; they run in parallel only
when :data:`PARALLEL` is set (before the module is imported). It is off: on the shared 2-core machine
these kernels were measured on, two numba threads (OpenMP or workqueue layer) made a full search 2 to 8
times slower than one thread; on an idle many-core machine the chunks should scale.
"""

from __future__ import annotations

import numba
import numpy as np

#: Compile the loops over cells with ``parallel=True`` (see the module docstring).
PARALLEL = False
#: Largest vertex capacity tried for one polyhedron before it is reported broken.
ROOM_LIMIT = 1 << 16


# --- one polyhedron ----------------------------------------------------------------------------------


@numba.njit(cache=True)
def _scratch(cap):
    """Work arrays for one polyhedron of at most ``cap`` vertices:
    ``P, nb, fc, s, cross, origin, gone, seen, flab, farea``."""
    return (np.empty((3, cap)), np.empty((cap, 3), np.int64), np.empty((cap, 3), np.int64), np.empty(cap),
            np.empty((cap, 3), np.int64), np.empty((cap, 2), np.int64), np.empty(cap, np.int64),
            np.empty((cap, 3), np.bool_), np.empty(cap, np.int64), np.empty(cap))


@numba.njit(cache=True)
def _box(lo, hi, xi, P, nb, fc):
    """The box ``[lo, hi]`` relative to ``xi`` as a simple polyhedron (8 vertices); returns 8."""
    for v in range(8):
        bits = (v & 1, (v >> 1) & 1, (v >> 2) & 1)
        for a in range(3):
            P[a, v] = (hi[a] if bits[a] else lo[a]) - xi[a]
        # neighbour along axis a is v ^ (1 << a); (x, y, z) is counter-clockwise seen from outside
        # exactly when an odd number of bits are set, otherwise (x, z, y)
        odd = (bits[0] + bits[1] + bits[2]) & 1
        order = (0, 1, 2) if odd else (0, 2, 1)
        for k in range(3):
            nb[v, k] = v ^ (1 << order[k])
        for k in range(3):
            # face between the edges along order[k] and order[k + 1]: normal to the third axis
            a = 3 - order[k] - order[(k + 1) % 3]
            fc[v, k] = -(1 + 2 * a + bits[a])
    return 8


@numba.njit(cache=True, inline="always")
def _slot_after(nb, cur, prev):
    """The slot ``j`` of ``cur`` with ``nb[cur, j + 1] == prev`` (``-1`` if none)."""
    if nb[cur, 1] == prev:
        return 0
    if nb[cur, 2] == prev:
        return 1
    if nb[cur, 0] == prev:
        return 2
    return -1


@numba.njit(cache=True, inline="always")
def _slot_of(nb, cur, other):
    """The slot ``k`` of ``cur`` with ``nb[cur, k] == other`` (``-1`` if none)."""
    if nb[cur, 0] == other:
        return 0
    if nb[cur, 1] == other:
        return 1
    if nb[cur, 2] == other:
        return 2
    return -1


@numba.njit(cache=True, inline="always")
def _crossings(P, nb, fc, nv, nout, label, s, cross, origin, gone):
    """A new vertex (at the end) on every edge from an inside vertex to a removed one ``gone[:nout]``;
    ``cross[w, j]`` names the vertex on the edge from removed ``w`` along its slot ``j``. Returns the
    new vertex count, or -1 (no room, or broken structure)."""
    m = nv
    for g in range(nout):
        w = gone[g]
        for j in range(3):
            v = nb[w, j]
            if s[v] > 0.0:
                continue
            k = _slot_of(nb, v, w)
            if m >= P.shape[1] or k < 0:
                return -1
            t = s[v] / (s[v] - s[w])
            for a in range(3):
                P[a, m] = P[a, v] + t * (P[a, w] - P[a, v])
            nb[m, 0] = v
            nb[m, 1] = -1
            fc[m, 0] = fc[v, 2 if k == 0 else k - 1]
            fc[m, 1] = label
            fc[m, 2] = fc[v, k]
            cross[w, j] = m
            origin[m, 0] = v
            origin[m, 1] = w
            nb[v, k] = m
            m += 1
    return m


@numba.njit(cache=True, inline="always")
def _link(nb, nv, m, cross, origin):
    """Join the new vertices ``nv..m-1`` around the new face: the next one after ``u`` is found along
    face ``fc[u, 2]`` through the removed vertices. Returns False on a broken structure."""
    for u in range(nv, m):
        prev = origin[u, 0]
        cur = origin[u, 1]
        j = -1
        for _ in range(nv + 1):
            j = _slot_after(nb, cur, prev)
            if j < 0 or cross[cur, j] >= 0:
                break
            prev = cur
            cur = nb[cur, j]
        if j < 0 or cross[cur, j] < 0:
            return False
        nb[u, 2] = cross[cur, j]
        nb[cross[cur, j], 1] = u
    for u in range(nv, m):
        if nb[u, 1] < 0:
            return False
    return True


@numba.njit(cache=True, inline="always")
def _fill_holes(P, nb, fc, nv, m, nout, s, gone):
    """Move the last live vertices into the slots of the removed ones; returns the count (-1: broken)."""
    final = m - nout
    t = m - 1
    for g in range(nout):
        h = gone[g]
        if h >= final:
            break
        while t < nv and s[t] > 0.0:
            t -= 1
        for a in range(3):
            P[a, h] = P[a, t]
            fc[h, a] = fc[t, a]
            y = nb[t, a]
            nb[h, a] = y
            b = _slot_of(nb, y, t)
            if b < 0:
                return -1
            nb[y, b] = h
        t -= 1
    return final


@numba.njit(cache=True)
def clip_polyhedron(P, nb, fc, nv, n0, n1, n2, c, label, s, cross, origin, gone):
    """Clip the polyhedron ``(P, nb, fc)[:nv]`` by ``n . p <= c``; the new face gets ``label``.

    ``s``, ``cross``, ``origin`` and ``gone`` are scratch (see :func:`_scratch`). Returns
    ``(count, cut)``: the new vertex count (0 when the plane removes everything, -1 when the arrays,
    of capacity ``P.shape[1]``, are too small or the structure is broken) and whether the plane cut.
    Past the signed distances only the removed and the new vertices are touched.

    Examples
    --------
    The unit cube cut by ``y_0 <= 1/2`` (label 7), then its volume and faces:

    >>> import numpy as np
    >>> P, nb, fc, s, cross, origin, gone, seen, flab, farea = _scratch(64)
    >>> nv = _box(np.zeros(3), np.ones(3), np.zeros(3), P, nb, fc)
    >>> nv, cut = clip_polyhedron(P, nb, fc, nv, 1.0, 0.0, 0.0, 0.5, 7, s, cross, origin, gone)
    >>> acc = np.empty(5)
    >>> nf = polyhedron_integrals(P, nb, fc, nv, seen, flab, farea, acc)[3]
    >>> nv, cut, nf, float(acc[0]), sorted(flab[:nf].tolist())
    (8, True, 6, 0.5, [-6, -5, -4, -3, -1, 7])
    """
    px = P[0]
    py = P[1]
    pz = P[2]
    nout = 0
    for v in range(nv):
        sv = n0 * px[v] + n1 * py[v] + n2 * pz[v] - c
        s[v] = sv
        nout += 1 if sv > 0.0 else 0
    if nout == 0:
        return nv, False
    if nout == nv:
        return 0, True
    g = 0
    for v in range(nv):
        if s[v] > 0.0:
            gone[g] = v
            g += 1
            cross[v, 0] = -1
            cross[v, 1] = -1
            cross[v, 2] = -1
    m = _crossings(P, nb, fc, nv, nout, label, s, cross, origin, gone)
    if m < 0 or not _link(nb, nv, m, cross, origin):
        return -1, True
    return _fill_holes(P, nb, fc, nv, m, nout, s, gone), True


@numba.njit(cache=True, inline="always")
def _face(P, nb, nv, v0, k, cx, cy, cz, seen, acc):
    """Walk the face after vertex ``v0`` along slot ``k``; add its fan's tetrahedra (apex ``c``) to
    ``acc = (vol, mx, my, mz, m2)`` and return its area (-1: broken structure)."""
    ax = 0.0
    ay = 0.0
    az = 0.0
    p0x = P[0, v0] - cx
    p0y = P[1, v0] - cy
    p0z = P[2, v0] - cz
    prev = v0
    cur = nb[v0, k]
    for _ in range(nv):
        j = _slot_after(nb, cur, prev)
        if j < 0:
            return -1.0
        seen[cur, j] = True
        nxt = nb[cur, j]
        if nxt == v0:
            return 0.5 * np.sqrt(ax * ax + ay * ay + az * az)
        pax = P[0, cur] - cx
        pay = P[1, cur] - cy
        paz = P[2, cur] - cz
        pbx = P[0, nxt] - cx
        pby = P[1, nxt] - cy
        pbz = P[2, nxt] - cz
        ux = pax - p0x
        uy = pay - p0y
        uz = paz - p0z
        wx = pbx - p0x
        wy = pby - p0y
        wz = pbz - p0z
        nx = uy * wz - uz * wy  # (pa - p0) x (pb - p0): twice the oriented area of the fan triangle
        ny = uz * wx - ux * wz
        nz = ux * wy - uy * wx
        ax += nx
        ay += ny
        az += nz
        t = (p0x * nx + p0y * ny + p0z * nz) / 6.0  # volume of the tetrahedron (c, p0, pa, pb)
        acc[0] += t
        acc[1] += 0.25 * t * (p0x + pax + pbx)
        acc[2] += 0.25 * t * (p0y + pay + pby)
        acc[3] += 0.25 * t * (p0z + paz + pbz)
        acc[4] += 0.1 * t * (p0x * p0x + p0y * p0y + p0z * p0z + pax * pax + pay * pay + paz * paz
                             + pbx * pbx + pby * pby + pbz * pbz + p0x * pax + p0y * pay + p0z * paz
                             + p0x * pbx + p0y * pby + p0z * pbz + pax * pbx + pay * pby + paz * pbz)
        prev = cur
        cur = nxt
    return -1.0


@numba.njit(cache=True)
def polyhedron_integrals(P, nb, fc, nv, seen, flab, farea, acc):
    """Volume and moments of the polyhedron ``(P, nb, fc)[:nv]``, and its faces' labels and areas.

    With ``c`` the mean of the vertices (returned, in the coordinates of ``P``), ``acc`` receives
    ``(int 1, int (p - c), int |p - c|^2)`` (5 numbers); the faces go to ``flab, farea`` (``seen`` is
    scratch). Returns ``cx, cy, cz, nf``, the face count ``nf = -1`` flagging a broken structure.
    See :func:`clip_polyhedron` for an example.
    """
    cx = 0.0
    cy = 0.0
    cz = 0.0
    for v in range(nv):
        cx += P[0, v]
        cy += P[1, v]
        cz += P[2, v]
        seen[v, 0] = False
        seen[v, 1] = False
        seen[v, 2] = False
    cx /= nv
    cy /= nv
    cz /= nv
    acc[:] = 0.0
    nf = 0
    for v0 in range(nv):
        for k in range(3):
            if seen[v0, k]:
                continue
            seen[v0, k] = True
            area = _face(P, nb, nv, v0, k, cx, cy, cz, seen, acc)
            if area < 0.0:
                return cx, cy, cz, -1
            flab[nf] = fc[v0, k]
            farea[nf] = area
            nf += 1
    return cx, cy, cz, nf


@numba.njit(cache=True, inline="always")
def _distance(x, i, j):
    return np.sqrt((x[j, 0] - x[i, 0]) ** 2 + (x[j, 1] - x[i, 1]) ** 2 + (x[j, 2] - x[i, 2]) ** 2)


@numba.njit(cache=True)
def _cell_integrals(q, i, x, rho, centres, P, nb, fc, nv, seen, flab, farea, mass, moment, cost, volume):
    """Write row ``q``'s mass, moment, cost and volume; returns the number of faces (-1: broken)."""
    acc = np.empty(5)
    cx, cy, cz, nf = polyhedron_integrals(P, nb, fc, nv, seen, flab, farea, acc)
    if nf < 0:
        return nf
    vol = acc[0]
    volume[q] = vol
    mass[q] = rho * vol
    moment[q, 0] = rho * (vol * (x[i, 0] + cx) + acc[1])
    moment[q, 1] = rho * (vol * (x[i, 1] + cy) + acc[2])
    moment[q, 2] = rho * (vol * (x[i, 2] + cz) + acc[3])
    dx = cx + x[i, 0] - centres[i, 0]
    dy = cy + x[i, 1] - centres[i, 1]
    dz = cz + x[i, 2] - centres[i, 2]
    cost[q] = 0.5 * rho * (acc[4] + 2.0 * (dx * acc[1] + dy * acc[2] + dz * acc[3])
                           + vol * (dx * dx + dy * dy + dz * dz))
    return nf


def chunks_for(r: int) -> int:
    """Chunks of ``r`` rows for the parallel kernels: a few per numba thread (plain Python).

    >>> chunks_for(0), chunks_for(1)
    (1, 1)
    """
    return max(1, min(r, 8 * numba.get_num_threads())) if PARALLEL else 1


# --- cells from given neighbour lists ---------------------------------------------------------------


@numba.njit(cache=True)
def _clip_listed(i, x, psi, p0, p1, cidx, lo, hi, P, nb, fc, s, cross, origin, gone):
    """The box clipped by the half-spaces of the sites ``cidx[p0:p1]`` (face labels: the slots)."""
    nv = _box(lo, hi, x[i], P, nb, fc)
    for p in range(p0, p1):
        j = cidx[p]
        n0 = x[j, 0] - x[i, 0]
        n1 = x[j, 1] - x[i, 1]
        n2 = x[j, 2] - x[i, 2]
        c = 0.5 * (n0 * n0 + n1 * n1 + n2 * n2) + (psi[i] - psi[j])
        nv = clip_polyhedron(P, nb, fc, nv, n0, n1, n2, c, p, s, cross, origin, gone)[0]
        if nv <= 0:
            break
    return nv


@numba.njit(cache=True)
def _listed_rows(q0, q1, x, psi, rows, cptr, cidx, lo, hi, rho, centres, mass, moment, cost, volume, hess,
                 status):
    """Rows ``q0..q1-1`` of :func:`laguerre_cells_3d` (serial)."""
    widest = 0
    for q in range(q0, q1):
        widest = max(widest, cptr[q + 1] - cptr[q])
    cap = 5 * (widest + 6) + 16  # F faces: 2F - 4 vertices, and up to 1.5 times as many cut edges
    P, nb, fc, s, cross, origin, gone, seen, flab, farea = _scratch(cap)
    for q in range(q0, q1):
        i = rows[q]
        nv = _clip_listed(i, x, psi, cptr[q], cptr[q + 1], cidx, lo, hi, P, nb, fc, s, cross, origin, gone)
        while nv < 0 and cap < ROOM_LIMIT:  # degenerate input: retry with more room
            cap *= 2
            P, nb, fc, s, cross, origin, gone, seen, flab, farea = _scratch(cap)
            nv = _clip_listed(i, x, psi, cptr[q], cptr[q + 1], cidx, lo, hi, P, nb, fc, s, cross, origin, gone)
        status[q] = -1 if nv < 0 else 1
        if nv <= 0:
            continue
        nf = _cell_integrals(q, i, x, rho, centres, P, nb, fc, nv, seen, flab, farea, mass, moment, cost, volume)
        if nf < 0:
            status[q] = -1
        for f in range(nf):
            p = flab[f]
            if p >= 0:
                hess[p] += rho * farea[f] / _distance(x, i, cidx[p])


@numba.njit(cache=True, parallel=PARALLEL)
def laguerre_cells_3d(x, psi, rows, cptr, cidx, lo, hi, rho, centres, chunks=1):
    """Masses, moments, costs and Hessian entries of the Laguerre cells ``rows`` in the box ``[lo, hi]``.

    Cell ``L_i = {y in box : |y - x_i|^2/2 - psi_i <= |y - x_j|^2/2 - psi_j}`` of ``i = rows[q]`` is
    computed as the box clipped by the candidates ``cidx[cptr[q]:cptr[q + 1]]`` only (it contains
    the true cell, and equals it when the list holds all its neighbours); ``rho`` is the density.

    Parameters
    ----------
    x : (n, 3) sites; psi : (n,) duals; rows : (r,) int64 cells to compute
    cptr, cidx : (r + 1,), (nnz,) int64 candidate lists (CSR over ``rows``)
    lo, hi : (3,) box corners
    centres : (n, 3) the points ``cost`` is measured from (``x`` for the transport cost)
    chunks : int, pieces of ``rows`` run in parallel (:func:`chunks_for`)

    Returns
    -------
    mass (r,); moment (r, 3) ``int y dmu``; cost (r,) ``int |y - centres_i|^2 / 2 dmu``; volume (r,)
    hess (nnz,) ``rho |facet| / |x_i - x_j|`` per candidate slot (0 where the slot made no facet)
    status (r,) int8: 1 computed, -1 broken structure

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.25, 0.5, 0.5], [0.75, 0.5, 0.5]])
    >>> out = laguerre_cells_3d(x, np.zeros(2), np.arange(2), np.array([0, 1, 2]), np.array([1, 0]),
    ...                         np.zeros(3), np.ones(3), 1.0, x)
    >>> out[0].tolist(), out[4].tolist()   # two half-cubes, facet area 1 at distance 1/2
    ([0.5, 0.5], [2.0, 2.0])
    """
    r = rows.shape[0]
    mass = np.zeros(r)
    moment = np.zeros((r, 3))
    cost = np.zeros(r)
    volume = np.zeros(r)
    hess = np.zeros(cidx.shape[0])
    status = np.ones(r, np.int8)
    chunks = max(1, min(chunks, r))
    for c in numba.prange(chunks):
        _listed_rows(c * r // chunks, (c + 1) * r // chunks, x, psi, rows, cptr, cidx, lo, hi, rho, centres, mass,
                     moment, cost, volume, hess, status)
    return mass, moment, cost, volume, hess, status
