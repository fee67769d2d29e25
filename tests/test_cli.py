"""The ``odeflow`` command: every subcommand at small size, and one-line errors on bad input."""

import importlib
import importlib.metadata
import json
import os
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


# --- issue 15: one-line errors, --out checked first, study with one h, animate, density targets --------

@pytest.mark.parametrize("argv, match", [
    (["run", "--n", "abc"], "argument --n: invalid int value: 'abc'"),
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    ([], "the following arguments are required: COMMAND"),
    (["launch"], ("argument COMMAND: invalid choice: 'launch' (choose from 'demo', 'run', "
                  "'study', 'reproduce', 'sweep', 'animate')")),
    (["sweep"], "the following arguments are required: CONFIG.toml, --out"),
    (["animate", "r.npz"], "the following arguments are required: OUT"),
    (["study", "--hs"], "argument --hs: expected at least one argument"),
    (["animate", "r.npz", "r.gif", "--fps", "fast"], "argument --fps: invalid float value: 'fast'"),
])
def test_argparse_errors_are_one_line_without_the_usage_block(argv, match, capsys):
    assert main(argv) == 2
    assert one_line_error(capsys) == f"odeflow: error: {match}"


def test_python_m_odeflow_cli_runs_the_command_with_one_line_errors(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("TQDM_DISABLE", None)
    proc = subprocess.run([sys.executable, "-m", "odeflow.cli", "run", "--n", "abc"], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    expected = "odeflow: error: argument --n: invalid int value: 'abc'\n"
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", expected)
    # stderr is a pipe, not a terminal: no progress bar unless asked, and nothing else on stderr
    proc = subprocess.run([sys.executable, "-m", "odeflow.cli", "run", "--n", "10", "--h", "0.5", "--t-end", "1",
                           "--no-figure", "--out", "r"], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "status 0" in proc.stdout and (tmp_path / "r.json").exists()


def _forbid(monkeypatch, module, name):
    def computed(*args, **kwargs):
        raise AssertionError(f"{module}.{name} was called: it computed before checking --out")

    monkeypatch.setattr(importlib.import_module(module), name, computed)


UNWRITABLE = {
    "below a file": lambda tmp: str(tmp / "a-file" / "x"),
    "below /proc": lambda tmp: "/proc/nope/x",
}


@pytest.mark.parametrize("where", list(UNWRITABLE))
@pytest.mark.parametrize("command", ["run", "demo", "study", "sweep", "animate"])
def test_unwritable_out_fails_before_any_computation_naming_out(command, where, tmp_path, monkeypatch, capsys):
    if where == "below /proc" and not Path("/proc/self").exists():
        pytest.skip("no /proc here")
    (tmp_path / "a-file").write_text("a file, not a folder")
    out = UNWRITABLE[where](tmp_path)
    if command == "animate":  # a finished run to animate (before the guards below)
        assert main(["run", "--n", "10", "--h", "0.5", "--t-end", "0.5", "--out", str(tmp_path / "r"),
                     "--no-figure", "--no-progress"]) == 0
        capsys.readouterr()
    (tmp_path / "s.toml").write_text("[grid]\nh = [0.5]\n")
    _forbid(monkeypatch, "odeflow.app.runs", "execute")
    _forbid(monkeypatch, "odeflow", "simulate")
    _forbid(monkeypatch, "odeflow.studies.convergence", "step_size_study")
    _forbid(monkeypatch, "odeflow.app.sweep", "run_sweep")
    _forbid(monkeypatch, "odeflow.app.animate", "animate")
    argv = {"run": ["run", "--out", out], "demo": ["demo", "--out", out],
            "study": ["study", "--hs", "0.1", "--out", out + ".json"],
            "sweep": ["sweep", str(tmp_path / "s.toml"), "--out", out],
            "animate": ["animate", str(tmp_path / "r.npz"), out + ".gif"]}[command]
    assert main(argv + ["--no-progress"]) == 2
    line = one_line_error(capsys)
    assert line.startswith("odeflow: error: --out: cannot write to ") and str(Path(out).parent) in line


def test_study_with_one_step_size_writes_json_with_nulls_and_a_png(tmp_path, capsys):
    out = tmp_path / "s" / "study.json"
    assert main(["study", "--problem", "ring8", "--n", "30", "--hs", "0.1", "--t-end", "0.4", "--out", str(out),
                 "--no-progress"]) == 0
    assert "fewer than 3 step sizes" in capsys.readouterr().out

    def refuse(token):
        raise AssertionError(f"non-standard JSON constant {token}")

    result = json.loads(out.read_text(), parse_constant=refuse)  # strict JSON: no NaN
    assert result["hs"] == [0.1] and result["order"] is None and result["order_interval"] == [None, None]
    assert "fewer than 3" in result["fit_message"]
    # The error against the finest (rk4) reference: for w2 Euler on equal-size clouds the flow is the straight
    # line to the optimal assignment, x_k = T + (1 - h)^k (x_0 - T), against T + e^{-t} (x_0 - T).
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    src, tgt = of.datasets.problem("ring8", 30, rng=np.random.default_rng(0))
    rows, cols = linear_sum_assignment(cdist(src.points, tgt.points, "sqeuclidean"))
    gap = src.points[rows] - tgt.points[cols]
    t = np.arange(5) * 0.1
    sup = max(abs((1 - 0.1) ** k - np.exp(-tk)) for k, tk in enumerate(t)) * np.sqrt(np.mean(np.sum(gap**2, 1)))
    assert result["errors"][0] == pytest.approx(sup, rel=1e-3)
    png = out.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_animate_draws_the_stored_target_with_fps_and_frames(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from odeflow.app import animate as animate_module

    assert main(["run", "--n", "20", "--h", "0.25", "--t-end", "1", "--out", str(tmp_path / "r"), "--no-figure",
                 "--no-progress"]) == 0
    seen = {}
    real = animate_module.animate

    def spy(result, path, **kwargs):
        seen.update(kwargs)
        return real(result, path, **kwargs)

    monkeypatch.setattr(animate_module, "animate", spy)
    assert main(["animate", str(tmp_path / "r.npz"), str(tmp_path / "a" / "r.gif"), "--fps", "4", "--frames", "3",
                 "--no-progress"]) == 0
    with np.load(tmp_path / "r.npz") as data:
        assert np.array_equal(seen["target_points"], data["target"]) and data["target"].shape == (20, 2)
    with Image.open(tmp_path / "a" / "r.gif") as gif:
        assert gif.n_frames == 3 and gif.info["duration"] == 250  # 3 of the 5 records, 1000 ms / 4 fps


def test_animate_mp4_needs_ffmpeg_and_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    import shutil

    from matplotlib.animation import FFMpegWriter

    assert main(["run", "--n", "10", "--h", "0.5", "--t-end", "0.5", "--out", str(tmp_path / "r"), "--no-figure",
                 "--no-progress"]) == 0
    if shutil.which("ffmpeg"):
        assert main(["animate", str(tmp_path / "r.npz"), str(tmp_path / "r.mp4"), "--no-progress"]) == 0
        assert (tmp_path / "r.mp4").read_bytes()[4:8] == b"ftyp"
    monkeypatch.setattr(FFMpegWriter, "isAvailable", classmethod(lambda cls: False))
    capsys.readouterr()
    assert main(["animate", str(tmp_path / "r.npz"), str(tmp_path / "x.mp4"), "--no-progress"]) == 2
    assert "needs ffmpeg on the PATH" in one_line_error(capsys)
    assert not (tmp_path / "x.mp4").exists()


GAUSS_TOML = """\
target = {density = "gaussian", mean = [3.0, 0.0], cov = [[1.0, 0.0], [0.0, 0.3]]}
n = 40
h = 0.5
t_end = 1.5
seed = 2
"""


def test_run_from_a_toml_file_flows_to_a_gaussian_density(tmp_path, capsys):
    (tmp_path / "g.toml").write_text(GAUSS_TOML)
    assert main(["run", "--config", str(tmp_path / "g.toml"), "--out", str(tmp_path / "d" / "g"),
                 "--no-progress"]) == 0
    record = json.loads((tmp_path / "d" / "g.json").read_text())
    assert record["parameters"]["target"] == {"density": "gaussian", "mean": [3.0, 0.0],
                                              "cov": [[1.0, 0.0], [0.0, 0.3]]}
    assert record["method_used"] == "semidiscrete" and record["status"] == 0
    with np.load(tmp_path / "d" / "g.npz") as data:
        points, target = data["points"], data["target"]
    assert (tmp_path / "d" / "g.png").exists() and points.shape == (4, 40, 2)
    # The command adds nothing: the same flow through the library.
    rng = np.random.default_rng(2)
    src = of.datasets.get("gaussian", 40, rng)
    res = of.simulate(src, of.Gaussian([3.0, 0.0], [[1.0, 0.0], [0.0, 0.3]]), h=0.5, t_end=1.5, rng=rng,
                      progress=False)
    assert np.array_equal(points, res.points)
    # Cells of equal mass partition the density, so their centroids average to its mean: Euler moves the
    # particles' mean as m_k = m + (1 - h)^k (m_0 - m) (up to the quadrature's sampling error, ~0.01).
    m = np.array([3.0, 0.0])
    for k in range(4):
        assert np.allclose(points[k].mean(0), m + 0.5**k * (points[0].mean(0) - m), atol=0.03)
    assert np.allclose(np.cov(points[-1].T), [[1.0, 0.0], [0.0, 0.3]], atol=0.25)
    assert target.shape == (40, 2) and np.allclose(target.mean(0), m, atol=0.6)  # drawn from the density


@pytest.mark.parametrize("spelling", [
    "gaussian:mean=3,0;cov=1,0,0,0.3",
    "gaussian: mean = 3, 0 ; cov = 1, 0 / 0, 0.3",
    "gaussian:mean=3,0;cov=1,0.3",  # variances: a diagonal
    '{density = "gaussian", mean = [3.0, 0.0], cov = [[1.0, 0.0], [0.0, 0.3]]}',
    '{"density": "gaussian", "mean": [3, 0], "cov": [[1, 0], [0, 0.3]]}',
])
def test_every_spelling_of_a_density_target_is_the_same_run(spelling):
    from odeflow.sweep import normalize, run_id

    table = {"density": "gaussian", "mean": [3.0, 0.0], "cov": [[1.0, 0.0], [0.0, 0.3]]}
    assert normalize({"target": spelling})["target"] == table
    assert run_id({"target": spelling}) == run_id({"target": table}) != run_id({"target": "ring8"})


def test_box_target_from_the_flag_follows_the_mean_recursion(tmp_path, capsys):
    assert main(["run", "--target", "box:low=0,0;high=2,1", "--n", "30", "--h", "0.5", "--t-end", "1", "--out",
                 str(tmp_path / "b"), "--no-figure", "--no-progress"]) == 0
    with np.load(tmp_path / "b.npz") as data:
        points, target = data["points"], data["target"]
    centre = np.array([1.0, 0.5])  # exact cells: the mean recursion holds to the solver's tolerance
    for k in range(3):
        assert np.allclose(points[k].mean(0), centre + 0.5**k * (points[0].mean(0) - centre), atol=1e-6)
    assert np.all((target >= 0) & (target <= [2.0, 1.0]))


def test_w1_against_a_box_from_the_flag_is_the_library_flow(tmp_path, capsys):
    """The command line takes loss w1 against a density: the Apollonius cells, the same run as the library's."""
    assert main(["run", "--target", "box:low=0,0;high=2,1", "--loss", "w1", "--n", "30", "--h", "0.2", "--t-end",
                 "0.4", "--seed", "3", "--out", str(tmp_path / "w"), "--no-figure", "--no-progress"]) == 0
    record = json.loads((tmp_path / "w.json").read_text())
    assert record["method_used"] == "semidiscrete" and record["status"] == 0
    with np.load(tmp_path / "w.npz") as data:
        points = data["points"]
    rng = np.random.default_rng(3)
    src = of.datasets.get("gaussian", 30, rng)
    res = of.simulate(src, of.UniformBox([0.0, 0.0], [2.0, 1.0]), loss="w1", h=0.2, t_end=0.4, rng=rng,
                      progress=False)
    assert res.status == 0 and np.array_equal(points, res.points)
    # drifts are means of unit vectors: no particle moves more than h per step
    assert np.all(np.linalg.norm(np.diff(points, axis=0), axis=2) <= 0.2 + 1e-12)


def test_image_targets_from_npy_and_png_files(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from odeflow.app.targets import build_density
    from odeflow.sweep import normalize

    pixels = np.full((2, 3), 255, dtype=np.uint8)  # white, one black pixel top-left, one grey bottom-right
    pixels[0, 0], pixels[1, 2] = 0, 153
    (tmp_path / "cfg").mkdir()
    Image.fromarray(pixels, mode="L").save(tmp_path / "cfg" / "pic.png")
    spec = normalize({"target": f"image:path={tmp_path / 'cfg' / 'pic.png'};extent=0,3,0,2"})["target"]
    assert spec["ink"] == "dark" and len(spec["sha256"]) == 64
    grid = build_density(spec).grid  # bottom row first; mass = darkness 1 and 0.4 -> 5/7 and 2/7 of the area 1
    assert np.allclose(grid, [[0, 0, 2 / 7], [5 / 7, 0, 0]], atol=1e-12)
    light = build_density(normalize({"target": {"density": "image", "path": str(tmp_path / "cfg" / "pic.png"),
                                                "extent": [0, 3, 0, 2], "ink": "light"}})["target"]).grid
    assert np.allclose(light, np.array([[255, 255, 153], [0, 255, 255]]) / (255 * 4 + 153))
    # A .npy in a TOML file, named relative to the file, run from elsewhere.
    np.save(tmp_path / "cfg" / "pic.npy", np.array([[0.0, 1.0], [1.0, 2.0]]))
    (tmp_path / "cfg" / "img.toml").write_text('target = {density = "image", path = "pic.npy", extent = [0, 2, 0, 2]}'
                                               '\nn = 20\nh = 0.5\nt_end = 0.5\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--config", "cfg/img.toml", "--out", "img", "--no-figure", "--no-progress"]) == 0
    record = json.loads((tmp_path / "img.json").read_text())
    assert record["status"] == 0 and record["parameters"]["target"]["path"] == str(Path("cfg") / "pic.npy")
    with np.load(tmp_path / "img.npz") as data:
        assert np.all(data["target"] <= 2) and np.all(data["target"] >= 0)
    # A changed picture is another run: the parameters of the old one are refused.
    np.save(tmp_path / "cfg" / "pic.npy", np.array([[1.0, 1.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="target.sha256: .* has changed"):
        normalize(record["parameters"])


@pytest.mark.parametrize("argv, match", [
    (["--target", "gaussian:mean=0,0;cov=1,1/1,1"], "target.cov: is singular or nearly so"),
    (["--target", "gaussian:mean=0,0;cov=1,0/0,1e-14"], "target.cov: is singular or nearly so"),
    (["--target", "gaussian:mean=0,0"], r"target.cov: missing; density 'gaussian' needs \['mean', 'cov'\]"),
    (["--target", "cone:x=1"], "target.density: unknown value 'cone'"),
    (["--target", "gaussian:mean=0,0;cov=1;tilt=2"], "target.tilt: unknown key for density 'gaussian'"),
    (["--target", "gaussian:mean=a,b;cov=1"], "target.mean: 'a,b' is not a list of numbers"),
    (["--target", "gaussian:mean=0,0;cov=1,2,3"], r"target.cov: expected a number, 2 variances, 4 numbers"),
    (["--target", "mixture:means=0,0/1,1;covs=1/1/1"], "target.covs: expected one number or 2 covariances"),
    (["--target", "mixture:means=0,0/1,1;covs=1;weights=0.5,0.6"], "target.weights: weights sum to"),
    (["--target", "box:low=0,0;high=1,0"], "target.high: must exceed low"),
    (["--target", "{density = 'box', low = [0, 0]"], "neither a TOML inline table nor JSON"),
    (["--target", "image:path=missing.png;extent=0,1,0,1"], "target.path: cannot read 'missing.png'"),
    (["--target", "image:path=face.jpg;extent=0,1,0,1"], "target.path: expected a .npy or .png file"),
    (["--target", "box:low=0,0;high=1,1", "--method", "exact"], "method: a density target needs method"),
    (["--target", "box:low=0,0,0;high=1,1,1", "--source", "moons"], "target: a 3-D density, but source 'moons'"),
    (["--target", "box:low=0,0;high=1,1", "--problem", "ring8"], "either problem or source/target"),
])
def test_bad_density_targets_exit_2_with_one_line_naming_the_key(argv, match, tmp_path, monkeypatch, capsys):
    import re

    monkeypatch.chdir(tmp_path)
    assert main(["run"] + argv + ["--n", "5", "--no-progress"]) == 2
    assert re.search(match, one_line_error(capsys))
    assert not list(tmp_path.iterdir())  # nothing written


def test_help_documents_density_targets(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "gaussian:mean=3,0;cov=1,0/0,0.3" in out and '{density = "gaussian"' in out and "image:path=" in out


def test_mixture_spellings_and_its_law():
    from odeflow.app.targets import build_density
    from odeflow.sweep import normalize

    short = normalize({"target": "mixture:means=-1,0/1,0;covs=0.05/0.1,0.2;weights=0.3,0.7"})["target"]
    table = normalize({"target": {"density": "mixture", "means": [[-1, 0], [1, 0]],
                                  "covs": [[[0.05, 0], [0, 0.05]], [[0.1, 0], [0, 0.2]]], "weights": [0.3, 0.7]}})
    assert short == table["target"]
    x = build_density(short).sample(40_000, rng=0)  # independent check of the law: moments of the samples
    assert np.allclose(x.mean(0), [0.3 * -1 + 0.7 * 1, 0.0], atol=0.02)
    assert np.allclose(x[x[:, 0] > 0].var(0), [0.1, 0.2], rtol=0.1)  # the right component
    uniform = normalize({"target": "mixture:means=-1,0/1,0;covs=0.05"})["target"]
    assert uniform["weights"] == [0.5, 0.5] and uniform["covs"][1] == [[0.05, 0.0], [0.0, 0.05]]
