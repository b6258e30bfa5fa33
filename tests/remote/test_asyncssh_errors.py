"""What the in-process ssh engine reports when it cannot connect: the real cause, never a
warning dressed as a connection failure, and the missing extra with its install line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from typing import Any

from procession._remote._asyncssh import connect_failure
from procession.testbed import LoopbackTestbed


class SomeLibraryDeprecation(UserWarning):
    """A third-party deprecation, as cryptography's CryptographyDeprecationWarning."""


def test_a_warning_raised_as_an_error_is_named_as_such() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            warnings.warn("DSA is deprecated", SomeLibraryDeprecation, stacklevel=1)
        except Warning as exc:
            reason = connect_failure(exc)
    assert "raised as an error by the warnings filters" in reason
    assert f"{__name__}.SomeLibraryDeprecation: DSA is deprecated" in reason
    assert "not a connection failure" in reason


def test_a_real_failure_names_the_exception_type() -> None:
    assert connect_failure(ConnectionRefusedError(111, "Connect call failed")) == (
        "ssh could not connect: ConnectionRefusedError: [Errno 111] Connect call failed"
    )
    assert connect_failure(TimeoutError()) == "ssh could not connect: TimeoutError"


def _child(code: str, testbed: LoopbackTestbed, cp: dict[str, Any]) -> dict[str, Any]:
    script = textwrap.dedent(code).format(host=str(testbed.hosts[0]), cp=json.dumps(cp))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_without_the_extra_the_reason_is_the_install_line(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    result = _child(
        """
        import json, sys
        sys.modules["asyncssh"] = None  # the extra is not installed
        from procession import AsyncSshProcess
        p = AsyncSshProcess("true", {host!r}, json.loads({cp!r})).run(60)
        print(json.dumps({{"ok": p.ok, "connected": p.connected, "reason": p.error_reason}}))
        """,
        testbed,
        cp,
    )
    assert result["ok"] is False and result["connected"] is False
    assert "pip install 'procession[asyncssh]'" in result["reason"]
    assert "could not connect" not in result["reason"]
