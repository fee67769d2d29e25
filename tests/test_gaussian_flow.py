"""The Gaussian -> Gaussian w2 flow on the exact 2-D semi-discrete path follows the Euler Bures geodesic.

The reference is the closed form ``of.theory.gaussian_flow(..., h, scheme="euler")`` (no transport solve); the
run's moments are read off the particles with numpy. The full-size check (N = 4000) is
``python -m analysis.gaussian_flow_check``.
"""

import numpy as np

import odeflow as of
from analysis.euler_order import M0, M1, S0, S1, gaussian_sample
from analysis.gaussian_flow_check import gaussian_flow_errors


def test_gaussian_flow_matches_the_euler_geodesic():
    e = gaussian_flow_errors(n=800, h=0.05, t_end=1.0)
    # Cells partition the target with equal masses, so the centroids' mean is m1 and Euler moves the mean
    # exactly as the closed form does; the covariance carries the quantization error of N = 800 cells
    # (0.3% measured). The continuous-time flow differs from the Euler one here by 0.03 in the mean and
    # 1.4% in the covariance, so both bounds tell the schemes apart (the issue asks 0.02 and 4% at N = 4000).
    assert e["mean_error"] < 1e-6
    assert e["cov_rel_error"] < 0.01


def test_gaussian_flow_moves_the_cloud_towards_the_target():
    """The reference is not trivially matched: after t = 1 the cloud is far from both ends."""
    src = gaussian_sample(M0, S0, 256)
    m_ref, s_ref = of.theory.gaussian_flow(src.mean(0), np.cov(src.T, bias=True), M1, S1, 1.0, h=0.05,
                                           scheme="euler")
    assert np.linalg.norm(m_ref - M1) > 0.5 and np.linalg.norm(m_ref - M0) > 0.5
    assert np.linalg.norm(s_ref - S1) / np.linalg.norm(S1) > 0.2
