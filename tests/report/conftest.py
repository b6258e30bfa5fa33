"""Report tests: connection parameters of the session testbed."""

from __future__ import annotations

from typing import Any

import pytest

from procession._report import plot_timeline


@pytest.fixture(scope="session", autouse=True)
def _matplotlib_fonts_loaded(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Draw once before the per-test leak guard takes its snapshot.

    matplotlib keeps each font file it uses open in a cache (one descriptor
    per font and thread, for the life of the interpreter): loaded here, they
    are part of the baseline instead of looking like a leak of the first
    timeline test.
    """
    directory = tmp_path_factory.mktemp("fonts")
    plot_timeline([], directory / "warm.png")
    plot_timeline([], directory / "warm.svg")


@pytest.fixture
def cp(testbed_connection_params: dict[str, Any]) -> dict[str, Any]:
    """Connection params reaching the testbed hosts (a fresh copy)."""
    return dict(testbed_connection_params)
