"""`make demo`: regenerate the core figures quickly and print their numbers."""

from __future__ import annotations

from . import demo_flow
from . import persistence

STUDIES = [demo_flow, persistence]


def main():
    for study in STUDIES:
        print(study.report(study.run(progress=False)))
        print()


if __name__ == "__main__":
    main()
