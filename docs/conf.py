"""Sphinx configuration of the exchange_wss documentation."""

import os
import sys

# Document the package of this checkout, installed or not.
sys.path.insert(0, os.path.abspath(".."))

project = "exchange_wss"
author = "exchange_wss contributors"
copyright = "exchange_wss contributors, MIT licence"
from exchange_wss._version import __version__ as release  # noqa: E402  (the one place it is written)

version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# Google-style docstrings throughout the package.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

exclude_patterns = ["_build"]
html_theme = "alabaster"
