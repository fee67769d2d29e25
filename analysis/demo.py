"""`make demo`: regenerate the core figures quickly and print their numbers."""

from __future__ import annotations

from . import demo_flow

STUDIES = [demo_flow]


def main():
    for study in STUDIES:
        print(study.report(study.run(progress=False)))
        print()


if __name__ == "__main__":
    main()
