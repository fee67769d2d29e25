import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_weights(rng, n, spread=3.0):
    """Sharply non-uniform positive weights summing to one."""
    w = np.exp(spread * rng.standard_normal(n))
    return w / w.sum()
