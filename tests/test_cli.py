"""The ``odeflow`` command: every subcommand at small size, and one-line errors on bad input."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import odeflow as of
from odeflow.cli import main

COMMANDS = ["demo", "run", "study", "reproduce", "sweep", "animate"]


def one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("odeflow: error: "), err
    return err[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: odeflow {command}")


def test_entry_point_is_installed():
    scripts = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts.get("odeflow") == "odeflow.cli:main"


def test_installed_command_exits_2_with_one_line_and_no_traceback(tmp_path):
    exe = Path(sys.executable).with_name("odeflow")
    if not exe.exists():
        pytest.skip("the odeflow script is not installed beside this interpreter")
    proc = subprocess.run([str(exe), "run", "--loss", "w3", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "odeflow: error: loss: unknown value 'w3'; expected one of ['w1', 'w2']"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv, match", [
    (["run", "--h", "-1"], "h: must be > 0"),
    (["run", "--source", "blob"], "source: unknown value 'blob'"),
    (["run", "--problem", "ring8", "--source", "moons"], "either problem or source/target"),
    (["run", "--h", "2"], "h: must be <= 1 for loss 'w2'"),
    (["run", "--scheme", "rk4", "--persistence", "3"], "persistence: only scheme='euler'"),
    (["run", "--config", "missing.toml"], "config: missing.toml not found"),
    (["sweep", "missing.toml", "--out", "x"], "config: missing.toml not found"),
    (["sweep", "{bad}", "--out", "x", "--workers", "0"], "workers: must be >= 1"),
    (["sweep", "{bad}", "--out", "x"], r"\[grid\] hh: unknown parameter"),
    (["animate", "nothing.npz", "out.gif"], "run: nothing.npz not found"),
])
def test_bad_input_exits_2_with_one_line(argv, match, tmp_path, monkeypatch, capsys):
    import re

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text("[grid]\nhh = [1]\n")
    argv = [a.replace("{bad}", "bad.toml") for a in argv]
    if "--workers" in argv:  # a valid config, so that the workers check is what fails
        (tmp_path / "bad.toml").write_text("[grid]\nh = [0.5]\n")
    assert main(argv + ["--no-progress"]) == 2
    assert re.search(match, one_line_error(capsys))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # nothing written


def test_run_from_flags_writes_npz_json_png(tmp_path, capsys):
    stem = tmp_path / "sub" / "flow"
    assert main(["run", "--problem", "ring8", "--n", "40", "--h", "0.25", "--t-end", "0.5", "--seed", "3",
                 "--out", str(stem), "--no-progress"]) == 0
    out = capsys.readouterr().out
    record = json.loads(stem.with_suffix(".json").read_text())
    assert record["id"] in out and "status 0" in out
    with np.load(stem.with_suffix(".npz")) as data:
        assert data["points"].shape == (3, 40, 2) and data["t"].tolist() == [0.0, 0.25, 0.5]
        assert data["distance"].tolist() == record["distance"]
        target = data["target"]
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The same flow through the library: the command adds nothing and loses nothing.
    src, tgt = of.datasets.problem("ring8", 40, rng=np.random.default_rng(3))
    res = of.simulate(src, tgt, h=0.25, t_end=0.5, progress=False)
    assert record["final_distance"] == res.distance[-1] and np.array_equal(target, tgt.points)
    # w2 Euler on equal-size uniform clouds shrinks W2 by exactly (1 - h) per step (docs/theory.rst §3.1).
    d = np.array(record["distance"])
    assert np.allclose(d[1:] / d[:-1], 0.75, rtol=0, atol=1e-9)


def test_run_from_toml_with_flag_override(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('source = "moons"\ntarget = "checkerboard"\nn = 30\nloss = "w1"\nclip = true\n'
                   'h = 0.5\nt_end = 0.5\n')
    assert main(["run", "--config", str(cfg), "--h", "0.25", "--out", str(tmp_path / "r"), "--no-figure",
                 "--no-progress"]) == 0
    p = json.loads((tmp_path / "r.json").read_text())["parameters"]
    assert (p["source"], p["target"], p["n"], p["loss"], p["clip"], p["h"]) == ("moons", "checkerboard", 30, "w1",
                                                                                  True, 0.25)
    assert not (tmp_path / "r.png").exists()
    cfg.write_text("[base]\nn = 3\n")
    assert main(["run", "--config", str(cfg), "--no-progress"]) == 2
    assert "is a sweep configuration" in one_line_error(capsys)


def test_demo(tmp_path, capsys):
    assert main(["demo", "--n", "30", "--out", str(tmp_path / "demo"), "--no-progress"]) == 0
    assert "W2 Euler" in capsys.readouterr().out
    numbers = json.loads((tmp_path / "demo.json").read_text())
    d = np.array(numbers["w2"]["distance"])
    assert np.allclose(d, numbers["w2"]["theory_euler"], rtol=1e-9, atol=0)  # (1 - h)^n exactly
    w1 = numbers["w1"]["distance"]
    assert w1[-1] < w1[0]
    assert (tmp_path / "demo.png").stat().st_size > 0


def test_sweep_in_process(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('[base]\nn = 20\nt_end = 0.4\n[grid]\nh = [0.2, 0.1]\nscheme = ["euler", "rk4"]\n')
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "4 runs: 0 already finished, 4 computed, 0 failed" in capsys.readouterr().out
    assert len(list((tmp_path / "out" / "runs").glob("*.json"))) == 4
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "4 already finished, 0 computed" in capsys.readouterr().out
    assert len((tmp_path / "out" / "summary.csv").read_text().splitlines()) == 5


def fake_repository(root, body):
    (root / "analysis").mkdir(parents=True)
    (root / "analysis" / "__init__.py").write_text("")
    (root / "analysis" / "all.py").write_text(body)


def test_reproduce_runs_analysis_all_from_the_root(tmp_path, capsys):
    fake_repository(tmp_path, "import pathlib\npathlib.Path('figures-made').write_text('yes')\n")
    assert main(["reproduce", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "figures-made").read_text() == "yes"  # ran with the root as working directory


def test_reproduce_reports_failure_and_missing_clone(tmp_path, monkeypatch, capsys):
    fake_repository(tmp_path / "repo", "raise SystemExit(3)\n")
    assert main(["reproduce", "--root", str(tmp_path / "repo")]) == 1
    assert "exited with status 3" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce"]) == 2
    assert "clone" in one_line_error(capsys)


def test_reproduce_finds_this_repository():
    root = Path(__file__).resolve().parents[1]
    assert (root / "analysis" / "all.py").is_file()  # what `odeflow reproduce` runs from here


def test_study(tmp_path, capsys):
    out = tmp_path / "study.json"
    assert main(["study", "--problem", "ring8", "--n", "30", "--hs", "0.2", "0.1", "0.05", "--t-end", "0.4",
                 "--out", str(out), "--no-progress"]) == 0
    assert "order" in capsys.readouterr().out
    result = json.loads(out.read_text())
    errors = np.array(result["errors"])
    assert result["hs"] == [0.2, 0.1, 0.05] and errors.shape == (3,)
    assert np.all(errors > 0) and np.all(np.diff(errors) < 0)
    assert abs(result["order"] - 1) < 0.3  # Euler is first order (docs/theory.rst §2)
    lo, hi = result["order_interval"]
    assert lo <= result["order"] <= hi


def test_animate(tmp_path, capsys):
    assert main(["run", "--n", "20", "--h", "0.25", "--t-end", "0.5", "--out", str(tmp_path / "r"), "--no-figure",
                 "--no-progress"]) == 0
    assert main(["animate", str(tmp_path / "r.npz"), str(tmp_path / "r.gif"), "--no-progress"]) == 0
    assert (tmp_path / "r.gif").read_bytes()[:4] == b"GIF8"
