"""`make bench`: every benchmark, each printing ratios against a baseline timed in the same run."""

from __future__ import annotations

from . import entropic, gauss2d_solve, laguerre3d_solve, onedim, scaling, sdot_compare, semidiscrete, trajectory

BENCHMARKS = [onedim, trajectory, semidiscrete, sdot_compare, gauss2d_solve, laguerre3d_solve, entropic, scaling]


def main():
    for bench in BENCHMARKS:
        bench.main()
        print()


if __name__ == "__main__":
    main()
