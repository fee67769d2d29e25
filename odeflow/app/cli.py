"""The ``odeflow`` command: demo, run, study, reproduce, sweep, animate.

Every subcommand has ``--help``. Every error is one line ``odeflow: error: ...`` on stderr, with no
traceback (set ``ODEFLOW_TRACEBACK=1`` to see one): bad input, argparse's own complaints and an
unwritable ``--out`` (checked before any computation) exit with status 2; a run that fails at run time
(a solver failure, a failed sweep run, a failed figure study, an unexpected error) exits with status 1.
``python -m odeflow.cli`` is the same command.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from pathlib import Path

from ..potentials.base import SolveError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

TARGET_HELP = """\
density targets:
  --target (and target in a TOML file) takes a dataset name, or a density in one of two spellings:
    KIND:KEY=VALUE;KEY=VALUE   values are numbers separated by ',', matrix rows by '/'
    {...}                      an inline table, exactly as in a TOML file (JSON also accepted)
  gaussian:mean=3,0;cov=1,0/0,0.3        N(mean, cov); cov: a number c (c I), d variances,
                                         d*d numbers row by row, or rows split by '/'
  mixture:means=-1,0/1,0;covs=0.05;weights=0.3,0.7
                                         one mean per row; covs: one number, or one per mean
                                         split by '/'; weights default uniform
  box:low=0,0;high=2,1                   uniform on a box
  image:path=face.png;extent=-1,1,-1,1   a .npy of intensities (row 0 on top) or a .png, whose dark
                                         pixels carry the mass (ink=light: the light ones);
                                         extent = left,right,bottom,top
  --target '{density = "gaussian", mean = [3.0, 0.0], cov = [[1.0, 0.0], [0.0, 0.3]]}'
  A density target needs method auto or semidiscrete (w1: Apollonius cells, slower than w2); a gaussian or uniform source takes
  its dimension. In a TOML file a relative image path is read from the file's folder.
"""


class Unavailable(Exception):
    """A subcommand needs a piece that this installation lacks."""


class UsageError(Exception):
    """A complaint of argparse (unknown flag, bad number, missing argument): reported on one line."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line ``odeflow: error: ...`` (exit status 2), not the
    usage block; its subcommand parsers are of the same class."""

    def error(self, message):
        raise UsageError(message)


# --- helpers -------------------------------------------------------------------------------------

_INT = {"n", "seed", "record_every", "persistence"}
_FLOAT = {"h", "t_end", "persistence_rate", "stop_distance"}
_DATA = ("problem", "source", "target", "n", "seed")


def _flag(name):
    return "--" + name.replace("_", "-")


def _add_params(parser, names):
    """Flags for the flow parameters ``names`` (defaults None: 'not given')."""
    from .runs import PARAMETERS

    for name in names:
        default, _, text = PARAMETERS[name]
        help_text = f"{text} (default: {default})".replace("%", "%%")
        if name == "clip":
            parser.add_argument(_flag(name), dest=name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        else:
            kind = int if name in _INT else float if name in _FLOAT else str
            parser.add_argument(_flag(name), dest=name, type=kind, default=None, metavar=name.upper(),
                                help=help_text)


def _given(args, names) -> dict:
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def _read_toml(path) -> dict:
    """A TOML file, with relative image paths of density targets resolved against its folder."""
    from .runs import load_config
    from .targets import with_base_dir

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config: {path} not found")
    config = load_config(path)
    tables = [config] + [config[k] for k in ("base", "grid") if isinstance(config.get(k), dict)]
    for table in tables:
        target = table.get("target")
        if table is config.get("grid") and isinstance(target, list):
            table["target"] = [with_base_dir(t, path.parent) for t in target]
        elif target is not None:
            table["target"] = with_base_dir(target, path.parent)
    return config


def _err(text) -> None:
    print(f"odeflow: {text}", file=sys.stderr)


def _check_out(path, folder=False) -> Path:
    """Make sure files can be written at ``--out`` before any computation: its folder (``path`` itself
    when ``folder``) is created and probed with a temporary file; ValueError naming --out otherwise."""
    path = Path(path)
    where = path if folder else path.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        raise ValueError(f"--out: cannot write to {str(where)!r} ({exc.strerror or exc})") from None
    return path


def _finite(obj):
    """``obj`` with every non-finite float replaced by None (JSON null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _write_json(path, obj) -> None:
    from .runs import _json_bytes, atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: fh.write(_json_bytes(_finite(obj))))


