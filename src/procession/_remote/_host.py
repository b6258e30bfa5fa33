"""Host: an address plus optional user, key file and port (immutable)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "Host",
    "HostLike",
    "expand_hosts",
    "get_hosts_list",
    "get_hosts_set",
    "get_unique_hosts_list",
]


class Host:
    """A remote host: address and, optionally, how to log in.

    Fields left ``None`` take their value from the connection parameters.
    Equality and hash cover all four fields; a host is immutable, so it is
    safe in sets and as a dict key.

    >>> Host("node-1", user="root") == Host(Host("node-1"), user="root")
    True

    Args:
        address: a hostname or IP address, or another Host to copy.
        user: login name.
        keyfile: private key file.
        port: ssh port.

    Differences from Execo: immutable (Execo's Host is mutable yet hashed on
    its fields, so changing one inside a set was a silent bug); ``False`` is
    accepted for "not given" as in Execo, and means the same as ``None``.
    """

    __slots__ = ("address", "keyfile", "port", "user")

    address: str
    user: str | None
    keyfile: str | None
    port: int | None

    def __init__(
        self,
        address: str | Host,
        user: str | bool | None = None,
        keyfile: str | bool | None = None,
        port: int | bool | None = None,
    ) -> None:
        if isinstance(address, Host):
            base = address
            address = base.address
            user = base.user if user in (None, False) else user
            keyfile = base.keyfile if keyfile in (None, False) else keyfile
            port = base.port if port in (None, False) else port
        if not isinstance(address, str) or not address.strip():
            raise ValueError(f"a host address must be a non-empty string, not {address!r}")
        object.__setattr__(self, "address", address.strip())
        object.__setattr__(self, "user", None if user in (None, False) else str(user))
        object.__setattr__(self, "keyfile", None if keyfile in (None, False) else str(keyfile))
        if port not in (None, False) and not isinstance(port, int):
            raise ValueError(f"a host port must be an integer, not {port!r}")
        object.__setattr__(self, "port", None if port in (None, False) else port)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Host is immutable; make a new one: Host(host, {name}={value!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Host):
            return NotImplemented
        return (self.address, self.user, self.keyfile, self.port) == (
            other.address,
            other.user,
            other.keyfile,
            other.port,
        )

    def __hash__(self) -> int:
        return hash((self.address, self.user, self.keyfile, self.port))

    def __repr__(self) -> str:
        args = [repr(self.address)]
        for name in ("user", "keyfile", "port"):
            value = getattr(self, name)
            if value is not None:
                args.append(f"{name}={value!r}")
        return f"Host({', '.join(args)})"

    def __str__(self) -> str:
        return self.address

    def __reduce__(self) -> tuple[Any, ...]:
        return (Host, (self.address, self.user, self.keyfile, self.port))


HostLike = Host | str


def get_hosts_list(hosts: Iterable[HostLike]) -> list[Host]:
    """Hosts (or addresses) as a list of :class:`Host`, in order."""
    return [Host(h) for h in hosts]


def get_unique_hosts_list(hosts: Iterable[HostLike]) -> list[Host]:
    """Like :func:`get_hosts_list` without duplicates, first occurrence kept."""
    return list(dict.fromkeys(get_hosts_list(hosts)))


def get_hosts_set(hosts: Iterable[HostLike]) -> set[Host]:
    """Hosts (or addresses) as a set of :class:`Host`."""
    return set(get_hosts_list(hosts))


def _expand_one(spec: str) -> list[str]:
    if "[" not in spec and "," not in spec:
        return [spec.strip()]
    # Imported on first use: keeps `import procession` fast.
    from ClusterShell.NodeSet import NodeSet, NodeSetException  # noqa: PLC0415

    try:
        return list(NodeSet(spec))
    except NodeSetException as exc:
        raise ValueError(f"invalid node set {spec!r}: {exc}") from exc


def expand_hosts(hosts: Iterable[HostLike] | str | Host) -> list[Host]:
    """Hosts from a node set, an address, a Host, or a list of those.

    Node sets use ClusterShell's syntax: ``"node-[1-100,205].site"``,
    ``"127.0.2.[1-8]"``, ``"a,b,c"``; order is kept as written.

    Raises:
        ValueError: a malformed node set, named in the message.
    """
    if isinstance(hosts, Host):
        return [hosts]
    if isinstance(hosts, str):
        return [Host(a) for a in _expand_one(hosts)]
    out: list[Host] = []
    for h in hosts:
        if isinstance(h, Host):
            out.append(h)
        else:
            out.extend(Host(a) for a in _expand_one(str(h)))
    return out
