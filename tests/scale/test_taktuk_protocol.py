"""The taktuk argv builder and output parser, on strings (no taktuk run)."""

from __future__ import annotations

import shlex

import pytest

from procession import Host
from procession._remote import make_connection_params
from procession._remote._taktuk import (
    STATE_CONNECTION_FAILED,
    STATE_CONNECTION_LOST,
    TAKTUK_TEMPLATES,
    TaktukConnector,
    TaktukDiagnostic,
    TaktukInfo,
    TaktukOutput,
    TaktukOutputParser,
    TaktukState,
    TaktukStatus,
    TaktukUnparsed,
    escape_taktuk,
    host_index,
    parse_line,
    taktuk_argv,
    taktuk_connector,
    taktuk_exec,
    taktuk_set,
)


def hexa(data: bytes | str) -> str:
    return (data.encode() if isinstance(data, str) else data).hex()


def test_output_lines_are_byte_exact() -> None:
    raw = bytes(range(256))
    assert parse_line(f"O 3 7 1 {hexa(raw)}") == TaktukOutput("3", 7, 1, raw + b"\n")
    assert parse_line(f"E 12 2 0 {hexa('no newline')}") == TaktukOutput("12", 2, 2, b"no newline")
    assert parse_line("O 1 1 1 ") == TaktukOutput("1", 1, 1, b"\n")  # an empty line


def test_status_is_decoded_from_the_wait_status() -> None:
    assert parse_line("S 2 2 0") == TaktukStatus("2", 2, 0, None)
    assert parse_line("S 2 2 768") == TaktukStatus("2", 2, 3, None)  # Execo reported 768
    assert parse_line("S 2 2 15") == TaktukStatus("2", 2, None, 15)
    assert parse_line("S 2 2 9") == TaktukStatus("2", 2, None, 9)


def test_connector_and_state_lines() -> None:
    msg = "ssh: connect to host 127.0.0.1 port 1: Connection refused\r"
    assert parse_line(f"C 0 4 {hexa(msg)}") == TaktukConnector("0", "4", msg.rstrip("\r"))
    failed = parse_line("X 0 4 -1 3 ")
    assert failed == TaktukState("0", "4", -1, STATE_CONNECTION_FAILED)
    assert isinstance(failed, TaktukState) and failed.message == "connection failed"
    started = parse_line("X 2 - 2 6 ")
    assert started == TaktukState("2", None, 2, 6)
    lost = parse_line(f"X 0 1 -1 5 {hexa('node-2:2 node-3:3')}")
    assert isinstance(lost, TaktukState) and lost.code == STATE_CONNECTION_LOST
    assert lost.peers_given == (("node-2", "2"), ("node-3", "3"))


def test_diagnostics_info_and_garbage() -> None:
    level, line = "ERROR : SYSTEM", "Error No such file or directory"
    assert parse_line(f"T 1 {hexa(level)} {hexa(line)}") == TaktukDiagnostic("1", level, line)
    assert parse_line(f"I 0 {hexa('info')} {hexa('TakTuk 3.7.7')}") == TaktukInfo(
        "0", "info", "TakTuk 3.7.7"
    )
    for junk in ["Can't use string as a HASH ref", "O 1 x 1 00", "S 1 1", "O 1 1 1 zz"]:
        assert parse_line(junk) == TaktukUnparsed(junk)


def test_parser_joins_chunks_at_any_boundary() -> None:
    stream = f"O 1 1 1 {hexa('hello')}\nX 1 - 1 6 \nS 1 1 256\n"
    expected = TaktukOutputParser().feed(stream)
    assert len(expected) == 3
    for cut in range(1, len(stream)):
        p = TaktukOutputParser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) + p.flush() == expected
    p = TaktukOutputParser()
    assert p.feed("S 1 1 0") == []
    assert p.flush() == [TaktukStatus("1", 1, 0, None)]


def test_escaping_of_brackets_and_the_escape_character() -> None:
    assert escape_taktuk("a]b!c[") == "a!]b!!c["
    # Inside -[ ... -] taktuk parses twice: escaped twice.
    assert escape_taktuk("a]b!c", levels=2) == "a!!!]b!!!!c"
    assert taktuk_exec("echo ]") == ["exec", "[", "echo !!!]", "]"]


def test_set_specifications() -> None:
    assert taktuk_set([3, 1, 2, 7, 9, 8, 5]) == "1-3/5/7-9"
    assert taktuk_set([4]) == "4"


def test_positions_map_to_host_indexes() -> None:
    assert host_index("1") == 0 and host_index("12") == 11
    assert host_index("0") is None and host_index("1.2") is None


def test_argv_connectors_per_login_and_user_options_first() -> None:
    params = make_connection_params(
        {"taktuk_options": ("-s", "-d", "-1"), "taktuk_connector_options": ("-F", "cfg")}
    )
    hosts = [Host("a"), Host("b"), Host("c", user="bob", port=2222)]
    argv = taktuk_argv(hosts, params, [["exec", "[", "x", "]"], [], ["exec", "[", "y", "]"]])
    assert argv[:4] == ["taktuk", "-s", "-d", "-1"]
    assert argv.index("-E") > argv.index(TAKTUK_TEMPLATES[1])  # ours win over the user's
    connectors = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert connectors == [
        taktuk_connector(hosts[0], params),
        taktuk_connector(hosts[2], params),
    ]
    assert shlex.split(connectors[1])[:5] == ["ssh", "-o", "User=bob", "-o", "Port=2222"]
    tail = argv[argv.index("-m") :]
    assert tail[:7] == ["-m", "a", "-[", "exec", "[", "x", "]"]
    assert tail[8:11] == ["-m", "b", "-c"]


def test_argv_refuses_taktuk_host_syntax() -> None:
    with pytest.raises(ValueError, match="brackets"):
        taktuk_argv([Host("node-[1-2]")], make_connection_params())
