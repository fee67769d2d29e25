"""Sphinx configuration of the odeflow documentation (``make docs`` builds it into docs/_build/html).

The gallery renders the scripts of ``examples/``: it runs them at full size (about a minute in all on
a loaded 2-core machine, most of it ``picture.py``); ``ODEFLOW_GALLERY=small make docs`` runs them with
their ``--small`` flag (a few seconds each), and ``sphinx-build -D plot_gallery=0`` does not run them
at all (the pages then show the code without output, as in ``tests/test_docs.py``).
"""

from __future__ import annotations

import pathlib
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # odeflow from this checkout, installed or not
sys.path.insert(0, str(DOCS))  # _gallery_scraper, named in sphinx_gallery_conf
sys.path.insert(0, str(DOCS / "_ext"))  # testref: the :test: role

import odeflow  # noqa: E402

project = "odeflow"
author = "the odeflow developers"
copyright = "the odeflow developers"
version = release = odeflow.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "testref",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "scripts", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
root_doc = "index"
default_role = "code"

# --- API reference ---------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# --- gallery ---------------------------------------------------------------------------------------
shutil.rmtree(DOCS / "_build" / "gallery-out", ignore_errors=True)  # what the examples write (see _gallery_scraper)

sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "ignore_pattern": r"__init__\.py",
    "reset_argv": "_gallery_scraper.example_argv",
    "image_scrapers": ("_gallery_scraper.output_files",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "matplotlib_animations": False,
    "min_reported_time": 1,
}

# --- HTML ------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"odeflow {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
