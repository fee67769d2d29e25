"""Animations of a 2-D flow: the particles and their drift arrows over time, beside the distance curve.

GIF through Pillow (always available) or MP4 through ffmpeg (when it is on the PATH).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .._checks import as_points, check_int, check_real, progress_bar
from ..measures import Cloud
from .figures import _limits


def animate(result, path, *, target_points=None, frames=None, fps=8, arrows=True, max_arrows=300,
            arrow_scale=1.0, dpi=80, title=None, progress=None) -> str:
    """Write a GIF (or MP4) of a 2-D flow: the particles with their drift arrows, beside the distance curve.

    Uses :class:`matplotlib.animation.FuncAnimation` on a plain :class:`~matplotlib.figure.Figure`
    with :class:`~matplotlib.animation.PillowWriter` for ``.gif`` or
    :class:`~matplotlib.animation.FFMpegWriter` for ``.mp4`` (no pyplot, no display needed).

    Parameters
    ----------
    result : SimulationResult
        A run with 2-D particles; every recorded state can become a frame.
    path : str or path-like
        Output file, ending in ``.gif``, or ``.mp4`` when ffmpeg is on the PATH (otherwise a
        ``ValueError`` says so before any drawing); its folder is created if needed.
    target_points : Cloud or (M, 2) array, optional
        Drawn in grey behind the particles.
    frames : int, optional
        Number of frames, evenly spread over the records (first and last included); default every
        record. Capped at the number of records.
    fps : float
        Frames per second, > 0.
    arrows : bool
        Draw the drift ``result.drift`` at (at most ``max_arrows``) particles. For w2 an arrow with
        ``arrow_scale = 1`` ends on the particle's transport target; for w1 it has unit length.
    max_arrows : int
        At most this many arrows (evenly spaced particle indices), >= 0.
    arrow_scale : float
        Arrow length per unit of drift, > 0.
    dpi : int
        Resolution of the frames, > 0.
    title : str, optional
        Prefix of each frame's title.
    progress : bool
        A tqdm bar over the frames.

    Returns
    -------
    str
        The path written.

    Examples
    --------
    >>> import os, tempfile
    >>> import odeflow as of
    >>> res = of.simulate([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], h=0.5, t_end=1.0, progress=False)
    >>> path = animate(res, os.path.join(tempfile.mkdtemp(), "toy.gif"), dpi=30)
    >>> from PIL import Image
    >>> Image.open(path).n_frames
    3
    """
    import os

    from matplotlib.animation import FuncAnimation

    path, target_points, picks, fps = _check(result, path, target_points, frames, fps)
    max_arrows = check_int(max_arrows, "max_arrows", minimum=0)
    arrow_scale = check_real(arrow_scale, "arrow_scale", positive=True)
    dpi = check_int(dpi, "dpi", minimum=1)
    writer = _writer(path, fps)
    fig, update = _frames(result, picks, target_points, arrows, max_arrows, arrow_scale, title)
    anim = FuncAnimation(fig, update, frames=picks.size, blit=False, repeat=False, cache_frame_data=False)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with progress_bar(progress, total=picks.size, desc="animate") as bar:
        anim.save(path, writer=writer, dpi=dpi, progress_callback=lambda i, n: bar.update(1))
    return path


def _check(result, path, target_points, frames, fps):
    """Validated ``(path, target_points, frame record indices, fps)``."""
    import os

    from ..simulate import SimulationResult

    if not isinstance(result, SimulationResult):
        raise TypeError(f"result: expected a SimulationResult, got {type(result).__name__}")
    if result.points.shape[2] != 2:
        raise ValueError(f"result: animate draws 2-D particles, got dimension {result.points.shape[2]}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file name, got {type(path).__name__}")
    path = os.fspath(path)
    if not path.lower().endswith((".gif", ".mp4")):
        raise ValueError(f"path: must end in '.gif' or '.mp4', got {path!r}")
    if target_points is not None:
        target_points = target_points.points if isinstance(target_points, Cloud) else as_points(target_points, "target_points")
        if target_points.shape[1] != 2:
            raise ValueError(f"target_points: must be 2-D, got dimension {target_points.shape[1]}")
    records = result.t.size
    if frames is None:
        picks = np.arange(records)
    else:
        frames = check_int(frames, "frames", minimum=1)
        picks = np.unique(np.linspace(0, records - 1, min(frames, records)).round().astype(int))
    return path, target_points, picks, check_real(fps, "fps", positive=True)


def _writer(path, fps):
    """Pillow for GIF; ffmpeg for MP4, refused with a clear message when ffmpeg is missing."""
    from matplotlib.animation import FFMpegWriter, PillowWriter

    if path.lower().endswith(".gif"):
        return PillowWriter(fps=fps)
    if not FFMpegWriter.isAvailable():
        raise ValueError(f"path: writing {path!r} needs ffmpeg on the PATH, which was not found; "
                         f"write a .gif instead (or install ffmpeg)")
    return FFMpegWriter(fps=fps)


def _frames(result, picks, target_points, arrows, max_arrows, arrow_scale, title):
    """The figure and its ``update(i)`` (draws record ``picks[i]``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    pts, drift, t, dist = result.points, result.drift, result.t, result.distance
    fig = Figure(figsize=(8.6, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax, axd = fig.subplots(1, 2, width_ratios=[1.0, 1.1])
    lim = _limits([pts[k] for k in picks] + ([target_points] if target_points is not None else []), pad=0.12)
    if target_points is not None:
        ax.scatter(target_points[:, 0], target_points[:, 1], s=6, color="0.65", lw=0, label="target")
    scat = ax.scatter(pts[picks[0], :, 0], pts[picks[0], :, 1], s=5, color="C0", lw=0, label="particles")
    sel = np.unique(np.linspace(0, pts.shape[1] - 1, min(max_arrows, pts.shape[1])).round().astype(int))
    quiv = None
    if arrows and sel.size:
        x0, v0 = pts[picks[0]][sel], drift[picks[0]][sel]
        quiv = ax.quiver(x0[:, 0], x0[:, 1], v0[:, 0], v0[:, 1], angles="xy", scale_units="xy",
                         scale=1.0 / arrow_scale, width=0.0025, color="C3", alpha=0.45, label="drift")
    ax.set(xlim=lim[0], ylim=lim[1], aspect="equal", xticks=[], yticks=[])
    ax.legend(fontsize=7, loc="upper right")
    name = "W2" if result.info.get("loss") == "w2" else "W1"
    positive = np.isfinite(dist) & (dist > 0)
    if np.any(positive):
        axd.semilogy(t[positive], dist[positive], "-", color="C0", lw=1.2)
    else:
        axd.plot(t, np.nan_to_num(dist), "-", color="C0", lw=1.2)
    marker, = axd.plot([], [], "o", color="C3", ms=6)
    now = axd.axvline(t[picks[0]], color="C3", lw=0.8)
    axd.set_xlabel("t")
    axd.set_ylabel(f"{name} to target")
    axd.grid(True, which="both", alpha=0.3)
    head = f"{title}: " if title else ""

    def update(i):
        k = picks[i]
        scat.set_offsets(pts[k])
        if quiv is not None:
            quiv.set_offsets(pts[k][sel])
            quiv.set_UVC(drift[k][sel, 0], drift[k][sel, 1])
        if positive[k]:
            marker.set_data([t[k]], [dist[k]])
        else:
            marker.set_data([], [])
        now.set_xdata([t[k], t[k]])
        ax.set_title(f"{head}t = {t[k]:.3f}, {name} = {dist[k]:.4g}", fontsize=9)
        return scat, marker, now

    update(0)
    fig.canvas.draw()  # settle the layout once, then keep it fixed: per-frame layout is slow
    fig.set_layout_engine("none")
    return fig, update
