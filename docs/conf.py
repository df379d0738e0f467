"""Sphinx configuration of the conda-envbundle documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS), str(DOCS.parent)]  # cli_reference.py, then this checkout

import conda_envbundle  # noqa: E402  (needs conda importable: make dev provides it)

project = "conda-envbundle"
author = "conda-envbundle developers"
copyright = "2026, conda-envbundle developers"
version = release = conda_envbundle.__version__

extensions = [
    "myst_parser",
    "sphinxarg.ext",
    "sphinx.ext.autodoc",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "README.md"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]
# keep "--exclude" and quotes as typed: option names must not become en dashes
smartquotes = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"

html_theme = "pydata_sphinx_theme"
html_title = f"conda-envbundle {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []


# Pages that other work writes into docs/ (make bench writes performance.md): each joins the
# table of contents, after the given entry, once it exists.
OPTIONAL_PAGES = {"json": "cli", "security": "design", "performance": "design"}


def _fill_page(app, docname: str, source: list[str]) -> None:
    """Generated blocks (cli_reference.GENERATED) and optional pages in the index."""
    import cli_reference

    source[0] = cli_reference.fill_generated(source[0])
    if docname == "index":
        for page, after in OPTIONAL_PAGES.items():
            listed = f"\n{page}\n" in source[0]
            if (DOCS / f"{page}.md").exists() and not listed:
                source[0] = source[0].replace(f"\n{after}\n", f"\n{after}\n{page}\n", 1)


def setup(app) -> None:
    app.connect("source-read", _fill_page)
