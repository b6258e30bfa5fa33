"""The console dialogue the tests share: log in, run a command (sync and async)."""

from __future__ import annotations

import re
from typing import Any, Protocol

from procession.testbed.serialemu import EmulatedDevice

TIMEOUT = 10.0
"""Seconds for every expect and wait of these tests (they take milliseconds)."""


class Console(Protocol):
    """What the dialogue needs: Serial and SerialSsh both have it."""

    @property
    def stdout(self) -> str: ...

    def write(self, data: str | bytes) -> Any: ...

    def expect(self, regexes: Any, timeout: Any = ...) -> tuple[int | None, Any]: ...

    async def expect_async(self, regexes: Any, timeout: Any = ...) -> tuple[int | None, Any]: ...


def expect(console: Console, regex: str) -> re.Match[str]:
    """Expect ``regex``; fail the test with the console's output otherwise."""
    index, match = console.expect(regex, TIMEOUT)
    assert index == 0 and match is not None, f"{regex!r} not found in {console.stdout!r}"
    return match


def login(console: Console, dev: EmulatedDevice, password: str | None = None) -> None:
    """Press Enter, give the user and the password, reach the shell prompt."""
    console.write("\r")
    expect(console, r"login: $")
    console.write(dev.user + "\r")
    expect(console, r"Password: $")  # a prompt without a trailing newline
    console.write((dev.password if password is None else password) + "\r")
    if password is None:
        expect(console, rf"^{dev.hostname}# $")


def run(console: Console, dev: EmulatedDevice, command: str) -> str:
    """Run ``command`` at the shell prompt; return its output (without the echo)."""
    console.write(command + "\r")
    match = expect(console, rf"{re.escape(command)}\r\n((?:.*\r\n)*?){dev.hostname}# $")
    return match.group(1).replace("\r\n", "\n")


async def login_async(console: Console, dev: EmulatedDevice) -> None:
    """:func:`login` with the ``*_async`` face."""
    for send, regex in (
        ("\r", r"login: $"),
        (dev.user + "\r", r"Password: $"),
        (dev.password + "\r", rf"^{dev.hostname}# $"),
    ):
        console.write(send)
        index, _ = await console.expect_async(regex, TIMEOUT)
        assert index == 0, f"{regex!r} not found in {console.stdout!r}"
