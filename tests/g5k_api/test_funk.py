"""funk end to end: the ``funk`` and ``procession g5k funk`` commands run
as subprocesses against the local API stand-in, on real OAR jobs, and a
submission through ssh to the OAR testbed's frontend.

The schedule (reservations made by the test; dates relative to ``base``,
the start of the search):

    dahu-1   600 + 1:00:00 -> busy  600-4265 (job end + 65 s margin)
    dahu-2, dahu-3 and nova-1..3 free

With a 1:00:00 walltime: dahu has 2 free hosts from 0, 3 from 4265.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from procession.g5k import OarSubmission, format_oar_date, get_planning, oarsub
from procession.g5k.api_utils import get_resource_attributes
from procession.g5k.funk import feature_blacklist, parse_resources, parse_walltime

FUNK = [sys.executable, "-m", "procession.g5k.funk"]
PROCESSION = [sys.executable, "-m", "procession"]


def run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, env=env, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", "grenoble:x"], "malformed resource 'grenoble:x'"),
        (["-r", "grenoble:10,,nova"], "malformed resource ''"),
        (["-r", "dahu:1,dahu:2"], "resource 'dahu' given twice"),
        (["-w", "two hours"], "malformed walltime 'two hours'"),
        (["-w", "0"], "malformed walltime '0'"),
        (["-s", "tomorrow"], "unsupported date 'tomorrow'"),
        (["-m", "often"], "invalid choice: 'often'"),
        (["-m", "free", "-r", "grenoble"], "the free mode needs host counts"),
        (["-s", "2030-01-01 10:00", "-e", "2030-01-01 10:30"], "the end date must be"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    done = run([*FUNK, *args])
    assert done.returncode == 2, done
    assert message in done.stderr and done.stdout == ""


def test_parsers() -> None:
    assert parse_resources("grenoble:10,nova:4") == {"grenoble": 10, "nova": 4}
    assert parse_resources("grid5000") == {"grid5000": 0}
    assert parse_resources(" lyon , dahu:0") == {"lyon": 0, "dahu": 0}
    for bad in ("grenoble:", "grenoble:-1", ":3", "a:b:c", "1abc"):
        with pytest.raises(argparse.ArgumentTypeError, match="malformed resource"):
            parse_resources(bad)
    assert parse_walltime("2:00:00") == 7200 and parse_walltime("1:30") == 5400
    assert parse_walltime("90") == 90 and parse_walltime("1h30m") == 5400
    for bad in ("", "0", "-5", "2:00:00:00", "soon"):
        with pytest.raises(argparse.ArgumentTypeError, match="malformed walltime"):
            parse_walltime(bad)


def test_feature_blacklist(g5k_ref_api: Any) -> None:
    assert feature_blacklist(False, False, False) == []
    assert feature_blacklist(True, False, False) == ["sagittaire"]  # no virtualization
    assert sorted(feature_blacklist(False, True, False)) == [
        "dahu", "hercule", "nova", "orion", "petitprince", "sagittaire", "taurus", "troll",
        "yeti",
    ]  # fmt: skip
    assert sorted(feature_blacklist(False, False, True)) == ["dahu", "petitprince"]


def test_cli_group_and_entry_point() -> None:
    done = run([*PROCESSION, "g5k", "funk", "-r", "nova:two"])
    assert done.returncode == 2
    assert "procession g5k funk: error: argument -r/--resources: malformed" in done.stderr
    done = run([*PROCESSION, "g5k", "funk", "--help"])
    assert done.returncode == 0 and "-w H:MM:SS, --walltime H:MM:SS" in done.stdout
    script = Path(sys.executable).parent / "funk"
    assert script.is_file(), "the funk console script is installed with the package"
    assert run([str(script), "--help"]).returncode == 0


def test_unknown_element_against_the_api(g5k_ref_api: Any, tmp_path: Path) -> None:
    done = run([*FUNK, "-r", "atlantis", "--api-uri", g5k_ref_api.url], _env(tmp_path))
    assert done.returncode == 2
    assert "unknown Grid'5000 element(s) atlantis" in done.stderr


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("G5K_")}
    env |= {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHON_GRID5000_CONFIG": str(tmp_path / "none.yaml"),
        "PROCESSION_CONFIG": str(tmp_path / "none.toml"),
    }
    (tmp_path / "none.toml").write_text("")
    return env | more


def dahu(n: int) -> str:
    return f"dahu-{n}.grenoble.grid5000.fr"


@pytest.fixture
def schedule(g5k_api: Any, oar_testbed: Any) -> int:
    base = int(time.time()) + 120
    sub = OarSubmission(
        resources="nodes=1",
        walltime="1:00:00",
        reservation_date=base + 600,
        sql_properties=f"network_address='{dahu(1)}'",
        name="funk-test",
    )
    [(job_id, _)] = oarsub([(sub, oar_testbed.frontend)], abort_on_error=True)
    assert job_id is not None
    return base


def _search(base: int, *args: str) -> list[str]:
    return ["-s", str(base), "-e", str(base + 4 * 3600), "-w", "1:00:00", *args]


@pytest.mark.slow
def test_funk_modes_on_real_jobs(schedule: int, g5k_api: Any, tmp_path: Path) -> None:
    base, env, api = schedule, _env(tmp_path), ["--api-uri", g5k_api.url]
    # free: 3 dahu hosts for an hour only once dahu-1's reservation is over
    done = run([*FUNK, *_search(base, "-r", "dahu:3", "--json"), *api], env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["mode"] == "free"  # chosen because -r gives a count
    assert (result["start"], result["end"]) == (base + 4265, base + 4265 + 3600)
    assert result["resources"] == {"dahu": 3}
    [job] = result["jobs"]
    assert job["site"] == "grenoble"
    argv = shlex.split(job["oarsub"])
    assert argv[argv.index("-l") + 1] == "{cluster='dahu'}/nodes=3,walltime=1:00:00"
    assert argv[argv.index("-n") + 1] == "FUNK"
    assert argv[argv.index("-r") + 1] == format_oar_date(base + 4265)
    assert [s[0] - base for s in result["slots"]] == [0, 600, 4265]
    # date: the first slot, with every free host
    done = run([*FUNK, *_search(base, "-m", "date", "-r", "dahu,nova", "--json"), *api], env)
    result = json.loads(done.stdout)
    assert result["start"] == base and result["resources"] == {"dahu": 2, "nova": 3}
    # max, as text, through the procession CLI
    done = run(
        [*PROCESSION, "g5k", "funk", *_search(base, "-m", "max", "-r", "grenoble"), *api], env
    )
    assert done.returncode == 0, done.stderr
    assert f"slot: {_date(base + 4265)} -> {_date(base + 4265 + 3600)}" in done.stdout
    [line] = [x for x in done.stdout.splitlines() if x.startswith("  grenoble: oarsub")]
    argv = shlex.split(line.split(": ", 1)[1])
    assert argv[argv.index("-l") + 1] == "nodes=3,walltime=1:00:00"
    # free, impossible: 4 dahu hosts
    done = run([*FUNK, *_search(base, "-r", "dahu:4"), *api], env)
    assert done.returncode == 1 and "no slot has the resources wanted" in done.stderr
    # --plots and --json-file
    out = tmp_path / "funk.json"
    cwd_env = env
    done = subprocess.run(
        [*FUNK, *_search(base, "-r", "dahu:2", "-q", "--plots", "--json-file", str(out)), *api],
        capture_output=True, text=True, timeout=240, env=cwd_env, cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["start"] == base
    assert (tmp_path / "funk_gantt.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "funk_slots.png").read_bytes()[:4] == b"\x89PNG"


def _date(ts: int) -> str:
    from procession import format_date

    return str(format_date(ts))


def _ssh_to_testbed_frontend(tmp_path: Path, frontend: Any) -> dict[str, str]:
    """A procession configuration file whose ssh options send
    ``grenoble.grid5000.fr`` to the OAR testbed's frontend (as a Grid'5000
    user's ssh configuration sends it through the access machine)."""
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host grenoble.grid5000.fr\n  HostName {frontend.address}\n  Port {frontend.port}\n"
        f"  User {frontend.user}\n  IdentityFile {frontend.keyfile}\n"
    )
    config = tmp_path / "procession.toml"
    options = [
        "-F", str(ssh_config), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
    ]  # fmt: skip
    config.write_text(f"[connection_params]\nssh_options = {json.dumps(options)}\n")
    return {"PROCESSION_CONFIG": str(config)}


