"""Density targets written as plain data: in a TOML file, a sweep grid or on the command line.

A run's ``target`` is either the name of a dataset (``"ring8"``: a cloud of ``n`` sampled points) or a
density, given as a table whose ``density`` key says which:

===========  ==================================  ==========================================================
density      keys                                law
===========  ==================================  ==========================================================
gaussian     mean, cov                           :class:`odeflow.Gaussian`
mixture      means, covs, weights (optional)     :class:`odeflow.GaussianMixture` (weights default uniform)
box          low, high                           :class:`odeflow.UniformBox`
image        path, extent, ink (PNG only)        :class:`odeflow.ImageDensity` from a ``.npy`` or ``.png`` file
===========  ==================================  ==========================================================

In TOML, an inline table::

    target = {density = "gaussian", mean = [3.0, 0.0], cov = [[1.0, 0.0], [0.0, 0.3]]}
    target = {density = "image", path = "face.png", extent = [-1, 1, -1, 1]}

On the command line the same table (TOML inline-table or JSON syntax, starting with ``{``), or the short
form ``KIND:KEY=VALUE;KEY=VALUE`` where a value is numbers separated by commas and matrix rows are
separated by ``/``::

    --target 'gaussian:mean=3,0;cov=1,0/0,0.3'
    --target 'mixture:means=-1,0/1,0;covs=0.05;weights=0.3,0.7'
    --target 'box:low=0,0;high=2,1'
    --target 'image:path=face.png;extent=-1,1,-1,1'

Shapes are forgiving where it is unambiguous: a covariance may be one number ``c`` (``c I``), ``d``
variances (a diagonal), ``d * d`` numbers (row by row) or a ``(d, d)`` matrix; ``covs`` is one number for
every component or one covariance per component. Every spelling is turned into one canonical table (full
matrices, floats; :func:`parse_target`), so spellings of the same law give the same run id.

Images: a ``.npy`` file holds the pixel intensities (row 0 at the top); for a ``.png`` the mass of a pixel
is its darkness (``ink = "dark"``, the default: dark drawing on a light background) or its lightness
(``ink = "light"``), times its opacity. A relative ``path`` is read from the current directory (the
command line resolves paths in a TOML file against that file's folder). The canonical table records the
file's SHA-256, so a run id changes when the picture does, and a run made from another picture is
refused rather than silently mixed up.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from .. import datasets
from .._checks import check_choice
from ..measures import Density, Gaussian, GaussianMixture, ImageDensity, UniformBox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["DENSITIES", "build_density", "is_density", "parse_target", "with_base_dir"]

#: density kind -> (required keys, optional keys)
DENSITIES = {
    "gaussian": (("mean", "cov"), ()),
    "mixture": (("means", "covs"), ("weights",)),
    "box": (("low", "high"), ()),
    "image": (("path", "extent"), ("ink", "sha256")),
}
_STRING_KEYS = {"path", "ink", "sha256"}


def is_density(value) -> bool:
    """True for a (canonical or raw) density table, False for a dataset name.

    >>> is_density({"density": "box", "low": [0, 0], "high": [1, 1]}), is_density("ring8")
    (True, False)
    """
    return isinstance(value, dict)


def parse_target(value, name: str = "target"):
    """A dataset name (returned as is) or a density (returned as its canonical table), validated.

    Parameters
    ----------
    value : str or dict
        A name of :data:`odeflow.datasets.NAMES`, a density table, or a density written as a string (the
        short form ``KIND:KEY=...`` or an inline table ``{...}``; see the module docstring).
    name : str
        Used in error messages.

    Raises
    ------
    ValueError, TypeError
        Naming ``name`` (and the key at fault, e.g. ``target.cov``).

    Examples
    --------
    >>> parse_target("ring8")
    'ring8'
    >>> parse_target("gaussian:mean=3,0;cov=0.5")
    {'density': 'gaussian', 'mean': [3.0, 0.0], 'cov': [[0.5, 0.0], [0.0, 0.5]]}
    >>> parse_target({"density": "box", "low": [0, 0], "high": [2, 1]})
    {'density': 'box', 'low': [0.0, 0.0], 'high': [2.0, 1.0]}
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            value = _parse_table(text, name)
        elif ":" in text:
            value = _parse_short(text, name)
        else:
            return check_choice(value, name, datasets.NAMES)
    if not isinstance(value, dict):
        raise TypeError(f"{name}: expected a dataset name or a density table, got {type(value).__name__}")
    return _canonical(value, name)


