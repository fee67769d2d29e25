"""Result files: atomic writes, and the NPZ + JSON pair that stores a run (readable with numpy alone).

Both files are written atomically (temporary file in the same directory, fsync, rename), the NPZ first,
so a run is complete exactly when its JSON exists. NPZ members carry fixed time stamps: the bytes are a
function of the arrays alone.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

# --- files ---------------------------------------------------------------------------------------

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def atomic_write(path, write) -> None:
    """Write a file so that it either does not exist or is complete: ``write(fh)`` fills a temporary
    file (binary) in the same directory, which is fsynced and renamed over ``path``.

    A failure (or a kill) part-way leaves ``path`` as it was; after an exception the temporary file
    is removed, after a kill a ``.<name>.*.tmp`` file may stay behind (:func:`run_sweep` clears them).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> atomic_write(path, lambda fh: fh.write(b"hello"))
    >>> open(path).read()
    'hello'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o666 & ~_umask())
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _write_npz(fh, arrays: dict) -> None:
    # np.savez stamps every member with the current time; fixed stamps make the bytes a function of
    # the arrays alone (np.load reads it as usual).
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arrays[name]), allow_pickle=False)


def _json_bytes(record: dict) -> bytes:
    return (json.dumps(record, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def save_run(stem, record: dict, arrays: dict) -> tuple[Path, Path]:
    """Write ``<stem>.npz`` then ``<stem>.json``, each atomically; returns both paths.

    >>> import tempfile, os
    >>> stem = os.path.join(tempfile.mkdtemp(), "r")
    >>> npz, js = save_run(stem, {"a": 1}, {"t": np.zeros(2)})
    >>> sorted(np.load(npz)), json.load(open(js))
    (['t'], {'a': 1})
    """
    stem = Path(stem)
    npz, js = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
    atomic_write(npz, lambda fh: _write_npz(fh, arrays))
    atomic_write(js, lambda fh: fh.write(_json_bytes(record)))
    return npz, js


def load_run(path) -> tuple[dict, dict]:
    """Read a run written by :func:`save_run`: ``(record, arrays)`` from ``<stem>.json``/``.npz``
    (``path`` may name either file, or the stem). The record is empty if the JSON is missing.
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    npz, js = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
    if not npz.exists():
        raise ValueError(f"run: {npz} not found")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"run: cannot read {npz} ({exc})") from None
    try:
        record = json.loads(js.read_text()) if js.exists() else {}
    except ValueError as exc:
        raise ValueError(f"run: cannot read {js} ({exc})") from None
    return record, arrays
