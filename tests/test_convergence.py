"""Order and rate fits on synthetic data; step-size and decay studies on problems with known answers."""

import numpy as np
import pytest

import odeflow as of
from odeflow import convergence as cv
from odeflow import theory


# --- fits on synthetic data -----------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 4.0])
def test_fit_order_recovers_an_exact_power_law(p):
    hs = np.array([0.4, 0.2, 0.1, 0.05, 0.025])
    fit = cv.fit_order(hs, 3.7 * hs**p)
    assert fit.order == pytest.approx(p, abs=1e-12)
    assert fit.constant == pytest.approx(3.7, rel=1e-10)
    assert fit.interval[0] <= p <= fit.interval[1]
    assert fit.interval[1] - fit.interval[0] < 1e-10


def test_fit_order_interval_has_its_coverage():
    """With log-normal noise the 95% t-interval covers the true order in about 95% of trials."""
    rng = np.random.default_rng(7)
    hs = np.geomspace(0.01, 0.3, 5)
    trials = 600
    covered = 0
    for _ in range(trials):
        errors = 2.0 * hs**1.5 * np.exp(0.2 * rng.standard_normal(hs.size))
        lo, hi = cv.fit_order(hs, errors).interval
        covered += lo <= 1.5 <= hi
    assert 0.92 <= covered / trials <= 0.98
    # a 50% interval is narrower and covers about half the time
    narrow = [cv.fit_order(hs, 2.0 * hs**1.5 * np.exp(0.2 * rng.standard_normal(hs.size)), confidence=0.5)
              for _ in range(trials)]
    share = np.mean([f.interval[0] <= 1.5 <= f.interval[1] for f in narrow])
    assert 0.44 <= share <= 0.56


def test_fit_rate_on_an_exponential():
    t = np.linspace(0.0, 3.0, 31)
    fit = cv.fit_rate(t, 2.5 * np.exp(-0.8 * t))
    assert fit.rate == pytest.approx(-0.8, abs=1e-12)
    assert fit.amplitude == pytest.approx(2.5, rel=1e-12)


