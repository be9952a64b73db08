"""The fault console of ``exchange-wss sandbox``: commands read on stdin, each a public
method of a sandbox's ``faults`` object.

Nothing is renamed: the console's commands *are* the Python API. ``drop_connections``
(or ``drop-connections``) calls ``sandbox.faults.drop_connections()``, ``stall 5`` calls
``stall(5.0)``, ``send_info 20051`` calls ``send_info(20051)``; arguments are converted
by the method's annotations, and ``help`` lists every method with its signature and the
first line of its docstring. A fault method added to a sandbox appears here by itself.

With several sandboxes, a command goes to every one that has the method; prefix it with
the exchange to aim at one (``binance stall 2``).
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

__all__ = ["FaultCommand", "fault_commands", "apply_fault_command", "read_fault_commands",
           "help_text"]


@dataclass(frozen=True)
class FaultCommand:
    """One public method of a faults object, as a console command."""

    name: str
    parameters: tuple[inspect.Parameter, ...]
    types: tuple[Any, ...]
    summary: str

    @property
    def usage(self) -> str:
        """``stall [seconds]``: required arguments bare, optional ones in brackets."""
        words = [self.name]
        words.extend(p.name if p.default is inspect.Parameter.empty else f"[{p.name}]"
                     for p in self.parameters)
        return " ".join(words)

    def convert(self, words: Sequence[str]) -> list[Any]:
        """The method's arguments from the words typed after the command.

        Raises:
            ValueError: too many or too few words, or one that is not of its type.
        """
        required = [p for p in self.parameters if p.default is inspect.Parameter.empty]
        if not len(required) <= len(words) <= len(self.parameters):
            raise ValueError(f"usage: {self.usage}")
        return [_convert(word, p, kind) for word, p, kind in
                zip(words, self.parameters, self.types, strict=False)]


def _convert(word: str, parameter: inspect.Parameter, kind: Any) -> Any:
    if kind in (None, str, Any):
        return word
    if kind is bool:
        lowered = word.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{parameter.name} must be true or false, not {word!r}")
    try:
        return kind(word)
    except (TypeError, ValueError):
        raise ValueError(f"{parameter.name} must be {_type_name(kind)}, not {word!r}") from None


def _type_name(kind: Any) -> str:
    return {int: "an integer", float: "a number"}.get(kind, getattr(kind, "__name__", str(kind)))


def _plain_type(annotation: Any, default: Any) -> Any:
    """``float | None`` -> ``float``; unknown -> the default's type, else None (text)."""
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:  # Optional[X] or X | None
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    if annotation in (int, float, str, bool):
        return annotation
    if default is not inspect.Parameter.empty and default is not None:
        return type(default) if type(default) in (int, float, str, bool) else None
    return None


def fault_commands(faults: Any) -> dict[str, FaultCommand]:
    """The console commands of ``faults``: its public methods, by name."""
    commands: dict[str, FaultCommand] = {}
    for name in sorted(dir(type(faults))):
        if name.startswith("_"):
            continue
        method = getattr(faults, name, None)
        if not callable(method) or isinstance(getattr(type(faults), name), property):
            continue
        signature = inspect.signature(method)
        try:
            hints = typing.get_type_hints(method)
        except Exception:  # an annotation naming a type only known to type checkers
            hints = {}
        params = tuple(p for p in signature.parameters.values()
                       if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        types = tuple(_plain_type(hints.get(p.name, p.annotation), p.default) for p in params)
        doc = inspect.getdoc(method) or ""
        commands[name] = FaultCommand(name, params, types, doc.splitlines()[0] if doc else "")
    return commands


def help_text(targets: Mapping[str, Any]) -> str:
    """Every command, its arguments and what it does (and, with several sandboxes,
    which have it)."""
    seen: dict[str, tuple[FaultCommand, list[str]]] = {}
    for exchange, faults in targets.items():
        for name, command in fault_commands(faults).items():
            seen.setdefault(name, (command, []))[1].append(exchange)
    width = max([len(c.usage) for c, _e in seen.values()] + [10])
    lines = []
    for name in sorted(seen):
        command, exchanges = seen[name]
        where = f"  [{', '.join(exchanges)}]" if len(targets) > 1 else ""
        lines.append(f"  {command.usage:<{width}}  {command.summary}{where}")
    lines.append("  help" + " " * (width - 2) + "this list")
    if len(targets) > 1:
        lines.append(f"  Prefix a command with {' or '.join(targets)} to aim at one sandbox.")
    lines.append("  Names are the Python API's: sandbox.faults.<name>(...); '-' may stand for '_'.")
    return "\n".join(lines)


def _targets(faults_or_targets: Any) -> dict[str, Any]:
    if isinstance(faults_or_targets, Mapping):
        return dict(faults_or_targets)
    return {"sandbox": faults_or_targets}


def apply_fault_command(faults_or_targets: Any, line: str) -> str:
    """Run one console line; return what to print.

    Args:
        faults_or_targets: a faults object, or ``{exchange: faults}`` for several sandboxes.
        line: e.g. ``"drop_connections"``, ``"stall 5"``, ``"ftx corrupt-checksum"``, ``"help"``.

    Raises:
        ValueError: an unknown command or a bad argument (the text says which, and
            suggests the nearest command name).
    """
    targets = _targets(faults_or_targets)
    words = line.split()
    if not words:
        return ""
    if len(targets) > 1 and words[0].lower() in targets:
        targets = {words[0].lower(): targets[words[0].lower()]}
        words = words[1:]
        if not words:
            raise ValueError("which fault? `help` lists them")
    name = words[0].lower().replace("-", "_")
    if name == "help":
        return help_text(targets)
    looked_up = [(exchange, faults, fault_commands(faults).get(name))
                 for exchange, faults in targets.items()]
    found = [(e, f, c) for e, f, c in looked_up if c is not None]
    if not found:
        known = sorted({n for f in targets.values() for n in fault_commands(f)})
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        # A prefix of exactly one command is the likeliest meaning ("drop").
        prefixed = [n for n in known if n.startswith(name)]
        hint = close[0] if close else (prefixed[0] if len(prefixed) == 1 else None)
        suggestion = f" (did you mean {hint}?)" if hint else ""
        raise ValueError(f"unknown fault {words[0]!r}{suggestion}; `help` lists them")
    # Every argument converted before any fault runs: a typo injects nothing anywhere.
    calls = [(exchange, faults, command.convert(words[1:])) for exchange, faults, command
             in found]
    replies = []
    for exchange, faults, args in calls:
        result = getattr(faults, name)(*args)
        call = f"{name}({', '.join(repr(a) for a in args)})"
        prefix = f"{exchange}: " if len(targets) > 1 else ""
        replies.append(f"{prefix}{call} -> {result}" if result is not None
                       else f"{prefix}{call}: done")
    return "\n".join(replies)


def read_fault_commands(faults_or_targets: Any, stream: Iterable[str],
                        write: Any = print) -> None:
    """Apply console lines read from ``stream`` until its end, writing each reply."""
    for line in stream:
        try:
            reply = apply_fault_command(faults_or_targets, line)
        except ValueError as exc:
            reply = f"error: {exc}"
        except Exception as exc:  # the fault itself failed: say so, keep reading
            reply = f"error: {type(exc).__name__}: {exc}"
        if reply:
            write(reply)