def _describe(record) -> str:
    def fmt(x):
        return "nan" if x is None else f"{x:.5g}"

    p = record["parameters"]
    return (f"run {record['id']}: {p['loss']} {record['method_used']} {p['scheme']} h={p['h']:g}, "
            f"{p['loss'].upper()} {fmt(record['initial_distance'])} -> {fmt(record['final_distance'])} "
            f"at t = {record['t_final']:g} ({record['steps']} steps, {record['run_seconds']:.2f} s); "
            f"status {record['status']}: {record['message']}")


# --- subcommands ---------------------------------------------------------------------------------

def cmd_demo(args) -> int:
    """Gaussian blob -> ring of 8 Gaussians, w2 and w1 flows; figure + numbers, printed table."""
    import numpy as np

    from .. import datasets, simulate
    from .figures import flow_figure, save

    n = args.n
    if n < 2:
        raise ValueError(f"n: must be >= 2, got {n}")
    _check_out(args.out)
    src, tgt = datasets.problem("ring8", n, rng=args.seed)
    h2, h1 = 0.1, 0.05
    w2 = simulate(src, tgt, loss="w2", method="exact", h=h2, t_end=3.0, progress=args.progress)
    w1 = simulate(src, tgt, loss="w1", method="exact", h=h1, t_end=1.5, clip=True, progress=args.progress)
    steps = np.arange(w2.t.size)
    euler = w2.distance[0] * (1 - h2) ** steps
    numbers = {"n": n, "seed": args.seed,
               "w2": {"h": h2, "t": w2.t, "distance": w2.distance, "theory_euler": euler,
                      "theory_exp": w2.distance[0] * np.exp(-w2.t), "seconds": w2.info["seconds"]},
               "w1": {"h": h1, "clip": True, "t": w1.t, "distance": w1.distance, "seconds": w1.info["seconds"]}}
    fig = flow_figure({"w2": w2, "w1": w1}, target_points=tgt.points, reference_rate={"w2": 1.0},
                      references={"w2": [("Euler $(1-h)^n$", w2.t, euler)]})
    png, js = save(fig, numbers, args.out)
    print(f"odeflow demo: N(0, 0.05^2 I) -> ring of 8 Gaussians, N = {n}, exact LP")
    print(f"  {'t':>5} {'W2 Euler':>10} {'W2_0 (1-h)^n':>13} {'W2_0 e^-t':>10}")
    for k in range(0, w2.t.size, 10):
        print(f"  {w2.t[k]:5.2f} {w2.distance[k]:10.5f} {euler[k]:13.5f} {numbers['w2']['theory_exp'][k]:10.5f}")
    print(f"  W1 (clipped, h = {h1:g}): {w1.distance[0]:.5f} -> {w1.distance[-1]:.5f} at t = {w1.t[-1]:g}")
    print(f"wrote {png} and {js}")
    return EXIT_OK


def cmd_run(args) -> int:
    """One flow: NPZ (t, points, distance, drift, target) + JSON record + PNG figure."""
    import time

    from .figures import flow_figure
    from .runs import PARAMETERS, execute, make_record, normalize, save_run, target_points

    params = {}
    if args.config is not None:
        params = _read_toml(args.config)
        if "base" in params or "grid" in params:
            raise ValueError(f"config: {args.config} is a sweep configuration ([base]/[grid]); "
                             f"use odeflow sweep")
    params.update(_given(args, PARAMETERS))
    if args.problem is not None:  # a problem on the command line replaces the config's source/target
        for name in ("source", "target"):
            if getattr(args, name) is None:
                params.pop(name, None)
    params = normalize(params)
    stem = _check_out(args.out)
    start = time.perf_counter()
    res, _, tgt = execute(params, progress=args.progress)
    record, arrays = make_record(params, res, time.perf_counter() - start)
    arrays["target"] = target_points(params, tgt)
    npz, js = save_run(stem, record, arrays)
    outputs = [npz, js]
    if not args.no_figure:
        label = f"{params['loss']} {params['scheme']} h={params['h']:g}"
        fig = flow_figure({label: res}, target_points=arrays["target"],
                          reference_rate={label: 1.0} if params["loss"] == "w2" else None)
        png = stem.with_name(stem.name + ".png")
        fig.savefig(png, dpi=110, metadata={"Software": None})
        outputs.append(png)
    print(_describe(record))
    print("wrote " + ", ".join(str(p) for p in outputs))
    if not res.success:
        _err(f"error: the flow failed: {res.message}")
        return EXIT_FAILED
    return EXIT_OK


