"""Engine: arguments, result directory, logs, -c, and the -L/-R/-M output modes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from procession import logger
from procession.engine import Engine, ParamSweeper, sweep


class Base(Engine):
    def __init__(self, where: Path) -> None:
        super().__init__()
        self.where = where
        self.calls: list[str] = []
        self.args_parser.add_argument("--size", type=int, default=3)

    def setup_result_dir(self) -> None:
        self.result_dir = str(self.where / str(self.run_name))

    def init(self) -> None:
        self.calls.append("Base.init")

    def run(self) -> None:
        self.calls.append("Base.run")


class Experiment(Base):
    def init(self) -> None:
        assert self.args is not None and self.result_dir is not None
        self.calls.append("Experiment.init")

    def run(self) -> None:
        assert self.args is not None and self.result_dir is not None
        self.calls.append("Experiment.run")
        logger.info("experiment size %d", self.args.size)
        with ParamSweeper(
            os.path.join(self.result_dir, "sweeper"), sweep({"n": range(self.args.size)})
        ) as sweeper:
            while (comb := sweeper.get_next()) is not None:
                sweeper.done(comb)
            self.calls.append(f"done {len(sweeper.get_done())}")


def test_start_parses_creates_the_directory_logs_and_runs_base_first(tmp_path: Path) -> None:
    handlers = list(logger.handlers)
    engine = Experiment(tmp_path)
    engine.start(["--size", "4"])
    assert engine.args is not None and engine.args.size == 4
    assert engine.run_name is not None and engine.run_name.startswith("Experiment_")
    assert engine.result_dir == str(tmp_path / engine.run_name)
    assert engine.calls == ["Base.init", "Experiment.init", "Base.run", "Experiment.run", "done 4"]
    assert engine.engine_dir == os.path.dirname(os.path.realpath(__file__))
    log = (Path(engine.result_dir) / "engine.log").read_text()
    assert "experiment size 4" in log and "in directory" in log
    assert logger.handlers == handlers  # the log file handler was removed


def test_log_level_option_applies_during_the_run_only(tmp_path: Path) -> None:
    seen: list[int] = []

    class Probe(Base):
        def run(self) -> None:
            seen.append(logger.getEffectiveLevel())

    before = logger.level
    Probe(tmp_path).start(["-l", "DEBUG"])
    Probe(tmp_path).start(["-l", "40"])
    assert seen == [logging.DEBUG, logging.ERROR]
    assert logger.level == before
    with pytest.raises(SystemExit):
        Probe(tmp_path).start(["-l", "LOUD"])


def test_continue_in_an_existing_directory(tmp_path: Path) -> None:
    first = Experiment(tmp_path)
    first.start(["--size", "2"])
    assert first.result_dir is not None
    again = Experiment(tmp_path / "elsewhere")
    again.start(["-c", first.result_dir, "--size", "5"])
    assert again.result_dir == first.result_dir
    assert again.calls[-1] == "done 5"
    assert not (tmp_path / "elsewhere").exists()


SCRIPT = textwrap.dedent(
    """
    import sys
    from procession.engine import Engine

    class Echo(Engine):
        def run(self):
            print("to stdout", flush=True)
            print("to stderr", file=sys.stderr, flush=True)

    Echo().start(["-c", sys.argv[1], *sys.argv[2:]])
    """
)


def _run_script(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "echo_engine.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run"), *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_redirect_outputs_to_the_result_directory(tmp_path: Path) -> None:
    proc = _run_script(tmp_path, "-R")
    assert "to stdout" not in proc.stdout and "to stderr" not in proc.stderr
    assert (tmp_path / "run" / "stdout").read_text() == "to stdout\n"
    assert "to stderr" in (tmp_path / "run" / "stderr").read_text()


def test_redirect_merged(tmp_path: Path) -> None:
    _run_script(tmp_path, "-R", "-M")
    merged = (tmp_path / "run" / "stdout+stderr").read_text()
    assert "to stdout" in merged and "to stderr" in merged
    assert not (tmp_path / "run" / "stdout").exists()


def test_copy_outputs_keeps_the_console_and_fills_the_files(tmp_path: Path) -> None:
    proc = _run_script(tmp_path, "-L")
    assert "to stdout" in proc.stdout and "to stderr" in proc.stderr
    assert (tmp_path / "run" / "stdout").read_text() == "to stdout\n"
    assert "to stderr" in (tmp_path / "run" / "stderr").read_text()
