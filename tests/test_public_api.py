"""The public names: Execo's contract from design.md, pinned."""

from __future__ import annotations

import re
from pathlib import Path

import procession

DESIGN = Path(__file__).resolve().parents[2] / "shared" / "design.md"

# The contract of design.md's `procession` row, in one place for when the
# file is not beside the repository.
CONTRACT = {
    "Process",
    "SshProcess",
    "Serial",
    "SerialSsh",
    "PortForwarder",
    "get_process",
    "Host",
    "ProcessOutputHandler",
    "ProcessLifecycleHandler",
    "ExpectOutputHandler",
    "STDOUT",
    "STDERR",
    "Action",
    "Local",
    "Remote",
    "TaktukRemote",
    "Put",
    "Get",
    "TaktukPut",
    "TaktukGet",
    "ChainPut",
    "RemoteSerial",
    "ParallelActions",
    "SequentialActions",
    "wait_any_actions",
    "wait_all_actions",
    "ActionLifecycleHandler",
    "get_remote",
    "get_fileput",
    "get_fileget",
    "default_action_factory",
    "filter_bad_hosts",
    "Report",
    "configuration",
    "default_connection_params",
    "SSH",
    "TAKTUK",
    "SCP",
    "CHAINPUT",
    "logger",
    "sleep",
    "Timer",
    "format_date",
    "format_duration",
    "get_seconds",
    "get_unixts",
    "ProcessesFailed",
    "ActionsFailed",
}

# Contract names whose issue has not landed yet; this set only shrinks.
PENDING: set[str] = set()

# Beyond Execo.
EXTRAS = set(
    """ProcessBase ConductorBlockingCall ConfigurationError ProcessTimeout ProcessionError
    SubstitutionError RSYNC ActionFactory quote expand_hosts EventLog GroupedOutput Progress
    enable_event_log_from_configuration group_outputs plot_timeline read_event_log
    ASYNCSSH AsyncSshRemote AsyncSshProcess""".split()
)


def test_contract_matches_design_md() -> None:
    if not DESIGN.exists():
        return
    row = next(
        line for line in DESIGN.read_text().splitlines() if line.startswith("| `procession` |")
    )
    names = set(re.findall(r"`(\w+)`", row.split("|")[2]))
    assert names == CONTRACT


def test_all_is_the_contract_plus_documented_extras() -> None:
    assert set(procession.__all__) == (CONTRACT - PENDING) | EXTRAS
    for name in procession.__all__:
        assert hasattr(procession, name), name


def test_star_import_brings_only_public_names() -> None:
    ns: dict[str, object] = {}
    exec("from procession import *", ns)
    leaked = {k for k in ns if not k.startswith("__")} - set(procession.__all__)
    assert leaked == set()


def test_public_classes_say_procession_in_their_module() -> None:
    for name in procession.__all__:
        obj = getattr(procession, name)
        if isinstance(obj, type):
            assert obj.__module__ == "procession", (name, obj.__module__)


def test_every_public_name_is_documented() -> None:
    for name in procession.__all__:
        obj = getattr(procession, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_execo_submodule_paths_stay_importable() -> None:
    from procession.log import logger

    assert logger is procession.logger


def test_stream_constants_compare_equal_to_execo_ints() -> None:
    assert procession.STDOUT == 1 and procession.STDERR == 2
