"""The Gaussian -> Gaussian w2 flow of particles (exact 2-D semi-discrete path) against the closed form.

N particles quantize ``N(m0, S0)`` (scrambled Sobol points through the normal quantile) and flow by forward
Euler (step ``h``, to ``t_end``) to the density ``N(m1, S1)`` with ``method="semidiscrete"`` (``exact2d``).
Their mean and covariance (numpy, from the particles) are compared with ``of.theory.gaussian_flow`` with the
same ``h`` and ``scheme="euler"`` (the Euler flow stays on the Bures geodesic, ``s = 1 - (1-h)^n``), started
from the particles' own mean and covariance so that the initial sampling error is not counted.

Run: ``python -m analysis.gaussian_flow_check`` (N = 4000, h = 0.05, t = 1: mean within 0.02, covariance
within 4% relative).
"""

from __future__ import annotations

import time

import numpy as np

import odeflow as of

from .euler_order import M0, M1, S0, S1, gaussian_sample


def gaussian_flow_errors(n=4000, h=0.05, t_end=1.0, tol=1e-9):
    """Run the flow; return ``{"mean_error", "cov_rel_error", "seconds", "n_solves", "path"}``.

    ``mean_error`` is the Euclidean distance of the means, ``cov_rel_error`` the Frobenius norm of the
    covariance difference over that of the reference covariance, both at ``t_end``.

    Examples
    --------
    >>> e = gaussian_flow_errors(n=64, h=0.25, t_end=0.5)
    >>> e["mean_error"] < 1e-6, e["path"]
    (True, 'exact2d')
    """
    src = gaussian_sample(M0, S0, n)
    t0 = time.perf_counter()
    run = of.simulate(src, of.Gaussian(M1, S1), method="semidiscrete", h=h, t_end=t_end, tol=tol)
    seconds = time.perf_counter() - t0
    if run.status < 0:
        raise RuntimeError(f"the flow stopped short: {run.message}")
    x = np.asarray(run.points[-1])
    m_ref, s_ref = of.theory.gaussian_flow(src.mean(0), np.cov(src.T, bias=True), M1, S1, run.t[-1], h=h,
                                           scheme="euler")
    m, s = x.mean(0), np.cov(x.T, bias=True)
    return {"mean_error": float(np.linalg.norm(m - m_ref)),
            "cov_rel_error": float(np.linalg.norm(s - s_ref) / np.linalg.norm(s_ref)),
            "seconds": seconds, "n_solves": int(run.n_solves), "path": "exact2d"}


if __name__ == "__main__":
    e = gaussian_flow_errors()
    print(f"Gaussian -> Gaussian flow, N = 4000, h = 0.05, t = 1, exact2d: mean error {e['mean_error']:.2e} "
          f"(<= 0.02), covariance relative error {100 * e['cov_rel_error']:.2f}% (<= 4%), {e['n_solves']} solves, "
          f"{e['seconds']:.0f} s (shared machine)")
