"""Named test distributions and the papers' four 2-D problems, as uniform particle clouds.

``get(name, n, rng)`` draws ``n`` points of a named distribution; ``problem(name, n, rng)`` returns a
``(source, target)`` pair. Every draw is reproducible from ``rng`` (a seed or a Generator).

The four problems are the laws of the authors' public code, GitHub ``ZaMalik123/Generative-Networks``,
file ``exp_2d/data_loader.py`` (commit 06e0ce0; the line numbers below refer to it). Its
``get_loader`` (lines 6-25) returns the *data* generator first (the target ``r``) and the *latent*
generator second (the source ``z``). Mixtures there put point ``i`` of a batch in mode ``i % k`` and
then shuffle the rows, so every batch holds exactly ``n // k`` points per mode (the first ``n % k``
modes one more); the generators here do the same, so a 512-point draw has the authors' per-mode counts.

=================  ==============================================================================
name               distribution (2-D unless ``dim`` is given)
=================  ==============================================================================
``gaussian``       N(0, scale^2 I) in ``dim`` dimensions (the ring problem's source: scale 0.05)
``ring8``          8 Gaussians of std 0.1 on the unit circle, n // 8 points each (authors' ring)
``4gaussians``     4 Gaussians of std 0.1 at scale * (+-1/sqrt 2, +-1/sqrt 2), n // 4 each (authors')
``swissroll``      the authors' spiral of radius up to 1.49, one-sided uniform noise of width 0.1;
                   ``alternate=True``: the same spiral turned by 180 degrees (the noise is not)
``checkerboard``   the authors' 5 squares of side 0.5 at 1.5 * (+-1/sqrt 2, +-1/sqrt 2) and (0, 0);
                   ``alternate=True``: the 4 squares at 1.5 * (0, +-1/sqrt 2), 1.5 * (+-1/sqrt 2, 0)
``moons``          two interleaved noisy half circles
``uniform``        uniform on the unit cube [0, 1]^dim
``4corners``       older odeflow variant: 4 Gaussians at scale * (+-1, +-1), modes drawn at random
``spiral``         older odeflow variant: a spiral of radius about 1 with Gaussian noise
                   (``mirrored=True``: reflected in x)
``board``          older odeflow variant: uniform on the 5 even unit squares of [-1.5, 1.5]^2
                   (``odd=True``: the 4 odd ones)
``digits``         scikit-learn's 8 x 8 handwritten digits (1797 images, 64-D, intensities / 16 in
                   [0, 1]); ``n <= 1797`` distinct images; needs the ``data`` extra (scikit-learn)
=================  ==============================================================================
"""

from __future__ import annotations

import functools

import numpy as np

from ._checks import as_rng, check_choice, check_int, check_real
from .measures import Cloud

#: Where the four problems come from (the line numbers in this module's comments refer to it).
AUTHORS_CODE = "github.com/ZaMalik123/Generative-Networks, exp_2d/data_loader.py, commit 06e0ce0"

# data_loader.py lines 54-61 and 120-140: centre coordinates +-0.25 / diag_len, diag_len = sqrt(0.25^2 + 0.25^2)
_UNIT = 0.25 / np.sqrt(0.25**2 + 0.25**2)  # = 1 / sqrt(2)


def _balanced_modes(centres, n, rng, noise):
    """Point ``i`` in mode ``i % k`` plus ``noise(n)``, rows then shuffled (as torch.randperm does)."""
    pts = centres[np.arange(n) % len(centres)] + noise(n)
    return pts[rng.permutation(n)]


def _gaussian(n, rng, dim=2, scale=1.0):
    return scale * rng.standard_normal((n, dim))


def _ring8(n, rng, radius=1.0, std=0.1):
    # lines 179-192: angles cumsum(2 pi / 8 * ones(8)) = 2 pi k / 8 for k = 1..8, means (cos, sin);
    # int(n / 8) draws torch.normal(mean, eps_noise) per mode, eps_noise = 0.1 (line 21); rows shuffled.
    # (For n not a multiple of 8 the authors leave the last n % 8 rows uninitialised, torch.empty;
    # here they go to the first n % 8 modes.)
    angles = 2 * np.pi * np.arange(1, 9) / 8
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _balanced_modes(centres, n, rng, lambda m: std * rng.standard_normal((m, 2)))


def _four_gaussians(n, rng, scale=1.0, std=0.1):
    # lines 55-61: centres (+,+), (+,-), (-,+), (-,-) times scale / sqrt 2; target scale 1.0 (line 9),
    # source the class default 2.0 (lines 10, 47); lines 65-74: point i = centre i % 4 + randn * eps_noise
    # (0.1, lines 9-10), rows shuffled.
    centres = scale * _UNIT * np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    return _balanced_modes(centres, n, rng, lambda m: std * rng.standard_normal((m, 2)))