def test_fit_bad_inputs():
    with pytest.raises(ValueError, match="^errors: .*at least 3"):
        cv.fit_order([0.1, 0.2], [1.0, 2.0])
    with pytest.raises(ValueError, match="^errors: .*> 0"):
        cv.fit_order([0.1, 0.2, 0.3], [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="^errors: has 2 values"):
        cv.fit_order([0.1, 0.2, 0.3], [1.0, 2.0])
    with pytest.raises(ValueError, match="^hs: "):
        cv.fit_order([0.1, -0.2, 0.3], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="^confidence: "):
        cv.fit_order([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], confidence=1.0)
    with pytest.raises(ValueError, match="^distance: "):
        cv.fit_rate([0.0, 1.0, 2.0], [1.0, np.nan, 0.1])


# --- step-size studies ----------------------------------------------------------------------------

@pytest.fixture
def equal_clouds(rng):
    return of.Cloud(rng.standard_normal((20, 2))), of.Cloud(rng.standard_normal((20, 2)) * 0.5 + [2.0, 1.0])


HS = [0.2, 0.1, 0.05, 0.025]


@pytest.mark.parametrize("scheme, p", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_orders_on_the_exact_equal_size_problem(equal_clouds, scheme, p):
    study = cv.step_size_study(*equal_clouds, scheme=scheme, hs=HS, t_end=2.0, reference="exact")
    assert abs(study.order - p) < 0.15
    assert study.info["metric"] == "particles"
    # with no mass splitting the distance curve is (R(h)^n - e^{-t}) W2_0: the same errors
    np.testing.assert_allclose(study.errors["distance_sup"], study.errors["w2_sup"], rtol=1e-6)
    # and the errors are the closed form's
    w0 = of.wasserstein(*equal_clouds)
    expected = [abs(theory.decay_factor(2.0, h=h, scheme=scheme) - np.exp(-2.0)) * w0 for h in HS]
    np.testing.assert_allclose(study.errors["w2_end"], expected, rtol=1e-6)
    assert "order" in repr(study) and "\n" not in repr(study)


def test_default_reference_is_a_finer_run(equal_clouds):
    """reference=None (the CLI's call) uses a finer RK4 run; it agrees with the closed form."""
    default = cv.step_size_study(*equal_clouds, loss="w2", method="auto", scheme="euler", hs=HS, t_end=1.0,
                                 reference=None, progress=False)
    exact = cv.step_size_study(*equal_clouds, hs=HS, t_end=1.0, reference="exact")
    assert default.info["reference"].startswith("finest run (rk4")
    np.testing.assert_allclose(default.errors["w2_sup"], exact.errors["w2_sup"], rtol=1e-4)
    with pytest.raises(ValueError, match="^hs: .*multiple"):
        cv.step_size_study(*equal_clouds, hs=[0.25, 0.1, 0.04], t_end=1.0, refine=1, reference_scheme="euler")


def test_callable_and_cloud_references(rng):
    src, tgt = of.Cloud(rng.standard_normal((30, 1))), of.Cloud(rng.exponential(size=(30, 1)))
    by_callable = cv.step_size_study(src, tgt, hs=HS, t_end=1.5,
                                     reference=lambda t: theory.equal_size_flow(src, tgt, t))
    quantile = cv.step_size_study(src, tgt, hs=HS, t_end=1.5, reference=cv.quantile_reference(src, tgt))
    assert quantile.info["metric"] == "w2"
    # distinct particles and small errors: the correspondence is the optimal coupling
    np.testing.assert_allclose(by_callable.errors["w2_sup"], quantile.errors["w2_sup"], rtol=1e-8)
    # the callable gave no distance: it was solved for, and matches the closed form's
    np.testing.assert_allclose(by_callable.errors["distance_sup"], quantile.errors["distance_sup"], rtol=1e-6)
    with pytest.raises(ValueError, match="^metric: "):
        cv.step_size_study(src, tgt, hs=HS, t_end=1.0, reference=cv.quantile_reference(src, tgt),
                           metric="particles")


def test_gaussian_reference_measures_moments(rng):
    """Moments error: the particles' mean follows m1 + R(h)^n (m0 - m1) exactly (all target mass is used),
    so with equal covariances the error is the mean's discretisation error."""
    S = np.eye(2)
    src = of.Cloud(rng.standard_normal((15, 2)))
    tgt = of.Cloud(src.points + [3.0, -1.0])  # same shape: the flow translates the cloud
    ref = cv.gaussian_reference(src.mean(), src.cov(), tgt.mean(), tgt.cov())
    study = cv.step_size_study(src, tgt, hs=HS, t_end=1.0, reference=ref)
    assert study.info["metric"] == "moments"
    shift = np.linalg.norm([3.0, -1.0])
    expected = [abs(theory.decay_factor(1.0, h=h) - np.exp(-1.0)) * shift for h in HS]
    np.testing.assert_allclose(study.errors["w2_end"], expected, rtol=1e-6, atol=1e-9)
    assert S.shape == (2, 2)


def test_clipped_w1_euler_is_exact_so_no_order_is_fitted(rng):
    src, tgt = of.Cloud(rng.standard_normal((15, 2))), of.Cloud(rng.standard_normal((15, 2)) + 2.0)
    study = cv.step_size_study(src, tgt, loss="w1", clip=True, hs=HS, t_end=5.0, reference="exact")
    assert np.all(study.errors["w2_sup"] < 1e-13)
    assert np.isnan(study.order) and "rounding" in study.info["fit_message"]
    assert "n/a" in repr(study)
    with pytest.raises(ValueError, match="^clip: "):
        cv.step_size_study(src, tgt, loss="w1", hs=HS, t_end=1.0, reference="exact")


def test_step_size_study_bad_inputs(equal_clouds):
    with pytest.raises(ValueError, match="^hs: "):
        cv.step_size_study(*equal_clouds, hs=[0.5, 1.5], t_end=1.0)
    with pytest.raises(ValueError, match="^reference: unknown"):
        cv.step_size_study(*equal_clouds, hs=HS, t_end=1.0, reference="closed")
    with pytest.raises(TypeError, match="^reference: "):
        cv.step_size_study(*equal_clouds, hs=HS, t_end=1.0, reference=3)
    with pytest.raises(ValueError, match="^reference: a state"):
        cv.step_size_study(*equal_clouds, hs=HS, t_end=1.0, reference=lambda t: np.zeros((3, 2)))


# --- decay study ----------------------------------------------------------------------------------

def test_decay_study_rate_floor_and_identity(rng):
    src = of.Cloud(0.2 * rng.standard_normal((12, 2)) + [6.0, 0.0])
    tgt = of.Cloud(0.3 * rng.standard_normal((60, 2)))
    h = 0.02
    study = cv.decay_study(src, tgt, h=h, t_end=8.0)
    assert abs(study.rate + 1) < 0.02
    assert study.floor_reached
    assert study.floor == pytest.approx(np.sqrt(study.variance[-1]), rel=1e-3)
    # docs/theory.rst §3.2, one Euler step: W2^2_{n+1} <= (1-h)^2 W2^2_n + h(2-h) V_n
    assert study.one_step_violation < 1e-12
    # the identity's forward-difference residual is Euler's own h * kinetic term plus little else
    assert study.identity_max <= h / 2 + study.identity_euler_excess + 1e-12
    assert study.identity_euler_excess < 0.1 * h
    # halving h halves the residual: it is time-discretisation error
    half = cv.decay_study(src, tgt, h=h / 2, t_end=1.0)
    first = cv.decay_study(src, tgt, h=h, t_end=1.0)
    assert first.identity_max / half.identity_max == pytest.approx(2.0, rel=0.05)
    # t_end = 1 is far from the floor: no rate window, said so rather than a silent number
    assert np.isnan(half.rate) and "floor" in half.info["rate_message"] and "n/a" in repr(half)


def test_decay_study_rejects_w1(rng):
    with pytest.raises(ValueError, match="^loss: "):
        cv.decay_study(rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), loss="w1")


# --- density targets (the semi-discrete method plugs in here) -------------------------------------

class _HiddenCloud(of.Density):
    """A 'density' that is secretly a cloud: exercises the density code paths of the studies."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.dim = cloud.dim


def _fake_density_solver(report_variance):
    from odeflow.potentials import PotentialSolver, kantorovich
    from odeflow.potentials import KantorovichResult

    class Fake(PotentialSolver):
        name = "fake-density"
        target_kind = "density"

        def solve(self, cloud):
            pot = kantorovich(cloud, self.target.cloud, loss=self.loss, method="exact")
            info = dict(pot.info)
            if report_variance:
                info["cell_variance"] = theory.within_cell_variance(pot, self.target.cloud)
            return KantorovichResult(cost=pot.cost, f=pot.f, g=None, plan=None, targets=pot.targets,
                                     drift=pot.drift, info=info, loss=pot.loss)

    return Fake


@pytest.mark.parametrize("report_variance", [True, False])
def test_decay_and_step_studies_accept_density_targets(rng, monkeypatch, report_variance):
    from odeflow.potentials import METHODS

    monkeypatch.setitem(METHODS, "fake-density", _fake_density_solver(report_variance))
    src = of.Cloud(0.2 * rng.standard_normal((8, 2)) + [5.0, 0.0])
    cloud = of.Cloud(0.3 * rng.standard_normal((40, 2)))
    as_cloud = cv.decay_study(src, cloud, h=0.05, t_end=6.0)
    as_density = cv.decay_study(src, _HiddenCloud(cloud), method="fake-density", h=0.05, t_end=6.0)
    expected = "solver's cell variance" if report_variance else "decomposition"
    assert as_density.info["variance_source"].startswith(expected)
    np.testing.assert_allclose(as_density.variance, as_cloud.variance, rtol=1e-9, atol=1e-12)
    assert as_density.rate == pytest.approx(as_cloud.rate, rel=1e-12)
    study = cv.step_size_study(src, _HiddenCloud(cloud), method="fake-density", hs=[0.2, 0.1, 0.05], t_end=1.0)
    assert abs(study.order - 1) < 0.15


def test_reference_with_discrete_times_is_checked(equal_clouds):
    ref = cv.finest_reference(*equal_clouds, h=0.05, t_end=1.0)
    ok = cv.step_size_study(*equal_clouds, hs=[0.2, 0.1, 0.05], t_end=1.0, reference=ref)
    assert ok.info["reference"].startswith("finest run")
    with pytest.raises(ValueError, match="^hs: the run with h = 0.12"):
        cv.step_size_study(*equal_clouds, hs=[0.12, 0.1, 0.05], t_end=1.0, reference=ref)
    two = cv.step_size_study(*equal_clouds, hs=[0.1, 0.05], t_end=1.0, reference=ref)
    assert np.isnan(two.order) and "fewer than 3" in repr(two)
