"""`make figures`: every study in analysis/, at full size."""

from __future__ import annotations

from . import demo_flow, image_flow

STUDIES = [demo_flow, image_flow]


def main():
    for study in STUDIES:
        print(study.report(study.run()))
        print()


if __name__ == "__main__":
    main()
