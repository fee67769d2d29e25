"""`make figures`: every study in analysis/, at full size."""

from __future__ import annotations

from . import demo_flow
from . import paper_2d, persistence

STUDIES = [demo_flow, paper_2d, persistence]


def main():
    for study in STUDIES:
        print(study.report(study.run()))
        print()


if __name__ == "__main__":
    main()