def _swissroll(n, rng, alternate=False, noise=0.1):
    # lines 86-101: angle a = start + sqrt(U) * 570 degrees (start = 0.001 degrees), point
    # [cos(a) a + U' e, -sin(a) a + U'' e] (alternate: [-cos(a) a + U' e, sin(a) a + U'' e]) with
    # e = eps_noise / 0.15 and eps_noise = 0.1 (lines 13-14), all times 0.15 (line 101). No shuffle (iid).
    deg2rad = 2 * np.pi / 360
    u = rng.random((n, 3))
    a = 0.001 * deg2rad + np.sqrt(u[:, 0]) * 570 * deg2rad
    sign = -1.0 if alternate else 1.0
    e = noise / 0.15
    pts = np.stack([sign * np.cos(a) * a + u[:, 1] * e, -sign * np.sin(a) * a + u[:, 2] * e], axis=1)
    return 0.15 * pts


def _checkerboard(n, rng, alternate=False, scale=1.5, side=0.5):
    # lines 126-140: target centres (+,+), (-,-), (+,-), (-,+), (0,0); alternate (source) centres
    # (0,+), (0,-), (+,0), (-,0); each coordinate +-0.25 / diag_len = +-1/sqrt 2 (or 0), times scale 1.5.
    # lines 144-153: point i = centre i % (4 if alternate else 5) + (rand(2) - 0.5) * eps_noise with
    # eps_noise = 0.5 (lines 17-18), i.e. uniform on a square of side 0.5; rows shuffled.
    if alternate:
        centres = np.array([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0]])
    else:
        centres = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]])
    centres = scale * _UNIT * centres
    return _balanced_modes(centres, n, rng, lambda m: (rng.random((m, 2)) - 0.5) * side)


def _moons(n, rng, noise=0.05):
    upper = rng.random(n) < 0.5
    t = np.pi * rng.random(n)
    pts = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1),
                   np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    return pts - np.array([0.5, 0.25]) + noise * rng.standard_normal((n, 2))


def _uniform(n, rng, dim=2):
    return rng.random((n, dim))


# --- the older odeflow variants (not the authors' laws; kept for the studies that used them) ---------


def _four_corners(n, rng, scale=1.0, std=0.1):
    centres = scale * np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    return centres[rng.integers(0, 4, n)] + std * rng.standard_normal((n, 2))


def _spiral(n, rng, noise=0.02, mirrored=False):
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (4.5 * np.pi)
    pts += noise * rng.standard_normal((n, 2))
    if mirrored:
        pts[:, 0] = -pts[:, 0]
    return pts


def _board(n, rng, odd=False):
    cells = np.array([(i, j) for i in range(3) for j in range(3) if (i + j) % 2 == int(odd)], float)
    return cells[rng.integers(0, len(cells), n)] + rng.random((n, 2)) - 1.5


# --- digits ------------------------------------------------------------------------------------------

