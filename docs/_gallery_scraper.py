"""How the gallery runs the scripts of ``examples/`` and collects their figures.

The examples build their figures with matplotlib's object API and write them to files (``--out DIR``)
instead of opening pyplot windows, so sphinx-gallery's matplotlib scraper would find nothing. Here
each example gets its own output folder under ``docs/_build/gallery-out/``, and after each code block
the PNG and GIF files that appeared there are copied into the gallery (PNG first, so that the
thumbnail is a still figure).

Both hooks are referred to by name in ``conf.py`` (``"_gallery_scraper.example_argv"``), which keeps
the Sphinx configuration picklable.
"""

from __future__ import annotations

import os
import pathlib
import shutil

DOCS = pathlib.Path(__file__).resolve().parent
OUT = DOCS / "_build" / "gallery-out"
#: ``ODEFLOW_GALLERY=small`` runs the examples with ``--small`` (quick builds); by default at full size.
FULL = os.environ.get("ODEFLOW_GALLERY", "full") != "small"
SUFFIXES = (".png", ".gif")

_seen: set[pathlib.Path] = set()


def _out_dir(src_file) -> pathlib.Path:
    return OUT / pathlib.Path(src_file).stem


def example_argv(gallery_conf, script_vars):
    """Command-line arguments of one example: its own output folder, and ``--small`` when asked."""
    out = _out_dir(script_vars["src_file"])
    out.mkdir(parents=True, exist_ok=True)
    return ["--out", str(out)] + ([] if FULL else ["--small"])


def output_files(block, block_vars, gallery_conf):
    """Copy the figures an example wrote since the last call into the gallery; return their reST."""
    from sphinx_gallery.scrapers import figure_rst

    out = _out_dir(block_vars["src_file"])
    new = [p for p in sorted(out.glob("*")) if p.suffix in SUFFIXES and p not in _seen]
    new.sort(key=lambda p: (p.suffix != ".png", p.name))
    images = []
    for path, target in zip(new, block_vars["image_path_iterator"]):
        target = pathlib.Path(target).with_suffix(path.suffix)
        shutil.copyfile(path, target)
        _seen.add(path)
        images.append(str(target))
    return figure_rst(images, gallery_conf["src_dir"])
