"""The one door to ``rich``, opened lazily: the commands work with ``--no-ui`` on an
installation without it (``rich`` is the ``cli`` extra), and say how to get it otherwise.

The live-view modules (:mod:`.views`, :mod:`.layout`) import ``rich`` at their top, so
they are imported only after :func:`require_rich` passed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RichMissing", "require_rich", "live", "RICH_MISSING"]

#: What the commands print when the live view is wanted and ``rich`` is not installed.
RICH_MISSING = ("the live view needs the 'rich' package, which is not installed.\n"
                "  Install it with:  pip install 'exchange_wss[cli]'   (or: pip install rich)\n"
                "  or run with --no-ui for plain lines.")


class RichMissing(Exception):
    """``rich`` is not installed; the message says how to install it."""


def require_rich() -> None:
    """Import ``rich`` or raise :class:`RichMissing` with the install command."""
    import importlib
    try:
        importlib.import_module("rich.live")
    except ImportError:
        raise RichMissing(RICH_MISSING) from None


def live(renderable: Any) -> Any:
    """A started full-screen ``rich`` live display of ``renderable`` (4 refreshes a
    second); stop it with ``.stop()``, which restores the terminal."""
    require_rich()
    from rich.live import Live
    display = Live(renderable, screen=True, refresh_per_second=4, redirect_stdout=False,
                   redirect_stderr=False, transient=False)
    display.start()
    return display
