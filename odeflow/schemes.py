"""Time-stepping schemes for the measure-valued ODE ``dx_i/dt = drift_i(mu_t)``.

A scheme advances all particles by one step ``h``. The drift field is a callable
``field(points) -> KantorovichResult`` that solves a fresh Kantorovich problem at ``points``; every
stage of a Runge-Kutta scheme calls it once (theory :ref:`§2 <theory-stepping>`). The first stage is always the
potential at the step's start, which the caller already has (it also gives the recorded distance).

Schemes
-------
``"euler"``  order 1, 1 solve/step; supports persistence (theory :ref:`§2 <theory-stepping>`) and w1 clipping
``"heun"``   order 2 (explicit trapezoid), 2 solves/step
``"rk4"``    order 4 (classical Runge-Kutta), 4 solves/step

Persistence, the particle analogue of the papers' persistent training, replaces the Euler move by K
sub-moves with rate eta:

* ``"targets"``: the Euler target ``z = x + h drift`` is frozen and ``x <- x + eta (z - x)`` K times,
  an effective step ``h (1 - (1-eta)^K)``, never beyond ``h``;
* ``"naive"``: ``x <- x + eta h drift`` K times with the drift frozen: a step ``K eta h`` that overshoots
  once ``K eta h > 1`` (w2).

``K = 1, eta = 1`` is plain Euler, bit for bit, in both modes.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_choice, check_int, check_real


def move_clipped(x, increment, targets):
    """``x + increment`` with each step stopped at its target; a particle that reaches its target is
    placed on it exactly (not ``x + (targets - x)``, which can miss by a rounding error and then give a
    w1 drift of arbitrary direction at the next solve).

    >>> import numpy as np
    >>> move_clipped(np.array([[0.1, 0.2]]), np.array([[5.0, 5.0]]), np.array([[0.3, 0.7]])).tolist()
    [[0.3, 0.7]]
    """
    step = np.einsum("ij,ij->i", increment, increment)
    room = np.einsum("ij,ij->i", targets - x, targets - x)
    arrived = step >= room
    moved = x + increment
    moved[arrived] = targets[arrived]
    return moved


class Scheme:
    """One explicit step of the particle ODE. Subclasses implement :meth:`increment`.

    Parameters
    ----------
    clip : bool
        Shorten every particle's step so that it stops at its (first-stage) target: the w1
        stop-at-target scheme of theory :ref:`§3.5 <theory-w1>`. Runge-Kutta stage positions are clipped the
        same way, so no stage evaluates the drift beyond a particle's target (without that, a particle
        within ``h`` of its target sees the drift reverse at the stage and Heun's or RK4's increment
        cancels: the particle never arrives).
    """

    name = "?"
    order = 0
    stages = 0

    def __init__(self, *, clip: bool = False):
        self.clip = bool(clip)

    def increment(self, x, h, field, first):
        """Displacement of every particle over one step (before clipping)."""
        raise NotImplementedError  # pragma: no cover

    def stage(self, x, displacement, first):
        """Position of a Runge-Kutta stage, ``x + displacement``, clipped at the targets when ``clip``."""
        if self.clip:
            return move_clipped(x, displacement, first.targets)
        return x + displacement

    def step(self, x, h, field, first):
        """Return the particles after one step of size ``h``.

        Parameters
        ----------
        x : (n, d) array
            Positions at the step's start.
        h : float
            Step size.
        field : callable
            ``field(points) -> KantorovichResult`` at other positions (the later stages).
        first : KantorovichResult
            The potential at ``x`` (first stage).
        """
        inc = self.increment(x, h, field, first)
        if self.clip:
            return move_clipped(x, inc, first.targets)
        return x + inc

    def __repr__(self) -> str:
        return f"{type(self).__name__}(clip={self.clip})"


class Euler(Scheme):
    """Forward Euler ``x <- x + h drift(x)``, with optional persistence (see the module docstring).

    Examples
    --------
    >>> import numpy as np, odeflow as of
    >>> from odeflow.schemes import Euler
    >>> tgt = of.Cloud([[1.0]])
    >>> field = lambda p: of.kantorovich(of.Cloud(p), tgt, method="exact")
    >>> x = np.zeros((1, 1))
    >>> Euler().step(x, 0.5, field, field(x)).tolist()
    [[0.5]]
    """

    name = "euler"
    order = 1
    stages = 1

    def __init__(self, *, clip=False, persistence=1, persistence_rate=1.0, persistence_mode="targets"):
        super().__init__(clip=clip)
        self.persistence = check_int(persistence, "persistence", minimum=1)
        self.persistence_rate = check_real(persistence_rate, "persistence_rate", positive=True, upper=1.0)
        self.persistence_mode = check_choice(persistence_mode, "persistence_mode", {"targets", "naive"})

    def increment(self, x, h, field, first):
        k, eta = self.persistence, self.persistence_rate
        euler = h * first.drift
        if k == 1 and eta == 1.0:
            return euler
        if self.persistence_mode == "naive":
            stride = (eta * h) * first.drift
            moved = x.copy()
            for _ in range(k):
                moved = moved + stride
            return moved - x
        moved = x + eta * euler  # first relaxation move toward z = x + euler
        for _ in range(k - 1):
            moved = moved + eta * ((x + euler) - moved)
        return moved - x

    def step(self, x, h, field, first):
        if self.persistence == 1 and self.persistence_rate == 1.0 and not self.clip:
            return x + h * first.drift  # plain Euler, exactly
        return super().step(x, h, field, first)


class Heun(Scheme):
    """Heun's method (explicit trapezoid), order 2: ``x + h/2 (k1 + k2)``, ``k2 = drift(x + h k1)``."""

    name = "heun"
    order = 2
    stages = 2

    def increment(self, x, h, field, first):
        k1 = first.drift
        k2 = field(self.stage(x, h * k1, first)).drift
        return 0.5 * h * (k1 + k2)


class RK4(Scheme):
    """Classical fourth-order Runge-Kutta, four solves per step."""

    name = "rk4"
    order = 4
    stages = 4

    def increment(self, x, h, field, first):
        k1 = first.drift
        k2 = field(self.stage(x, 0.5 * h * k1, first)).drift
        k3 = field(self.stage(x, 0.5 * h * k2, first)).drift
        k4 = field(self.stage(x, h * k3, first)).drift
        return (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


SCHEMES = {"euler": Euler, "heun": Heun, "rk4": RK4}


def make_scheme(scheme="euler", *, clip=False, persistence=1, persistence_rate=1.0,
                persistence_mode="targets") -> Scheme:
    """Build a scheme by name (validated); persistence applies to Euler only.

    >>> make_scheme("rk4").order
    4
    """
    if isinstance(scheme, Scheme):
        return scheme
    check_choice(scheme, "scheme", SCHEMES)
    if scheme == "euler":
        return Euler(clip=clip, persistence=persistence, persistence_rate=persistence_rate,
                     persistence_mode=persistence_mode)
    check_int(persistence, "persistence", minimum=1)
    check_real(persistence_rate, "persistence_rate", positive=True, upper=1.0)
    check_choice(persistence_mode, "persistence_mode", {"targets", "naive"})
    if persistence != 1 or persistence_rate != 1.0:
        raise ValueError(f"persistence: only scheme='euler' supports persistence, got scheme={scheme!r}")
    return SCHEMES[scheme](clip=clip)
