"""Particles forming a picture: a Gaussian blob flows (w2, exact LP) onto a procedurally drawn smiley.
===================================================================================================

    python examples/picture.py            # N = 600, writes out/examples/picture.gif and picture.png
    python examples/picture.py --small    # N = 120, a few frames (also: ODEFLOW_SMALL=1)

The target is a cloud of points sampled from a black-and-white picture made here with NumPy (a face
outline, two eyes and a mouth); any 0/1 image array works the same way.
"""

import argparse
import os

import numpy as np

import odeflow as of
from odeflow.plotting import animate, save, snapshot_grid


def smiley_mask(size=160):
    """A ``size x size`` boolean picture of a smiley on [-1, 1]^2 (row 0 at the top)."""
    y, x = np.mgrid[1:-1:size * 1j, -1:1:size * 1j]
    r = np.hypot(x, y)
    face = (r > 0.86) & (r < 0.98)
    eyes = (np.hypot(x - 0.35, y - 0.3) < 0.13) | (np.hypot(x + 0.35, y - 0.3) < 0.13)
    rm = np.hypot(x, y - 0.1)
    mouth = (rm > 0.48) & (rm < 0.6) & (y < -0.05)
    return face | eyes | mouth


def sample_picture(mask, n, rng):
    """``n`` points spread uniformly over the True pixels of ``mask`` (pixels of side 2/size)."""
    rows, cols = np.nonzero(mask)
    pick = rng.integers(0, rows.size, n)
    side = 2.0 / mask.shape[0]
    x = -1 + (cols[pick] + rng.random(n)) * side
    y = 1 - (rows[pick] + rng.random(n)) * side
    return np.stack([x, y], axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", default=os.environ.get("ODEFLOW_SMALL") == "1")
    parser.add_argument("--out", default="out/examples")
    args = parser.parse_args(argv)
    n, h, t_end, frames, dpi = (120, 0.25, 1.5, 4, 40) if args.small else (600, 0.1, 4.0, 41, 80)

    rng = np.random.default_rng(0)
    target = of.Cloud(sample_picture(smiley_mask(), n, rng))
    start = of.datasets.get("gaussian", n, rng, scale=0.3)
    res = of.simulate(start, target, loss="w2", method="exact", h=h, t_end=t_end, progress=not args.small)
    print(res)

    os.makedirs(args.out, exist_ok=True)
    gif = animate(res, os.path.join(args.out, "picture.gif"), target_points=target, frames=frames, dpi=dpi,
                  title="blob -> smiley")
    fig = snapshot_grid({"smiley": {"w2": res}}, [("w2", t) for t in np.linspace(0, t_end, 4)],
                        target_points={"smiley": target.points},
                        curves={"smiley": [("W2 to the picture", res.t, res.distance, "o-"),
                                           ("exact flow $W_2(0)e^{-t}$", res.t, res.distance[0] * np.exp(-res.t), "k--")]})
    png, _ = save(fig, {"t": res.t, "distance": res.distance, "n": n}, os.path.join(args.out, "picture"))
    print(f"W2 {res.distance[0]:.4f} -> {res.distance[-1]:.4f} (e^-t predicts {res.distance[0] * np.exp(-t_end):.4f})")
    print(f"wrote {gif} and {png}")


if __name__ == "__main__":
    main()