def _study_figure(study, title):
    """The study's errors against h (log-log) with the fitted order, or the reason there is none."""
    from .figures import order_figure

    key = study.info["fit_on"]
    fig = order_figure({title: {study.info["scheme"]: study}}, key=key)
    if study.fits[key] is None:  # order_figure's label says "exact to rounding": say why there is no fit
        ax = fig.axes[0]
        text = f"{study.info['scheme']}: {study.info['fit_message']}"
        ax.lines[0].set_label(text)
        ax.legend(fontsize=7.5, loc="best", title="no fitted order", title_fontsize=7.5)
    return fig


def cmd_study(args) -> int:
    """Step-size study: error against a reference for each h, fitted order with its interval (three h or
    more); with --out, the numbers as JSON (null where there is no number) and their plot beside it."""
    from .runs import make_clouds, normalize
    from .targets import is_density

    from ..studies.convergence import step_size_study

    data = _given(args, _DATA)
    method = args.method or ("auto" if is_density(normalize(data)["target"]) else "exact")
    params = normalize({**data, "loss": args.loss, "method": method, "scheme": args.scheme, "t_end": args.t_end})
    out = _check_out(args.out) if args.out is not None else None
    src, tgt, rng = make_clouds(params)
    seed = int(rng.integers(2**63))  # every run samples a density alike (the same seed for each h)
    study = step_size_study(src, tgt, loss=args.loss, method=method, scheme=args.scheme, hs=args.hs,
                            t_end=args.t_end, reference=None, rng=seed, progress=args.progress)
    print(repr(study))
    print(study.table())
    if out is not None:
        fit_on = study.info["fit_on"]
        _write_json(out, {"parameters": {**{k: params[k] for k in _DATA}, "loss": args.loss, "method": method,
                                         "scheme": args.scheme, "t_end": args.t_end},
                          "hs": [float(h) for h in study.hs], "errors": [float(e) for e in study.errors[fit_on]],
                          "fit_on": fit_on, "fit_message": study.info["fit_message"],
                          "all_errors": {k: [float(e) for e in v] for k, v in study.errors.items()},
                          "order": float(study.order), "order_interval": [float(x) for x in study.order_interval]})
        png = out.with_suffix(".png")
        data_text = params["problem"] or f"{params['source']} -> {_target_text(params['target'])}"
        fig = _study_figure(study, f"{args.loss} {args.scheme}, {data_text}, N = {params['n']}, "
                                   f"t_end = {args.t_end:g}")
        fig.savefig(png, dpi=110, metadata={"Software": None})
        print(f"wrote {out} and {png}")
    return EXIT_OK


def _target_text(target) -> str:
    return target if isinstance(target, str) else f"{target['density']} density"


def cmd_reproduce(args) -> int:
    """Every figure of analysis/ (``python -m analysis.all``), from a clone of the repository."""
    import subprocess

    root = Path(args.root).resolve()
    if not (root / "analysis" / "all.py").is_file():
        raise ValueError(f"reproduce: no analysis/all.py in {root}; run it from the root of a clone of "
                         f"the odeflow repository (or pass --root)")
    print(f"odeflow reproduce: python -m analysis.all in {root}", flush=True)
    rc = subprocess.run([sys.executable, "-m", "analysis.all"], cwd=root).returncode
    if rc != 0:
        _err(f"error: python -m analysis.all exited with status {rc}")
        return EXIT_FAILED
    return EXIT_OK


