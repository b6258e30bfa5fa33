"""Engine utilities: file-name slugs and stdout/stderr redirection or copy."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import unicodedata
from typing import Final

__all__ = ["copy_outputs", "redirect_outputs", "slugify"]

_tees: Final[list[subprocess.Popen[bytes]]] = []
"""The ``tee`` processes of :func:`copy_outputs`: they live as long as this process."""


def slugify(value: object, separator: str = "-") -> str:
    """A lowercase ASCII file-name-safe slug of ``str(value)``.

    Accents are stripped, characters other than letters, digits, ``_``,
    ``-`` and white space are removed, and runs of white space or
    ``separator`` become one ``separator``:

    >>> slugify({"size": 1024, "mode": "Écriture rapide"})
    'size-1024-mode-ecriture-rapide'

    Args:
        value: any object; its ``str()`` is used.
        separator: the separator (one character is best).
    """
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(rf"[{re.escape(separator)}\s]+", separator, text)


def _reopen_stdout() -> None:
    # Line-buffered so that what the script prints reaches the file promptly.
    sys.stdout = open(sys.stdout.fileno(), "w", buffering=1, closefd=False)  # noqa: SIM115


def _redirect_fd(fileno: int, filename: str) -> None:
    fd = os.open(filename, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        os.dup2(fd, fileno)
    finally:
        os.close(fd)


def redirect_outputs(stdout_filename: str, stderr_filename: str) -> None:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to files.

    The files are appended to. Give the same name twice to merge both
    streams in one file. Affects child processes started afterwards too.
    Call from the main thread, early.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    _redirect_fd(1, stdout_filename)
    _redirect_fd(2, stderr_filename)
    _reopen_stdout()


def _tee_fd(fileno: int, filename: str, use_pty: bool) -> None:
    if use_pty:
        reader, writer = pty.openpty()
    else:
        reader, writer = os.pipe()
    try:
        # A session of its own: Ctrl-C in the terminal does not kill tee, so
        # the last lines the engine writes while stopping are still copied.
        tee = subprocess.Popen(
            ["tee", "-a", filename], stdin=reader, stdout=fileno, start_new_session=True
        )
    except BaseException:
        os.close(writer)
        raise
    finally:
        os.close(reader)
    _tees.append(tee)
    os.dup2(writer, fileno)
    os.close(writer)


def copy_outputs(stdout_filename: str, stderr_filename: str, use_pty: bool = False) -> None:
    """Copy this process's stdout and stderr to files, still writing them as before.

    Each stream goes through a ``tee -a FILE`` process that lives until this
    process ends. Give the same name twice to merge both copies in one file.
    Call from the main thread, early.

    Args:
        stdout_filename: file receiving the copy of stdout (appended to).
        stderr_filename: file receiving the copy of stderr (appended to).
        use_pty: feed tee through a pseudo-terminal, so that the program
            still sees a terminal on stdout/stderr (colours, line buffering).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    _tee_fd(1, stdout_filename, use_pty)
    _tee_fd(2, stderr_filename, use_pty)
    _reopen_stdout()
