"""Factories choosing the remote and transfer tools from the configuration.

``configuration['remote_tool']`` (SSH, TAKTUK), ``['fileput_tool']``
(SCP, RSYNC, TAKTUK, CHAINPUT) and ``['fileget_tool']`` (SCP, RSYNC,
TAKTUK). Tools register their action classes here when their module is
imported, so a tool added later (Taktuk, ChainPut) needs no change in this
module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._config import ASYNCSSH, CHAINPUT, SCP, SSH, TAKTUK, configuration
from .._errors import ConfigurationError
from ._action import Action
from ._remote import AsyncSshRemote, Remote
from ._transfer import RSYNC, Get, Put

__all__ = [
    "ActionFactory",
    "default_action_factory",
    "get_fileget",
    "get_fileput",
    "get_remote",
    "register_tool",
]

_NAMES = {
    SSH: "SSH",
    SCP: "SCP",
    TAKTUK: "TAKTUK",
    CHAINPUT: "CHAINPUT",
    RSYNC: "RSYNC",
    ASYNCSSH: "ASYNCSSH",
}

_remote_tools: dict[int, Callable[..., Action]] = {SSH: Remote, ASYNCSSH: AsyncSshRemote}


def _put_rsync(*args: Any, **kwargs: Any) -> Action:
    kwargs["tool"] = RSYNC
    return Put(*args, **kwargs)


def _get_rsync(*args: Any, **kwargs: Any) -> Action:
    kwargs["tool"] = RSYNC
    return Get(*args, **kwargs)


_fileput_tools: dict[int, Callable[..., Action]] = {SCP: Put, RSYNC: _put_rsync}
_fileget_tools: dict[int, Callable[..., Action]] = {SCP: Get, RSYNC: _get_rsync}


def register_tool(kind: str, tool: int, factory: Callable[..., Action]) -> None:
    """Make ``factory`` the action class for ``tool`` of ``kind``
    (``"remote"``, ``"fileput"`` or ``"fileget"``)."""
    table = {"remote": _remote_tools, "fileput": _fileput_tools, "fileget": _fileget_tools}[kind]
    table[tool] = factory


def _pick(table: dict[int, Callable[..., Action]], tool: int, what: str) -> Callable[..., Action]:
    try:
        return table[tool]
    except KeyError:
        known = ", ".join(_NAMES.get(t, str(t)) for t in table)
        raise ConfigurationError(
            f"{what} tool {_NAMES.get(tool, tool)!s} is not available; use one of: {known}"
        ) from None


class ActionFactory:
    """Makes Remote / Put / Get actions with the configured tools.

    Args:
        remote_tool: default ``configuration['remote_tool']``.
        fileput_tool: default ``configuration['fileput_tool']``.
        fileget_tool: default ``configuration['fileget_tool']``.
    """

    def __init__(
        self,
        remote_tool: int | None = None,
        fileput_tool: int | None = None,
        fileget_tool: int | None = None,
    ) -> None:
        self.remote_tool = remote_tool
        self.fileput_tool = fileput_tool
        self.fileget_tool = fileget_tool

    def get_remote(self, *args: Any, **kwargs: Any) -> Action:
        """A remote action (``Remote`` for SSH) with these arguments."""
        tool = configuration["remote_tool"] if self.remote_tool is None else self.remote_tool
        return _pick(_remote_tools, tool, "remote")(*args, **kwargs)

    def get_fileput(self, *args: Any, **kwargs: Any) -> Action:
        """A file-put action (``Put`` for SCP)."""
        tool = configuration["fileput_tool"] if self.fileput_tool is None else self.fileput_tool
        return _pick(_fileput_tools, tool, "fileput")(*args, **kwargs)

    def get_fileget(self, *args: Any, **kwargs: Any) -> Action:
        """A file-get action (``Get`` for SCP)."""
        tool = configuration["fileget_tool"] if self.fileget_tool is None else self.fileget_tool
        return _pick(_fileget_tools, tool, "fileget")(*args, **kwargs)


default_action_factory = ActionFactory()
"""The factory following the global configuration."""


def get_remote(*args: Any, **kwargs: Any) -> Action:
    """``default_action_factory.get_remote(...)``."""
    return default_action_factory.get_remote(*args, **kwargs)


def get_fileput(*args: Any, **kwargs: Any) -> Action:
    """``default_action_factory.get_fileput(...)``."""
    return default_action_factory.get_fileput(*args, **kwargs)


def get_fileget(*args: Any, **kwargs: Any) -> Action:
    """``default_action_factory.get_fileget(...)``."""
    return default_action_factory.get_fileget(*args, **kwargs)
