import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_weights(rng, n, spread=3.0):
    """Sharply non-uniform positive weights summing to one."""
    w = np.exp(spread * rng.standard_normal(n))
    return w / w.sum()


# --- hypothesis profiles -------------------------------------------------------------------------
# ``ci``: deterministic (derandomize: the examples are a function of the test's source, so CI never
# flakes and never needs the example database) and thorough. ``dev``: random and quicker; failing
# examples are kept in the local database (.hypothesis/, git-ignored) and replayed first next run.
# Chosen by $HYPOTHESIS_PROFILE; otherwise ``ci`` when $CI is set (as CI services do), else ``dev``.
# Deadlines are off in both: the first call of a numba kernel may load or compile it.
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=200, derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None)


def _hypothesis_profile():
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    in_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return "ci" if in_ci else "dev"


settings.load_profile(_hypothesis_profile())
