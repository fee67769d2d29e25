"""analysis/paper_2d at a tiny size: PNG and JSON written, the metric's numbers consistent."""

import json

import numpy as np


def test_paper_2d_tiny(tmp_path):
    from analysis import paper_2d

    flows = {"w2": {"h": 0.5, "t_end": 1.0, "clip": False}, "w1": {"h": 0.25, "t_end": 0.5, "clip": True}}
    numbers = paper_2d.run(out=tmp_path / "p2", progress=False, n=40, batch=16, every=1, flows=flows,
                           snapshots=[("w2", 0.0), ("w2", 1.0), ("w1", 0.5)])
    assert (tmp_path / "p2.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "p2.json").read_text())
    assert set(saved["problems"]) == {"4gaussians", "swissroll", "checkerboard", "ring8"}
    for e in saved["problems"].values():
        assert e["floor_W2"] > 0 and e["floor_W1"] > 0
        for loss in ("w2", "w1"):
            r = e[loss]
            assert r["status"] == 0 and len(r["batch_t"]) == len(r["batch_W2"]) == len(r["t"])
            assert np.all(np.asarray(r["batch_W1"]) <= np.asarray(r["batch_W2"]) + 1e-12)  # W1 <= W2
        w2 = e["w2"]["distance_to_cloud"]  # equal-size clouds: Euler factor 1 - h exactly
        np.testing.assert_allclose(np.asarray(w2[1:]) / w2[:-1], 0.5, atol=1e-9)
    assert "ring8" in paper_2d.report(numbers)
