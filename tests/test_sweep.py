"""Sweeps: grid expansion, stable ids, atomic files, resume after SIGKILL, executor independence."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import odeflow as of
from odeflow import sweep
from odeflow.sweep import expand, load_run, run_id, run_sweep, without_timings


def small_config(**grid):
    return {"base": {"source": "gaussian", "target": "ring8", "n": 40, "loss": "w2", "method": "exact",
                     "t_end": 0.6},
            "grid": grid or {"h": [0.3, 0.2], "seed": [0, 1]}}


def snapshot(runs_dir):
    """id -> (json bytes, json mtime_ns, npz bytes, npz mtime_ns) for every finished run."""
    out = {}
    for js in sorted(runs_dir.glob("*.json")):
        npz = js.with_suffix(".npz")
        if npz.exists():
            out[js.stem] = (js.read_bytes(), js.stat().st_mtime_ns, npz.read_bytes(), npz.stat().st_mtime_ns)
    return out


def comparable(out_dir):
    """Every run's JSON without *_seconds, and its NPZ bytes."""
    return {js.stem: (without_timings(json.loads(js.read_text())), js.with_suffix(".npz").read_bytes())
            for js in sorted((out_dir / "runs").glob("*.json"))}


def summary_rows(out_dir):
    lines = (out_dir / "summary.csv").read_text().splitlines()
    return lines[0].split(","), lines[1:]


# --- configuration and ids ------------------------------------------------------------------------

def test_expand_is_the_cartesian_product_in_grid_order():
    runs = expand({"base": {"n": 10, "loss": "w1"}, "grid": {"h": [0.2, 0.1, 0.05], "seed": [3, 4]}})
    assert [(r["h"], r["seed"]) for r in runs] == [(h, s) for h in (0.2, 0.1, 0.05) for s in (3, 4)]
    assert all(r["n"] == 10 and r["loss"] == "w1" and r["scheme"] == "euler" for r in runs)
    assert len({run_id(r) for r in runs}) == 6
    assert len(expand({"base": {"n": 5}})) == 1


def test_run_id_is_stable_and_ignores_spelling():
    a = run_id({"h": 1, "n": 300})
    assert a == run_id({"n": 300, "h": 1.0, "seed": 0, "scheme": "euler", "problem": None})
    assert a != run_id({"h": 1, "n": 301})
    assert a != run_id({"h": 1, "n": 300, "seed": 1})
    # Pinned: changing the canonical form would orphan every finished run of existing sweeps.
    assert run_id({"source": "gaussian", "target": "ring8", "n": 300, "h": 0.1, "t_end": 2.0}) == "71c8bb739c29"


@pytest.mark.parametrize("config, match", [
    ({"base": {"hh": 0.1}}, r"\[base\] hh: unknown parameter"),
    ({"grid": {"bogus": [1]}}, r"\[grid\] bogus: unknown parameter"),
    ({"base": {"h": 0.1}, "grid": {"h": [0.2]}}, "h is in both"),
    ({"grid": {"h": []}}, "empty list"),
    ({"grid": {"h": [0.1, 0.1]}}, "same parameters"),
    ({"grid": {"h": [1, 1.0]}}, "same parameters"),
    ({"grid": {"h": [0.1, -0.1]}}, r"config: h: must be > 0"),
    ({"base": {"loss": "w3"}}, "loss: unknown value 'w3'"),
    ({"base": {"problem": "ring8", "source": "moons"}}, "either problem or source/target"),
    ({"base": {"n": 10}, "extra": {}}, r"unknown table \[extra\]"),
])
def test_bad_configs_raise_value_errors_naming_the_problem(config, match):
    with pytest.raises(ValueError, match=match):
        expand(config)


@pytest.mark.parametrize("config, match", [
    ({"grid": {"h": 0.1}}, "must be a list"),
    ({"base": {"n": 2.5}}, "n: expected an integer"),
    ({"base": {"clip": 1}}, "clip: expected true or false"),
])
def test_wrong_types_raise_type_errors(config, match):
    with pytest.raises(TypeError, match=match):
        expand(config)


