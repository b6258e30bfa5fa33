"""The configuration dicts and the user configuration file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from procession import configuration, default_connection_params
from procession._config import ConfigurationError, load_config_file, make_default_connection_params


@pytest.fixture
def restore() -> object:
    saved_c = dict(configuration)
    saved_p = dict(default_connection_params)
    yield
    configuration.clear()
    configuration.update(saved_c)
    default_connection_params.clear()
    default_connection_params.update(saved_p)


def test_execo_keys_are_present() -> None:
    execo_configuration = """log_level remote_tool fileput_tool fileget_tool kill_timeout
        compact_output_threshold kill_childs_at_end port_range intr_period"""
    execo_params = """user keyfile port ssh scp taktuk ssh_options scp_options taktuk_options
        taktuk_connector taktuk_connector_options nc forwarding_timeout pty host_rewrite_func
        chainput_host_retry chainput_chain_retry chainput_try_delay"""
    assert set(execo_configuration.split()) <= set(configuration)
    assert set(execo_params.split()) <= set(default_connection_params)
    assert "-tt" not in default_connection_params["ssh_options"]
    assert make_default_connection_params() == default_connection_params


def test_file_overrides_defaults(tmp_path: Path, restore: object) -> None:
    f = tmp_path / "config.toml"
    f.write_text(
        "[configuration]\nkill_timeout = 5\ncolor_mode = false\n"
        '[connection_params]\nuser = "alice"\nssh_options = ["-o", "ConnectTimeout=3"]\n'
    )
    assert load_config_file(f) == f
    assert configuration["kill_timeout"] == 5 and configuration["color_mode"] is False
    assert default_connection_params["user"] == "alice"
    assert default_connection_params["ssh_options"] == ("-o", "ConnectTimeout=3")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[configuration]\nkill_timout = 5\n", r"\[configuration\] kill_timout: unknown key"),
        (
            '[configuration]\nkill_timeout = "soon"\n',
            r"kill_timeout: expected int or float, got str",
        ),
        (
            "[configuration]\nkill_childs_at_end = 1\n",
            r"kill_childs_at_end: expected bool, got int",
        ),
        ("[connection_params]\nport = true\n", r"port: expected int, got bool"),
        ("[connection]\nuser = 'x'\n", r"unknown section \[connection\]"),
        ("[configuration\n", r"invalid TOML"),
    ],
)
def test_bad_file_names_file_key_and_expectation(
    tmp_path: Path, restore: object, text: str, message: str
) -> None:
    f = tmp_path / "config.toml"
    f.write_text(text)
    with pytest.raises(ConfigurationError, match=message) as info:
        load_config_file(f)
    assert str(f) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_file_is_loaded_at_import_from_xdg_config_home(tmp_path: Path) -> None:
    conf = tmp_path / "procession"
    conf.mkdir()
    (conf / "config.toml").write_text("[configuration]\nkill_timeout = 7\n")
    env = {k: v for k, v in os.environ.items() if k != "PROCESSION_CONFIG"}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    code = "import procession; print(procession.configuration['kill_timeout'])"
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.stdout.strip() == "7", r.stderr


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config_file(tmp_path / "nope.toml")
