"""analysis/paper_persistence and analysis/digits_flow at tiny sizes: files written, numbers consistent."""

import json

import numpy as np
import pytest


def test_paper_persistence_tiny(tmp_path):
    from analysis import paper_persistence as pp

    flows = {"w2": {"h": 1.0}, "w1": {"h": 0.1}}
    numbers = pp.run(out=tmp_path / "pp", progress=False, n=32, ks=(1, 4), iterations=10, problems=("ring8",),
                     flows=flows)
    assert (tmp_path / "pp.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "pp.json").read_text())
    runs = saved["problems"]["ring8"]["runs"]
    assert set(runs) == {f"{loss} {mode} K={k}" for loss in ("w2", "w1") for mode in ("targets", "naive")
                         for k in (1, 4)}
    eta = numbers["eta"]
    for key, run in runs.items():
        assert run["status"] == 0 and run["iteration"] == [0, 10]
        s = run["h"] * (1 - (1 - eta) ** run["k"]) if run["mode"] == "targets" else run["k"] * eta * run["h"]
        assert run["step"] == pytest.approx(s)
        d = np.asarray(run["distance_to_cloud"])
        if run["loss"] == "w2" and s <= 1:  # equal-size clouds: each step multiplies W2 by 1 - s exactly
            np.testing.assert_allclose(d[1:] / d[:-1], 1 - s, rtol=1e-7)
    # one start, one fixed batch: every run has the same metric at iteration 0
    assert len({round(r["W2"][0], 12) for r in runs.values()}) == 1
    assert runs["w2 naive K=1"]["shared_with"] == "targets K=1"
    assert "can_and_cannot" in saved and "ring8" in pp.report(numbers)


def test_digits_flow_tiny(tmp_path):
    pytest.importorskip("sklearn")
    from analysis import digits_flow

    flows = {"w2": {"h": 0.25, "t_end": 1.0, "clip": False, "snapshots": (0.0, 1.0)},
             "w1": {"h": 2.0, "t_end": 4.0, "clip": True, "snapshots": (0.0, 4.0)}}
    numbers = digits_flow.run(out=tmp_path / "dg", progress=False, n=40, flows=flows)
    assert (tmp_path / "dg.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "dg.json").read_text())
    w2 = saved["flows"]["w2"]
    assert w2["status"] == 0 and len(w2["t"]) == 5
    np.testing.assert_allclose(np.asarray(w2["distance"][1:]) / w2["distance"][:-1], 0.75, rtol=1e-7)
    assert w2["cross_W1"][0] <= w2["distance"][0] + 1e-9  # W1 <= W2
    assert saved["flows"]["w1"]["distance"][-1] < saved["flows"]["w1"]["distance"][0]
    assert "semi-discrete" in saved["skipped"] and "digits" in digits_flow.report(numbers)
