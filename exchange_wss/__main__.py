"""``python -m exchange_wss``: the ``exchange-wss`` command line (see :mod:`exchange_wss.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
