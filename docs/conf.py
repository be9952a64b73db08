"""Sphinx configuration of the exchange_wss documentation.

Built strict in the tests (``sphinx-build -W -n``, ``tests/test_docs.py``): every warning
fails the build and every cross-reference must resolve, offline.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any, TypeVar

# Document the package of this checkout, installed or not.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from exchange_wss._version import __version__ as release  # written there only

project = "exchange_wss"
author = "the exchange_wss authors"
copyright = "2026, the exchange_wss authors (MIT licence)"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
]

exclude_patterns = ["_build", "_inventories", "_static"]

# -- autodoc and napoleon (Google-style docstrings throughout the package) --------------------
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"

autodoc_default_options = {"members": True, "show-inheritance": True}
add_module_names = False          # `WssClient.subscribe_to_ticker`, not the full dotted path
toc_object_entries_show_parents = "hide"   # the page's contents list `reconnects`, not the path
python_display_short_literal_types = True

# -- cross-references ------------------------------------------------------------------------
nitpicky = True

# Python's and Twisted's inventories are copies kept in docs/_inventories (provenance and
# licences there), so the build needs no network; links still go to the online docs.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3.11/", "_inventories/python-3.11.inv"),
    "twisted": ("https://docs.twisted.org/en/stable/api/", "_inventories/twisted-22.4-api.inv"),
}

# Names of libraries whose inventory cannot be had offline (no Debian package ships one):
# known, rendered without a link.
nitpick_ignore = [
    # the order book's sides (orderbook module docstring)
    ("py:class", "sortedcontainers.SortedDict"),
    # the bases of the sandbox servers' protocol and factory (exchange_wss.sandbox._ws)
    ("py:class", "autobahn.twisted.websocket.WebSocketServerProtocol"),
    ("py:class", "autobahn.twisted.websocket.WebSocketServerFactory"),
    # autobahn's own docstring, inherited by TrackedServerProtocol.onClose
    ("py:meth", "autobahn.websocket.interfaces.IWebSocketChannel.onClose"),
    # rich's RenderableType, spelt out in the command line's layout functions
    ("py:class", "rich.console.ConsoleRenderable"),
    ("py:class", "rich.console.RichCast"),
]

# Private classes (a leading underscore) are not documented: a reference to one, in an
# annotation or a module's overview, is text.
nitpick_ignore_regex = [
    (r"py:.*", r"(.+\.)?_[A-Za-z]\w*"),       # _Session, _listen_target
    (r"py:.*", r"(.+\.)?_[A-Z]\w*\.\w+"),    # _Session.received
]

# -- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"exchange_wss {release}"
html_static_path = ["_static"]
html_css_files = ["exchange_wss.css"]

# Furo's own font stacks, with one font first that holds a single glyph: U+24C8 (the circled
# S of Binance's "USDⓈ-M"). None of the usual Linux fonts (DejaVu, Liberation, FreeFont)
# has it, so without this it shows as a missing-glyph box there; the font's unicode-range
# (docs/_static/exchange_wss.css) keeps every other character in the reader's own font.
_SYMBOLS = '"exchange_wss symbols subset"'
html_theme_options = {
    "light_css_variables": {
        "font-stack": (f"{_SYMBOLS}, -apple-system, BlinkMacSystemFont, Segoe UI, Helvetica, "
                       "Arial, sans-serif, Apple Color Emoji, Segoe UI Emoji"),
        "font-stack--monospace": (f"{_SYMBOLS}, SFMono-Regular, Menlo, Consolas, Monaco, "
                                  "Liberation Mono, Lucida Console, monospace"),
    },
}


# -- Google-style attribute docstrings -------------------------------------------------------
def _no_inline_attribute_types() -> None:
    """Read "Summary: detail" in an attribute or property docstring as text, not a type.

    Napoleon takes whatever precedes the first colon of such a docstring as its type
    (``"Every symbol with a book: the pairs..."`` becomes the type "Every symbol with a
    book"). This package annotates its attributes instead, so that reading only ever
    produces wrong types.
    """
    from sphinx.ext.napoleon.docstring import GoogleDocstring

    if not hasattr(GoogleDocstring, "_consume_inline_attribute"):
        return  # a Sphinx without it: the strict build shows what it does instead

    def consume(self: Any) -> tuple[str, list[str]]:
        lines = [self._lines.next(), *self._dedent(self._consume_to_end())]
        return "", self.__class__(lines, self._config).lines()

    GoogleDocstring._consume_inline_attribute = consume


_no_inline_attribute_types()


# -- one object, several names ---------------------------------------------------------------
#: Standard-library classes whose ``__module__`` is a private module.
_STDLIB_PUBLIC = {"concurrent.futures._base.": "concurrent.futures."}


def _import(path: str) -> Any:
    """The object a dotted path names, or None."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(obj: Any) -> str | None:
    """Where an object is defined: ``module.QualName``, for classes and functions."""
    obj = inspect.unwrap(getattr(obj, "fget", None) or obj)
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname:
        return None
    return f"{module}.{qualname}"


def _intersphinx(app: Any, env: Any, node: Any, contnode: Any, target: str) -> Any:
    """Resolve ``target`` in the external inventories."""
    from sphinx.ext.intersphinx import missing_reference

    node = node.deepcopy()
    node["reftarget"] = target
    return missing_reference(app, env, node, contnode)


def _resolve_by_import(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a Python reference the way Python would: import what it names, then link to
    where that object is documented.

    The reference names an object one way (``exchange_wss.sandbox.BitfinexSandbox``, an
    inherited ``listen`` inside a class's docstring, an annotation's
    ``concurrent.futures._base.Future`` or a ``Site`` imported from Twisted) and the docs
    describe it under another (its defining module, the base class,
    ``concurrent.futures.Future``, Twisted's inventory). Failing that, a short name written
    in one module of a package (``DepthSync`` in ``exchange_wss.binance.events``) links to
    the one object of that name documented in the same package; never to one of two.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").strip("'\"")  # a string annotation: 'WssClient'
    for private, public in _STDLIB_PUBLIC.items():
        if target.startswith(private):
            return _intersphinx(app, env, node, contnode, public + target[len(private):])

    module = node.get("py:module") or ""
    candidates = [target]
    if node.get("py:class"):
        candidates.insert(0, f"{module}.{node['py:class']}.{target}")
    if module:
        candidates.append(f"{module}.{target}")
    # A short name the package exports at its top ('WssClient' in an annotation) is that
    # name, even where another module defines a class of the same name (the compat client).
    if "." not in target:
        candidates.append(f"exchange_wss.{target}")
    domain = env.get_domain("py")
    for path in candidates:
        if not path.startswith("exchange_wss."):
            continue
        obj = _import(path)
        if isinstance(obj, TypeVar):
            return contnode  # a type variable is a name in a signature, not a documented object
        canonical = _canonical(obj)
        if canonical is None or canonical == path:
            continue
        if not canonical.startswith("exchange_wss."):
            found = _intersphinx(app, env, node, contnode, canonical)
        else:
            found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                        canonical, node.deepcopy(), contnode)
        if found is not None:
            return found

    if module.startswith("exchange_wss."):
        package = module if hasattr(_import(module), "__path__") else module.rpartition(".")[0]
        roles = domain.objtypes_for_role(node["reftype"]) or ()
        same_package = [name for name, entry in domain.objects.items()
                        if name.startswith(package + ".") and name.endswith("." + target)
                        and entry.objtype in roles and not entry.aliased]
        if len(same_package) == 1:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       same_package[0], node.deepcopy(), contnode)
    return None


def _relative_modules_and_builtins(app: Any, doctree: Any) -> None:
    """Read two kinds of short reference as Python reads the names.

    - ``:mod:`.wire``` is relative to the module the docstring belongs to, as a relative
      import is (``exchange_wss.sandbox.wire`` in ``exchange_wss.sandbox.bitfinex``),
      not any module whose name ends in ``.wire``.
    - A builtin's name in a parameter's type (``cls (type)``, ``type[Order]``) is the
      builtin: Sphinx looks such types up loosely, so ``type`` also matched every
      documented ``.type`` attribute (``Order.type``...) and linked to one of them.
    - A short class name the package exports at its top (``WssClient`` in an annotation
      whose import is for type checkers only) is that export, not every class of that name
      (the compat client's); :func:`_resolve_by_import` then finds where it is documented.
    """
    from sphinx import addnodes

    for node in doctree.findall(addnodes.pending_xref):
        # Sphinx tests the presence of refspecific, not its value (it may be False).
        if node.get("refdomain") != "py" or "refspecific" not in node.attributes:
            continue
        target, module = node.get("reftarget", ""), node.get("py:module") or ""
        if node.get("reftype") == "class" and target in _BUILTIN_NAMES:
            del node["refspecific"]
        elif node.get("reftype") == "class" and "." not in target and \
                target in _TOP_LEVEL_NAMES:
            node["reftarget"] = f"exchange_wss.{target}"
            del node["refspecific"]
        elif node.get("reftype") == "mod" and module.startswith("exchange_wss"):
            package = module if hasattr(_import(module), "__path__") else module.rpartition(".")[0]
            if importlib.util.find_spec(f"{package}.{target}") is not None:
                node["reftarget"] = f"{package}.{target}"
                del node["refspecific"]


_BUILTIN_NAMES = frozenset(name for name in dir(__import__("builtins")) if not name.startswith("_"))
_TOP_LEVEL_NAMES = frozenset(getattr(_import("exchange_wss"), "__all__", ()))


def _no_object_base(app: Any, name: str, obj: Any, options: Any, bases: list) -> None:
    """Leave ``object`` out of a class's "Bases:" line: it says nothing."""
    if object in bases:
        bases.remove(object)


def setup(app: Any) -> None:
    """Register the fixes above (the reference resolver before intersphinx's)."""
    app.connect("autodoc-process-bases", _no_object_base)
    app.connect("doctree-read", _relative_modules_and_builtins)
    app.connect("missing-reference", _resolve_by_import, priority=400)
