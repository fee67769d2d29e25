"""Flows with approximate potentials (odeflow.approximation): the qualitative law and its fits."""

import math

import numpy as np
import pytest

import odeflow as of
from odeflow.studies import approximation as ap
from odeflow import theory


@pytest.fixture(scope="module")
def clouds():
    rng = np.random.default_rng(7)
    n = 16
    return of.Cloud(rng.standard_normal((n, 2))), of.Cloud(0.5 * rng.standard_normal((n, 2)) + [2.0, 1.0])


def test_euler_run_is_simulate_and_the_closed_form(clouds):
    src, tgt = clouds
    run = ap.perturbed_flow(src, tgt, h=0.1, t_end=1.0, delta=0.0)
    res = of.simulate(src, tgt, method="exact", h=0.1, t_end=1.0, progress=False)
    np.testing.assert_array_equal(run.final, res.final.points)
    np.testing.assert_allclose(run.final, theory.equal_size_flow(src, tgt, 1.0, h=0.1), atol=1e-12)
    # the error is W2 between the Euler cloud and the exact flow's: here |(1-h)^n - e^{-t}| W2_0 (THEORY 3.1)
    w0 = of.wasserstein(src, tgt)
    expected = np.abs((1 - 0.1) ** np.arange(11) - np.exp(-run.t)) * w0
    np.testing.assert_allclose(run.error, expected, atol=1e-9)


def test_error_shrinks_with_h_at_order_one_without_perturbation(clouds):
    src, tgt = clouds
    hs = [0.2, 0.1, 0.05, 0.025]
    errors = [ap.perturbed_flow(src, tgt, h=h, t_end=2.0, delta=0.0).error_end for h in hs]
    assert np.all(np.diff(errors) < 0)
    fit = of.convergence.fit_order(hs, errors)
    assert 0.95 < fit.order < 1.05  # 1 + O(h): the interval may sit just above 1


@pytest.mark.parametrize("mode", ["adversarial", "random"])
def test_error_grows_with_delta_at_fixed_h(clouds, mode):
    src, tgt = clouds
    deltas = [0.0, 0.03, 0.1, 0.3]
    rows = ap.perturbation_runs(src, tgt, hs=[0.05], deltas=deltas, t_end=2.0, mode=mode, repeats=4, rng=3)
    errors = [r["error_end"] for r in rows]
    assert np.all(np.diff(errors) > 0), errors
    # a random critic's error averages out over steps: far below the adversarial one of the same size
    if mode == "random":
        adversarial = ap.perturbed_flow(src, tgt, h=0.05, t_end=2.0, delta=0.3).error_end
        assert errors[-1] < 0.5 * adversarial


def test_adversarial_floor_is_the_gronwall_constant(clouds):
    """At small h the adversarial error tends to delta (1 - e^{-T}) (the contraction of the exact flow)."""
    src, tgt = clouds
    delta, t_end = 0.01, 2.0
    e0 = ap.perturbed_flow(src, tgt, h=0.01, t_end=t_end, delta=0.0).error_end
    e1 = ap.perturbed_flow(src, tgt, h=0.01, t_end=t_end, delta=delta).error_end
    assert (e1 - e0) / delta == pytest.approx(1 - math.exp(-t_end), rel=0.1)


def test_laws_separate_the_two_perturbations(clouds):
    """The data say: adversarial errors add (C1 h + C2 delta), random ones add in quadrature with delta^2 h."""
    src, tgt = clouds
    hs, deltas = [0.2, 0.1, 0.05], [0.0, 0.01, 0.03, 0.1]
    adv = ap.perturbation_runs(src, tgt, hs=hs, deltas=deltas, t_end=2.0, mode="adversarial")
    rnd = ap.perturbation_runs(src, tgt, hs=hs, deltas=deltas, t_end=2.0, mode="random", repeats=6, rng=1)
    best_adv, _ = ap.best_law(*(np.array([[r["h"], r["delta"], r["error_end"]] for r in adv]).T))
    _, fits_rnd = ap.best_law(*(np.array([[r["h"], r["delta"], r["error_end"]] for r in rnd]).T))
    assert best_adv.form == "additive" and best_adv.residual < 0.1
    assert fits_rnd["diffusive"].residual < fits_rnd["additive"].residual
    w0 = of.wasserstein(src, tgt)
    c1 = 2.0 * math.exp(-2.0) / 2 * w0  # (T e^{-T} / 2) W2_0, THEORY 3.1
    assert best_adv.interval1[0] < 1.1 * c1 and best_adv.interval1[1] > 0.95 * c1
    assert 0.4 < best_adv.c2 < 1 - math.exp(-2.0) + 0.05


@pytest.mark.parametrize("form", sorted(ap.FORMS))
def test_fit_law_recovers_known_constants(form):
    rng = np.random.default_rng(0)
    h = rng.uniform(0.01, 0.2, 12)
    d = rng.uniform(0.0, 0.1, 12)
    truth = ap.LawFit(form, 0.4, 0.7, (0, 0), (0, 0), 0.0, 0.0, 12, 0.95)
    fit = ap.fit_law(h, d, truth.predict(h, d), form)
    assert fit.c1 == pytest.approx(0.4, rel=1e-9) and fit.c2 == pytest.approx(0.7, rel=1e-9)
    assert fit.residual < 1e-9
    noisy = truth.predict(h, d) * (1 + 0.05 * rng.standard_normal(12))
    fit = ap.fit_law(h, d, noisy, form)
    assert fit.interval1[0] < 0.4 < fit.interval1[1] and fit.interval2[0] < 0.7 < fit.interval2[1]


def test_entropic_bias_vanishes_with_epsilon_and_respects_the_bound(clouds):
    src, tgt = clouds
    rows = ap.entropic_runs(src, tgt, hs=[0.1], epsilons=[0.03, 0.01, 0.003], t_end=2.0, debias=(False, True))
    exact = ap.perturbed_flow(src, tgt, h=0.1, t_end=2.0, delta=0.0).error_end
    for deb in (False, True):
        bias = [r["bias_end"] for r in rows if r["debias"] == deb]
        assert np.all(np.diff(bias) < 0), bias
        assert bias[-1] < 0.2 * bias[0]
    for r in rows:
        assert r["error_end"] <= exact + (1 - math.exp(-2.0)) * r["potential_error"] + 1e-12


def test_bad_input(clouds):
    src, tgt = clouds
    with pytest.raises(ValueError, match="delta"):
        ap.perturbed_flow(src, tgt, h=0.1, t_end=1.0, delta=-1.0)
    with pytest.raises(ValueError, match="mode"):
        ap.perturbed_flow(src, tgt, h=0.1, t_end=1.0, delta=0.1, mode="sideways")
    with pytest.raises(ValueError, match="equal"):
        ap.perturbed_flow(src, of.Cloud(tgt.points[:5]), h=0.1, t_end=1.0, delta=0.1)
    with pytest.raises(ValueError, match="form"):
        ap.fit_law([0.1, 0.2, 0.3], [0, 0, 0], [1, 2, 3], "cubic")
    with pytest.raises(ValueError, match="errors"):
        ap.fit_law([0.1, 0.2], [0, 0], [1, 2])