def build_density(spec: dict) -> Density:
    """The :class:`~odeflow.Density` of a canonical table (from :func:`parse_target`).

    >>> build_density(parse_target("box:low=0,0;high=2,1")).volume
    2.0
    """
    kind = spec["density"]
    if kind == "gaussian":
        return Gaussian(spec["mean"], spec["cov"])
    if kind == "mixture":
        return GaussianMixture(spec["means"], spec["covs"], spec["weights"])
    if kind == "box":
        return UniformBox(spec["low"], spec["high"])
    array, _ = _read_image(spec["path"], spec.get("ink"))
    return ImageDensity(array, spec["extent"])


def with_base_dir(value, base):
    """``value`` with the relative ``path`` of an image density joined to the folder ``base`` (where the
    TOML file that names it lives); any other value is returned unchanged. String forms of an image are
    returned as tables.

    >>> with_base_dir("image:path=face.png;extent=0,1,0,1", "/data")["path"]
    '/data/face.png'
    >>> with_base_dir("ring8", "/data")
    'ring8'
    """
    table = value
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("{") or text.split(":", 1)[0].strip() == "image"):
            return value
        try:
            table = _parse_table(text, "target") if text.startswith("{") else _parse_short(text, "target")
        except ValueError:
            return value  # reported by parse_target, with the parameter's name
    if not (isinstance(table, dict) and table.get("density") == "image" and isinstance(table.get("path"), str)):
        return value
    if os.path.isabs(table["path"]):
        return table
    return {**table, "path": os.path.join(os.fspath(base), table["path"])}


# --- string forms --------------------------------------------------------------------------------

