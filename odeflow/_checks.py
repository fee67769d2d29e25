"""Input validation shared by every public entry point.

Checks run once, at the door of a public function; everything inside odeflow trusts its inputs.
Every failure is a ``ValueError`` (or ``TypeError`` for a wrong type) whose message starts with the
argument's name.
"""

from __future__ import annotations

import numbers
import os
import sys

import numpy as np

WEIGHT_SUM_TOL = 1e-9


def as_points(value, name: str) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 ``(n, d)`` array with finite entries."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name}: expected an (n, d) array of numbers, got {type(value).__name__}")
    try:
        arr = np.array(value, dtype=np.float64, order="C", copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected an (n, d) array of numbers ({exc})") from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array of shape (n, d), got {arr.ndim}-D shape {arr.shape}"
            + ("; use x[:, None] for one-dimensional points" if arr.ndim == 1 else "")
        )
    if arr.shape[0] < 1:
        raise ValueError(f"{name}: the cloud is empty (shape {arr.shape}); it needs at least one point")
    if arr.shape[1] < 1:
        raise ValueError(f"{name}: points have dimension 0 (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name}: contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def as_weights(value, n: int, name: str) -> np.ndarray:
    """Return probability weights of length ``n`` (uniform when ``value`` is None)."""
    if value is None:
        return np.full(n, 1.0 / n)
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected a 1-D array of numbers, got {type(value).__name__}")
    try:
        w = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a 1-D array of numbers ({exc})") from None
    if w.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {w.shape}")
    if w.shape[0] != n:
        raise ValueError(f"{name}: has length {w.shape[0]} but there are {n} points")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: contains non-finite value(s) (NaN or inf)")
    if np.any(w < 0):
        raise ValueError(f"{name}: contains negative value(s) (min {w.min():g}); weights must be >= 0")
    total = float(w.sum())
    if abs(total - 1.0) > WEIGHT_SUM_TOL:
        raise ValueError(
            f"{name}: weights sum to {total!r}, not 1 (tolerance {WEIGHT_SUM_TOL:g}); "
            f"normalise them first, e.g. w / w.sum()"
        )
    return w


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices`` (strings)."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {sorted(choices)}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name}: unknown value {value!r}; expected one of {sorted(choices)}")
    return value


def check_real(value, name: str, *, positive=False, nonneg=False, upper=None) -> float:
    """Return ``value`` as a finite float, optionally ``> 0``, ``>= 0`` and ``<= upper``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    if positive and v <= 0:
        raise ValueError(f"{name}: must be > 0, got {v}")
    if nonneg and v < 0:
        raise ValueError(f"{name}: must be >= 0, got {v}")
    if upper is not None and v > upper:
        raise ValueError(f"{name}: must be <= {upper}, got {v}")
    return v


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, optionally ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {v}")
    return v


def as_rng(rng, name: str = "rng") -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from an int seed, a Generator, or None."""
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"{name}: a seed must be >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name}: expected an int seed, a numpy Generator or None, got {type(rng).__name__}")


# --- memory guard --------------------------------------------------------------------------------

MEMORY_ENV = "ODEFLOW_MEMORY_BUDGET"
_DEFAULT_FRACTION = 0.5


def memory_budget() -> int:
    """Bytes a single dense allocation may take.

    ``$ODEFLOW_MEMORY_BUDGET`` (bytes, suffixes K/M/G allowed) overrides the default, half of the
    physical memory.
    """
    env = os.environ.get(MEMORY_ENV)
    if env:
        text = env.strip().upper()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        number = text[:-1] if text[-1:] in "KMG" else text
        try:
            return int(float(number) * scale)
        except ValueError:
            raise ValueError(f"{MEMORY_ENV}: cannot read {env!r} as a number of bytes") from None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 8 * 2**30
    return int(_DEFAULT_FRACTION * total)


def check_dense_memory(n: int, m: int, copies: int, what: str) -> None:
    """Refuse a dense ``n x m`` float64 allocation (``copies`` of it) above the memory budget."""
    need = 8 * n * m * copies
    budget = memory_budget()
    if need > budget:
        raise ValueError(
            f"{what}: a dense {n} x {m} problem needs about {need / 2**30:.1f} GiB, above the memory "
            f"budget of {budget / 2**30:.1f} GiB (set {MEMORY_ENV} to change it); use "
            f"method='semidiscrete' with a density target, or fewer particles"
        )


def progress_bar(progress, **kwargs):
    """A tqdm bar that is on only when wanted.

    ``progress=True`` asks for it, ``False`` turns it off, ``None`` (the default everywhere) shows it only
    when stderr is a terminal. The environment variable ``TQDM_DISABLE`` (any value but ``""``, ``0``,
    ``false``) turns every bar off, whatever ``progress`` says.

    >>> bar = progress_bar(False, total=3)
    >>> bar.disable
    True
    """
    from tqdm.auto import tqdm

    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress: expected True, False or None, got {type(progress).__name__}")
    disabled_by_env = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    kwargs.setdefault("leave", False)
    return tqdm(disable=disabled_by_env or not progress, **kwargs)