DIGITS_N, DIGITS_SHAPE = 1797, (8, 8)


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise ImportError("digits: needs scikit-learn; install it with pip install 'odeflow[data]'") from None
    images, labels = sk_load_digits(return_X_y=True)
    images = np.ascontiguousarray(images, dtype=np.float64) / 16.0
    images.setflags(write=False)
    labels = np.asarray(labels, dtype=np.int64)
    labels.setflags(write=False)
    return images, labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8 x 8 handwritten digits, as 64-D points with intensities in [0, 1].

    Nothing is downloaded (the data ship with scikit-learn; install it with the ``data`` extra).

    Returns
    -------
    images : (1797, 64) float64 array
        Row ``i`` is image ``i`` flattened row by row (``images[i].reshape(8, 8)``), the 0..16
        intensities divided by 16.
    labels : (1797,) int array
        The digit 0..9 each image shows.

    Raises
    ------
    ImportError
        When scikit-learn is not installed.

    Examples
    --------
    >>> from odeflow import datasets
    >>> images, labels = datasets.load_digits()
    >>> images.shape, float(images.max()), sorted(set(labels.tolist())) == list(range(10))
    ((1797, 64), 1.0, True)
    """
    images, labels = _digits_arrays()
    return images.copy(), labels.copy()


def _digits(n, rng):
    if n > DIGITS_N:
        raise ValueError(f"n: the digits set has {DIGITS_N} images, got n = {n}")
    images, _ = _digits_arrays()
    return images[rng.permutation(DIGITS_N)[:n]]


_DATASETS = {
    "gaussian": _gaussian,
    "ring8": _ring8,
    "4gaussians": _four_gaussians,
    "swissroll": _swissroll,
    "checkerboard": _checkerboard,
    "moons": _moons,
    "uniform": _uniform,
    "4corners": _four_corners,
    "spiral": _spiral,
    "board": _board,
    "digits": _digits,
}
#: The low-dimensional distributions (every name but ``digits``, which needs scikit-learn).
NAMES = tuple(name for name in _DATASETS if name != "digits")
#: Every name :func:`get` accepts.
ALL_NAMES = tuple(_DATASETS)


def get(name: str, n: int, rng=None, **params) -> Cloud:
    """Draw ``n`` points of the named distribution as a uniform :class:`Cloud`.

    Parameters
    ----------
    name : str
        One of :data:`ALL_NAMES` (see the module docstring).
    n : int
        Number of points, >= 1 (<= 1797 for ``digits``: distinct images).
    rng : int or numpy.random.Generator, optional
    **params
        Shape parameters of that distribution (``dim`` for gaussian/uniform, ``scale``, ``std``,
        ``noise``, ``radius``, ``side``, ``alternate``, ``mirrored``, ``odd``).

    Examples
    --------
    >>> from odeflow import datasets
    >>> c = datasets.get("ring8", 100, rng=0)
    >>> c.n, c.dim
    (100, 2)
    """
    check_choice(name, "name", _DATASETS)
    n = check_int(n, "n", minimum=1)
    rng = as_rng(rng)
    if "dim" in params:
        params["dim"] = check_int(params["dim"], "dim", minimum=1)
    for key in ("scale", "std", "noise", "radius", "side"):
        if key in params:
            params[key] = check_real(params[key], key, nonneg=True)
    try:
        pts = _DATASETS[name](n, rng, **params)
    except TypeError:
        raise TypeError(f"params: {name!r} does not take {sorted(params)}") from None
    return Cloud(pts)


#: The papers' problems, ``name: ((source law, params), (target law, params))``, as the authors'
#: ``get_loader`` pairs them (data_loader.py lines 8-22: target first, source second).
PROBLEMS = {
    "4gaussians": (("4gaussians", {"scale": 2.0}), ("4gaussians", {"scale": 1.0})),
    "swissroll": (("swissroll", {"alternate": True}), ("swissroll", {})),
    "checkerboard": (("checkerboard", {"alternate": True}), ("checkerboard", {})),
    # lines 171-175: the source is randn(n, 2) * eps_noise * 0.5 = N(0, 0.05^2 I)
    "ring8": (("gaussian", {"scale": 0.05}), ("ring8", {})),
}
#: The older odeflow versions of three problems (not the authors' laws).
LEGACY_PROBLEMS = {
    "4corners": (("4corners", {"scale": 2.0}), ("4corners", {})),
    "spiral": (("spiral", {"mirrored": True}), ("spiral", {})),
    "board": (("board", {"odd": True}), ("board", {})),
}
_ALL_PROBLEMS = {**PROBLEMS, **LEGACY_PROBLEMS}


def problem(name: str, n: int, rng=None) -> tuple[Cloud, Cloud]:
    """A problem as ``(source, target)`` clouds of ``n`` points each (source drawn first).

    The papers' problems (:data:`PROBLEMS`, the authors' generators): ``4gaussians`` (scale 2 ->
    scale 1), ``swissroll`` (the spiral turned by 180 degrees -> the spiral), ``checkerboard``
    (4 edge squares -> 5 diagonal squares), ``ring8`` (N(0, 0.05^2 I) -> ring of 8 Gaussians).
    :data:`LEGACY_PROBLEMS` (``4corners``, ``spiral``, ``board``) are the older odeflow variants.

    Examples
    --------
    >>> from odeflow import datasets
    >>> src, tgt = datasets.problem("ring8", 64, rng=1)
    >>> src.n == tgt.n == 64
    True
    """
    check_choice(name, "name", _ALL_PROBLEMS)
    rng = as_rng(rng)
    (s_name, s_par), (t_name, t_par) = _ALL_PROBLEMS[name]
    return get(s_name, n, rng, **s_par), get(t_name, n, rng, **t_par)


def problem_sampler(name: str, side: str = "target"):
    """A function ``draw(n, rng=None) -> Cloud`` of fresh points from one side of a problem.

    The data batches of :mod:`odeflow.metrics` come from here: the authors' protocol draws one fixed
    batch (``side="target"``) once; the fresh-batch protocol draws a new one at every evaluation.

    Parameters
    ----------
    name : str
        One of :data:`PROBLEMS` or :data:`LEGACY_PROBLEMS`.
    side : {"target", "source"}

    Examples
    --------
    >>> from odeflow import datasets
    >>> draw = datasets.problem_sampler("ring8")
    >>> draw(4, rng=0).n
    4
    """
    check_choice(name, "name", _ALL_PROBLEMS)
    check_choice(side, "side", {"source", "target"})
    law_name, params = _ALL_PROBLEMS[name][0 if side == "source" else 1]

    def draw(n: int, rng=None) -> Cloud:
        return get(law_name, n, rng, **params)

    draw.__name__ = f"{name}_{side}"
    return draw
