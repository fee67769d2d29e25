"""Named test distributions and the papers' four 2-D problems, as uniform particle clouds.

``get(name, n, rng)`` draws ``n`` points of a named distribution; ``problem(name, n, rng)`` returns a
``(source, target)`` pair. Every draw is reproducible from ``rng`` (a seed or a Generator).

=================  ==============================================================================
name               distribution (2-D unless ``dim`` is given)
=================  ==============================================================================
``gaussian``       standard normal N(0, I) in ``dim`` dimensions
``ring8``          8 Gaussians of std 0.1 centred on the unit circle
``4gaussians``     4 Gaussians of std 0.1 centred at (+-1, +-1) (times ``scale``)
``swissroll``      a noisy 2-D spiral of radius about 1 (``mirrored=True``: reflected in x)
``checkerboard``   uniform on the 5 even squares of a 3 x 3 board on [-1.5, 1.5]^2 (``odd=True``: the 4 odd ones)
``moons``          two interleaved noisy half circles
``uniform``        uniform on the unit cube [0, 1]^dim
=================  ==============================================================================
"""

from __future__ import annotations

import numpy as np

from ._checks import as_rng, check_choice, check_int, check_real
from .measures import Cloud


def _gaussian(n, rng, dim=2, scale=1.0):
    return scale * rng.standard_normal((n, dim))


def _mixture_on(centres, n, rng, std):
    idx = rng.integers(0, len(centres), n)
    return centres[idx] + std * rng.standard_normal((n, centres.shape[1]))


def _ring8(n, rng, radius=1.0, std=0.1):
    angles = 2 * np.pi * np.arange(8) / 8
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _mixture_on(centres, n, rng, std)


def _four_gaussians(n, rng, scale=1.0, std=0.1):
    centres = scale * np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    return _mixture_on(centres, n, rng, std)


def _swissroll(n, rng, noise=0.02, mirrored=False):
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (4.5 * np.pi)
    pts += noise * rng.standard_normal((n, 2))
    if mirrored:
        pts[:, 0] = -pts[:, 0]
    return pts


def _checkerboard(n, rng, odd=False):
    cells = np.array([(i, j) for i in range(3) for j in range(3) if (i + j) % 2 == int(odd)], float)
    idx = rng.integers(0, len(cells), n)
    return cells[idx] + rng.random((n, 2)) - 1.5


def _moons(n, rng, noise=0.05):
    upper = rng.random(n) < 0.5
    t = np.pi * rng.random(n)
    pts = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1),
                   np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    return pts - np.array([0.5, 0.25]) + noise * rng.standard_normal((n, 2))


def _uniform(n, rng, dim=2):
    return rng.random((n, dim))


_DATASETS = {
    "gaussian": _gaussian,
    "ring8": _ring8,
    "4gaussians": _four_gaussians,
    "swissroll": _swissroll,
    "checkerboard": _checkerboard,
    "moons": _moons,
    "uniform": _uniform,
}
NAMES = tuple(_DATASETS)


def get(name: str, n: int, rng=None, **params) -> Cloud:
    """Draw ``n`` points of the named distribution as a uniform :class:`Cloud`.

    Parameters
    ----------
    name : str
        One of :data:`NAMES` (see the module docstring).
    n : int
        Number of points, >= 1.
    rng : int or numpy.random.Generator, optional
    **params
        Shape parameters of that distribution (``dim`` for gaussian/uniform, ``scale``, ``std``,
        ``mirrored``, ``odd``, ``noise``, ``radius``).

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
    for key in ("scale", "std", "noise", "radius"):
        if key in params:
            params[key] = check_real(params[key], key, nonneg=True)
    try:
        pts = _DATASETS[name](n, rng, **params)
    except TypeError:
        raise TypeError(f"params: {name!r} does not take {sorted(params)}") from None
    return Cloud(pts)


PROBLEMS = {
    "4gaussians": (("4gaussians", {"scale": 2.0}), ("4gaussians", {"scale": 1.0})),
    "swissroll": (("swissroll", {"mirrored": True}), ("swissroll", {})),
    "checkerboard": (("checkerboard", {"odd": True}), ("checkerboard", {})),
    "ring8": (("gaussian", {"scale": 0.05}), ("ring8", {})),
}


def problem(name: str, n: int, rng=None) -> tuple[Cloud, Cloud]:
    """The papers' 2-D problems as ``(source, target)`` clouds of ``n`` points each.

    ``4gaussians``: 4 Gaussians at scale 2 -> scale 1; ``swissroll``: mirrored spiral -> spiral;
    ``checkerboard``: 4-square -> 5-square pattern; ``ring8``: N(0, 0.05^2 I) -> ring of 8 Gaussians.

    Examples
    --------
    >>> from odeflow import datasets
    >>> src, tgt = datasets.problem("ring8", 50, rng=1)
    >>> src.n == tgt.n == 50
    True
    """
    check_choice(name, "name", PROBLEMS)
    rng = as_rng(rng)
    (s_name, s_par), (t_name, t_par) = PROBLEMS[name]
    return get(s_name, n, rng, **s_par), get(t_name, n, rng, **t_par)


def problem_sampler(name: str, side: str = "target"):
    """A function ``draw(n, rng=None) -> Cloud`` of fresh points from one side of a problem.

    The papers' metric compares the particles with a *fresh* batch of the data law at every time;
    this gives that batch (``side="target"``) or a fresh draw of the source law (``side="source"``).

    Parameters
    ----------
    name : str
        One of :data:`PROBLEMS`.
    side : {"target", "source"}

    Examples
    --------
    >>> from odeflow import datasets
    >>> draw = datasets.problem_sampler("ring8")
    >>> draw(4, rng=0).n
    4
    """
    check_choice(name, "name", PROBLEMS)
    check_choice(side, "side", {"source", "target"})
    law_name, params = PROBLEMS[name][0 if side == "source" else 1]

    def draw(n: int, rng=None) -> Cloud:
        return get(law_name, n, rng, **params)

    draw.__name__ = f"{name}_{side}"
    return draw
