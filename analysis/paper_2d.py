"""The papers' four 2-D problems flowed with w2 and w1 on particles, and the papers' metric.

4gaussians, swissroll, checkerboard and ring8 as the authors' generators define them
(``odeflow.datasets.problem``), N = 512 particles against a 512-point target cloud, exact LP; w2 by
Euler (h = 0.1), w1 by Euler with stop-at-target clipping (h = 0.05). The metric is the authors'
protocol (``odeflow.metrics.fixed_batch_curve``): exact W1 and W2 between the 512 particles (the
fixed latent batch: N = 512 keeps the authors' per-mode counts, which a random 512 of more particles
would not) and one fixed 512-point data batch drawn once (the same batches for both flows of a
problem), here every other step (the authors evaluate every 10 iterations). The fresh-batch protocol
(new particle and data batches at every evaluation) is kept in the JSON and drawn dotted; the floor is
the distance between two independent data batches (median of 8 draws).
Writes figures/paper_2d.png and figures/paper_2d.json.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

import odeflow as of
from odeflow.metrics import batch_curve, batch_wasserstein, fixed_batch, fixed_batch_curve
from odeflow.plotting import save, snapshot_grid

N = 512  # = the batch: the fixed latent batch is every particle, with the authors' per-mode counts
BATCH = 512
PROBLEMS = ("4gaussians", "swissroll", "checkerboard", "ring8")
FLOWS = {"w2": {"h": 0.1, "t_end": 4.0, "clip": False}, "w1": {"h": 0.05, "t_end": 2.0, "clip": True}}
SNAPSHOTS = [("w2", 0.0), ("w2", 0.5), ("w2", 1.5), ("w2", 4.0), ("w1", 0.5), ("w1", 1.0), ("w1", 2.0)]
FLOOR_DRAWS = 8


def run(out="figures/paper_2d", progress=True, n=N, batch=BATCH, every=2, flows=FLOWS, snapshots=SNAPSHOTS):
    numbers = {"n": n, "batch": batch, "method": "exact", "flows": flows, "every": every,
               "protocol": "fixed (authors): batch_* keys; fresh: fresh_* keys", "problems": {}}
    rows, targets, curves = {}, {}, {}
    bar = tqdm(total=len(PROBLEMS) * len(flows), disable=not progress, desc="paper_2d", leave=False)
    for name in PROBLEMS:
        src, tgt = of.datasets.problem(name, n, rng=0)
        fresh = of.datasets.problem_sampler(name)
        rng = np.random.default_rng(1)
        pairs = np.array([batch_wasserstein(fresh(batch, rng), fresh, p=(1, 2), batch=batch, rng=rng)
                          for _ in range(FLOOR_DRAWS)])
        floor = {1: float(np.median(pairs[:, 0])), 2: float(np.median(pairs[:, 1]))}
        fixed = fixed_batch(src, fresh, batch=batch, rng=np.random.default_rng(2))  # shared by both flows
        runs, entry = {}, {"floor_W1": floor[1], "floor_W2": floor[2]}
        curves[name] = []
        for loss, cfg in flows.items():
            res = of.simulate(src, tgt, loss=loss, method="exact", h=cfg["h"], t_end=cfg["t_end"], clip=cfg["clip"],
                              progress=False)
            runs[loss] = res
            t, both = fixed_batch_curve(res, fixed, p=(1, 2), every=every)  # the authors' protocol
            w1b, w2b = both[:, 0], both[:, 1]
            _, new = batch_curve(res, fresh, p=(1, 2), batch=batch, rng=rng, every=every)  # fresh batches
            entry[loss] = {**cfg, "status": res.status, "t": res.t, "distance_to_cloud": res.distance,
                           "batch_t": t, "batch_W2": w2b, "batch_W1": w1b, "fresh_W2": new[:, 1],
                           "fresh_W1": new[:, 0], "seconds": res.info["seconds"]}
            color = f"C{sorted(flows).index(loss)}"  # the snapshots' colour of this flow
            curves[name] += [(f"{loss} flow: W2", t, w2b, "o-" + color), (f"{loss} flow: W1", t, w1b, "s--" + color),
                             (f"{loss}: W2 fresh", t, new[:, 1], ":" + color)]
            bar.update(1)
        span = [0.0, max(c["t_end"] for c in flows.values())]
        curves[name] += [("floor W2", span, [floor[2]] * 2, "k-"), ("floor W1", span, [floor[1]] * 2, "k--")]
        rows[name], targets[name] = runs, tgt.points
        numbers["problems"][name] = entry
    bar.close()
    fig = snapshot_grid(rows, snapshots, target_points=targets, curves=curves,
                        curve_title=f"W, fixed {batch} particles vs fixed {batch} data")
    fig.suptitle(f"The papers' 2-D problems (the authors' generators) on particles: N = {n}, exact LP; w2 Euler "
                 f"h = {flows['w2']['h']:g}, w1 Euler + stop-at-target h = {flows['w1']['h']:g}; grey: target cloud; "
                 f"metric: the authors' fixed batches (dotted: fresh batches)", fontsize=10)
    save(fig, numbers, out)
    return numbers


def report(numbers):
    lines = [f"paper_2d: the authors' four problems, N = {numbers['n']}, exact LP; the authors' metric: exact W "
             f"between one fixed set of {numbers['batch']} particles and one fixed {numbers['batch']}-point data batch",
             f"  {'problem':<13} {'flow':<4} {'t_end':>5} {'W(cloud) 0 -> end':>19} {'batch W2 0 -> end':>19} "
             f"{'batch W1 0 -> end':>19} {'floor W2/W1':>13} {'s':>6}"]
    for name, e in numbers["problems"].items():
        for loss in ("w2", "w1"):
            r = e[loss]
            lines.append(
                f"  {name:<13} {loss:<4} {r['t_end']:5.1f} {r['distance_to_cloud'][0]:8.4f} -> {r['distance_to_cloud'][-1]:8.4f}"
                f" {r['batch_W2'][0]:8.4f} -> {r['batch_W2'][-1]:8.4f} {r['batch_W1'][0]:8.4f} -> {r['batch_W1'][-1]:8.4f}"
                f" {e['floor_W2']:6.3f}/{e['floor_W1']:6.3f} {r['seconds']:6.1f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
