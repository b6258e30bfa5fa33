"""Fixtures of the serial-console tests: emulated devices on socat pty pairs.

Each fixture is function-scoped, so the autouse leak guard of
``tests/conftest.py`` sees every socat process reaped, every emulator thread
joined and every descriptor closed by the end of the test that used it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from procession.testbed.serialemu import EmulatedDevice


@pytest.fixture
def device() -> Iterator[EmulatedDevice]:
    """One started emulated device, host name ``sw1``."""
    with EmulatedDevice("sw1") as dev:
        yield dev


@pytest.fixture
def make_device() -> Iterator[Callable[..., EmulatedDevice]]:
    """A factory of started devices (``make_device("sw2", fail_steps={"flash"})``),
    all stopped at the end of the test."""
    with ExitStack() as stack:

        def make(hostname: str = "device", **options: Any) -> EmulatedDevice:
            return stack.enter_context(EmulatedDevice(hostname, **options))

        yield make
