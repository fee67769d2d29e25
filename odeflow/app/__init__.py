"""The application shell on top of the engine and the studies: run files, sweeps, figures, the CLI.

Modules: :mod:`.runs` (parameter schema, one run, its files), :mod:`.sweep` (grids of runs, in-process or
on Dask), :mod:`.figures` and :mod:`.animate` (matplotlib), :mod:`.cli` (the ``odeflow`` command).
"""
