"""Teaching figures: the GIF animation and the snapshot grid (odeflow.plotting)."""

import pytest
from PIL import Image

import odeflow as of
from odeflow.plotting import animate, snapshot_grid


@pytest.fixture(scope="module")
def flow():
    src, tgt = of.datasets.problem("ring8", 30, rng=0)
    return of.simulate(src, tgt, h=0.25, t_end=1.5, progress=False), tgt


def test_animation_has_one_frame_per_record(flow, tmp_path):
    res, tgt = flow
    path = animate(res, tmp_path / "sub" / "ring8.gif", target_points=tgt, dpi=30)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == res.t.size == 7


def test_animation_frames_subsampled_w1_and_no_arrows(tmp_path):
    src, tgt = of.datasets.problem("4gaussians", 20, rng=1)
    res = of.simulate(src, tgt, loss="w1", h=0.1, t_end=1.0, clip=True, progress=False)
    path = animate(res, tmp_path / "w1.GIF", target_points=tgt.points, frames=4, arrows=False, dpi=30, fps=2)
    with Image.open(path) as im:
        assert im.n_frames == 4
        assert im.info.get("duration") == 500  # 2 frames per second
    path = animate(res, tmp_path / "many.gif", frames=1000, max_arrows=5, dpi=20)  # capped at the records
    with Image.open(path) as im:
        assert im.n_frames == res.t.size


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"path": "x.png"}, ValueError, "path"),
    ({"path": 3}, TypeError, "path"),
    ({"frames": 0}, ValueError, "frames"),
    ({"fps": 0}, ValueError, "fps"),
    ({"max_arrows": -1}, ValueError, "max_arrows"),
    ({"arrow_scale": 0.0}, ValueError, "arrow_scale"),
    ({"dpi": 0}, ValueError, "dpi"),
    ({"target_points": [[0.0, 0.0, 0.0]]}, ValueError, "target_points"),
])
def test_animate_bad_input(flow, tmp_path, kwargs, exc, match):
    res, _ = flow
    kwargs.setdefault("path", tmp_path / "bad.gif")
    with pytest.raises(exc, match=match):
        animate(res, **kwargs)
    assert not (tmp_path / "bad.gif").exists()


def test_animate_needs_a_2d_result(tmp_path):
    res = of.simulate([[0.0], [1.0]], [[2.0], [3.0]], h=0.5, t_end=1.0, progress=False)
    with pytest.raises(ValueError, match="result"):
        animate(res, tmp_path / "a.gif")
    with pytest.raises(TypeError, match="result"):
        animate(res.points, tmp_path / "a.gif")


def test_snapshot_grid(flow):
    res, tgt = flow
    fig = snapshot_grid({"a": {"w2": res}, "b": {"w2": res}}, [("w2", 0.0), ("w2", 1.4)],
                        target_points={"a": tgt.points}, curves={"a": [("W2", res.t, res.distance, "o-")]})
    assert len(fig.axes) == 5  # row b has no curves
    assert fig.axes[1].get_title().endswith("t = 1.5")  # the nearest record
    with pytest.raises(ValueError, match="snapshots"):
        snapshot_grid({"a": {"w2": res}}, [("w1", 0.0)])
    with pytest.raises(ValueError, match="rows"):
        snapshot_grid({}, [("w2", 0.0)])