def cmd_sweep(args) -> int:
    """Cartesian product of [grid] over [base], resumable; in-process, local processes or a cluster."""
    from .runs import expand
    from .sweep import run_sweep

    from .._checks import check_int

    config = _read_toml(args.config)
    expand(config)  # validate before starting any cluster
    if args.workers is not None:
        check_int(args.workers, "workers", minimum=1)
    _check_out(args.out, folder=True)
    try:
        report = run_sweep(config, args.out, workers=args.workers, scheduler=args.scheduler,
                           progress=args.progress)
    except ImportError as exc:
        raise Unavailable(str(exc)) from None
    print(f"odeflow sweep: {len(report.ids)} runs: {len(report.skipped)} already finished, "
          f"{len(report.computed)} computed, {len(report.failed)} failed")
    print(f"results in {Path(args.out) / 'runs'}, summary {report.summary}")
    if report.failed:
        for rid, text in report.failed.items():
            _err(f"run {rid} failed: {text}")
        _err(f"error: {len(report.failed)} of {len(report.ids)} runs failed (nothing written for them; "
             f"a rerun retries them)")
        return EXIT_FAILED
    return EXIT_OK


def cmd_animate(args) -> int:
    """Animation of a run written by ``odeflow run`` or ``odeflow sweep`` (its .npz): the particles with
    their drift over the target cloud stored in the run, beside the distance curve."""
    import numpy as np

    from ..measures import Cloud
    from ..simulate import SimulationResult
    from .animate import animate
    from .runs import load_run

    if not str(args.out).lower().endswith((".gif", ".mp4")):
        raise ValueError(f"out: must end in .gif or .mp4, got {args.out!r}")
    record, arrays = load_run(args.run)
    missing = [k for k in ("t", "points", "distance") if k not in arrays]
    if missing:
        raise ValueError(f"run: {args.run} has no array {missing[0]!r}; expected a run written by odeflow")
    _check_out(args.out)
    points = arrays["points"]
    params = record.get("parameters", {})
    result = SimulationResult(
        t=arrays["t"], points=points, distance=arrays["distance"],
        drift=arrays["drift"] if "drift" in arrays else np.full_like(points, np.nan),
        status=int(record.get("status", 0)), message=record.get("message", ""),
        final=Cloud(points[-1]), n_solves=int(record.get("n_solves", 0)),
        info={"loss": params.get("loss"), "method": record.get("method_used"), "scheme": params.get("scheme"),
              "h": params.get("h"), "t_end": params.get("t_end"), "steps": record.get("steps")},
    )
    target = arrays.get("target")
    if target is not None and (target.ndim != 2 or target.shape[1] != points.shape[2]):
        target = None
    animate(result, args.out, target_points=target, frames=args.frames, fps=args.fps,
            title=f"run {record['id']}" if "id" in record else None, progress=args.progress)
    print(f"wrote {args.out}")
    return EXIT_OK


