"""Exact 2-D path on clustered clouds: the duals of close sites must be resolved to the tolerance (issue 13)."""

import numpy as np
import pytest

import odeflow as of

BOX = of.UniformBox([0, 0], [1, 1])


@pytest.mark.parametrize("n, scale, offset", [(2000, 1e-4, 100.0), (2000, 1e-3, 30.0)])
def test_exact2d_clustered_cloud_far_from_the_box_reaches_tol(n, scale, offset):
    # Before the cloud was spread over the box internally, the first case had no admissible start and
    # 5000 sites of the second stalled at 3.7e-9: the duals, of size |x|^2, cannot separate close sites.
    x = offset + scale * np.random.default_rng(0).random((n, 2))
    pot = of.kantorovich(x, BOX, method="semidiscrete")
    assert pot.success, pot.info["message"]
    assert pot.info["max_mass_error"] <= 1e-9
    assert np.allclose(pot.targets.mean(axis=0), [0.5, 0.5], atol=1e-12)  # equal masses: the box's mean


def test_exact2d_clustered_start_in_the_box_reaches_tol():
    x = 0.01 * np.random.default_rng(0).random((20_000, 2))
    pot = of.kantorovich(x, BOX, method="semidiscrete")
    assert pot.success and pot.info["max_mass_error"] <= 1e-9, pot.info["message"]
    assert np.all((pot.targets > 0) & (pot.targets < 1))
