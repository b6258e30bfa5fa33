"""The ``procession`` logger family and its one default handler.

Loggers: ``procession`` (the root of the family), ``procession.conductor``,
``procession.process``, ``procession.remote``, ... and ``procession.io`` for
byte-level tracing (replacing Execo's custom ``IODEBUG`` level). No custom
levels are defined.

The one import-time effect of procession: a ``logging.StreamHandler`` on
stderr is attached to the ``procession`` logger, which does not propagate to
the root logger, so that ported Execo scripts still see warnings about failed
processes without configuring logging. To route procession's records through
your own logging setup instead::

    import logging, procession
    procession.log.remove_default_handler()   # records now propagate to root

Colour is used only when stderr is a terminal (or when
``configuration['color_mode']`` forces it), never in ``str``/``repr``.

Layer 0: imports only other leaves.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Final

from ._config import configuration

__all__ = ["default_handler", "get_logger", "logger", "remove_default_handler", "style"]

logger: Final = logging.getLogger("procession")
"""The ``procession`` logger, parent of every procession logger."""

_COLORS: Final = {
    logging.DEBUG: "\x1b[32m",
    logging.INFO: "\x1b[35m",
    logging.WARNING: "\x1b[36m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[33;41m",
}
_RESET: Final = "\x1b[0m"


class _Formatter(logging.Formatter):
    """Execo-like header (date, level) and colour when the stream is a tty."""

    def __init__(self, stream: object) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self._stream = stream

    def _use_color(self) -> bool:
        mode = configuration.get("color_mode")
        if mode is not None:
            return bool(mode)
        isatty = getattr(self._stream, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # closed stream
            return False

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self._use_color():
            color = _COLORS.get(record.levelno, "")
            head, sep, rest = text.partition(record.levelname)
            return f"{head}{color}{record.levelname}{_RESET}{rest}" if sep else text
        return text


def _make_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(sys.stderr))
    handler.set_name("procession-default")
    return handler


default_handler: Final = _make_handler()
"""The handler procession attaches to its logger at import (stderr)."""

logger.addHandler(default_handler)
logger.propagate = False
logger.setLevel(configuration.get("log_level", logging.INFO))


def remove_default_handler() -> None:
    """Detach the default stderr handler and let records propagate to root."""
    logger.removeHandler(default_handler)
    logger.propagate = True


def get_logger(suffix: str) -> logging.Logger:
    """The ``procession.<suffix>`` logger (explicit names, never ``__name__``)."""
    return logging.getLogger(f"procession.{suffix}")


_STYLES: Final = {
    "log_header": "\x1b[33m",
    "object_repr": "\x1b[34m",
    "emph": "\x1b[36m",
    "report_warn": "\x1b[35m",
    "report_error": "\x1b[31;1m",
    "command": "\x1b[34;1m",
    "host": "\x1b[35;1m",
    "user1": "\x1b[32;1m",
    "user2": "\x1b[33;1m",
    "user3": "\x1b[36;1m",
}


class _Style:
    """Execo's ``style``: ``style.emph("text")`` and friends for log messages.

    Returns the text coloured when the log goes to a terminal (see
    ``configuration['color_mode']``), unchanged otherwise.
    """

    def __getattr__(self, name: str) -> Callable[[object], str]:
        code = _STYLES.get(name)
        if code is None:
            raise AttributeError(f"no style {name!r}; known: {sorted(_STYLES)}")

        def apply(text: object) -> str:
            if _Formatter(sys.stderr)._use_color():
                return f"{code}{text}{_RESET}"
            return str(text)

        return apply


style: Final = _Style()
"""Execo's ``execo.log.style`` (``from procession.log import style``)."""