@pytest.mark.slow
def test_funk_submits(schedule: int, g5k_api: Any, oar_testbed: Any, tmp_path: Path) -> None:
    base = schedule
    env = _env(tmp_path) | _ssh_to_testbed_frontend(tmp_path, oar_testbed.frontend)
    args = _search(base, "-r", "dahu:3", "-j", "funk-e2e", "--submit", "--json")
    done = run([*FUNK, *args, "--api-uri", g5k_api.url], env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [submitted] = result["submitted"]
    assert submitted["site"] == "grenoble" and submitted["job_id"]
    job = get_resource_attributes(f"/sites/grenoble/jobs/{submitted['job_id']}")
    assert job["name"] == "funk-e2e" and job["walltime"] == 3600
    assert job["scheduled_at"] == base + 4265
    # the planning now shows the reservation on the three dahu hosts (on
    # dahu-1, right after the first one: the two busy periods merge)
    planning = get_planning(["dahu"], starttime=base, endtime=base + 4 * 3600)
    busy = (base + 4265, base + 4265 + 3600 + 65)
    assert {host: el["busy"] for host, el in planning["grenoble"]["dahu"].items()} == {
        dahu(1): [(base + 600, busy[1])],
        dahu(2): [busy],
        dahu(3): [busy],
    }
