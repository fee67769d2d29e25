"""Euler against Heun: order 1 against order 2, measured on a flow whose answer is known exactly.
==============================================================================================

    python examples/euler_vs_heun.py          # N = 200, writes out/examples/euler_vs_heun.png
    python examples/euler_vs_heun.py --small  # N = 30, two step sizes (also: ODEFLOW_SMALL=1)

On equal-size uniform clouds the exact w2 flow has W2(t) = e^{-t} W2(0) (docs/theory.rst §3.1). A step of
Euler multiplies W2 by 1 - h, a step of Heun by 1 - h + h^2/2 (Heun solves the potential twice per
step). The error at T = 1 against e^{-1} W2(0) falls like h for Euler and like h^2 for Heun.
"""

import argparse
import os

import numpy as np
from matplotlib.figure import Figure

import odeflow as of
from odeflow.plotting import save


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", default=os.environ.get("ODEFLOW_SMALL") == "1")
    parser.add_argument("--out", default="out/examples")
    args = parser.parse_args(argv)
    n, hs = (30, [0.5, 0.25]) if args.small else (200, [0.5, 0.25, 0.125, 0.0625, 0.03125])
    t_end = 1.0

    src, tgt = of.datasets.problem("4gaussians", n, rng=0)
    exact = of.wasserstein(src, tgt) * np.exp(-t_end)
    errors = {"euler": [], "heun": []}
    solves = {"euler": [], "heun": []}
    print(f"4gaussians, N = {n}: |W2_h(T) - e^-T W2(0)| at T = {t_end}")
    print(f"  {'h':>8} {'Euler':>11} {'solves':>6} {'Heun':>11} {'solves':>6}")
    for h in hs:
        row = []
        for scheme in errors:
            res = of.simulate(src, tgt, scheme=scheme, h=h, t_end=t_end, progress=False)
            errors[scheme].append(abs(res.distance[-1] - exact))
            solves[scheme].append(res.n_solves)
            row += [errors[scheme][-1], res.n_solves]
        print(f"  {h:8.5f} {row[0]:11.3e} {row[1]:6d} {row[2]:11.3e} {row[3]:6d}")
    order = {s: np.polyfit(np.log(hs), np.log(e), 1)[0] for s, e in errors.items()}
    print(f"fitted order: Euler {order['euler']:.2f} (theory 1), Heun {order['heun']:.2f} (theory 2)")

    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    for scheme, marker in (("euler", "o"), ("heun", "s")):
        ax.loglog(hs, errors[scheme], marker + "-", label=f"{scheme}: slope {order[scheme]:.2f}")
    ax.set(xlabel="step h", ylabel="error in W2 at T = 1", title=f"Euler vs Heun, N = {n}")
    ax.set_xticks(hs, [f"{h:g}" for h in hs], minor=False)
    ax.xaxis.set_minor_formatter("")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    png, _ = save(fig, {"h": hs, "errors": errors, "solves": solves, "order": order},
                  os.path.join(args.out, "euler_vs_heun"))
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