def test_toml_config(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[base]\nsource = "gaussian"\ntarget = "ring8"\nn = 300\nloss = "w2"\nmethod = "exact"\n'
                    't_end = 2.0\n[grid]\nh = [0.2, 0.1, 0.05]\nseed = [0, 1]\n')
    runs = expand(path)
    assert len(runs) == 6 and runs[0]["method"] == "exact" and runs[-1]["h"] == 0.05
    path.write_text("[base\nn = 3\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        expand(path)


# --- files ----------------------------------------------------------------------------------------

def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "x.json"
    target.write_bytes(b"old")

    def half_then_fail(fh):
        fh.write(b"new, incomplete")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        sweep.atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_npz_bytes_depend_only_on_the_arrays(tmp_path):
    import zipfile

    arrays = {"t": np.arange(3.0), "points": np.ones((3, 2, 2))}
    a, _ = sweep.save_run(tmp_path / "a", {"k": 1}, arrays)
    b, _ = sweep.save_run(tmp_path / "b", {"k": 1}, {"points": np.ones((3, 2, 2)), "t": np.arange(3.0)})
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:  # np.savez would stamp the members with the current time
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    record, back = load_run(a)
    assert record == {"k": 1} and np.array_equal(back["points"], arrays["points"])


def test_run_record_matches_simulate():
    params = sweep.normalize({"problem": "ring8", "n": 30, "h": 0.25, "t_end": 0.5, "seed": 7})
    record, arrays = sweep.run_one(params)
    src, tgt = of.datasets.problem("ring8", 30, rng=np.random.default_rng(7))
    res = of.simulate(src, tgt, h=0.25, t_end=0.5, progress=False)
    assert np.array_equal(arrays["points"], res.points)
    assert np.array_equal(arrays["target"], tgt.points)
    assert record["distance"] == res.distance.tolist() and record["t"] == [0.0, 0.25, 0.5]
    assert record["final_distance"] == res.distance[-1] and record["status"] == 0
    assert record["parameters"] == params and record["id"] == run_id(params)


# --- in-process sweeps ----------------------------------------------------------------------------

def test_sweep_skips_finished_runs_and_retries_failed_ones(tmp_path):
    cfg = small_config(h=[0.3, 2.0], seed=[0, 1])  # h = 2 > 1 is refused by simulate for w2
    report = run_sweep(cfg, tmp_path, progress=False)
    assert len(report.computed) == 2 and len(report.failed) == 2
    assert all("h: must be <= 1" in text for text in report.failed.values())
    assert set(snapshot(tmp_path / "runs")) == set(report.computed)  # nothing written for failures
    header, rows = summary_rows(tmp_path)
    assert header[0] == "id" and "final_distance" in header and len(rows) == 2
    before = snapshot(tmp_path / "runs")
    again = run_sweep(cfg, tmp_path, progress=False)
    assert sorted(again.skipped) == sorted(report.computed) and again.computed == []
    assert sorted(again.failed) == sorted(report.failed)
    assert snapshot(tmp_path / "runs") == before


def test_sweep_recovers_from_a_kill_between_npz_and_json(tmp_path):
    cfg = small_config(h=[0.3, 0.2, 0.1])
    ids = run_sweep(cfg, tmp_path, progress=False).ids
    runs = tmp_path / "runs"
    (runs / f"{ids[0]}.json").unlink()  # as if killed after the NPZ was written
    (runs / f"{ids[1]}.npz").unlink()   # a JSON without its NPZ does not count as finished either
    (runs / f".{ids[0]}.json.abc.tmp").write_bytes(b'{"half": ')  # a torn temporary file
    keep = snapshot(runs)
    assert list(keep) == [ids[2]]
    report = run_sweep(cfg, tmp_path, progress=False)
    assert report.computed == ids[:2] and report.skipped == [ids[2]]
    assert not list(runs.glob("*.tmp")) and not list(runs.glob(".*"))
    after = snapshot(runs)
    assert set(after) == set(ids) and after[ids[2]] == keep[ids[2]]


def test_one_sweep_at_a_time(tmp_path):
    import fcntl

    tmp_path.joinpath("runs").mkdir()
    with open(tmp_path / ".lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="another sweep is running"):
            run_sweep(small_config(), tmp_path, progress=False)


KILL_CONFIG = """\
[base]
source = "gaussian"
target = "ring8"
n = 300
loss = "w2"
method = "exact"
t_end = 1.0
[grid]
h = [0.1, 0.05, 0.04, 0.025]
seed = [0, 1, 2]
"""


def test_sweep_killed_with_sigkill_resumes_without_touching_finished_runs(tmp_path):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(KILL_CONFIG)
    out = tmp_path / "out"
    runs = out / "runs"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "odeflow.cli", "sweep", str(cfg), "--out", str(out),
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while len(list(runs.glob("*.json"))) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.perf_counter() - start < 120, "the sweep made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    killed_at = time.perf_counter() - start
    assert proc.returncode == -signal.SIGKILL
    finished = snapshot(runs)
    assert 3 <= len(finished) < 12, f"{len(finished)} runs finished before the kill"
    # The summary is rewritten after every finished run: it lists what had finished (at worst all but the
    # run finished just before the kill), and it is a complete CSV file.
    header, rows = summary_rows(out)
    listed = [row.split(",")[0] for row in rows]
    assert header[0] == "id" and set(listed) <= set(finished) and len(listed) >= len(finished) - 1
    assert all(len(row.split(",")) == len(header) for row in rows)

    from odeflow.cli import main

    assert main(["sweep", str(cfg), "--out", str(out), "--no-progress"]) == 0
    after = snapshot(runs)
    assert len(after) == 12 and set(after) == set(run_id(p) for p in expand(cfg))
    for rid, files in finished.items():
        assert after[rid] == files, f"finished run {rid} was rewritten"
    assert not list(runs.glob(".*"))
    _, rows = summary_rows(out)
    assert len(rows) == 12 and all(row.split(",")[17] == "0" for row in rows)  # status column
    print(f"\nkill -9 resume: killed after {killed_at:.2f} s with {len(finished)}/12 finished; "
          f"total {time.perf_counter() - start:.2f} s")


def test_summary_is_rewritten_after_every_finished_run_and_survives_an_interrupted_sweep(tmp_path, monkeypatch):
    import csv

    from odeflow.app import sweep as app_sweep  # where the runs are executed

    cfg = small_config(h=[0.3, 0.2, 0.1], seed=[0, 1])
    ids = [run_id(p) for p in expand(cfg)]
    real, seen = app_sweep.run_one, []

    def run_then_die(params):
        # before each run: the summary lists exactly the runs finished so far, in grid order
        with open(tmp_path / "summary.csv", newline="") as fh:
            seen.append([row["id"] for row in csv.DictReader(fh)])
        if len(seen) == 4:
            raise KeyboardInterrupt  # as if the sweep were killed during its 4th run
        return real(params)

    monkeypatch.setattr(app_sweep, "run_one", run_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, tmp_path, progress=False)
    assert seen == [[], ids[:1], ids[:2], ids[:3]]
    header, rows = summary_rows(tmp_path)
    assert [row.split(",")[0] for row in rows] == ids[:3]
    for row in rows:  # each row is the run's own record
        record = json.loads((tmp_path / "runs" / f"{row.split(',')[0]}.json").read_text())
        values = dict(zip(header, row.split(",")))
        assert float(values["final_distance"]) == record["final_distance"] and values["status"] == "0"
    monkeypatch.setattr(app_sweep, "run_one", real)
    report = run_sweep(cfg, tmp_path, progress=False)
    assert report.skipped == ids[:3] and report.computed == ids[3:]
    assert [row.split(",")[0] for row in summary_rows(tmp_path)[1]] == ids


def test_sweep_over_density_targets(tmp_path):
    import csv

    cfg = {"base": {"n": 20, "t_end": 0.5, "h": 0.5},
           "grid": {"target": ["box:low=0,0;high=1,1", {"density": "box", "low": [0, 0], "high": [2, 1]}, "ring8"]}}
    runs = expand(cfg)
    assert runs[0]["target"] == {"density": "box", "low": [0.0, 0.0], "high": [1.0, 1.0]} and runs[2]["target"] == "ring8"
    report = run_sweep(cfg, tmp_path, progress=False)
    assert len(report.computed) == 3 and report.failed == {}
    with open(tmp_path / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [json.loads(r["target"]) for r in rows[:2]] == [runs[0]["target"], runs[1]["target"]]
    assert rows[2]["target"] == "ring8"
    record, arrays = load_run(tmp_path / "runs" / f"{report.ids[1]}.npz")
    assert record["method_used"] == "semidiscrete" and np.all(arrays["target"] <= [2.0, 1.0])
    with pytest.raises(ValueError, match="method: a density target needs method"):
        expand({"base": {"method": "exact"}, "grid": {"target": ["box:low=0,0;high=1,1"]}})


# --- Dask -----------------------------------------------------------------------------------------

def _children():
    psutil = pytest.importorskip("psutil")
    kids = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline()):
                kids.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return set(kids)


def _assert_no_new_children(before, wait=15.0):
    deadline = time.monotonic() + wait
    while (left := _children() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"leaked processes {left}"


@pytest.fixture(scope="module")
def cluster():
    """One 2-process LocalCluster shared by this module's Dask tests; checked for leaks afterwards."""
    distributed = pytest.importorskip("distributed")
    before = _children()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as local:
        yield local
    _assert_no_new_children(before)


def test_one_and_two_workers_give_identical_results(tmp_path, cluster):
    import distributed

    cfg = small_config(h=[0.3, 0.2, 0.1], seed=[0, 1], scheme=["euler", "heun"])
    before = _children()
    start = time.perf_counter()
    one = run_sweep(cfg, tmp_path / "one", workers=1, progress=False)
    t_one = time.perf_counter() - start
    _assert_no_new_children(before)
    with distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        start = time.perf_counter()
        two = run_sweep(cfg, tmp_path / "two", client=client, progress=False)
        t_two = time.perf_counter() - start
    here = run_sweep(cfg, tmp_path / "here", progress=False)
    assert len(one.computed) == len(two.computed) == len(here.computed) == 12
    a, b, c = comparable(tmp_path / "one"), comparable(tmp_path / "two"), comparable(tmp_path / "here")
    assert len(a) == 12 and a == b == c
    raw = json.loads(next((tmp_path / "one" / "runs").glob("*.json")).read_text())
    assert {"run_seconds", "simulate_seconds"} <= set(raw)  # the timings exist, and only they differ
    print(f"\n1 worker (incl. cluster start) {t_one:.2f} s, 2 workers (shared cluster) {t_two:.2f} s")


def test_sweep_on_an_existing_cluster_from_the_command_line(tmp_path, cluster, capsys):
    from odeflow.cli import main

    path = tmp_path / "s.toml"
    path.write_text('[base]\nn = 30\nt_end = 0.5\nmethod = "exact"\n[grid]\nh = [0.25, 0.5, 2.0]\n'
                    'loss = ["w2", "w1"]\n')
    args = ["sweep", str(path), "--out", str(tmp_path / "out"), "--scheduler", cluster.scheduler_address,
            "--no-progress"]
    assert main(args) == 1  # h = 2 is refused for w2 (on the worker): reported, not written
    err = capsys.readouterr().err.splitlines()
    assert any("h: must be <= 1 for loss 'w2'" in line for line in err)
    assert err[-1].startswith("odeflow: error: 1 of 6 runs failed")
    done = snapshot(tmp_path / "out" / "runs")
    assert len(done) == 5
    assert main(args) == 1
    assert "5 already finished, 0 computed, 1 failed" in capsys.readouterr().out
    assert snapshot(tmp_path / "out" / "runs") == done
