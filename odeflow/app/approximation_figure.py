"""The figure of :func:`odeflow.studies.approximation.approximation_study` (matplotlib object API, no pyplot state)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from ..studies.approximation import FORMS, LawFit


def _law(entry) -> LawFit:
    return LawFit(entry["form"], entry["c1"], entry["c2"], tuple(entry["c1_interval"]), tuple(entry["c2_interval"]),
                  entry["residual"], entry["max_residual"], entry["n"], 0.95)


def _law_text(entry):
    lo1, hi1 = entry["c1_interval"]
    lo2, hi2 = entry["c2_interval"]
    return (f"{FORMS[entry['form']]}\nC1 = {entry['c1']:.3f} [{lo1:.3f}, {hi1:.3f}]\n"
            f"C2 = {entry['c2']:.3f} [{lo2:.3f}, {hi2:.3f}]  (95%)\nrel. residual {entry['residual']:.1%}")


def _perturbation_panel(ax, rows, laws, source, key, title):
    deltas = sorted({r["delta"] for r in rows if r["source"] == source})
    hs = np.array(sorted({r["h"] for r in rows if r["source"] == source}))
    fine = np.geomspace(hs.min() / 1.3, hs.max() * 1.3, 50)
    entry = laws[source][key]["fits"][laws[source][key]["best"]]
    fit = _law(entry)
    for i, d in enumerate(deltas):
        sel = sorted((r["h"], r[key]) for r in rows if r["source"] == source and r["delta"] == d)
        colour = f"C{i}"
        ax.loglog(*zip(*sel), "o", color=colour, label=f"delta = {d:g}")
        ax.loglog(fine, fit.predict(fine, d), "-", color=colour, lw=0.8, alpha=0.7)
    ax.set_xticks(hs, [f"{h:g}" for h in hs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("step h")
    ax.set_ylabel("W2 error at T" if key == "error_end" else "sup_t W2 error")
    ax.set_title(title, fontsize=9)
    ax.text(0.98, 0.02, "lines: " + _law_text(entry), transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    ax.legend(fontsize=6, loc="upper left")


def _entropic_panel(ax, rows, t_end, key):
    euler = {r["h"]: r[key] for r in rows if r["source"] == "adversarial" and r["potential_error"] == 0}
    hs = sorted({r["h"] for r in rows if r["source"].startswith("entropic")})
    c2 = 1.0 - math.exp(-t_end)
    for i, h in enumerate(hs):
        for source, marker in (("entropic", "o"), ("entropic debiased", "s")):
            sel = sorted((r["potential_error"], r[key]) for r in rows if r["source"] == source and r["h"] == h)
            ax.loglog(*zip(*sel), marker, color=f"C{i}", mfc="none" if marker == "s" else f"C{i}",
                      label=f"h = {h:g}" + (", debiased" if marker == "s" else ""))
        deltas = np.geomspace(min(r["potential_error"] for r in rows if r["source"].startswith("entropic")) / 1.5,
                              max(r["potential_error"] for r in rows if r["source"].startswith("entropic")) * 1.5, 40)
        ax.loglog(deltas, euler[h] + c2 * deltas, "-", color=f"C{i}", lw=0.8, alpha=0.7)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("potential error delta = max_n RMS |v_eps - v| (measured)")
    ax.set_ylabel("W2 error at T" if key == "error_end" else "sup_t W2 error")
    epsilons = ", ".join(f"{e:g}" for e in sorted({r["epsilon"] for r in rows if "epsilon" in r}))
    ax.set_title(f"entropic potentials (eps = {epsilons})\nlines: Gronwall bound e(h, 0) + (1 - e^-T) delta",
                 fontsize=9)
    ax.legend(fontsize=6, loc="upper left", ncol=2)


def _bias_panel(ax, bias):
    for label, marker in (("plain", "o-"), ("debiased", "s--")):
        b = bias[label]
        fit = b["fit"]
        text = (f"{label}: bias ~ eps^{fit['rate']:.2f} [{fit['interval'][0]:.2f}, {fit['interval'][1]:.2f}] "
                f"({b['fit_range']})") if fit.get("rate") is not None else label
        ax.loglog(b["epsilon"], b["bias_end"], marker, label=text)
        ax.loglog(b["epsilon"], b["potential_error_mean"], marker, alpha=0.4, ms=3,
                  label=f"{label}: mean potential error")
    ax.set_xlabel("epsilon (units of the target's mean cost)")
    ax.set_ylabel("W2(entropic Euler, exact Euler) at T")
    ax.set_title(f"entropic bias of the end state, h = {bias['plain']['h']:g}", fontsize=9)
    ax.legend(fontsize=6)


def _fit_label(fit):
    text = ""
    if fit.get("rate") is not None:
        text = f" ~ eps^{fit['rate']:.2f} [{fit['interval'][0]:.2f}, {fit['interval'][1]:.2f}]"
    expo = fit.get("exponential") or {}
    if expo.get("decay") is not None:
        interval = expo.get("interval")
        text += (f"; exp(-{expo['decay']:.2e}/eps_abs)"
                 + (f" [{interval[0]:.1e}, {interval[1]:.1e}]" if interval else ""))
    return text


def _convergence_panel(ax, conv):
    eps = np.asarray(conv["epsilon"])
    for key, label in (("ot_eps_gap", "OT_eps - OT"), ("transport_gap", "<C, pi_eps> - OT"),
                       ("divergence_gap", "|S_eps - OT|"), ("drift_plain", "drift error (plain)"),
                       ("drift_debiased", "drift error (debiased)")):
        values = np.abs(conv[key])
        keep = values > 1e-13
        ax.loglog(eps[keep], values[keep], "o-", ms=3, label=label + _fit_label(conv["fits"][key]))
    gap_eps = conv["gap"] * eps[0] / conv["epsilon_abs"][0]
    ax.axvline(gap_eps, color="0.5", lw=0.8, ls=":")
    ax.text(gap_eps, ax.get_ylim()[0], " eps_abs = LP gap", rotation=90, fontsize=6, va="bottom", color="0.4")
    ax.set_xlabel("epsilon (units of the target's mean cost)")
    ax.set_title(f"entropic -> exact on unequal weighted clouds ({conv['n']} x {conv['m']})\n"
                 f"(OT_eps - OT)/eps_abs -> KL(pi*|a x b) = {conv['kl']:.4f} (last: {conv['kl_estimate'][-1]:.4f})\n"
                 f"exact LP gap (smallest positive reduced cost) {conv['gap']:.2e}", fontsize=9)
    ax.legend(fontsize=5.5, loc="lower right")


def approximation_figure(study) -> Figure:
    """Eight panels: the perturbation laws at T and over t, entropic runs against the Grönwall bound, the
    entropic end-state bias against epsilon, and entropic cost and drift against the exact ones.

    >>> import numpy as np, odeflow as of
    >>> from odeflow.studies.approximation import approximation_study
    >>> rng = np.random.default_rng(0)
    >>> src, tgt = of.Cloud(rng.standard_normal((6, 2))), of.Cloud(rng.standard_normal((6, 2)) + 2)
    >>> st = approximation_study(src, tgt, hs=(0.2, 0.1, 0.05), deltas=(0.0, 0.01, 0.03, 0.1),
    ...                          epsilons=(0.03, 0.01, 0.003), repeats=1, convergence_epsilons=(0.1, 0.03, 0.01))
    >>> len(approximation_figure(st).axes)
    8
    """
    rows, laws, t_end = study.rows, study.laws, study.info["t_end"]
    fig = Figure(figsize=(22, 10), constrained_layout=True)
    axes = fig.subplots(2, 4)
    n = study.info["n"]
    _perturbation_panel(axes[0, 0], rows, laws, "adversarial", "error_end",
                        f"(a) exact drift + delta, adversarial direction (N = {n}), error at T = {t_end:g}")
    _perturbation_panel(axes[1, 0], rows, laws, "adversarial", "error_sup", "(e) adversarial, sup over t")
    _perturbation_panel(axes[0, 1], rows, laws, "random", "error_end",
                        f"(b) exact drift + delta, random directions (mean square of {study.info['repeats']} runs)")
    _perturbation_panel(axes[1, 1], rows, laws, "random", "error_sup", "(f) random, sup over t")
    _entropic_panel(axes[0, 2], rows, t_end, "error_end")
    axes[0, 2].set_title("(c) " + axes[0, 2].get_title(), fontsize=9)
    _entropic_panel(axes[1, 2], rows, t_end, "error_sup")
    axes[1, 2].set_title("(g) sup over t; " + axes[1, 2].get_title(), fontsize=9)
    _bias_panel(axes[0, 3], study.bias)
    axes[0, 3].set_title("(d) " + axes[0, 3].get_title(), fontsize=9)
    _convergence_panel(axes[1, 3], study.convergence)
    axes[1, 3].set_title("(h) " + axes[1, 3].get_title(), fontsize=9)
    fig.suptitle("Euler flows with approximate potentials against the exact w2 flow (equal-size uniform clouds, "
                 "W2 between clouds)", fontsize=11)
    return fig
