"""Public import path of the figures: :mod:`odeflow.app.figures` and :func:`odeflow.app.animate.animate`."""

from .app.animate import animate
from .app.figures import (decay_figure, distance_figure, flow_figure, nearest_record, order_figure,
                          persistence_figure, save, snapshot_grid)

__all__ = [
    "animate", "decay_figure", "distance_figure", "flow_figure", "nearest_record", "order_figure",
    "persistence_figure", "save", "snapshot_grid",
]
