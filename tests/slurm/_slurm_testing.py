"""Shared types of the Slurm tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SlurmCluster:
    """What the tests need to reach the session's Slurm cluster."""

    dir: Path
    env: dict[str, str]  # {"SLURM_CONF": ...}, for the Slurm commands
    nodes: list[str]  # node-1 ...
    addresses: list[str]  # NodeAddr of each node: testbed hosts
