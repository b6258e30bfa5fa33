"""Substitutions in commands and paths, Execo's rules (pure).

- ``{{{host}}}`` becomes the address of the host the string is for;
- ``{{expr}}`` evaluates the Python expression ``expr`` in the caller's
  frame (its globals and locals, where the action was created) and becomes
  ``str(value[index % len(value)])``, ``index`` being the host's position.

Substituted values are inserted as given, unquoted (Execo's behaviour): a
value that comes from outside and may contain spaces or shell characters
must be quoted with :func:`quote`, e.g. ``{{[quote(p) for p in paths]}}``.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any, Final

from .._errors import SubstitutionError

__all__ = ["Context", "caller_context", "check_expressions", "quote", "substitute"]

_HOST: Final = re.compile(r"\{\{\{host\}\}\}")
_EXPR: Final = re.compile(r"\{\{((?:(?!\}\}).)+)\}\}")

Context = tuple[dict[str, Any], dict[str, Any]]


def quote(value: object) -> str:
    """Quote a value for the remote shell (``shlex.quote`` of its ``str``)."""
    return shlex.quote(str(value))


def caller_context() -> Context:
    """Globals and locals of the first frame outside procession's internals."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if not (module == "procession" or module.startswith("procession._")):
            # One namespace, so that comprehensions in {{...}} see the locals
            # too (eval with separate locals scopes them like a class body).
            return {**frame.f_globals, **frame.f_locals}, {}
        frame = frame.f_back
    return {}, {}


def _evaluate(expr: str, context: Context) -> Sequence[Any]:
    try:
        value = eval(expr, context[0], context[1])
    except Exception as exc:
        raise SubstitutionError(
            f"substitution {{{{{expr}}}}} could not be evaluated: {type(exc).__name__}: {exc}"
        ) from exc
    if (
        isinstance(value, str | bytes)
        or not hasattr(value, "__len__")
        or not hasattr(value, "__getitem__")
    ):
        raise SubstitutionError(
            f"substitution {{{{{expr}}}}} must evaluate to a sequence (a list or tuple), "
            f"got {type(value).__name__} {value!r}"
        )
    if len(value) == 0:
        raise SubstitutionError(f"substitution {{{{{expr}}}}} evaluates to an empty sequence")
    return value  # type: ignore[no-any-return]


def check_expressions(text: str, context: Context) -> None:
    """Evaluate every ``{{expr}}`` of ``text`` once, raising at construction.

    Raises:
        SubstitutionError: names the expression and the exception.
    """
    for m in _EXPR.finditer(_HOST.sub("", text)):
        _evaluate(m.group(1), context)


def substitute(text: str, addresses: Sequence[str], index: int, context: Context) -> str:
    """Apply both substitutions to ``text`` for host number ``index``."""
    if "{{" not in text:
        return text
    text = _HOST.sub(lambda _m: addresses[index], text)
    return _EXPR.sub(lambda m: str((v := _evaluate(m.group(1), context))[index % len(v)]), text)
