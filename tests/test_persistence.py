"""odeflow.persistence: effective steps measured against h(1-(1-eta)^K) and K eta h (docs/theory.rst §2)."""

import json

import numpy as np
import pytest

import odeflow as of
from odeflow.persistence import measured_steps, predicted_factor, predicted_step, sweep


@pytest.fixture
def clouds(rng):
    return of.Cloud(rng.standard_normal((24, 2))), of.Cloud(rng.standard_normal((24, 2)) + [3.0, 0.0])


def test_predicted_step_and_factor():
    assert predicted_step(1, 1.0, 0.2) == 0.2
    assert predicted_step(3, 0.5, 0.2, "targets") == pytest.approx(0.2 * 0.875, abs=1e-15)
    assert predicted_step(3, 0.5, 0.2, "naive") == pytest.approx(0.3, abs=1e-15)
    for k in (1, 2, 8, 64):  # frozen targets never pass the full Euler step
        assert predicted_step(k, 0.9, 0.4) <= 0.4
    assert predicted_factor(8, 0.5, 0.3, "naive") == pytest.approx(0.2, abs=1e-15)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: predicted_step(0, 0.5, 0.1), ValueError, "k"),
    (lambda: predicted_step(1, 0.0, 0.1), ValueError, "eta"),
    (lambda: predicted_step(1, 1.5, 0.1), ValueError, "eta"),
    (lambda: predicted_step(1, 0.5, -0.1), ValueError, "h"),
    (lambda: predicted_step(1, 0.5, 0.1, "stale"), ValueError, "mode"),
    (lambda: measured_steps("run"), TypeError, "result"),
    (lambda: sweep([[0.0, 0.0]], [[1.0, 0.0]], ks=(0,), progress=False), ValueError, "ks"),
    (lambda: sweep([[0.0, 0.0]], [[1.0, 0.0]], modes=("lazy",), progress=False), ValueError, "modes"),
    (lambda: sweep([[0.0, 0.0]], [[1.0, 0.0]], ks=(), progress=False), ValueError, "ks"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_measured_steps_needs_every_step(clouds):
    res = of.simulate(*clouds, h=0.1, t_end=0.4, record_every=2, progress=False)
    with pytest.raises(ValueError, match="record_every"):
        measured_steps(res)


@pytest.mark.parametrize("loss", ["w2", "w1"])
def test_sweep_measures_the_predicted_step_exactly(clouds, loss):
    sw = sweep(*clouds, ks=(1, 2, 4, 8), eta=0.5, h=0.3, t_end=0.9, loss=loss, progress=False)
    rows = sw.table()
    assert len(rows) == 8 and {r["mode"] for r in rows} == {"targets", "naive"}
    for r in rows:
        assert r["measured_step"] == pytest.approx(r["predicted_step"], abs=1e-9)
        assert r["step_residual"] < 1e-9  # every particle moved s times its drift
        assert r["n_solves"] == 4  # one solve per step (+1 for the final distance), whatever K is
        if r["mode"] == "targets":
            assert r["predicted_step"] <= 0.3 and r["overshoot_fraction"] == 0.0  # never passes a target
        if loss == "w2":
            if r["mode"] == "naive":  # passes the targets exactly when K eta h > 1
                assert r["overshoot_fraction"] == pytest.approx(float(r["kappa"] > 1), abs=1e-12)
            if r["predicted_step"] <= 1:
                assert r["measured_first"] == pytest.approx(r["predicted_first"], abs=1e-9)
            else:  # reflected through the targets: |1 - s| is only an upper bound
                assert r["measured_first"] <= r["predicted_first"] + 1e-9
        else:  # w1: W1 drops by s while nobody reaches a target (targets 3 apart, s <= 1.2)
            assert r["measured_first"] == pytest.approx(r["predicted_step"], abs=1e-9)
    curve = sw.predicted_curve("targets", 4)
    res = sw.results[("targets", 4)]
    np.testing.assert_allclose(res.distance[np.isfinite(curve)], curve[np.isfinite(curve)], atol=1e-9)


def test_targets_mode_tends_to_the_euler_step(clouds):
    sw = sweep(*clouds, ks=(1, 4, 32), modes=("targets",), eta=0.5, h=0.25, t_end=0.5, progress=False)
    euler = of.simulate(*clouds, h=0.25, t_end=0.5, progress=False)
    np.testing.assert_allclose(sw.results[("targets", 32)].points, euler.points, atol=1e-9)
    steps = [r["measured_step"] for r in sw.table()]
    assert steps == sorted(steps)


def test_analysis_persistence_tiny(tmp_path):
    from analysis import persistence

    numbers = persistence.run(out=tmp_path / "persistence", progress=False, n=16, ks=(1, 4, 16), t_end=0.6)
    assert (tmp_path / "persistence.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "persistence.json").read_text())
    assert set(saved["runs"]) == {"ring8 w2", "ring8 w1", "4gaussians w2", "4gaussians w1"}
    for runs in saved["runs"].values():
        assert len(runs) == 6
        for r in runs.values():
            assert r["measured_step"] == pytest.approx(r["predicted_step"], abs=1e-9)
    naive16 = saved["runs"]["ring8 w2"]["naive K=16"]
    assert naive16["kappa"] > 1 and naive16["overshoot_fraction"] == pytest.approx(1.0, abs=1e-12)
    assert "max |s measured - s predicted|" in persistence.report(numbers)
