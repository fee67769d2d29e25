"""Least-squares fits with t-distribution confidence intervals: the order in h and the decay rate in t."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats

from ..._checks import check_real

#: An error at or below this fraction of the problem's scale is rounding; it is left out of order fits.
ROUNDING = 1e-12



class OrderFit(NamedTuple):
    """``error ~ constant * h^order``, fitted by least squares on ``log error = log constant + order log h``."""

    order: float
    interval: tuple  #: confidence interval of ``order`` (t-distribution, n - 2 degrees of freedom)
    constant: float
    stderr: float  #: standard error of ``order``
    n: int  #: points in the fit
    confidence: float

    def __repr__(self) -> str:
        return (f"OrderFit(order={self.order:.4f}, {100 * self.confidence:g}% interval "
                f"[{self.interval[0]:.4f}, {self.interval[1]:.4f}], n={self.n})")


class RateFit(NamedTuple):
    """``d ~ amplitude * e^{rate t}``, fitted by least squares on ``log d = log amplitude + rate t``."""

    rate: float
    interval: tuple
    amplitude: float
    stderr: float
    n: int
    confidence: float

    def __repr__(self) -> str:
        return (f"RateFit(rate={self.rate:.4f}, {100 * self.confidence:g}% interval "
                f"[{self.interval[0]:.4f}, {self.interval[1]:.4f}], n={self.n})")


def _vector(value, name):
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a 1-D array of numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains non-finite value(s)")
    return arr


def _line(x, y, confidence):
    n = x.size
    if n < 3:
        raise ValueError(f"errors: a fit with an interval needs at least 3 points, got {n}")
    if np.ptp(x) == 0:
        raise ValueError("hs: all abscissae are equal; nothing to fit")
    res = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + confidence / 2.0, n - 2) * res.stderr
    return float(res.slope), (float(res.slope - half), float(res.slope + half)), float(res.intercept), float(res.stderr)


def _confidence(confidence):
    c = check_real(confidence, "confidence", positive=True)
    if c >= 1:
        raise ValueError(f"confidence: must be in (0, 1), got {c}")
    return c


def fit_order(hs, errors, *, confidence=0.95) -> OrderFit:
    """Fit ``errors ~ C h^p`` by least squares on log-log axes; the interval is Student's t on the slope.

    Parameters
    ----------
    hs : 1-D array of step sizes, > 0
    errors : 1-D array of errors, > 0 (same length, at least 3)
    confidence : float
        Level of the interval on the order (default 0.95).

    Examples
    --------
    >>> fit = fit_order([0.1, 0.05, 0.025], [3e-2, 1.5e-2, 7.5e-3])
    >>> round(fit.order, 12), round(fit.constant, 12)
    (1.0, 0.3)
    """
    h = _vector(hs, "hs")
    e = _vector(errors, "errors")
    if h.shape != e.shape:
        raise ValueError(f"errors: has {e.size} values but there are {h.size} step sizes")
    if np.any(h <= 0):
        raise ValueError(f"hs: step sizes must be > 0, got min {h.min():g}")
    if np.any(e <= 0):
        raise ValueError(f"errors: must be > 0 to fit on log axes, got min {e.min():g} (an error at rounding "
                         f"level carries no information about the order: leave that step size out)")
    c = _confidence(confidence)
    slope, interval, intercept, se = _line(np.log(h), np.log(e), c)
    return OrderFit(slope, interval, math.exp(intercept), se, int(h.size), c)


def fit_rate(t, distance, *, confidence=0.95) -> RateFit:
    """Fit ``distance ~ A e^{rate t}`` by least squares on ``log distance`` (rate -1 for the w2 flow).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0.0, 2.0, 5)
    >>> round(fit_rate(t, 3.0 * np.exp(-t)).rate, 12)
    -1.0
    """
    tt = _vector(t, "t")
    d = _vector(distance, "distance")
    if tt.shape != d.shape:
        raise ValueError(f"distance: has {d.size} values but there are {tt.size} times")
    if np.any(d <= 0):
        raise ValueError(f"distance: must be > 0 to fit on a log axis, got min {d.min():g}")
    c = _confidence(confidence)
    slope, interval, intercept, se = _line(tt, np.log(d), c)
    return RateFit(slope, interval, math.exp(intercept), se, int(tt.size), c)
