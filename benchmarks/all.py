"""`make bench`: every benchmark, each printing ratios against a baseline timed in the same run."""

from __future__ import annotations

from . import onedim, scaling, sdot_compare, semidiscrete, trajectory

BENCHMARKS = [onedim, trajectory, semidiscrete, sdot_compare, scaling]


def main():
    for bench in BENCHMARKS:
        bench.main()
        print()


if __name__ == "__main__":
    main()
