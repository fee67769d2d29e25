"""``:test:`test_simulate.py::test_name``` links to the source of a test, shown in the docs.

Before reading the sources, every ``:test:`` role in the ``.rst`` pages of the docs is collected and a
page ``tests_cited.rst`` is written with one section per cited test: its location and its source
(``literalinclude`` with ``:pyobject:``). The role renders as a link to that section. A test that is
renamed or removed makes ``literalinclude`` fail, so a build with ``-W`` catches stale citations.
"""

from __future__ import annotations

import pathlib
import re

from docutils import nodes
from sphinx import addnodes

ROLE = re.compile(r":test:`([^`]+)`")
PAGE = "tests_cited"


def _label(target: str) -> str:
    file, _, name = target.partition("::")
    return "test-" + re.sub(r"[^a-z0-9]+", "-", f"{pathlib.Path(file).stem}-{name}".lower()).strip("-")


def _split(target: str) -> tuple[str, str]:
    file, sep, name = target.partition("::")
    if not sep or not file.endswith(".py") or not name:
        raise ValueError(f":test: needs 'test_file.py::test_name', got {target!r}")
    return file, name


def test_role(name, rawtext, text, lineno, inliner, options=None, content=()):
    """Inline role: a reference to the test's section on the cited-tests page."""
    try:
        _split(text)
    except ValueError as exc:
        msg = inliner.reporter.error(str(exc), line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    ref = addnodes.pending_xref("", nodes.literal(text, text), refdomain="std", reftype="ref",
                                reftarget=_label(text), refexplicit=True, refwarn=True)
    return [ref], []


def write_page(app):
    """Write ``tests_cited.rst``: every cited test, grouped by file, with its source."""
    src = pathlib.Path(app.srcdir)
    cited: dict[str, set[str]] = {}
    for page in sorted(src.glob("*.rst")):
        if page.stem == PAGE:
            continue
        for target in ROLE.findall(page.read_text(encoding="utf-8")):
            file, name = _split(target)
            cited.setdefault(file, set()).add(name)
    lines = [
        ":orphan:", "",
        "Tests cited in these pages", "==========================", "",
        "The source of every test that the :doc:`theory` page cites, as it is in ``tests/``.", "",
    ]
    for file in sorted(cited):
        lines += [f"``tests/{file}``", "-" * (len(file) + 10), ""]
        for name in sorted(cited[file]):
            title = f"``{name}``"
            lines += [f".. _{_label(f'{file}::{name}')}:", "", title, "~" * len(title), "",
                      f".. literalinclude:: ../tests/{file}", f"   :pyobject: {name}", "   :language: python", ""]
    text = "\n".join(lines)
    out = src / f"{PAGE}.rst"
    if not out.exists() or out.read_text(encoding="utf-8") != text:  # keep Sphinx's cache when unchanged
        out.write_text(text, encoding="utf-8")


def setup(app):
    app.add_role("test", test_role)
    app.connect("builder-inited", write_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
