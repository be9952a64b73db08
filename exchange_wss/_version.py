"""The version of exchange_wss, written here only.

``setup.py`` reads this file as text (it must not import the package, whose
dependencies may not be installed yet), ``exchange_wss.__version__`` and the
Sphinx configuration import it.
"""

__version__ = "0.1.0"
