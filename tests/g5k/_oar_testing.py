"""Helpers shared by the g5k tests (the testbed itself: ``tests/oar_testbed_plugin.py``)."""

from __future__ import annotations

from oar_testbed_plugin import OarTestbed

__all__ = ["OarTestbed"]
