"""One flow run from plain parameters: the parameter schema, executing a run, and its files.

A run is described by a dict of :data:`PARAMETERS` (the flow arguments of :func:`odeflow.simulate` plus
the data), validated by :func:`normalize` and identified by :func:`run_id`, a short hash of its full
parameter set (defaults filled in). The target is a dataset name or a density table
(:mod:`odeflow.app.targets`). :func:`run_one` executes it deterministically (the clouds and any
sampling come from ``numpy.random.default_rng(seed)``) and returns a JSON record and arrays;
:func:`save_run` writes them atomically (temporary file in the same directory, fsync, rename), the NPZ
first, so a run is finished exactly when its JSON exists; :func:`load_run` reads them back.
:func:`load_config` and :func:`expand` read a sweep configuration (see :mod:`odeflow.app.sweep`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from .. import datasets
from .._checks import check_choice, check_int, check_real
from ..losses import LOSSES
from ..measures import Density
from ..schemes import SCHEMES
from .._files import TMP_SUFFIX, _json_bytes, atomic_write, load_run, save_run  # noqa: F401  (re-exported)
from ..simulate import simulate
from .targets import build_density, is_density, parse_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "PARAMETERS", "atomic_write", "execute", "expand", "load_config", "load_run", "make_clouds", "make_record",
    "normalize", "run_id", "run_one", "save_run", "target_points", "without_timings",
]

ID_LENGTH = 12


def _optional(check):
    return lambda value, name: None if value is None else check(value, name)


def _choice(choices):
    return lambda value, name: check_choice(value, name, choices() if callable(choices) else choices)


def _methods():
    from ..potentials import METHODS

    return set(METHODS) | {"auto"}


def _bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected true or false, got {type(value).__name__}")
    return bool(value)


#: name -> (default, check(value, name) -> normalised value, help). The defaults are those of
#: :func:`odeflow.simulate`, plus the data: ``n`` points of ``source`` flow to ``n`` of ``target``.
PARAMETERS = {
    "problem": (None, _optional(_choice(datasets.PROBLEMS)),
                f"one of the papers' problems {sorted(datasets.PROBLEMS)} (instead of source/target)"),
    "source": ("gaussian", _optional(_choice(datasets.NAMES)), f"source dataset, one of {list(datasets.NAMES)}"),
    "target": ("ring8", _optional(parse_target),
               "target: a dataset name (same names), or a density: gaussian, mixture, box or image, e.g. "
               "'gaussian:mean=3,0;cov=1,0/0,0.3' (see 'density targets' in --help)"),
    "n": (300, lambda v, name: check_int(v, name, minimum=1), "particles (and target points)"),
    "seed": (0, lambda v, name: check_int(v, name, minimum=0), "seed of the data and of any sampling"),
    "loss": ("w2", _choice(LOSSES), f"one of {sorted(LOSSES)}"),
    "method": ("auto", _choice(_methods), "potential method: auto, exact, onedim, ..."),
    "scheme": ("euler", _choice(SCHEMES), f"one of {list(SCHEMES)}"),
    "h": (0.1, lambda v, name: check_real(v, name, positive=True), "step size"),
    "t_end": (1.0, lambda v, name: check_real(v, name, positive=True), "final time"),
    "record_every": (1, lambda v, name: check_int(v, name, minimum=1), "record every k-th step"),
    "persistence": (1, lambda v, name: check_int(v, name, minimum=1), "persistence K (Euler only)"),
    "persistence_rate": (1.0, lambda v, name: check_real(v, name, positive=True, upper=1.0),
                         "persistence rate eta in (0, 1]"),
    "persistence_mode": ("targets", _choice({"targets", "naive"}), "targets or naive"),
    "clip": (False, _bool, "stop w1 particles at their targets"),
    "stop_distance": (None, _optional(lambda v, name: check_real(v, name, nonneg=True)),
                      "end early once the distance is at most this"),
}


def normalize(params: dict) -> dict:
    """Validate flow parameters and fill in the defaults of :data:`PARAMETERS`.

    ``problem`` replaces ``source`` and ``target`` (which are then None); giving both is an error.

    Examples
    --------
    >>> p = normalize({"h": 1, "seed": 3})
    >>> p["h"], p["seed"], p["source"], p["target"], p["problem"]
    (1.0, 3, 'gaussian', 'ring8', None)
    >>> normalize({"problem": "ring8"})["source"] is None
    True
    >>> normalize({"target": "box:low=0,0;high=1,1"})["target"]
    {'density': 'box', 'low': [0.0, 0.0], 'high': [1.0, 1.0]}
    """
    if not isinstance(params, dict):
        raise TypeError(f"params: expected a dict of parameters, got {type(params).__name__}")
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown parameter; known ones are {list(PARAMETERS)}")
    out = {}
    for name, (default, check, _) in PARAMETERS.items():
        out[name] = check(params[name] if name in params else default, name)
    if out["problem"] is not None:
        given = [k for k in ("source", "target") if params.get(k) is not None]
        if given:
            raise ValueError(f"problem: give either problem or source/target, not both (got problem and {given[0]})")
        out["source"] = out["target"] = None
    elif out["source"] is None or out["target"] is None:
        raise ValueError("source: both source and target (or a problem) are needed")
    if is_density(out["target"]):
        if out["method"] not in ("auto", "semidiscrete"):
            raise ValueError(f"method: a density target needs method 'semidiscrete' or 'auto', got "
                             f"{out['method']!r}")
    return out


def _canonical(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_id(params: dict) -> str:
    """Stable identifier of a run: the first 12 hex digits of the SHA-256 of its canonical parameters.

    The parameters are normalised first (:func:`normalize`), so spelling a default out, or ``1`` for
    ``1.0``, gives the same id.

    >>> run_id({"h": 0.1}) == run_id({"h": 0.1, "seed": 0, "loss": "w2"})
    True
    >>> run_id({"h": 0.1}) == run_id({"h": 0.05})
    False
    """
    return hashlib.sha256(_canonical(normalize(params)).encode()).hexdigest()[:ID_LENGTH]


# --- configuration -------------------------------------------------------------------------------

def load_config(path) -> dict:
    """Read a sweep configuration (``[base]`` and ``[grid]`` tables) from a TOML file.

    Raises ValueError (naming the file) when it is not valid TOML; see :func:`expand` for the rest.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "s.toml")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write('[base]\\nn = 10\\n[grid]\\nh = [0.2, 0.1]\\n')
    >>> load_config(path)
    {'base': {'n': 10}, 'grid': {'h': [0.2, 0.1]}}
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config: {path} is not valid TOML ({exc})") from None


