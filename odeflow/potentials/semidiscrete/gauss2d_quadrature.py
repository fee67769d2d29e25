"""Numba quadrature for :mod:`odeflow.potentials.gauss2d_kernels`: 1-D Gaussian integrals on segments.

``k_a(x) = int_0^x t^a exp(-t^2/2) dt`` (a power series near 0, erf/expm1 elsewhere), the integral of
the standard 2-D normal along a segment (Gauss-Legendre when short, erf/erfc on the tail side when
long), and the Green's-theorem edge sums of a polygon in local whitened coordinates (see the kernels'
module docstring), with Gauss-Legendre rules whose size follows each edge's variation.
"""

from __future__ import annotations

import math

import numba
import numpy as np

INV_2PI = 1.0 / (2.0 * math.pi)
SQRT_2PI = math.sqrt(2.0 * math.pi)
SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
SQRT2 = math.sqrt(2.0)

#: Largest Gauss-Legendre rule used on one edge piece; longer edges are split.
GL_MAX = 10
#: ``VLIM_*[n]``: largest edge variation ``V`` (see :func:`_edge_rule`) integrated with ``n``
#: Gauss-Legendre nodes, for the masses (integrand: a linear factor times a smooth one) and for all
#: moments (a cubic factor). The error of an n-point rule falls like ``V^(2n - degree)``; these limits
#: were measured on random edges (error below ~3e-15 of the edge's integral of |integrand|, the
#: rounding level), with a margin of ~1.5.
VLIM_MASS = np.array([0.0, 0.0, 0.0, 0.007, 0.07, 0.2, 0.7, 1.0, 2.0, 2.5, 3.0])
VLIM_FULL = np.array([0.0, 0.0, 0.0, 2e-4, 0.007, 0.07, 0.2, 0.7, 1.0, 2.0, 2.5])


def _gauss_legendre_table():
    t = np.zeros((GL_MAX + 1, GL_MAX))
    w = np.zeros((GL_MAX + 1, GL_MAX))
    for n in range(1, GL_MAX + 1):
        x, wt = np.polynomial.legendre.leggauss(n)
        t[n, :n] = 0.5 * (x + 1.0)
        w[n, :n] = 0.5 * wt
    return t, w


GL_T, GL_W = _gauss_legendre_table()


def _series(a, terms):
    """Coefficients of ``k_a(x) / x^(a+1)`` as a power series in ``x^2``."""
    return np.array([(-0.5) ** n / (math.factorial(n) * (2 * n + a + 1)) for n in range(terms)])


S0_SHORT, S1_SHORT, S2_SHORT = _series(0, 9), _series(1, 9), _series(2, 9)  # |x| <= 0.25
S0_LONG, S1_LONG, S2_LONG = _series(0, 17), _series(1, 17), _series(2, 17)  # |x| <= 1


@numba.njit(cache=True, inline="always")
def _nodes(v, vlim):
    """Gauss-Legendre node count for an edge piece of variation ``v <= vlim[GL_MAX]``."""
    n = 3
    while vlim[n] < v:
        n += 1
    return n


@numba.njit(cache=True, inline="always")
def _k012(x):
    """``k_a(x) = int_0^x t^a exp(-t^2/2) dt`` for a = 0, 1, 2 (relative accuracy ~1e-16)."""
    y = x * x
    ax = abs(x)
    if ax <= 0.25:
        s0 = S0_SHORT[8]
        s1 = S1_SHORT[8]
        s2 = S2_SHORT[8]
        for n in range(7, -1, -1):
            s0 = s0 * y + S0_SHORT[n]
            s1 = s1 * y + S1_SHORT[n]
            s2 = s2 * y + S2_SHORT[n]
        return x * s0, y * s1, x * y * s2
    if ax <= 1.0:
        s0 = S0_LONG[16]
        s1 = S1_LONG[16]
        s2 = S2_LONG[16]
        for n in range(15, -1, -1):
            s0 = s0 * y + S0_LONG[n]
            s1 = s1 * y + S1_LONG[n]
            s2 = s2 * y + S2_LONG[n]
        return x * s0, y * s1, x * y * s2
    k0 = SQRT_HALF_PI * math.erf(x / SQRT2)
    k1 = -math.expm1(-0.5 * y)
    return k0, k1, k0 - x * (1.0 - k1)


@numba.njit(cache=True, inline="always")
def _k0(x):
    """``k_0(x) = int_0^x exp(-t^2/2) dt``."""
    if abs(x) <= 0.25:
        y = x * x
        s0 = S0_SHORT[8]
        for n in range(7, -1, -1):
            s0 = s0 * y + S0_SHORT[n]
        return x * s0
    return SQRT_HALF_PI * math.erf(x / SQRT2)


@numba.njit(cache=True, inline="always")
def _normal_diff(s0, s1):
    """``Phi(s1) - Phi(s0)`` for ``s0 <= s1``, on the tail side (no cancellation of values near 1)."""
    if s0 >= 0.0:
        return 0.5 * (math.erfc(s0 / SQRT2) - math.erfc(s1 / SQRT2))
    if s1 <= 0.0:
        return 0.5 * (math.erfc(-s1 / SQRT2) - math.erfc(-s0 / SQRT2))
    return 0.5 * (math.erf(s1 / SQRT2) - math.erf(s0 / SQRT2))


