"""Parameter sweeps: the cartesian product of a grid of flow parameters, run in-process, on local
processes, or on an existing Dask cluster, resumable after a crash.

A sweep configuration (TOML, or the same as a dict) has two tables::

    [base]                 # parameters shared by every run (any of PARAMETERS)
    source = "gaussian"
    target = "ring8"
    n = 300
    loss = "w2"
    t_end = 2.0
    [grid]                 # lists; their cartesian product is the sweep
    h = [0.2, 0.1, 0.05]
    seed = [0, 1]

Each run is identified by :func:`run_id`, a short hash of its full parameter set (defaults filled
in), so the same run always lands in the same files: ``DIR/runs/<id>.npz`` (arrays ``t``,
``points``, ``distance``, ``drift``, ``target``) and ``DIR/runs/<id>.json`` (parameters, status,
distance curve, final distance; timings in fields named ``*_seconds``, the only fields that change
from one execution to the next). Both are written atomically (temporary file in the same directory,
fsync, rename), the NPZ first: a run is finished exactly when its JSON exists, so a sweep killed at
any point (even with SIGKILL) resumes by skipping the finished runs without rewriting them.
``DIR/summary.csv`` lists the grid's finished runs, one row each.

Runs are deterministic functions of their parameters: the clouds and any sampling come from
``numpy.random.default_rng(seed)``; nothing depends on the executor, the worker or the clock (apart
from ``*_seconds``). Results are computed by the workers and written by the calling process, so
the workers of a remote cluster need odeflow installed but no shared file system.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import datasets
from ._checks import check_choice, check_int, check_real
from .losses import LOSSES
from .measures import Cloud
from .schemes import SCHEMES
from .simulate import simulate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "PARAMETERS", "SweepReport", "atomic_write", "expand", "load_config", "load_run", "normalize",
    "run_id", "run_one", "run_sweep", "without_timings",
]

ID_LENGTH = 12


def _optional(check):
    return lambda value, name: None if value is None else check(value, name)


def _choice(choices):
    return lambda value, name: check_choice(value, name, choices() if callable(choices) else choices)


def _methods():
    from .potentials import METHODS

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
    "target": ("ring8", _optional(_choice(datasets.NAMES)), "target dataset (same names)"),
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

def make_clouds(params: dict):
    """The ``(source, target)`` clouds of a run and the Generator left for the flow's own sampling.

    >>> src, tgt, rng = make_clouds(normalize({"n": 20, "seed": 1}))
    >>> src.n, tgt.n
    (20, 20)
    """
    rng = np.random.default_rng(params["seed"])
    if params["problem"] is not None:
        src, tgt = datasets.problem(params["problem"], params["n"], rng)
    else:
        src = datasets.get(params["source"], params["n"], rng)
        tgt = datasets.get(params["target"], params["n"], rng)
    return src, tgt, rng


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
    from . import __version__

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
    arrays["target"] = tgt.points
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


# --- the sweep -----------------------------------------------------------------------------------

SUMMARY_FIELDS = ("status", "initial_distance", "final_distance", "t_final", "steps", "n_solves",
                  "simulate_seconds", "run_seconds", "message")


@dataclass
class SweepReport:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    out : Path
    ids : list of str, the runs of the grid, in grid order
    skipped : ids already finished before this call (left untouched)
    computed : ids computed and written by this call
    failed : dict id -> one-line error, for runs that raised (nothing written; a rerun retries them)
    summary : Path of summary.csv
    """

    out: Path
    ids: list
    skipped: list = field(default_factory=list)
    computed: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    summary: Path | None = None

    def __repr__(self) -> str:
        return (f"SweepReport({len(self.ids)} runs: {len(self.skipped)} already finished, "
                f"{len(self.computed)} computed, {len(self.failed)} failed; out={str(self.out)!r})")


