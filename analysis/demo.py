"""`make demo`: quick versions of the core figures, written to out/demo/, and their numbers printed.

Nothing tracked by git is written: the committed full-size figures in figures/ are made by
`make figures` (or `python -m analysis.<study>`), and stay as they are after `make demo`.
"""

from __future__ import annotations

from . import demo_flow, euler_order, persistence, w1_decay, w2_decay

OUT = "out/demo"
#: Studies run at their full size (they are quick); their figures go to out/demo/ (ignored by git).
STUDIES = [demo_flow, persistence]
#: Quick versions of the convergence studies (smaller N, fewer steps), also into out/demo/.
QUICK = [euler_order, w2_decay, w1_decay]


def _name(study) -> str:
    return study.__name__.rsplit(".", 1)[-1]


def main():
    for study in STUDIES:
        print(study.report(study.run(out=f"{OUT}/{_name(study)}", progress=False)))
        print()
    for study in QUICK:
        print(study.report(study.run(out=f"{OUT}/{_name(study)}", progress=False, quick=True)))
        print()
    print(f"figures and their numbers (PNG + JSON): {OUT}/")


if __name__ == "__main__":
    main()