def expand(config) -> list[dict]:
    """The runs of a sweep: normalised parameter dicts, in grid order (the last grid key varies fastest).

    Parameters
    ----------
    config : dict or path
        ``{"base": {...}, "grid": {name: [values]}}`` or a TOML file of that shape. Both tables are
        optional; every key must be one of :data:`PARAMETERS` and appear in only one of them.

    Examples
    --------
    >>> runs = expand({"base": {"n": 50}, "grid": {"h": [0.2, 0.1], "seed": [0, 1]}})
    >>> [(r["h"], r["seed"]) for r in runs]
    [(0.2, 0), (0.2, 1), (0.1, 0), (0.1, 1)]
    """
    if not isinstance(config, dict):
        config = load_config(config)
    extra = sorted(set(config) - {"base", "grid"})
    if extra:
        raise ValueError(f"config: unknown table [{extra[0]}]; a sweep has [base] and [grid]")
    base, grid = config.get("base", {}), config.get("grid", {})
    for name, table in (("base", base), ("grid", grid)):
        if not isinstance(table, dict):
            raise TypeError(f"config: [{name}] must be a table, got {type(table).__name__}")
        unknown = sorted(set(table) - set(PARAMETERS))
        if unknown:
            raise ValueError(f"config: [{name}] {unknown[0]}: unknown parameter; known ones are {list(PARAMETERS)}")
    both = sorted(set(base) & set(grid))
    if both:
        raise ValueError(f"config: {both[0]} is in both [base] and [grid]")
    for name, values in grid.items():
        if not isinstance(values, list):
            raise TypeError(f"config: [grid] {name} must be a list of values, got {type(values).__name__}")
        if not values:
            raise ValueError(f"config: [grid] {name} is an empty list")
    runs, seen = [], {}
    for combo in itertools.product(*grid.values()):
        raw = dict(base, **dict(zip(grid, combo)))
        try:
            params = normalize(raw)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"config: {exc}") from None
        key = _canonical(params)
        if key in seen:
            raise ValueError(f"config: runs {seen[key]} and {len(runs)} have the same parameters "
                             f"(repeated values in [grid]?)")
        seen[key] = len(runs)
        runs.append(params)
    return runs


# --- one run -------------------------------------------------------------------------------------

#: Datasets that exist in any dimension (``datasets.get(..., dim=d)``); the others are 2-D.
_ANY_DIM = ("gaussian", "uniform")