# --- parser --------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from .runs import PARAMETERS

    common = Parser(add_help=False)
    common.add_argument("--progress", dest="progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bars (default: only when stderr is a terminal; TQDM_DISABLE=1 turns "
                             "them off)")
    raw = argparse.RawDescriptionHelpFormatter

    parser = Parser(
        prog="odeflow", description="Wasserstein gradient flows on particle clouds.",
        epilog="Run 'odeflow COMMAND --help' for the options of each command.")
    parser.add_argument("--version", action="version", version=f"odeflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", parents=[common], help="a small w2 and w1 flow with its figure",
                       description=cmd_demo.__doc__)
    p.add_argument("--n", type=int, default=300, help="particles (default: 300)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data (default: 0)")
    p.add_argument("--out", default="odeflow_demo", help="output stem: writes OUT.png and OUT.json "
                                                          "(default: odeflow_demo)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", parents=[common], help="one flow from flags or a TOML file", formatter_class=raw,
                       description=cmd_run.__doc__ + " Flags override the TOML file (top-level keys, same "
                                                     "names with underscores), which overrides the defaults.",
                       epilog=TARGET_HELP + "\nexample:\n  odeflow run --target 'gaussian:mean=3,0;cov=1,0/0,0.3' "
                                            "--n 200 --t-end 2 --out flows/gauss")
    p.add_argument("--config", metavar="FILE.toml", help="flow parameters as top-level TOML keys")
    _add_params(p, PARAMETERS)
    p.add_argument("--out", default="odeflow_run", help="output stem: writes OUT.npz, OUT.json and OUT.png "
                                                         "(default: odeflow_run)")
    p.add_argument("--no-figure", action="store_true", help="skip the PNG")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("study", parents=[common], help="step-size study (errors and fitted order)",
                       description=cmd_study.__doc__, formatter_class=raw, epilog=TARGET_HELP)
    _add_params(p, _DATA)
    p.add_argument("--loss", default="w2", help="w2 or w1 (default: w2)")
    p.add_argument("--method", default=None,
                   help="potential method (default: exact, or auto for a density target)")
    p.add_argument("--scheme", default="euler", help="euler, heun or rk4 (default: euler)")
    p.add_argument("--hs", type=float, nargs="+", default=[0.2, 0.1, 0.05, 0.025], metavar="H",
                   help="step sizes, one or more (an order is fitted from three; default: 0.2 0.1 0.05 0.025)")
    p.add_argument("--t-end", dest="t_end", type=float, default=1.0, help="final time (default: 1)")
    p.add_argument("--out", metavar="FILE.json", help="write hs, errors, order and its interval here (null "
                                                      "where there is no number), and their plot as FILE.png")
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("reproduce", help="every figure of analysis/ (from a clone of the repository)",
                       description=cmd_reproduce.__doc__)
    p.add_argument("--root", default=".", help="repository root (default: the current directory)")
    p.set_defaults(func=cmd_reproduce, progress=True)

    p = sub.add_parser("sweep", parents=[common], help="parameter sweep from a TOML file ([base], [grid])",
                       formatter_class=raw, epilog=TARGET_HELP,
                       description=cmd_sweep.__doc__ + " Writes OUT/runs/<id>.json and .npz per run and "
                                                       "OUT/summary.csv (rewritten after every finished run); "
                                                       "a rerun skips finished runs.")
    p.add_argument("config", metavar="CONFIG.toml")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="a local Dask cluster of N processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("animate", parents=[common], help="animate a run written by run or sweep",
                       description=cmd_animate.__doc__)
    p.add_argument("run", metavar="RUN.npz", help="a run's .npz (its .json beside it is read too)")
    p.add_argument("out", metavar="OUT", help="animation file: .gif, or .mp4 when ffmpeg is on the PATH")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second (default: 8)")
    p.add_argument("--frames", type=int, default=None, metavar="N",
                   help="number of frames, spread evenly over the records (default: every record)")
    p.set_defaults(func=cmd_animate)
    return parser


def _one_line(exc) -> str:
    return re.sub(r"\s*\n\s*", " ", str(exc)).strip()


def main(argv=None) -> int:
    """Entry point of the ``odeflow`` command; returns the exit status.

    >>> main(["run", "--h", "-1", "--no-progress"])  # prints "odeflow: error: h: must be > 0, got -1.0"
    2
    >>> main(["run", "--n", "abc"])  # prints "odeflow: error: argument --n: invalid int value: 'abc'"
    2
    """
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        _err(f"error: {_one_line(exc)}")
        return EXIT_USAGE
    try:
        return args.func(args)
    except (Unavailable, ValueError, TypeError, UsageError) as exc:
        _err(f"error: {_one_line(exc)}")
        return EXIT_USAGE
    except (OSError, SolveError) as exc:
        _err(f"error: {_one_line(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # one line, not a traceback (unless asked for)
        if os.environ.get("ODEFLOW_TRACEBACK", "").strip() not in ("", "0"):
            raise
        _err(f"error: {type(exc).__name__}: {_one_line(exc)} (set ODEFLOW_TRACEBACK=1 for the traceback)")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
