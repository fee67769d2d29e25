"""Does the flow converge when the Kantorovich potential is only approximated? (A reviewer's question.)

Runs :func:`odeflow.approximation.approximation_study`: forward Euler on 2-D equal-size uniform clouds
(N = 100, Gaussian blob -> smaller shifted blob, T = 2) with the exact drift perturbed by ``delta``
(adversarial and random directions) and with entropic potentials (``method="entropic"``, plain and debiased),
against the closed-form exact flow; the error law in ``h`` and ``delta`` with 95% intervals; the entropic
end-state bias against epsilon; entropic cost and drift against the exact ones on unequal weighted clouds.
The sampled semi-discrete quadrature is left out (that path is being rebuilt).

Writes figures/approx_potentials.png and figures/approx_potentials.json; returns the numbers it shows.
Run: ``python -m analysis.approx_potentials`` (``--quick`` for a small version).
"""

from __future__ import annotations

import sys

import numpy as np

import odeflow as of
from odeflow.studies.approximation import FORMS, approximation_study
from odeflow.app.approximation_figure import approximation_figure
from odeflow.plotting import save

N, T_END = 100, 2.0
HS = (0.2, 0.1, 0.05, 0.025)
DELTAS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1)
EPSILONS = (0.1, 0.03, 0.01, 0.003, 0.001, 0.0003)
CONVERGENCE_EPSILONS = (0.1, 0.03, 0.01, 0.003, 0.001, 0.0005, 0.0003, 0.0002, 0.00015, 0.0001, 0.00007)


def clouds(n, seed=0):
    rng = np.random.default_rng(seed)
    return of.Cloud(rng.standard_normal((n, 2))), of.Cloud(0.5 * rng.standard_normal((n, 2)) + [2.0, 1.0])


def run(out="figures/approx_potentials", progress=True, quick=False):
    src, tgt = clouds(40 if quick else N)
    study = approximation_study(
        src, tgt, hs=HS[:3] if quick else HS, deltas=DELTAS if not quick else (0.0, 0.003, 0.01, 0.03, 0.1),
        epsilons=EPSILONS[1:5] if quick else EPSILONS, t_end=T_END, repeats=2 if quick else 4,
        convergence_epsilons=CONVERGENCE_EPSILONS[:5] if quick else CONVERGENCE_EPSILONS, rng=0, progress=progress)
    numbers = study.numbers
    save(approximation_figure(study), numbers, out)
    return numbers


def _law_line(name, law):
    best = law["fits"][law["best"]]
    return (f"  {name:18s} best: {FORMS[best['form']]:36s} C1 = {best['c1']:.3f} [{best['c1_interval'][0]:.3f}, "
            f"{best['c1_interval'][1]:.3f}]  C2 = {best['c2']:.3f} [{best['c2_interval'][0]:.3f}, "
            f"{best['c2_interval'][1]:.3f}]  residual {best['residual']:.1%} "
            f"(additive: {law['fits']['additive']['residual']:.1%})")


def report(numbers):
    info = numbers["info"]
    lines = [f"approx_potentials: N = {info['n']}, T = {info['t_end']:g}, W2_0 = {info['w2_initial']:.3f}; "
             f"predicted C1 = {info['predicted']['c1_euler']:.3f}, C2 (adversarial, Gronwall) = "
             f"{info['predicted']['c2_adversarial']:.3f}, C2 (random, diffusive) = "
             f"{info['predicted']['c2_random_diffusive']:.3f}"]
    for key in ("error_end", "error_sup"):
        lines.append(f" {key}:")
        for source, law in numbers["laws"].items():
            lines.append(_law_line(source, law[key]))
    for source in ("entropic", "entropic debiased"):
        g = numbers["laws"][source]["gronwall_bound"]
        verdict = "holds" if g["holds"] else "VIOLATED"
        lines.append(f"  {source}: {g['bound']}: max ratio {g['max_ratio']:.3f} ({verdict})")
    for label, b in numbers["bias"].items():
        fit = b["fit"]
        values = ", ".join(f"eps {e:g}: {v:.2e}" for e, v in zip(b["epsilon"], b["bias_end"]))
        rate = (f"; rate {fit['rate']:.2f} [{fit['interval'][0]:.2f}, {fit['interval'][1]:.2f}] ({b['fit_range']})"
                if fit.get("rate") else "")
        lines.append(f"  entropic bias ({label}, h = {b['h']:g}): {values}{rate}")
    conv = numbers["convergence"]
    lines.append(f"  convergence on unequal weighted clouds ({conv['n']} x {conv['m']}): KL(pi*|a x b) = "
                 f"{conv['kl']:.4f}, (OT_eps - OT)/eps_abs at the smallest eps = {conv['kl_estimate'][-1]:.4f}, "
                 f"LP gap {conv['gap']:.2e}")
    for key, fit in conv["fits"].items():
        text = f"    {key:15s}"
        if fit.get("rate") is not None:
            text += f" power rate {fit['rate']:.3f} [{fit['interval'][0]:.3f}, {fit['interval'][1]:.3f}]"
            text += f" ({fit['range']})" if "range" in fit else ""
        expo = fit.get("exponential") or {}
        if expo.get("decay") is not None:
            text += f"; exp(-decay/eps_abs) decay {expo['decay']:.3e}" + (
                f" [{expo['interval'][0]:.3e}, {expo['interval'][1]:.3e}]" if expo.get("interval") else "")
        lines.append(text)
    lines.append(f"  ({info['seconds']:.0f} s; left out: {info['left_out']})")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run(quick="--quick" in sys.argv[1:])))
