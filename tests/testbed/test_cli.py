"""python -m procession.testbed up|status|down, run in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "procession.testbed", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_up_status_down_round_trip(tmp_path: Path) -> None:
    directory = tmp_path / "tb"
    up = _cli("up", "--hosts", "20", "--dir", str(directory))
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((directory / "testbed.json").read_text())
        pids = [d["pid"] for d in state["daemons"]]
        assert len(state["hosts"]) == 20 and len(pids) == 2
        # The daemons outlive the command that started them.
        assert all(_alive(pid) for pid in pids)
        assert f"ssh -F {state['ssh_config']} {state['hosts'][0]} hostname" in up.stdout
        assert "'ssh_options'" in up.stdout

        done = subprocess.run(
            ["ssh", "-F", state["ssh_config"], state["hosts"][-1], "echo $SSH_CONNECTION"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.stdout.split()[2:] == [state["hosts"][-1], str(state["port"])], done.stderr

        status = _cli("status", "--dir", str(directory))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "hosts answering ssh: 20/20" in status.stdout

        again = _cli("up", "--dir", str(directory))
        assert again.returncode == 1
        assert "already up" in again.stderr
    finally:
        down = _cli("down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert not directory.exists()
    assert not any(_alive(pid) for pid in pids)

    assert "no testbed is up" in _cli("down", "--dir", str(directory)).stderr
    assert _cli("status", "--dir", str(directory)).returncode == 1


def test_status_reports_a_dead_daemon(tmp_path: Path) -> None:
    directory = tmp_path / "tb"
    assert _cli("up", "--hosts", "17", "--dir", str(directory)).returncode == 0
    try:
        state = json.loads((directory / "testbed.json").read_text())
        os.kill(state["daemons"][1]["pid"], 9)
        status = _cli("status", "--dir", str(directory))
        assert status.returncode == 1
        assert "DEAD" in status.stdout
        assert f"not answering: {state['hosts'][16]}" in status.stdout
    finally:
        assert _cli("down", "--dir", str(directory)).returncode == 0


def test_default_directory_is_in_xdg_runtime_dir(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    done = _cli("status", env=env)
    assert done.returncode == 1
    assert f"no testbed is up in {tmp_path / 'procession-testbed'}" in done.stderr


@pytest.mark.parametrize("hosts", ["0", "x"])
def test_bad_host_count(tmp_path: Path, hosts: str) -> None:
    done = _cli("up", "--hosts", hosts, "--dir", str(tmp_path / "tb"))
    assert done.returncode != 0
    assert "error" in done.stderr
