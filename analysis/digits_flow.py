"""Gaussian noise flowing onto scikit-learn's 8 x 8 handwritten digits in 64 dimensions (exact potentials).

The target is every one of the 1797 images (``odeflow.datasets.get("digits", 1797)``: intensities / 16
in [0, 1], a 64-D point each); the source is N = 1797 draws of standard Gaussian noise N(0, I_64).
Both flows use the exact LP potential at every step:

* w2, Euler h = 0.1 to t = 3: on equal-size uniform clouds each step multiplies W2 by exactly 1 - h,
  so W2(t = 3) = 0.9^30 W2(0) = 0.042 W2(0);
* w1, Euler with stop-at-target, h = 0.5 to t = 12: unit-speed particles, W1 falls by about h per step
  until they arrive (the longest initial assignment is about 11).

The figure shows ten particles as 8 x 8 images at several times for each flow (noise is clipped to
[0, 1] for display), the digit each w2 particle is transported to, and W2 / W1 against t (the cross
distances, W1 of the w2 flow and W2 of the w1 flow, at the snapshot times).

Not here: the semi-discrete sampled path against a Gaussian-mixture fit of the digits (that path is
being rebuilt elsewhere). Needs scikit-learn (the ``data`` extra). Writes figures/digits_flow.png and
figures/digits_flow.json; returns the numbers it shows.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import odeflow as of
from odeflow.plotting import nearest_record, save

N = 1797
FLOWS = {"w2": {"h": 0.1, "t_end": 3.0, "clip": False, "snapshots": (0.0, 0.5, 1.0, 2.0, 3.0)},
         "w1": {"h": 0.5, "t_end": 12.0, "clip": True, "snapshots": (0.0, 3.0, 6.0, 9.0, 12.0)}}
SHOWN = 10  # particles drawn as images


def run(out="figures/digits_flow", progress=True, n=N, flows=FLOWS, seed=0):
    tgt = of.datasets.get("digits", n, rng=seed)
    src = of.Cloud(np.random.default_rng(seed + 1).standard_normal((n, 64)))
    numbers = {"n": n, "dim": 64, "method": "exact", "source": "N(0, I_64)",
               "target": "sklearn load_digits, intensities / 16", "flows": {},
               "skipped": "semi-discrete sampled path against a Gaussian-mixture fit (being rebuilt elsewhere)"}
    results = {}
    for loss, cfg in flows.items():
        res = of.simulate(src, tgt, loss=loss, method="exact", h=cfg["h"], t_end=cfg["t_end"], clip=cfg["clip"],
                          progress=progress)
        other = 1 if loss == "w2" else 2
        snaps = [nearest_record(res, t) for t in cfg["snapshots"]]
        cross = [of.wasserstein(of.Cloud(res.points[k]), tgt, p=other) for k in snaps]
        entry = {k: v for k, v in cfg.items()}
        entry.update(status=res.status, message=res.message, t=res.t, distance=res.distance,
                     seconds=res.info["seconds"], solves=res.n_solves, snapshot_t=res.t[snaps],
                     **{f"cross_W{other}": cross})
        if loss == "w2":
            at3 = nearest_record(res, 3.0)
            entry["ratio_at_3"] = res.distance[at3] / res.distance[0]
        numbers["flows"][loss] = entry
        results[loss] = res
    save(_figure(results, tgt, flows, numbers), numbers, out)
    return numbers


def _image_rows(subfig, rows, labels, title):
    axes = subfig.subplots(len(rows), SHOWN, squeeze=False)
    for r, (row, label) in enumerate(zip(rows, labels)):
        for c in range(SHOWN):
            ax = axes[r, c]
            ax.imshow(np.clip(row[c], 0.0, 1.0).reshape(8, 8), cmap="gray_r", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    subfig.suptitle(title, fontsize=9)


def _figure(results, tgt, flows, numbers):
    fig = Figure(figsize=(14.0, 8.0), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[2.0, 1.0])
    top, bottom = left.subfigures(2, 1)
    res2 = results["w2"]
    snaps2 = [nearest_record(res2, t) for t in flows["w2"]["snapshots"]]
    final_targets = res2.points[-1][:SHOWN] + res2.drift[-1][:SHOWN]  # w2: drift = T(x) - x
    _image_rows(top, [res2.points[k][:SHOWN] for k in snaps2] + [final_targets],
                [f"t = {res2.t[k]:g}" for k in snaps2] + ["its digit"],
                f"w2 flow, Euler h = {flows['w2']['h']:g}: ten particles (last row: where the transport sends them)")
    res1 = results["w1"]
    snaps1 = [nearest_record(res1, t) for t in flows["w1"]["snapshots"]]
    _image_rows(bottom, [res1.points[k][:SHOWN] for k in snaps1], [f"t = {res1.t[k]:g}" for k in snaps1],
                f"w1 flow, Euler + stop-at-target h = {flows['w1']['h']:g}: the same ten starting particles")
    ax = right.subplots()
    ax.semilogy(res2.t, res2.distance, "o-", ms=2.5, color="C0", label="w2 flow: W2")
    ax.semilogy(res2.t, res2.distance[0] * (1 - flows["w2"]["h"]) ** np.arange(res2.t.size), "k--", lw=0.8,
                label="$W_2(0)(1-h)^n$")
    ax.semilogy(res2.t[snaps2], numbers["flows"]["w2"]["cross_W1"], "s", color="C0", mfc="none", label="w2 flow: W1")
    keep = res1.distance > 0
    ax.semilogy(res1.t[keep], res1.distance[keep], "o-", ms=2.5, color="C1", label="w1 flow: W1")
    ax.semilogy(res1.t[snaps1], numbers["flows"]["w1"]["cross_W2"], "s", color="C1", mfc="none", label="w1 flow: W2")
    ax.axhline(0.1 * res2.distance[0], color="0.5", ls=":", lw=0.8, label="W2(0) / 10")
    ax.set_xlabel("t")
    ax.set_ylabel(f"distance to the {numbers['n']} digits")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"N = {numbers['n']} noise -> digits (64-D), exact LP", fontsize=9)
    return fig


def report(numbers):
    f2, f1 = numbers["flows"]["w2"], numbers["flows"]["w1"]
    lines = [f"digits_flow: N(0, I_64) noise -> the {numbers['n']} sklearn digits (64-D), exact LP",
             f"  w2 Euler h = {f2['h']:g}: W2 {f2['distance'][0]:.4f} -> {f2['distance'][-1]:.4f} at t = {f2['t'][-1]:g}"
             f" (ratio at t = 3: {f2['ratio_at_3']:.4f}; 0.9^30 = {0.9 ** 30:.4f}); {f2['solves']} solves, "
             f"{f2['seconds']:.0f} s, status {f2['status']}",
             f"    W1 at t = {', '.join(f'{t:g}' for t in f2['snapshot_t'])}: "
             + ", ".join(f"{v:.3f}" for v in f2["cross_W1"]),
             f"  w1 Euler + stop h = {f1['h']:g}: W1 {f1['distance'][0]:.4f} -> {f1['distance'][-1]:.3g} at t = "
             f"{f1['t'][-1]:g}; {f1['solves']} solves, {f1['seconds']:.0f} s, status {f1['status']}",
             f"    W2 at t = {', '.join(f'{t:g}' for t in f1['snapshot_t'])}: "
             + ", ".join(f"{v:.3f}" for v in f1["cross_W2"]),
             f"  skipped: {numbers['skipped']}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
