"""Scale tests (Taktuk, ChainPut, fan-out) on the session's loopback testbed."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def cp(testbed_connection_params: dict[str, Any]) -> dict[str, Any]:
    """Connection params reaching the testbed hosts (a fresh copy)."""
    return dict(testbed_connection_params)
