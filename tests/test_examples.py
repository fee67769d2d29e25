"""Every script in examples/ runs at its small size and writes what it says."""

import json
import pathlib
import runpy
import sys

import pytest
from PIL import Image

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _run(monkeypatch, name, out, *flags):
    monkeypatch.setattr(sys, "argv", [name, "--out", str(out), *flags])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_picture(monkeypatch, tmp_path, capsys):
    _run(monkeypatch, "picture.py", tmp_path, "--small")
    with Image.open(tmp_path / "picture.gif") as im:
        assert im.n_frames == 4
    numbers = json.loads((tmp_path / "picture.json").read_text())
    assert numbers["n"] == 120 and numbers["distance"][-1] < 0.3 * numbers["distance"][0]
    assert "wrote" in capsys.readouterr().out


def test_naive_persistence(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ODEFLOW_SMALL", "1")  # the environment switch, instead of --small
    _run(monkeypatch, "naive_persistence.py", tmp_path)
    rows = json.loads((tmp_path / "naive_persistence.json").read_text())["table"]
    assert len(rows) == 6
    for r in rows:
        assert r["measured_step"] == pytest.approx(r["predicted_step"], abs=1e-9)
        assert (r["overshoot_fraction"] > 0.5) == (r["mode"] == "naive" and r["kappa"] > 1)
    assert (tmp_path / "naive_persistence.png").exists()
    assert "frozen targets" in capsys.readouterr().out


def test_euler_vs_heun(monkeypatch, tmp_path):
    _run(monkeypatch, "euler_vs_heun.py", tmp_path, "--small")
    numbers = json.loads((tmp_path / "euler_vs_heun.json").read_text())
    assert 0.8 < numbers["order"]["euler"] < 1.4 and 1.7 < numbers["order"]["heun"] < 2.6
    assert numbers["solves"]["heun"] == [5, 9]  # two solves a step, + 1 for the final distance