@numba.njit(cache=True)
def segment_gauss(u0, v0, u1, v1):
    """``int_0^1 phi_2(g(t)) dt`` along ``g(t) = (u0, v0) + t (u1 - u0, v1 - v0)``, standard normal ``phi_2``.

    >>> round(segment_gauss(0.0, 0.0, 0.0, 0.0) * 2 * 3.141592653589793, 12)
    1.0
    """
    du = u1 - u0
    dv = v1 - v0
    ell = math.hypot(du, dv)
    r = max(math.hypot(u0, v0), math.hypot(u1, v1))
    var = ell * (r + 1.0)
    if var <= VLIM_MASS[GL_MAX]:
        n = _nodes(var, VLIM_MASS)
        s = 0.0
        for j in range(n):
            t = GL_T[n, j]
            u = u0 + t * du
            v = v0 + t * dv
            s += GL_W[n, j] * math.exp(-0.5 * (u * u + v * v))
        return s * INV_2PI
    s0 = (u0 * du + v0 * dv) / ell
    d = (u0 * dv - v0 * du) / ell
    return math.exp(-0.5 * d * d) * _normal_diff(s0, s0 + ell) / (SQRT_2PI * ell)


@numba.njit(cache=True, inline="always")
def _edge_rule(wx, wy, k, k1, cn, vlim):
    """``(pieces, nodes)`` of the Gauss-Legendre rule for edge ``k -> k1`` of the local polygon.

    The edge's variation is ``V = |dv| (cn + max |v| + 1) + |du| (min(max |u|, 4) + 1)``: the exponent
    of ``phi(cn + v)`` changes by about the first term along the edge (and curves by ``dv^2``), and
    ``k_a(u)`` varies on the scale 1 near ``u = 0`` and saturates beyond ``|u| ~ 4``.
    """
    du = abs(wx[k1] - wx[k])
    dv = abs(wy[k1] - wy[k])
    umax = min(max(abs(wx[k]), abs(wx[k1])), 4.0)
    vmax = max(abs(wy[k]), abs(wy[k1]))
    var = dv * (cn + vmax + 1.0) + du * (umax + 1.0)
    pieces = 1
    if var > vlim[GL_MAX]:
        pieces = int(math.ceil(var / vlim[GL_MAX]))
    return pieces, _nodes(var / pieces, vlim)


@numba.njit(cache=True)
def _green_mass(wx, wy, m, cn):
    """``int phi(w_u) phi(cn + w_v) dA`` over the CCW polygon ``(wx, wy)[:m]``, times ``2 pi``."""
    total = 0.0
    for k in range(m):
        k1 = k + 1 if k + 1 < m else 0
        u0 = wx[k]
        v0 = wy[k]
        du = wx[k1] - u0
        dv = wy[k1] - v0
        if dv == 0.0:
            continue
        pieces, n = _edge_rule(wx, wy, k, k1, cn, VLIM_MASS)
        s = 0.0
        for p in range(pieces):
            for j in range(n):
                t = (p + GL_T[n, j]) / pieces
                vv = cn + v0 + t * dv
                s += GL_W[n, j] * math.exp(-0.5 * vv * vv) * _k0(u0 + t * du)
        total += s * dv / pieces
    return total


@numba.njit(cache=True)
def _green_full(wx, wy, m, cn):
    """Moments ``int w_u^a w_v^b phi(w_u) phi(cn + w_v) dA`` (a + b <= 2) over the CCW polygon, times ``2 pi``.

    Returns ``(I00, I10, I01, I20, I11, I02)``.
    """
    i00 = 0.0
    i10 = 0.0
    i01 = 0.0
    i20 = 0.0
    i11 = 0.0
    i02 = 0.0
    for k in range(m):
        k1 = k + 1 if k + 1 < m else 0
        u0 = wx[k]
        v0 = wy[k]
        du = wx[k1] - u0
        dv = wy[k1] - v0
        if dv == 0.0:
            continue
        pieces, n = _edge_rule(wx, wy, k, k1, cn, VLIM_FULL)
        s00 = 0.0
        s10 = 0.0
        s01 = 0.0
        s20 = 0.0
        s11 = 0.0
        s02 = 0.0
        for p in range(pieces):
            for j in range(n):
                t = (p + GL_T[n, j]) / pieces
                v = v0 + t * dv
                vv = cn + v
                e = GL_W[n, j] * math.exp(-0.5 * vv * vv)
                a0, a1, a2 = _k012(u0 + t * du)
                s00 += e * a0
                s10 += e * a1
                s20 += e * a2
                ev = e * v
                s01 += ev * a0
                s11 += ev * a1
                s02 += ev * v * a0
        h = dv / pieces
        i00 += h * s00
        i10 += h * s10
        i01 += h * s01
        i20 += h * s20
        i11 += h * s11
        i02 += h * s02
    return i00, i10, i01, i20, i11, i02