@contextmanager
def _lock(out: Path):
    """Exclusive lock on ``out`` (POSIX), released even if the process is killed."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no locking
        yield
        return
    with open(out / ".lock", "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ValueError(f"out: another sweep is running in {out}") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _finished(runs_dir: Path, rid: str) -> bool:
    return (runs_dir / f"{rid}.json").exists() and (runs_dir / f"{rid}.npz").exists()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


@contextmanager
def _dask_client(workers, scheduler, client, timeout):
    if client is not None:
        yield client
        return
    try:
        import distributed
    except ImportError:
        raise ImportError("workers/scheduler: a Dask sweep needs dask.distributed; "
                          "install it with pip install 'odeflow[dist]'") from None
    import logging

    with ExitStack() as stack:
        if scheduler is not None:
            client = stack.enter_context(distributed.Client(scheduler, timeout=timeout))
        else:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=logging.ERROR))
            client = stack.enter_context(distributed.Client(cluster))
        yield client


def _run_caught(params):
    """``("ok", (record, arrays))`` or ``("error", one-line message)``: a run that raises is reported
    as data, so that Dask workers do not log it as a crash."""
    try:
        return "ok", run_one(params)
    except Exception as exc:  # noqa: BLE001 - reported per run; the sweep goes on
        return "error", _one_line(exc)


def _in_process(pending):
    for params in pending:
        yield params, _run_caught(params)


def _on_dask(client, pending):
    from distributed import as_completed

    futures = {client.submit(_run_caught, p, key=f"odeflow-run-{run_id(p)}", pure=False): p for p in pending}
    try:
        for fut in as_completed(list(futures)):
            params = futures.pop(fut)  # dropping the last reference frees the result on the cluster
            try:
                yield params, fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker died (KilledWorker)
                yield params, ("error", _one_line(exc))
    finally:
        if futures:
            client.cancel(list(futures))


def run_sweep(config, out, *, workers=None, scheduler=None, client=None, progress=True,
              timeout="30s") -> SweepReport:
    """Run every unfinished run of a sweep and write ``out/summary.csv``.

    Parameters
    ----------
    config : dict or path
        Sweep configuration (see :func:`expand`).
    out : path
        Output directory (created). Runs already finished there are skipped, never rewritten.
    workers : int, optional
        Run on a local Dask cluster of this many single-threaded worker processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (``"tcp://host:8786"``); its workers need odeflow.
    client : distributed.Client, optional
        Use this client (its cluster) instead.
    progress : bool
        tqdm bar over the runs.
    timeout : str or float
        Connection timeout for ``scheduler``.

    At most one of ``workers``, ``scheduler``, ``client``; none runs in this process. Only one
    sweep may write to ``out`` at a time (a lock file enforces it).

    Returns
    -------
    SweepReport

    Examples
    --------
    >>> import tempfile
    >>> cfg = {"base": {"n": 8, "t_end": 0.2}, "grid": {"h": [0.2, 0.1]}}
    >>> report = run_sweep(cfg, tempfile.mkdtemp(), progress=False)
    >>> len(report.computed), len(report.skipped), report.failed
    (2, 0, {})
    >>> len(run_sweep(cfg, report.out, progress=False).skipped)
    2
    """
    runs = expand(config)
    if sum(x is not None for x in (workers, scheduler, client)) > 1:
        raise ValueError("workers: give at most one of workers, scheduler and client")
    if workers is not None:
        workers = check_int(workers, "workers", minimum=1)
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler: expected an address string, got {type(scheduler).__name__}")
    out = Path(out)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    ids = [run_id(p) for p in runs]
    report = SweepReport(out=out, ids=ids)
    with _lock(out):
        for stale in [*runs_dir.glob(f".*{TMP_SUFFIX}"), *out.glob(f".summary.csv.*{TMP_SUFFIX}")]:
            stale.unlink()  # left by a killed sweep (the lock says none is running)
        pending = []
        for rid, params in zip(ids, runs):
            if _finished(runs_dir, rid):
                report.skipped.append(rid)
            else:
                pending.append(params)
        bar = tqdm(total=len(runs), initial=len(report.skipped), disable=not progress, desc="odeflow sweep",
                   unit="run")
        try:
            with ExitStack() as stack:
                if workers is None and scheduler is None and client is None:
                    results = _in_process(pending)
                else:
                    dask = stack.enter_context(_dask_client(workers, scheduler, client, timeout))
                    results = _on_dask(dask, pending)
                for params, (outcome, value) in results:
                    rid = run_id(params)
                    if outcome == "ok":
                        save_run(runs_dir / rid, *value)
                        report.computed.append(rid)
                    else:
                        report.failed[rid] = value
                    bar.update(1)
                    if report.failed:
                        bar.set_postfix(failed=len(report.failed), refresh=False)
        finally:
            bar.close()
        report.summary = write_summary(out, runs)
    return report


def write_summary(out, runs) -> Path:
    """Write ``out/summary.csv``: one row per finished run of ``runs`` (grid order), with its id, every
    parameter and the fields of :data:`SUMMARY_FIELDS`."""
    out = Path(out)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", *PARAMETERS, *SUMMARY_FIELDS])
    for params in runs:
        rid = run_id(params)
        js = out / "runs" / f"{rid}.json"
        if not _finished(out / "runs", rid):
            continue
        record = json.loads(js.read_text())
        writer.writerow([rid, *("" if params[k] is None else params[k] for k in PARAMETERS),
                         *("" if record.get(k) is None else record[k] for k in SUMMARY_FIELDS)])
    path = out / "summary.csv"
    atomic_write(path, lambda fh: fh.write(buf.getvalue().encode()))
    return path
