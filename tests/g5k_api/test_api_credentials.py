"""Where the API's credentials come from; never in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from procession.g5k import APIConnection, g5k_configuration
from procession.g5k import _api_credentials as creds
from procession.testbed.g5kapi import G5kApiServer


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("G5K_USERNAME", "G5K_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTHON_GRID5000_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setitem(g5k_configuration, "api_username", None)
    monkeypatch.setattr(creds, "inside_grid5000", lambda: False)
    monkeypatch.setattr(creds, "_from_keyring", lambda username: None)
    creds.forget_passwords()


def test_no_username_no_credentials() -> None:
    assert creds.find_credentials("https://api") is None


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G5K_USERNAME", "alice")
    monkeypatch.setenv("G5K_PASSWORD", "pw1")
    assert creds.find_credentials("https://api") == ("alice", "pw1")


def test_python_grid5000_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "g5k.yaml"
    conf.write_text("# python-grid5000\nusername: bob\npassword: 'pw 2'\nverify_ssl: false\n")
    monkeypatch.setenv("PYTHON_GRID5000_CONFIG", str(conf))
    assert creds.read_config_file()["verify_ssl"] == "false"
    assert creds.find_credentials("https://api") == ("bob", "pw 2")


def test_keyring_then_no_prompt_without_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(g5k_configuration, "api_username", "carol")
    monkeypatch.setattr(creds, "_from_keyring", lambda username: f"kr-{username}")
    assert creds.find_credentials("https://api") == ("carol", "kr-carol")
    creds.forget_passwords()
    monkeypatch.setattr(creds, "_from_keyring", lambda username: None)
    # pytest's stdin is not a terminal: no prompt, no credentials
    assert creds.find_credentials("https://api") is None


def test_prompted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(g5k_configuration, "api_username", "dave")
    asked = []
    monkeypatch.setattr(creds, "_prompt", lambda user, uri: asked.append(user) or "typed")
    assert creds.find_credentials("https://api") == ("dave", "typed")
    assert creds.find_credentials("https://api") == ("dave", "typed")
    assert asked == ["dave"]


def test_inside_grid5000_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G5K_USERNAME", "alice")
    monkeypatch.setenv("G5K_PASSWORD", "pw1")
    monkeypatch.setattr(creds, "inside_grid5000", lambda: True)
    assert creds.find_credentials("https://api") is None


def test_credentials_sent_never_logged(
    g5k_ref_api: G5kApiServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(g5k_configuration, "api_username", None)
    monkeypatch.setenv("G5K_USERNAME", "alice")
    monkeypatch.setenv("G5K_PASSWORD", "s3cret-pw")
    caplog.set_level(logging.DEBUG)
    # the stand-in records the user of Basic auth as the deployment's owner
    body = {"nodes": ["nova-1.lyon.grid5000.fr"], "environment": "debian12-min"}
    dep = APIConnection().post("sites/lyon/deployments", body).json()
    assert dep["user_uid"] == "alice"
    assert "s3cret-pw" not in caplog.text
    assert "s3cret-pw" not in repr(APIConnection())
    # api_username False: no credentials at all
    monkeypatch.setitem(g5k_configuration, "api_username", False)
    dep = APIConnection().post("sites/lyon/deployments", body).json()
    assert dep["user_uid"] == g5k_ref_api.default_user
