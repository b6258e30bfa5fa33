"""Host and connection parameters: pure command-line building, precedence."""

from __future__ import annotations

import pytest

from procession import ConfigurationError, Host, default_connection_params
from procession._remote import make_connection_params, ssh_argv


def test_host_equality_hash_and_immutability() -> None:
    a = Host("n1", user="u", port=22)
    assert a == Host(Host("n1", port=22), user="u") and hash(a) == hash(Host("n1", "u", None, 22))
    assert a != Host("n1", user="v", port=22)
    assert len({a, Host("n1", user="u", port=22), Host("n2")}) == 2
    with pytest.raises(AttributeError, match="immutable"):
        a.user = "x"  # type: ignore[misc]
    assert repr(a) == "Host('n1', user='u', port=22)" and str(a) == "n1"
    assert Host("n1", user=False) == Host("n1")  # Execo's False means "not given"


def test_bad_hosts_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Host("")
    with pytest.raises(ValueError, match="port"):
        Host("n1", port="22")  # type: ignore[arg-type]


def test_precedence_host_over_call_over_defaults() -> None:
    params = make_connection_params({"user": "call", "port": 2200})
    argv = ssh_argv(Host("n1", user="host"), "true", params)
    assert argv.index("User=host") < len(argv) and "User=call" not in argv
    assert "Port=2200" in argv
    default = make_connection_params()
    assert default["ssh_options"] == default_connection_params["ssh_options"]
    argv = ssh_argv(Host("n1", port=2), "true", make_connection_params({"port": 3}))
    assert "Port=2" in argv and "Port=3" not in argv


def test_user_options_come_before_procession_options() -> None:
    # OpenSSH keeps the first value of an option: the user's must win.
    params = make_connection_params({"ssh_options": ("-o", "ControlMaster=no")})
    argv = ssh_argv(Host("n1"), "true", params)
    assert argv.index("ControlMaster=no") < argv.index("ControlMaster=auto")
    assert argv[-2:] == ["n1", "true"] and "-T" in argv and "-tt" not in argv


def test_no_reuse_options_for_other_ssh_tools() -> None:
    argv = ssh_argv(Host("n1"), "true", make_connection_params({"ssh": "oarsh"}))
    assert not any("ControlMaster" in a for a in argv)
    argv = ssh_argv(Host("n1"), "true", make_connection_params({"connection_reuse": False}))
    assert not any("ControlMaster" in a for a in argv)


def test_host_rewrite_func() -> None:
    params = make_connection_params({"host_rewrite_func": lambda a: a + "-kavlan-4"})
    assert ssh_argv(Host("n1"), "true", params)[-2] == "n1-kavlan-4"


def test_unknown_connection_parameter_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="usr"):
        make_connection_params({"usr": "root"})
