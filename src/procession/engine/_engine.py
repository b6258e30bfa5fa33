"""Engine: the lifecycle of an experiment script (Execo's ``execo_engine.Engine``)."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Final

from procession import logger

from ._utils import copy_outputs, redirect_outputs

__all__ = ["Engine"]

_engineargs: Final = sys.argv[1:]
"""The command line when this module was imported: ``ipython -i script.py --
ARGS`` changes ``sys.argv`` back afterwards, and ``start()`` must see ARGS."""

LOG_FILE: Final = "engine.log"
"""Name of the log file :meth:`Engine.start` writes in the result directory."""

_engine_logger: Final = logger.getChild("engine")


def _log_level(text: str) -> int:
    if text.lstrip("-").isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    if not isinstance(level, int):
        raise argparse.ArgumentTypeError(
            f"unknown log level {text!r} (DEBUG, INFO, WARNING, ERROR, CRITICAL or a number)"
        )
    return level


class Engine:
    """Base class of experiment engines: arguments, result directory, logs, outputs.

    Subclass it, add arguments to :attr:`args_parser` in ``__init__``,
    override :meth:`init` and :meth:`run` (and optionally
    :meth:`setup_run_name`, :meth:`setup_result_dir`), then call
    :meth:`start`::

        class MyEngine(Engine):
            def __init__(self):
                super().__init__()
                self.args_parser.add_argument("--size", type=int, default=10)

            def run(self):
                sweeper = ParamSweeper(os.path.join(self.result_dir, "sweeper"),
                                       sweep({"n": range(self.args.size)}))
                while (comb := sweeper.get_next()) is not None:
                    ...
                    sweeper.done(comb)

        if __name__ == "__main__":
            MyEngine().start()

    :meth:`start` parses the command line (``-l LEVEL`` log level, ``-L``
    copy or ``-R`` redirect stdout/stderr to files in the result directory,
    ``-M`` merge them in one file, ``-c DIR`` continue in the result
    directory DIR of an earlier run), creates the result directory, logs the
    ``procession`` logger family to the console (as always) and to
    ``engine.log`` in the result directory, then calls every :meth:`init`
    then every :meth:`run` of the class hierarchy, base classes first.

    Threads: :meth:`start` must be called from the main thread.

    Attributes:
        engine_dir: directory of the file defining the engine class, or
            None when defined interactively.
        args_parser: the ``argparse.ArgumentParser`` of the engine.
        args: the parsed arguments (from :meth:`start` on; not in
            ``__init__``).
        run_name: name of the run (set by :meth:`setup_run_name`).
        result_dir: absolute path of the run's result directory.
    """

    def __init__(self) -> None:
        module = sys.modules.get(type(self).__module__)
        path = getattr(module, "__file__", None)
        self.engine_dir: str | None = (
            os.path.dirname(os.path.realpath(path)) if isinstance(path, str) else None
        )
        self.args_parser = argparse.ArgumentParser(
            usage="<program> [options] <arguments>", description=f"engine: {type(self).__name__}"
        )
        add = self.args_parser.add_argument
        add(
            "-l",
            dest="log_level",
            type=_log_level,
            default=None,
            help="log level (name or number). Default: the procession logger's level",
        )
        add(
            "-L",
            dest="output_mode",
            action="store_const",
            const="copy",
            default=None,
            help="copy stdout / stderr to files in the result directory",
        )
        add(
            "-R",
            dest="output_mode",
            action="store_const",
            const="redirect",
            help="redirect stdout / stderr to files in the result directory",
        )
        add(
            "-M",
            dest="merge_outputs",
            action="store_true",
            help="with -L or -R, merge stdout and stderr in one file",
        )
        add(
            "-c",
            dest="use_dir",
            default=None,
            metavar="DIR",
            help="continue the run whose result directory is DIR",
        )
        self.args: argparse.Namespace | None = None
        self.run_name: str | None = None
        self.result_dir: str | None = None

    def start(self, engineargs: Sequence[str] | None = None) -> None:
        """Parse the arguments, prepare the result directory and logs, then run.

        Args:
            engineargs: the arguments (default: the command line as it was
                when ``procession.engine`` was imported).
        """
        self.args = self.args_parser.parse_args(
            list(_engineargs if engineargs is None else engineargs)
        )
        old_level = logger.level
        if self.args.log_level is not None:
            logger.setLevel(self.args.log_level)
        handler: logging.Handler | None = None
        try:
            self.setup_run_name()
            if self.args.use_dir:
                self.result_dir = os.path.abspath(self.args.use_dir)
            else:
                self.setup_result_dir()
            assert self.result_dir is not None
            os.makedirs(self.result_dir, exist_ok=True)
            self._setup_outputs(self.result_dir)
            handler = logging.FileHandler(os.path.join(self.result_dir, LOG_FILE), encoding="utf-8")
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
            )
            logger.addHandler(handler)
            _engine_logger.info("command line: %s", shlex.join(sys.argv))
            _engine_logger.info("run %s in directory %s", self.run_name, self.result_dir)
            self._call_hierarchy("init")
            self._call_hierarchy("run")
        finally:
            if handler is not None:
                logger.removeHandler(handler)
                handler.close()
            logger.setLevel(old_level)

    def _setup_outputs(self, result_dir: str) -> None:
        assert self.args is not None
        mode = self.args.output_mode
        if not mode:
            return
        if self.args.merge_outputs:
            out = err = os.path.join(result_dir, "stdout+stderr")
        else:
            out = os.path.join(result_dir, "stdout")
            err = os.path.join(result_dir, "stderr")
        if mode == "copy":
            copy_outputs(out, err)
            _engine_logger.info("stdout / stderr copied to %s and %s", out, err)
        else:
            redirect_outputs(out, err)
            _engine_logger.info("stdout / stderr redirected to %s and %s", out, err)

    def _call_hierarchy(self, method: str) -> None:
        # Each class's own method, base classes first (Execo documents this
        # order but 2.8.2 calls the subclass first).
        for cls in reversed(type(self).__mro__):
            if issubclass(cls, Engine) and method in cls.__dict__:
                cls.__dict__[method](self)

    def setup_run_name(self) -> None:
        """Set :attr:`run_name`; default ``<ClassName>_<YYYYmmdd_HHMMSS_zone>``.

        Override to name runs differently. Called by :meth:`start` before
        :meth:`init`.
        """
        self.run_name = f"{type(self).__name__}_{time.strftime('%Y%m%d_%H%M%S_%z')}"

    def setup_result_dir(self) -> None:
        """Set :attr:`result_dir`; default ``./<run_name>``.

        Override to put results elsewhere. Not called when ``-c DIR`` is
        given (DIR is used).
        """
        self.result_dir = os.path.abspath(str(self.run_name))

    def init(self) -> None:
        """Override with the experiment's initialization (default: nothing).

        :meth:`start` calls the ``init`` of every class of the hierarchy,
        base classes first: do not call ``super().init()``.
        """

    def run(self) -> None:
        """Override with the experiment (default: nothing).

        :meth:`start` calls the ``run`` of every class of the hierarchy,
        base classes first: do not call ``super().run()``.
        """
