"""Candidate lists of the semi-discrete w1 solver (:mod:`.apollonius`): the sites' k-d tree, and per sample
the sites that compete for it, exact within a window of its best value, with a certificate that says when a
list is still exact after the duals move (so that a Newton step re-searches only the samples that fail it).

The search itself is :func:`.apollonius_search.nearest_cells`; the certificate test is
:func:`.apollonius_kernels.failing_lists`.
"""

from __future__ import annotations

import numpy as np

from .apollonius_kernels import failing_lists
from .apollonius_search import build_tree, nearest_cells, node_geometry, node_lifts, tree_arrays

#: Sites within WINDOW * eps_s of a sample's best value are kept (a dropped one weighs < e^-WINDOW).
WINDOW = 12.0
#: Extra room of the lists, in units of each sample's eps: a list is reused while its certificate holds.
MARGIN = 20.0
LEAF_SIZE = 16


class Sites:
    """The particles of one solve, their k-d tree, and the candidate lists at a reference ``psi``."""

    def __init__(self, x, y, kmax):
        self.x, self.y, self.kmax = x, y, kmax
        n, d = x.shape
        arrays = tree_arrays(n, d)
        m = build_tree(x, LEAF_SIZE, *arrays)
        self.perm = arrays[0]
        self.rank = np.empty(n, np.int64)
        self.rank[self.perm] = np.arange(n)
        self.xs = np.ascontiguousarray(x[self.perm])
        lo, hi, start, end, left, right = (v[:m] for v in arrays[1:])
        centre, radius = np.empty((m, d)), np.empty(m)
        node_geometry(self.xs, start, end, centre, radius)
        self.tree = (lo, hi, start, end, left, right, centre, radius)
        self.guess = np.full(y.shape[0], -1, np.int64)
        self.queries = 0

    def lists(self, psi, window, kmax=None, rows=None):
        """Exact candidate lists at ``psi`` for all samples or for ``rows`` (see
        :func:`.apollonius_search.nearest_cells`): ``(cand, dist, count, cut_gap)``."""
        zs = (np.max(psi) - psi)[self.perm]
        nodes, d = self.tree[0].shape
        lifts = (np.empty(nodes), np.empty((nodes, d)), np.empty(nodes))
        node_lifts(self.xs, zs, self.tree[2], self.tree[3], self.tree[6], *lifts)
        y, guess = (self.y, self.guess) if rows is None else (self.y[rows], self.guess[rows])
        k = self.kmax if kmax is None else kmax
        S = y.shape[0]
        out = (np.empty((S, k), np.int32), np.empty((S, k)), np.empty(S, np.int32), np.empty(S))
        nearest_cells(y, self.xs, zs, self.perm, self.rank, self.tree, lifts, window, k, guess, *out)
        if rows is None:
            self.guess = out[0][:, 0].astype(np.int64)
        else:
            self.guess[rows] = out[0][:, 0]
        self.queries += 1
        return out


class CandidateLists:
    """Candidate lists and, per sample, a lower bound on the value of every site left off its list.

    Computed at ``ref`` with the window ``(WINDOW + MARGIN) eps_s``: every site off sample ``s``'s list has
    value ``|y_s - x_k| - ref_k >= bound_s`` (the best listed value plus the window, or plus the gap at which
    the cap cut the list). When the duals move to ``psi``, no value falls by more than ``max(psi - ref)``, so
    the list still holds every site within ``WINDOW eps_s`` of the sample's best value while
    ``bound_s - max(psi - ref) >= best_s(psi) + WINDOW eps_s``, ``best_s(psi)`` the best listed value at
    ``psi`` (the rule of the w2 lists' certificates; it accepts more lists than comparing the spread
    ``max - min`` of the move with the window: measured on a 2-D w1 solve, N = 1000, a late Newton step
    re-searched 1 % of the samples instead of 92 %). :meth:`at` re-searches only the samples that fail it.
    """

    def __init__(self, sites, psi, eps):
        self.sites, self.eps = sites, eps
        self.window = (WINDOW + MARGIN) * eps
        self.cand, self.dist, self.count, cut_gap = sites.lists(psi, self.window)
        self.ref = psi.copy()
        self.cut_gap, self.bound = np.empty_like(cut_gap), np.empty_like(cut_gap)
        self._set_gaps(cut_gap, np.arange(cut_gap.shape[0]))

    def _set_gaps(self, cut_gap, rows):
        """The cut gaps and bounds of freshly searched ``rows`` (lists best first, at ``self.ref``)."""
        if self.sites.kmax >= self.ref.shape[0]:  # every site is on every list: nothing was cut
            cut_gap = np.full_like(cut_gap, np.inf)
        self.cut_gap[rows] = cut_gap
        lead = self.dist[rows, 0] - self.ref[self.cand[rows, 0]]
        self.bound[rows] = lead + np.minimum(self.window[rows], cut_gap)

    def failing(self, psi):
        """Samples whose list may miss a site within the window at ``psi`` (boolean mask; :meth:`at` searches
        them again)."""
        fail = np.empty(self.bound.shape[0], np.bool_)
        failing_lists(self.cand, self.dist, self.count, psi, self.bound, float(np.max(psi - self.ref)), WINDOW,
                      self.eps, fail)
        return fail

    def at(self, psi, fail=None):
        """Lists exact within the window at ``psi``: ``self``, or a copy with the failing samples re-searched
        (``fail``: :meth:`failing` at ``psi``, if the caller has it)."""
        fail = self.failing(psi) if fail is None else fail
        if not fail.any():
            return self
        new = object.__new__(CandidateLists)
        new.sites, new.eps, new.window, new.ref = self.sites, self.eps, self.window, psi.copy()
        new.cand, new.dist, new.count = self.cand.copy(), self.dist.copy(), self.count.copy()
        new.cut_gap, new.bound = self.cut_gap.copy(), self.bound - float(np.max(psi - self.ref))
        rows = np.flatnonzero(fail)
        cand, dist, count, cut_gap = self.sites.lists(psi, self.window[rows], rows=rows)
        new.cand[rows], new.dist[rows], new.count[rows] = cand, dist, count
        new._set_gaps(cut_gap, rows)
        return new

    @property
    def capped_fraction(self) -> float:
        """Fraction of samples whose list the cap ``max_candidates`` cut short."""
        return float(np.mean(np.isfinite(self.cut_gap)))

    @property
    def truncation(self) -> float:
        """A bound on the largest probability a cut list leaves out (``(n - kmax) e^{-gap/eps}``)."""
        capped = np.isfinite(self.cut_gap)
        if not capped.any():
            return 0.0
        n = self.ref.shape[0]
        return float(np.max(np.minimum(1.0, (n - self.sites.kmax) * np.exp(-self.cut_gap[capped] / self.eps[capped]))))


class FrozenLists:
    """Stored lists (only what the Newton matrix needs)."""

    def __init__(self, cand, count):
        self.cand, self.count = cand, count
