"""w2 and w1 particle flows from a small Gaussian blob to a ring of 8 Gaussians (N = 500, exact LP).

Writes figures/demo_flow.png and figures/demo_flow.json; returns the numbers it shows.
"""

from __future__ import annotations

import numpy as np

import odeflow as of
from odeflow.plotting import flow_figure, save

N = 500
W2_STEP, W2_T_END = 0.1, 4.0
W1_STEP, W1_T_END = 0.05, 1.5


def run(out="figures/demo_flow", progress=True):
    src, tgt = of.datasets.problem("ring8", N, rng=0)
    w2 = of.simulate(src, tgt, loss="w2", method="exact", h=W2_STEP, t_end=W2_T_END, progress=progress)
    w1 = of.simulate(src, tgt, loss="w1", method="exact", h=W1_STEP, t_end=W1_T_END, clip=True,
                     progress=progress)
    # docs/theory.rst §3.1: Euler on equal-size clouds shrinks W2 by exactly (1 - h) per step.
    ratios = w2.distance[1:] / w2.distance[:-1]
    # docs/theory.rst §3.5: with clipping, W1(t) = mean_i max(|x_i(0) - y_s(i)| - t, 0) for the initial assignment.
    d0 = np.linalg.norm(of.kantorovich(src, tgt, loss="w1", method="exact").targets - src.points, axis=1)
    w1_theory = np.array([np.mean(np.maximum(d0 - t, 0.0)) for t in w1.t])
    numbers = {
        "n": N,
        "w2": {"h": W2_STEP, "t": w2.t, "distance": w2.distance, "theory_exp": w2.distance[0] * np.exp(-w2.t),
               "theory_euler": w2.distance[0] * (1 - W2_STEP) ** np.arange(w2.t.size),
               "max_ratio_error": float(np.max(np.abs(ratios - (1 - W2_STEP)))), "seconds": w2.info["seconds"]},
        "w1": {"h": W1_STEP, "clip": True, "t": w1.t, "distance": w1.distance, "theory_stop_at_target": w1_theory,
               "max_abs_error": float(np.max(np.abs(w1.distance - w1_theory))), "seconds": w1.info["seconds"]},
    }
    refs = {"w2": [("Euler $(1-h)^n$", w2.t, numbers["w2"]["theory_euler"])],
            "w1": [("stop-at-target", w1.t, w1_theory)]}
    fig = flow_figure({"w2": w2, "w1": w1}, target_points=tgt.points, reference_rate={"w2": 1.0},
                      references=refs)
    save(fig, numbers, out)
    return numbers


def report(numbers):
    w2, w1 = numbers["w2"], numbers["w1"]
    lines = [
        f"demo_flow: gaussian blob -> ring8, N = {numbers['n']}, exact LP",
        f"  {'t':>5} {'W2 Euler':>10} {'W2_0 e^-t':>10} {'W2_0 (1-h)^n':>13}",
    ]
    for k in range(0, len(w2["t"]), 10):
        lines.append(f"  {w2['t'][k]:5.2f} {w2['distance'][k]:10.5f} {w2['theory_exp'][k]:10.5f} "
                     f"{w2['theory_euler'][k]:13.5f}")
    lines.append(f"  w2: max |W2_(n+1)/W2_n - (1-h)| = {w2['max_ratio_error']:.2e}  ({w2['seconds']:.2f} s)")
    lines.append(f"  {'t':>5} {'W1 clipped':>11} {'stop-at-target':>15}")
    for k in range(0, len(w1["t"]), 6):
        lines.append(f"  {w1['t'][k]:5.2f} {w1['distance'][k]:11.5f} {w1['theory_stop_at_target'][k]:15.5f}")
    lines.append(f"  w1: max |W1 - stop-at-target curve| = {w1['max_abs_error']:.2e}  ({w1['seconds']:.2f} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
