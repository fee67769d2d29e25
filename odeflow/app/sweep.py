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
``DIR/summary.csv`` lists the grid's finished runs, one row each, in grid order; it is rewritten
(atomically) after every finished run, so a sweep killed at any point leaves a valid summary of the runs
finished by then (at worst without the run that finished just before the kill; the next call completes it).

Runs are deterministic functions of their parameters: the clouds and any sampling come from
``numpy.random.default_rng(seed)``; nothing depends on the executor, the worker or the clock (apart
from ``*_seconds``). Results are computed by the workers and written by the calling process, so
the workers of a remote cluster need odeflow installed but no shared file system.
"""

from __future__ import annotations

import csv
import io
import json
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path


from .runs import (PARAMETERS, atomic_write, expand, run_id, run_one,
                   save_run, TMP_SUFFIX)
from .._checks import check_int, progress_bar


__all__ = ["SweepReport", "run_sweep", "write_summary"]

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


def run_sweep(config, out, *, workers=None, scheduler=None, client=None, progress=None,
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
        summary = _Summary(out, runs, ids)
        report.summary = summary.write()
        bar = progress_bar(progress, total=len(runs), initial=len(report.skipped), desc="odeflow sweep",
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
                        summary.add(rid, value[0])
                        summary.write()
                    else:
                        report.failed[rid] = value
                    bar.update(1)
                    if report.failed:
                        bar.set_postfix(failed=len(report.failed), refresh=False)
        finally:
            bar.close()
    return report


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):  # a density target: its canonical table as compact JSON
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _row(rid, params, record) -> list:
    return [rid, *(_cell(params[k]) for k in PARAMETERS), *(_cell(record.get(k)) for k in SUMMARY_FIELDS)]


class _Summary:
    """The rows of ``summary.csv`` kept in memory (grid order), written atomically on request."""

    def __init__(self, out: Path, runs, ids):
        self.out, self.ids = out, ids
        self.params = dict(zip(ids, runs))
        self.rows = {}
        for rid, params in zip(ids, runs):
            if _finished(out / "runs", rid):
                record = json.loads((out / "runs" / f"{rid}.json").read_text())
                self.rows[rid] = _row(rid, params, record)

    def add(self, rid, record) -> None:
        self.rows[rid] = _row(rid, self.params[rid], record)

    def write(self) -> Path:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["id", *PARAMETERS, *SUMMARY_FIELDS])
        writer.writerows(self.rows[rid] for rid in self.ids if rid in self.rows)
        path = self.out / "summary.csv"
        atomic_write(path, lambda fh: fh.write(buf.getvalue().encode()))
        return path


def write_summary(out, runs) -> Path:
    """Write ``out/summary.csv``: one row per finished run of ``runs`` (grid order), with its id, every
    parameter and the fields of :data:`SUMMARY_FIELDS`."""
    runs = list(runs)
    return _Summary(Path(out), runs, [run_id(p) for p in runs]).write()
