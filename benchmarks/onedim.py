"""1-D potentials by sorting against POT's network simplex on the same clouds (same run, ratio)."""

from __future__ import annotations

import numpy as np

import odeflow as of

from ._timing import best_time


def main(sizes=(500, 2000, 5000)):
    rng = np.random.default_rng(0)
    print("onedim vs exact (POT network simplex), w2, 1-D, random weights")
    print(f"{'N':>6} {'exact s':>9} {'onedim s':>9} {'speed-up':>9} {'|cost diff|':>12}")
    of.kantorovich([[0.0]], [[1.0]], method="onedim")  # compile the numba kernels first
    for n in sizes:
        w = rng.random(n)
        src = of.Cloud(rng.standard_normal((n, 1)), w / w.sum())
        tgt = of.Cloud(rng.standard_normal((n, 1)) + 1)
        t_exact, exact = best_time(lambda: of.kantorovich(src, tgt, method="exact"))
        t_1d, onedim = best_time(lambda: of.kantorovich(src, tgt, method="onedim"))
        print(f"{n:6d} {t_exact:9.4f} {t_1d:9.4f} {t_exact / t_1d:8.1f}x {abs(exact.cost - onedim.cost):12.2e}")


if __name__ == "__main__":
    main()