def make_clouds(params: dict):
    """The source cloud, the target (a cloud, or a :class:`~odeflow.Density` for a density target) and the
    Generator left for the flow's own sampling.

    A source ``gaussian`` or ``uniform`` takes the dimension of a density target; other datasets are 2-D.

    >>> src, tgt, rng = make_clouds(normalize({"n": 20, "seed": 1}))
    >>> src.n, tgt.n
    (20, 20)
    >>> src, tgt, rng = make_clouds(normalize({"n": 20, "target": "gaussian:mean=0,0,1;cov=1"}))
    >>> src.dim, tgt.dim
    (3, 3)
    """
    rng = np.random.default_rng(params["seed"])
    if params["problem"] is not None:
        src, tgt = datasets.problem(params["problem"], params["n"], rng)
    elif is_density(params["target"]):
        tgt = build_density(params["target"])
        extra = {"dim": tgt.dim} if params["source"] in _ANY_DIM else {}
        src = datasets.get(params["source"], params["n"], rng, **extra)
        if src.dim != tgt.dim:
            raise ValueError(f"target: a {tgt.dim}-D density, but source {params['source']!r} is {src.dim}-D "
                             f"(sources {list(_ANY_DIM)} take the target's dimension)")
    else:
        src = datasets.get(params["source"], params["n"], rng)
        tgt = datasets.get(params["target"], params["n"], rng)
    return src, tgt, rng


def target_points(params: dict, tgt) -> np.ndarray:
    """Points of the target to draw and store (array ``target`` of a run): a cloud target's points, or
    ``n`` points sampled from a density with a generator of their own (the flow's draws stay untouched).

    >>> p = normalize({"n": 5, "target": "box:low=0,0;high=1,1"})
    >>> target_points(p, make_clouds(p)[1]).shape
    (5, 2)
    """
    if isinstance(tgt, Density):
        return tgt.sample(params["n"], rng=np.random.default_rng([params["seed"], 1]))
    return tgt.points


def execute(params: dict, progress: bool = False):
    """Run one flow from (normalised) parameters: returns ``(SimulationResult, source, target)``.

    >>> res, src, tgt = execute(normalize({"n": 10, "h": 0.5}))
    >>> res.status, res.t.tolist()
    (0, [0.0, 0.5, 1.0])
    """
    p = params
    src, tgt, rng = make_clouds(p)
    res = simulate(src, tgt, loss=p["loss"], method=p["method"], scheme=p["scheme"], h=p["h"],
                   t_end=p["t_end"], record_every=p["record_every"], persistence=p["persistence"],
                   persistence_rate=p["persistence_rate"], persistence_mode=p["persistence_mode"],
                   clip=p["clip"], stop_distance=p["stop_distance"], rng=rng, progress=progress)
    return res, src, tgt


def _finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def make_record(params: dict, res, run_seconds: float) -> tuple[dict, dict]:
    """The JSON record and the arrays of a finished run (see the module docstring)."""
    from .. import __version__

    record = {
        "id": run_id(params),
        "parameters": params,
        "status": int(res.status),
        "success": bool(res.success),
        "message": res.message,
        "t": [float(t) for t in res.t],
        "distance": [_finite_or_none(d) for d in res.distance],
        "initial_distance": _finite_or_none(res.distance[0]),
        "final_distance": _finite_or_none(res.distance[-1]),
        "t_final": float(res.t[-1]),
        "steps": int(res.info["steps"]),
        "n_solves": int(res.n_solves),
        "method_used": res.info["method"],
        "odeflow_version": __version__,
        "simulate_seconds": float(res.info["seconds"]),
        "run_seconds": float(run_seconds),
    }
    arrays = {"t": res.t, "points": res.points, "distance": res.distance, "drift": res.drift}
    return record, arrays


def run_one(params: dict) -> tuple[dict, dict]:
    """Run one sweep entry: ``(record, arrays)``, a deterministic function of ``params`` apart from
    the ``*_seconds`` fields. This is what the Dask workers execute.

    >>> record, arrays = run_one({"n": 10, "h": 0.5})
    >>> record["status"], len(record["id"]), sorted(arrays)
    (0, 12, ['distance', 'drift', 'points', 't', 'target'])
    """
    start = time.perf_counter()
    params = normalize(params)
    res, _, tgt = execute(params)
    record, arrays = make_record(params, res, time.perf_counter() - start)
    arrays["target"] = target_points(params, tgt)
    return record, arrays


def without_timings(obj):
    """``obj`` with every dict key ending in ``_seconds`` removed (recursively): what must agree
    between two executions of the same run.

    >>> without_timings({"a": 1, "run_seconds": 2.0, "b": [{"x_seconds": 1, "y": 2}]})
    {'a': 1, 'b': [{'y': 2}]}
    """
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if not str(k).endswith("_seconds")}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj
