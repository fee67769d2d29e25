"""`make demo`: regenerate the core figures quickly and print their numbers."""

from __future__ import annotations

from . import demo_flow, euler_order, persistence, w1_decay, w2_decay

STUDIES = [demo_flow, persistence]
#: Quick versions of the convergence studies (smaller N, fewer steps); their figures go to out/demo/
#: (ignored by git) so that the committed full-size figures are not overwritten.
QUICK = [euler_order, w2_decay, w1_decay]


def main():
    for study in STUDIES:
        print(study.report(study.run(progress=False)))
        print()
    for study in QUICK:
        name = study.__name__.rsplit(".", 1)[-1]
        print(study.report(study.run(out=f"out/demo/{name}", progress=False, quick=True)))
        print()


if __name__ == "__main__":
    main()
