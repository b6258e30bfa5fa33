"""Execo's ``execo.log`` path: ``from procession.log import logger`` works.

Re-exports only; see the ``procession`` logger family in the user guide.
"""

from __future__ import annotations

from ._log import default_handler, get_logger, logger, remove_default_handler, style

__all__ = ["default_handler", "get_logger", "logger", "remove_default_handler", "style"]
