"""`make figures`: every study in analysis/, at full size."""

from __future__ import annotations

from . import (approx_potentials, demo_flow, digits_flow, euler_order, image_flow, paper_2d, paper_persistence, persistence, w1_decay,
               w1_density, w2_decay)

STUDIES = [demo_flow, euler_order, w2_decay, w1_decay, persistence, paper_2d, paper_persistence, digits_flow,
           image_flow, approx_potentials, w1_density]


def main():
    for study in STUDIES:
        print(study.report(study.run()))
        print()


if __name__ == "__main__":
    main()
