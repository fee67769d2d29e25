"""Hypothesis strategies for odeflow's property tests: clouds, pairs of clouds, step sizes, isometries.

Two families of clouds, because the theorems of the theory page (docs/theory.rst) come in two kinds:

* :func:`clouds` and :func:`cloud_pairs` (*any* clouds) stress the statements that hold for every input:
  duality, monotonicity, distances, the Euler inequality. They produce the nasty cases on purpose:
  one point, duplicated points, collinear points, lattice points (many equal costs, so degenerate LPs and
  non-unique plans), points of a target that coincide with particles, sharply non-uniform weights (ratios
  up to 1e8), zero weights, and problem scales from 1e-3 to 1e3.
  Coordinates are drawn on a dyadic grid (multiples of 2^-20 of the scale) so hypothesis can shrink them
  toward small integers and a failure reads as a small, readable example.
* :func:`generic_clouds` and :func:`generic_cloud_pairs` draw points from a continuous law (a seeded
  NumPy generator), so with probability one there are no ties: optimal plans are unique and every
  plan-derived quantity (targets, drifts, trajectories) is a function of the input. Equivariance of a flow
  step is only true in that setting: under ties, a rotated or permuted problem may legitimately pick
  another optimal plan.

Every strategy takes keyword arguments to pin a dimension, a size or a weighting, so a property can ask
for exactly the class of inputs its theorem is about (e.g. equal-size uniform clouds for docs/theory.rst §3.1).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import ortho_group

import odeflow as of

MAX_N = 60
MAX_DIM = 4
#: Problem scales: coordinates are multiples of these (a 1e3 cloud has costs around 1e6 for w2).
SCALES = (1e-3, 1.0, 1e3)
#: Point configurations of :func:`point_arrays`.
GEOMETRIES = ("grid", "noise", "duplicated", "collinear", "lattice")
#: Weightings of :func:`weight_vectors`.
WEIGHTINGS = ("uniform", "skewed", "zeros")
#: Grid of the coordinates: multiples of 1 / GRID (exact in binary), in [-1, 1].
GRID = 2**20
#: Smallest weight ratio of a "skewed" weighting: weights are 10^-k with k in [0, MAX_DECADES].
MAX_DECADES = 8

seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, MAX_DIM)
sizes = st.integers(1, MAX_N)


def _unit_grid(shape):
    """Arrays of coordinates ``k / GRID`` in [-1, 1] (shrinking toward 0)."""
    # fill=nothing(): every entry drawn on its own (hypothesis would otherwise fill most of a large array
    # with one value, i.e. mostly duplicated rows; duplicates have their own geometry)
    return hnp.arrays(np.int64, shape, elements=st.integers(-GRID, GRID), fill=st.nothing()).map(
        lambda k: k / GRID)


@st.composite
def point_arrays(draw, n, d, *, geometry=None, scale=None):
    """An ``(n, d)`` float64 array: a configuration of ``GEOMETRIES``, scaled and shifted.

    ``grid``: free coordinates on the grid; ``noise``: a standard normal sample (seeded);
    ``duplicated``: rows repeated from a smaller set; ``collinear``: points on one line;
    ``lattice``: integer coordinates in [-2, 2] (many equal costs). The result is
    ``scale * (centre + shape)`` with ``scale`` in ``SCALES`` and a centre within 2 of the origin.
    """
    geometry = draw(st.sampled_from(GEOMETRIES)) if geometry is None else geometry
    scale = draw(st.sampled_from(SCALES)) if scale is None else scale
    if geometry == "grid":
        base = draw(_unit_grid((n, d)))
    elif geometry == "noise":
        base = np.random.default_rng(draw(seeds)).standard_normal((n, d))
    elif geometry == "duplicated":
        k = draw(st.integers(1, n))
        rows = draw(point_arrays(k, d, geometry=draw(st.sampled_from(("grid", "noise", "lattice"))),
                                 scale=1.0))
        index = draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1), fill=st.nothing()))
        base = rows[index]
    elif geometry == "collinear":
        t = draw(_unit_grid((n, 1)))
        direction = draw(_unit_grid((1, d)))
        norm = np.linalg.norm(direction)
        direction = direction / norm if norm > 0 else np.eye(1, d)
        base = t * direction
    elif geometry == "lattice":
        base = draw(hnp.arrays(np.int64, (n, d), elements=st.integers(-2, 2))).astype(np.float64)
    else:  # pragma: no cover - programming error in a test
        raise ValueError(f"geometry: unknown {geometry!r}")
    centre = 2.0 * draw(_unit_grid((1, d)))
    return scale * (centre + base)


@st.composite
def weight_vectors(draw, n, *, weighting=None):
    """Probability weights of length ``n`` (or None, meaning uniform), one of ``WEIGHTINGS``.

    ``skewed``: ``10^-k`` normalised, ``k`` in [0, MAX_DECADES] (ratios up to 1e8);
    ``zeros``: skewed with some weights set to exactly 0 (at least one stays positive).
    """
    weighting = draw(st.sampled_from(WEIGHTINGS)) if weighting is None else weighting
    if weighting == "uniform":
        return None
    decades = draw(hnp.arrays(np.int64, n, elements=st.integers(0, MAX_DECADES), fill=st.nothing()))
    w = 10.0 ** (-decades.astype(np.float64))
    if weighting == "zeros":
        zero = draw(hnp.arrays(np.bool_, n, fill=st.nothing()))
        zero[draw(st.integers(0, n - 1))] = False
        w[zero] = 0.0
    elif weighting != "skewed":  # pragma: no cover
        raise ValueError(f"weighting: unknown {weighting!r}")
    return w / w.sum()


# Draw order matters for coverage: hypothesis generates later choices with a growing bias toward the
# simplest value once many choices have been made (a 60 x 4 array is hundreds of them), so every
# strategy below draws its discrete structure (sizes, dimension, scale, geometry, weighting, seeds)
# first and the large arrays last.

@st.composite
def clouds(draw, *, n=None, d=None, min_n=1, max_n=MAX_N, geometry=None, weighting=None, scale=None):
    """An :class:`odeflow.Cloud` of any of the awkward kinds (see the module docstring)."""
    n = draw(st.integers(min_n, max_n)) if n is None else n
    d = draw(dims) if d is None else d
    geometry = draw(st.sampled_from(GEOMETRIES)) if geometry is None else geometry
    scale = draw(st.sampled_from(SCALES)) if scale is None else scale
    w = draw(weight_vectors(n, weighting=weighting))
    return of.Cloud(draw(point_arrays(n, d, geometry=geometry, scale=scale)), w)


@st.composite
def cloud_pairs(draw, *, d=None, n=None, equal_size=False, uniform=False, weighting=None, max_n=MAX_N,
                share=True):
    """``(src, tgt)``: two clouds of one dimension and one scale.

    Parameters
    ----------
    d, n : int, optional
        Pin the dimension, or the number of particles.
    equal_size : bool
        Same number of points on both sides (docs/theory.rst §3.1 and §3.5 need it, with ``uniform``).
    uniform : bool
        Uniform weights on both sides (else each side draws its own weighting).
    weighting : str, optional
        Force one weighting on both sides.
    share : bool
        Allow the target to reuse some particles' positions exactly (w1 particles already at their
        target; ties between the two sides).
    """
    d = draw(dims) if d is None else d
    scale = draw(st.sampled_from(SCALES))
    n = draw(st.integers(1, max_n)) if n is None else n
    m = n if equal_size else draw(st.integers(1, max_n))
    geometries = draw(st.sampled_from(GEOMETRIES)), draw(st.sampled_from(GEOMETRIES))
    shared = share and draw(st.booleans())
    if uniform:
        a = b = None
    else:
        kinds = [draw(st.sampled_from(WEIGHTINGS)) if weighting is None else weighting for _ in range(2)]
        a = draw(weight_vectors(n, weighting=kinds[0]))
        b = draw(weight_vectors(m, weighting=kinds[1]))
    x = draw(point_arrays(n, d, geometry=geometries[0], scale=scale))
    y = draw(point_arrays(m, d, geometry=geometries[1], scale=scale))
    if shared:
        taken = draw(st.lists(st.tuples(st.integers(0, m - 1), st.integers(0, n - 1)), min_size=1,
                              max_size=m))
        for j, i in taken:
            y[j] = x[i]
    return of.Cloud(x, a), of.Cloud(y, b)


@st.composite
def generic_clouds(draw, *, n=None, d=None, min_n=1, max_n=MAX_N, weighting=None):
    """A cloud of continuously distributed points (no ties, almost surely) at a random scale.

    ``weighting`` defaults to uniform or skewed: zero weights make the c-transform target of a
    massless particle depend on which dual vertex the solver returns, which is not a function of the
    input.
    """
    n = draw(st.integers(min_n, max_n)) if n is None else n
    d = draw(dims) if d is None else d
    scale = draw(st.sampled_from(SCALES))
    gen = np.random.default_rng(draw(seeds))
    weighting = draw(st.sampled_from(("uniform", "skewed"))) if weighting is None else weighting
    x = scale * (gen.standard_normal((n, d)) + 2.0 * gen.uniform(-1, 1, size=d))
    return of.Cloud(x, draw(weight_vectors(n, weighting=weighting)))


@st.composite
def generic_cloud_pairs(draw, *, d=None, equal_size=False, weighting=None, max_n=MAX_N):
    """``(src, tgt)`` of :func:`generic_clouds`, one dimension and one scale; the target is shifted."""
    d = draw(dims) if d is None else d
    scale = draw(st.sampled_from(SCALES))
    gen = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, max_n))
    m = n if equal_size else draw(st.integers(1, max_n))
    kinds = [draw(st.sampled_from(("uniform", "skewed"))) if weighting is None else weighting
             for _ in range(2)]
    x = scale * gen.standard_normal((n, d))
    y = scale * (gen.standard_normal((m, d)) * gen.uniform(0.2, 2.0) + 2.0 * gen.uniform(-1, 1, size=d))
    return (of.Cloud(x, draw(weight_vectors(n, weighting=kinds[0]))),
            of.Cloud(y, draw(weight_vectors(m, weighting=kinds[1]))))


def step_sizes(*, min_value=0.0, max_value=1.0):
    """Step sizes in ``[min_value, max_value]``: both ends and everything between.

    The default range ``[0, 1]`` is that of the w2 Euler step (``h = 1`` jumps onto the targets); w1
    properties multiply a drawn fraction by the problem's own length scale.
    """
    return st.one_of(st.sampled_from([min_value, max_value]),
                     st.floats(min_value, max_value, allow_nan=False, allow_subnormal=False))


positive_step_sizes = step_sizes(min_value=1e-3, max_value=1.0)


@st.composite
def orthogonal_matrices(draw, d):
    """A ``(d, d)`` orthogonal matrix (rotation or reflection), Haar-distributed from a drawn seed."""
    if d == 1:
        return np.array([[draw(st.sampled_from([1.0, -1.0]))]])
    return ortho_group.rvs(d, random_state=draw(seeds))


def permutations(n):
    """A permutation of ``range(n)`` as an int array (shrinks toward the identity)."""
    return st.permutations(range(n)).map(lambda p: np.asarray(p, dtype=np.int64))


def seeded_permutation(seed, n):
    """A uniformly random permutation of ``range(n)`` from a drawn seed: for when ``n`` is only known after
    large draws, where :func:`permutations` would mostly give the identity (see the draw-order note)."""
    return np.random.default_rng(seed).permutation(n)


# --- semi-discrete problems: particles against a 2-D box or image density -------------------------

#: Largest number of particles of a semi-discrete property (the independent polygon oracle is O(N^2)).
SEMIDISCRETE_MAX_N = 40
#: Largest image of :func:`semidiscrete_problems` (rows and columns).
MAX_PIXELS = 4


@st.composite
def semidiscrete_problems(draw, *, kind=None, min_n=1, max_n=SEMIDISCRETE_MAX_N):
    """``(cloud, density)``: 2-D particles against a :class:`odeflow.UniformBox` or a small
    :class:`odeflow.ImageDensity` (the two densities the exact 2-D path solves).

    The box has a random centre and side lengths between a quarter and four times the scale (from
    ``SCALES``); the particles are any :data:`GEOMETRIES` configuration at that scale, so many lie outside
    the box, some are duplicated or collinear. Images have up to ``MAX_PIXELS`` x ``MAX_PIXELS`` pixels of
    intensity 0 to 3 (zero pixels: parts of the box without mass). Weights are uniform or skewed (ratios up
    to 1e8); never zero (the semi-discrete method needs positive weights).
    """
    kind = draw(st.sampled_from(("box", "image"))) if kind is None else kind
    n = draw(st.integers(min_n, max_n))
    scale = draw(st.sampled_from(SCALES))
    geometry = draw(st.sampled_from(GEOMETRIES))
    weighting = draw(st.sampled_from(("uniform", "skewed")))
    shape = (draw(st.integers(1, MAX_PIXELS)), draw(st.integers(1, MAX_PIXELS)))
    w = draw(weight_vectors(n, weighting=weighting))
    centre = scale * 2.0 * draw(_unit_grid((2,)))
    half = scale * draw(hnp.arrays(np.float64, 2, elements=st.sampled_from([0.125, 0.25, 0.5, 1.0, 2.0]),
                                   fill=st.nothing()))
    low, high = centre - half, centre + half
    if kind == "box":
        density = of.UniformBox(low, high)
    else:
        pixels = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 3), fill=st.nothing()))
        pixels.flat[draw(st.integers(0, pixels.size - 1))] += 1  # some mass
        density = of.ImageDensity(pixels.astype(np.float64), extent=(low[0], high[0], low[1], high[1]))
    return of.Cloud(draw(point_arrays(n, 2, geometry=geometry, scale=scale)), w), density
