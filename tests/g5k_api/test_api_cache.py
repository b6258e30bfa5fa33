"""The on-disk cache of the reference data: hits offline, refresh on a new
version, clear_cache. Each "script" runs in a fresh Python process, as a
user's scripts do (the in-memory copy lives for one process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from procession.g5k import api_utils, clear_cache, g5k_configuration, get_cluster_attributes
from procession.testbed.g5kapi import DATA_DIR, G5kApiServer

SCRIPT = """
import json, sys
from procession.g5k import g5k_configuration, get_cluster_attributes, get_g5k_sites
g5k_configuration.update(api_uri=sys.argv[1], api_cache_dir=sys.argv[2], api_username=False)
print(json.dumps([get_g5k_sites(), get_cluster_attributes("nova").get("model")]))
"""


def run_script(url: str, cache_dir: Path) -> list:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), url, str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DATA_DIR, tmp_path / "grid5000"))


def set_model(data: Path, model: str) -> None:
    path = data / "sites" / "lyon" / "clusters" / "nova" / "nova.json"
    attrs = json.loads(path.read_text())
    attrs["model"] = model
    path.write_text(json.dumps(attrs))


def test_cache_hit_without_server(data_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with G5kApiServer(data_copy) as server:
        url, port = server.url, server.port
        first = run_script(url, cache)
    assert sorted(first[0]) == ["grenoble", "luxembourg", "lyon"]
    assert len(list(cache.glob("*.json"))) == 1
    # the server is gone: the same answers, from the cache
    assert run_script(url, cache) == first
    # a new version of the data: the cache is refreshed
    set_model(data_copy, "Changed model")
    with G5kApiServer(data_copy, port=port):
        assert run_script(url, cache)[1] == "Changed model"
    assert run_script(url, cache)[1] == "Changed model"


def test_no_cache_and_no_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(g5k_configuration, "api_uri", "http://127.0.0.1:9/stable/")
    monkeypatch.setitem(g5k_configuration, "api_cache_dir", str(tmp_path))
    monkeypatch.setitem(g5k_configuration, "api_username", False)
    with pytest.raises(api_utils.APIException):
        get_cluster_attributes("nova")


def test_clear_cache(data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with G5kApiServer(data_copy) as server:
        monkeypatch.setitem(g5k_configuration, "api_uri", server.url)
        monkeypatch.setitem(g5k_configuration, "api_cache_dir", str(tmp_path / "c"))
        monkeypatch.setitem(g5k_configuration, "api_username", False)
        assert get_cluster_attributes("nova")["model"] != "Other"
        [cache_file] = (tmp_path / "c").glob("*.json")
        # in this process, the data stays in memory until clear_cache()
        set_model(data_copy, "Other")
        assert get_cluster_attributes("nova")["model"] != "Other"
        clear_cache()
        assert not cache_file.exists()
    with G5kApiServer(data_copy, port=server.port):
        assert get_cluster_attributes("nova")["model"] == "Other"
        assert cache_file.exists()
