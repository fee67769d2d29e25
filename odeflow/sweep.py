"""Public import path of the sweep tools: :mod:`odeflow.app.sweep` with the run helpers of :mod:`odeflow.app.runs`."""

from .app.runs import (PARAMETERS, atomic_write, execute, expand, load_config, load_run, make_clouds, make_record,
                       normalize, run_id, run_one, save_run, target_points, without_timings)
from .app.sweep import SweepReport, run_sweep, write_summary

__all__ = [
    "PARAMETERS", "SweepReport", "atomic_write", "execute", "expand", "load_config", "load_run", "make_clouds",
    "make_record", "normalize", "run_id", "run_one", "run_sweep", "save_run", "target_points", "without_timings",
    "write_summary",
]
