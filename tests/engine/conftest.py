"""Fixtures of the engine tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from _engine_testing import ListHandler, Workers


@pytest.fixture
def plog() -> Iterator[ListHandler]:
    """Records logged on the ``procession`` logger family during the test."""
    handler = ListHandler()
    logger = logging.getLogger("procession")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


@pytest.fixture
def workers() -> Iterator[Workers]:
    """Worker processes sharing a sweeper directory (killed at teardown)."""
    w = Workers()
    try:
        yield w
    finally:
        w.close()
