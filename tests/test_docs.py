"""The documentation keeps building: ``sphinx-build -W`` with the gallery off (the examples themselves
run in tests/test_examples.py), and every Python code block of the docs' pages runs verbatim.

Skipped when the ``docs`` extra is not installed (``make test`` installs it)."""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NEEDED = ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
CODE = re.compile(r"^\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)", re.M)


def code_blocks(text):
    """``(line number, source)`` of every ``.. code-block:: python`` directive (4-space indented body)."""
    out = []
    for m in CODE.finditer(text):
        body = "\n".join(line[4:] for line in m.group(1).split("\n"))
        out.append((text.count("\n", 0, m.start()) + 1, body.strip("\n") + "\n"))
    return out


BLOCKS = [(page.name, line, src) for page in sorted(DOCS.glob("*.rst"))
          for line, src in code_blocks(page.read_text(encoding="utf-8"))]


@pytest.mark.skipif(bool(MISSING), reason=f"docs extra not installed: {', '.join(MISSING)}")
def test_sphinx_builds_without_warnings(tmp_path):
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-D", "plot_gallery=0",
           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    env = dict(os.environ, TQDM_DISABLE="1", MPLBACKEND="Agg")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    html = tmp_path / "html"
    for page in ["index", "quickstart", "theory", "methods", "api", "tests_cited", "auto_examples/index",
                 "generated/odeflow.simulate", "generated/odeflow.theory"]:
        assert (html / f"{page}.html").is_file(), page
    theory = (html / "theory.html").read_text(encoding="utf-8")
    assert theory.count('href="tests_cited.html#test-') >= 40  # the identities link to their tests


def test_code_block_extraction():
    text = "Intro\n\n.. code-block:: python\n\n    x = 1\n\n    y = x\n\nafter\n"
    assert code_blocks(text) == [(3, "x = 1\n\ny = x\n")]
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("page, line, source", BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_docs_code_block_runs(page, line, source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    exec(compile(source, f"docs/{page}, block at line {line}", "exec"), {"__name__": "__docs__"})
