"""The public names of procession, procession.g5k and procession.engine, pinned here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import procession

DESIGN = Path(__file__).resolve().parents[2] / "shared" / "design.md"

# The contract, kept in the repository: Execo's public names of `procession` (design.md's
# `procession` row), pinned; a name missing or extra fails.
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

# Beyond Execo.
EXTRAS = set(
    """ProcessBase ConductorBlockingCall ConfigurationError ProcessTimeout ProcessionError
    SubstitutionError RSYNC ActionFactory quote expand_hosts EventLog GroupedOutput Progress
    enable_event_log_from_configuration group_outputs plot_timeline read_event_log
    ASYNCSSH AsyncSshRemote AsyncSshProcess""".split()
)

# `procession.g5k` (execo_g5k's names and ours), pinned whole.
G5K = set(
    """APIConnection APIException Deployment Kadeployer OarError OarJob OarJobTimeout
    OarSubmission canonical_host_name clear_cache compute_slots
    default_frontend_connection_params default_oarsh_oarcp_params deploy distribute_hosts
    draw_gantt draw_slots find_first_slot find_free_slot find_max_slot format_oar_date
    format_oar_duration g5k_charter_remaining g5k_charter_time g5k_configuration
    get_cluster_attributes get_cluster_hosts get_cluster_jobtypes
    get_cluster_network_equipments get_cluster_queues get_cluster_site get_current_oar_jobs
    get_current_oargrid_jobs get_default_frontend get_frontend_host get_g5k_clusters
    get_g5k_hosts get_g5k_sites get_host_attributes get_host_cluster get_host_interface
    get_host_longname get_host_network_equipments get_host_shortname get_host_site
    get_hosts_metric get_jobs_specs get_kavlan_host_name get_network_equipment_attributes
    get_network_equipment_site get_next_charter_period get_oar_job_info get_oar_job_kavlan
    get_oar_job_nodes get_oar_job_subnets get_oargrid_job_info get_oargrid_job_nodes
    get_oargrid_job_oar_jobs get_oarsub_commandline get_planning get_resource_attributes
    get_site_attributes get_site_clusters get_site_hosts get_site_network_equipments
    group_hosts oardel oargriddel oargridsub oarsub oarsubgrid show_resources
    wait_oar_job_start wait_oargrid_job_start""".split()
)

# `procession.engine` (execo_engine's names and ours), pinned whole.
ENGINE = set(
    """BagStats ClusterEngine Engine HashableDict ParamSweeper Progress Results StateCorrupted
    SweepCounts copy_outputs format_progress geom igeom logger redirect_outputs
    run_on_clusters slugify sweep sweep_stats""".split()
)

PINNED = {"procession": CONTRACT | EXTRAS, "procession.g5k": G5K, "procession.engine": ENGINE}


@pytest.mark.parametrize("module", sorted(PINNED))
def test_all_is_the_pinned_contract(module: str) -> None:
    names = set(importlib.import_module(module).__all__)
    assert not PINNED[module] - names, f"missing from {module}.__all__"
    assert not names - PINNED[module], f"extra in {module}.__all__ (pin it here, documented)"
    for name in names:
        assert hasattr(importlib.import_module(module), name), name


def _design_names(module: str) -> set[str]:
    row = next(
        line for line in DESIGN.read_text().splitlines() if line.startswith(f"| `{module}` |")
    )
    return set(re.findall(r"`(\w+)`", row.split("|")[2])) - {"funk"}


@pytest.mark.skipif(not DESIGN.exists(), reason="../shared/design.md is not beside the checkout")
def test_the_pinned_contract_matches_design_md() -> None:
    """The pinned names are design.md's: all of them for `procession`, a superset elsewhere."""
    assert _design_names("procession") == CONTRACT
    for module in ("procession.g5k", "procession.engine"):
        assert _design_names(module) <= PINNED[module], module


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
