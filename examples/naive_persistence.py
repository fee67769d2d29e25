"""Why naive persistence overshoots (and frozen targets never do).
===============================================================

    python examples/naive_persistence.py          # N = 300, writes out/examples/naive_persistence.png
    python examples/naive_persistence.py --small  # N = 40 (also: ODEFLOW_SMALL=1)

One solve of the potential gives each particle x its drift v (for w2, v = T(x) - x points at its
transport target T). The papers' persistent training then takes K cheap moves before solving again:

* frozen targets: fix z = x + h v and move x <- x + eta (z - x) K times. The gap to z shrinks by
  (1 - eta) each move, so x ends at z - (1-eta)^K (z - x): a step of h (1 - (1-eta)^K) v, never more
  than the full Euler step h v, never past the target;
* naive: move x <- x + eta h v K times with the stale v: a step of K eta h v. Once K eta h > 1 the
  particle runs past T (it was only ``|v|`` away); past K eta h = 2 it ends further from T than it started.
"""

import argparse
import os

import numpy as np
from matplotlib.figure import Figure

import odeflow as of
from odeflow.persistence import predicted_step, sweep
from odeflow.plotting import save


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", default=os.environ.get("ODEFLOW_SMALL") == "1")
    parser.add_argument("--out", default="out/examples")
    args = parser.parse_args(argv)
    n, t_end = (40, 0.9) if args.small else (300, 2.4)
    eta, h, ks = 0.5, 0.3, (2, 8, 16)

    print("one particle at 0, its target at 1 (w2, so v = 1): position after one step")
    print(f"  {'K':>3} {'K eta h':>8} {'frozen targets':>15} {'naive':>8}")
    for k in ks:
        print(f"  {k:3d} {k * eta * h:8.2f} {predicted_step(k, eta, h, 'targets'):15.4f} "
              f"{predicted_step(k, eta, h, 'naive'):8.4f}")

    src, tgt = of.datasets.problem("ring8", n, rng=0)
    sw = sweep(src, tgt, ks=ks, eta=eta, h=h, t_end=t_end, loss="w2", progress=False)
    print(f"\nring8, N = {n}, eta = {eta}, h = {h}: one potential solve per step whatever K is")
    print(f"  {'mode':<8} {'K':>3} {'step s':>8} {'measured':>9} {'W2 factor |1-s|':>16} {'measured':>9} {'passed':>7}")
    for r in sw.table():
        print(f"  {r['mode']:<8} {r['k']:3d} {r['predicted_step']:8.4f} {r['measured_step']:9.4f} "
              f"{r['predicted_first']:16.4f} {r['measured_first']:9.4f} {r['overshoot_fraction']:7.2f}")

    fig = Figure(figsize=(15, 4), layout="constrained")
    axes = fig.subplots(1, 4)
    watch = np.arange(0, n, max(1, n // 6))  # a few particles' paths, first step drawn thick
    for ax, mode, k in ((axes[0], "targets", 16), (axes[1], "naive", 8), (axes[2], "naive", 16)):
        res = sw.results[(mode, k)]
        ax.scatter(tgt.points[:, 0], tgt.points[:, 1], s=4, color="0.8", lw=0)
        for c, i in enumerate(watch):
            ax.plot(res.points[:, i, 0], res.points[:, i, 1], "-o", ms=2, lw=0.6, color=f"C{c}")
            ax.plot(res.points[:2, i, 0], res.points[:2, i, 1], "-", lw=2, color=f"C{c}")
        ax.set(aspect="equal", xlim=(-2.5, 2.5), ylim=(-2.5, 2.5),
               title=f"{mode}, K = {k}: step s = {predicted_step(k, eta, h, mode):.3g}")
    for (mode, k), res in sw.results.items():
        axes[3].semilogy(np.arange(res.t.size), res.distance, "-" if mode == "targets" else "--",
                         label=f"{mode} K={k} (K eta h = {k * eta * h:.2g})")
    axes[3].set(xlabel="potential solves", ylabel="W2 to target", title=f"eta = {eta}, h = {h}")
    axes[3].legend(fontsize=7)
    png, _ = save(fig, {"table": sw.table()}, os.path.join(args.out, "naive_persistence"))
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
