"""Every Python code block of README.md runs verbatim, each in a fresh namespace (as a reader pasting it
would), in a scratch folder so that the files a block writes do not land in the checkout."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text):
    """``(line number, source)`` of every fenced ```python block."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


BLOCKS = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def test_blocks_are_found():
    assert len(BLOCKS) >= 3
    assert python_blocks("text\n```python\nx = 1\n```\n```toml\na = 1\n```\n") == [(3, "x = 1\n")]


@pytest.mark.parametrize("line, source", BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_readme_block_runs(line, source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    code = compile(source, f"README.md, block at line {line}", "exec")
    exec(code, {"__name__": "__readme__"})