def _parse_table(text: str, name: str) -> dict:
    """``{...}`` as a TOML inline table, or else as JSON."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError as exc:
        toml_error = exc
    try:
        return json.loads(text)
    except ValueError:
        pass
    raise ValueError(f"{name}: {text!r} is neither a TOML inline table nor JSON ({toml_error})")


def _parse_short(text: str, name: str) -> dict:
    """``KIND:KEY=VALUE;KEY=VALUE`` (numbers separated by ``,``, matrix rows by ``/``)."""
    kind, _, rest = text.partition(":")
    table = {"density": kind.strip()}
    for item in rest.split(";"):
        if not item.strip():
            continue
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"{name}: {item.strip()!r} is not KEY=VALUE (in {text!r})")
        if key in table:
            raise ValueError(f"{name}.{key}: given twice (in {text!r})")
        table[key] = raw.strip() if key in _STRING_KEYS else _numbers(raw, f"{name}.{key}")
    return table


def _numbers(raw: str, name: str):
    """``"1,2/3,4"`` -> ``[[1, 2], [3, 4]]``; ``"1,2"`` -> ``[1, 2]``; ``"3"`` -> ``3.0``."""
    try:
        rows = [[float(x) for x in row.split(",")] for row in raw.split("/")]
    except ValueError:
        raise ValueError(f"{name}: {raw.strip()!r} is not a list of numbers (separated by ',', rows by '/')") from None
    if len(rows) > 1:
        return rows
    return rows[0][0] if len(rows[0]) == 1 else rows[0]


# --- canonical tables ----------------------------------------------------------------------------

def _canonical(table: dict, name: str) -> dict:
    kind = table.get("density")
    if kind is None:
        raise ValueError(f"{name}: a density table needs a 'density' key, one of {list(DENSITIES)}")
    kind = check_choice(kind, f"{name}.density", DENSITIES)
    required, optional = DENSITIES[kind]
    unknown = sorted(set(table) - {"density", *required, *optional})
    if unknown:
        raise ValueError(f"{name}.{unknown[0]}: unknown key for density {kind!r}; its keys are "
                         f"{list(required) + list(optional)}")
    missing = [k for k in required if k not in table]
    if missing:
        raise ValueError(f"{name}.{missing[0]}: missing; density {kind!r} needs {list(required)}")
    spec = {"gaussian": _gaussian, "mixture": _mixture, "box": _box, "image": _image}[kind](table, name)
    if kind != "image":  # images are checked as they are read
        try:
            build_density(spec)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{name}.{exc}") from None
    return spec


def _floats(value, name: str) -> np.ndarray:
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TypeError(f"{name}: expected numbers, got {type(value).__name__}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected numbers ({exc})") from None
    if arr.dtype == object or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite numbers, got {value!r}")
    return arr


def _vector(value, name: str) -> np.ndarray:
    v = np.atleast_1d(_floats(value, name))
    if v.ndim != 1:
        raise ValueError(f"{name}: expected a list of numbers, got shape {v.shape}")
    return v


def _cov(value, d: int, name: str) -> list:
    """A number, ``d`` variances, ``d*d`` numbers or a ``(d, d)`` matrix -> a full ``(d, d)`` list."""
    c = _floats(value, name)
    if c.ndim == 0 or c.shape == (1,):
        c = float(c.reshape(())) * np.eye(d)
    elif c.shape == (d,):
        c = np.diag(c)
    elif c.shape == (d * d,):
        c = c.reshape(d, d)
    if c.shape != (d, d):
        raise ValueError(f"{name}: expected a number, {d} variances, {d * d} numbers or a ({d}, {d}) matrix "
                         f"for dimension {d}, got shape {c.shape}")
    return c.tolist()


def _gaussian(table, name):
    mean = _vector(table["mean"], f"{name}.mean")
    return {"density": "gaussian", "mean": mean.tolist(), "cov": _cov(table["cov"], mean.size, f"{name}.cov")}


def _mixture(table, name):
    means = _floats(table["means"], f"{name}.means")
    if means.ndim == 1:
        means = means[None, :]
    if means.ndim != 2:
        raise ValueError(f"{name}.means: expected one mean per component (k, d), got shape {means.shape}")
    k, d = means.shape
    covs = table["covs"]
    if not isinstance(covs, (list, tuple, np.ndarray)):
        covs = [covs] * k
    if len(covs) != k:
        raise ValueError(f"{name}.covs: expected one number or {k} covariances (one per mean), got {len(covs)}")
    full = [_cov(c, d, f"{name}.covs[{j}]") for j, c in enumerate(covs)]
    weights = np.full(k, 1.0 / k) if table.get("weights") is None else _vector(table["weights"], f"{name}.weights")
    return {"density": "mixture", "means": means.tolist(), "covs": full, "weights": weights.tolist()}


def _box(table, name):
    return {"density": "box", "low": _vector(table["low"], f"{name}.low").tolist(),
            "high": _vector(table["high"], f"{name}.high").tolist()}


def _image(table, name):
    path = table["path"]
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}.path: expected a file name, got {type(path).__name__}")
    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if suffix not in (".npy", ".png"):
        raise ValueError(f"{name}.path: expected a .npy or .png file, got {path!r}")
    ink = table.get("ink")
    if suffix == ".png":
        ink = check_choice("dark" if ink is None else ink, f"{name}.ink", {"dark", "light"})
    elif ink is not None:
        raise ValueError(f"{name}.ink: applies to .png files only ({path!r} holds intensities)")
    extent = _vector(table["extent"], f"{name}.extent")
    try:
        array, digest = _read_image(path, ink)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{name}.path: cannot read {path!r} ({exc})") from None
    given = table.get("sha256")
    if given is not None and given != digest:
        raise ValueError(f"{name}.sha256: {path!r} has changed (its SHA-256 is {digest[:12]}..., the "
                         f"parameters say {str(given)[:12]}...)")
    try:
        ImageDensity(array, extent)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        field = "extent" if text.startswith("extent") else "path"
        raise ValueError(f"{name}.{field}: {path!r}: {text}") from None
    spec = {"density": "image", "path": path, "extent": extent.tolist(), "sha256": digest}
    if ink is not None:
        spec["ink"] = ink
    return spec


def _read_image(path: str, ink):
    """``(intensities, sha256 hex of the file)``; cached on the file's identity and modification time."""
    st = os.stat(path)
    return _read_image_cached(os.path.abspath(path), st.st_mtime_ns, st.st_size, ink)


@functools.lru_cache(maxsize=8)
def _read_image_cached(path, mtime_ns, size, ink):
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if path.lower().endswith(".npy"):
        array = np.load(io.BytesIO(data), allow_pickle=False)
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
            raise ValueError(f"expected a 2-D array of numbers, got shape {array.shape} and dtype {array.dtype}")
        array = array.astype(np.float64)
    else:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            la = np.asarray(img.convert("LA"), dtype=np.float64) / 255.0
        lum, alpha = la[..., 0], la[..., 1]
        array = (1.0 - lum if ink == "dark" else lum) * alpha
    array.setflags(write=False)
    if not math.isfinite(float(np.abs(array).sum())):
        raise ValueError("contains non-finite values")
    return array, digest
