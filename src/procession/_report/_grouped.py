"""Grouped output, like ``clush -b``: one block per distinct output.

The core is pure: :func:`group_by_output` maps ``(label, output)`` pairs to
blocks, and :func:`fold_labels` folds labels into a node set
(``127.0.2.[1-4,7]``, ``node-[1-3]``) with ClusterShell's ``NodeSet``.
:func:`group_outputs` wires it to processes and actions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from .._process import STDERR, STDOUT
from ._records import flatten_processes, process_label

__all__ = ["GroupedOutput", "OutputBlock", "fold_labels", "group_by_output", "group_outputs"]

# Labels NodeSet can fold without changing them: its syntax gives meaning to
# ",", "[", "]", "@", "!", "&", "^" and spaces, which process names may hold.
_FOLDABLE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def fold_labels(labels: Iterable[str]) -> str:
    """Fold labels into one node-set string, duplicates counted once.

    Host names and addresses fold with ClusterShell's ``NodeSet``
    (``["n1", "n2", "n3"]`` gives ``n[1-3]``); labels that node-set syntax
    would misread (a local process named ``echo a,b``) are kept verbatim,
    after the folded ones, separated by ``", "``.

    >>> fold_labels(["127.0.2.1", "127.0.2.2", "127.0.2.7", "echo hi"])
    '127.0.2.[1-2,7], echo hi'
    """
    unique = list(dict.fromkeys(labels))
    foldable = [label for label in unique if _FOLDABLE.match(label)]
    verbatim = [label for label in unique if not _FOLDABLE.match(label)]
    parts = []
    if foldable:
        # Imported here: ClusterShell costs ~50 ms to import, and only
        # reports need it, not every `import procession`.
        from ClusterShell.NodeSet import (  # noqa: PLC0415
            RESOLVER_NOGROUP,
            NodeSet,
        )

        parts.append(str(NodeSet.fromlist(foldable, resolver=RESOLVER_NOGROUP)))
    parts.extend(verbatim)
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class OutputBlock:
    """Labels that produced the same text.

    Attributes:
        labels: the labels, in input order (a label appears once per
            process, so twice for two processes on one host).
        text: the common output (or failure reason).
    """

    labels: tuple[str, ...]
    text: str

    @property
    def nodeset(self) -> str:
        """The labels folded by :func:`fold_labels`."""
        return fold_labels(self.labels)

    @property
    def header(self) -> str:
        """``nodeset (count)``, as ``clush -b`` heads its blocks."""
        return f"{self.nodeset} ({len(self.labels)})"


def group_by_output(pairs: Iterable[tuple[str, str]]) -> list[OutputBlock]:
    """Group ``(label, text)`` pairs by identical text (pure).

    Blocks come in the order of the first label of each; texts compare
    exactly (a missing final newline makes a different output).

    >>> [(b.labels, b.text) for b in group_by_output([("a", "1"), ("b", "2"), ("c", "1")])]
    [(('a', 'c'), '1'), (('b',), '2')]
    """
    groups: dict[str, list[str]] = {}
    for label, text in pairs:
        groups.setdefault(text, []).append(label)
    return [OutputBlock(tuple(labels), text) for text, labels in groups.items()]


def _rule(header: str) -> str:
    return "-" * min(max(len(header), 15), 79)


@dataclass(frozen=True, slots=True)
class GroupedOutput:
    """Outputs of many processes gathered by content (see :func:`group_outputs`).

    ``str()`` renders it the way ``clush -b`` does, failures last.

    Attributes:
        stream: ``"stdout"`` or ``"stderr"``.
        blocks: one block per distinct output, of every process that ran.
        failures: processes that are not ok, grouped by failure reason.
    """

    stream: str
    blocks: tuple[OutputBlock, ...]
    failures: tuple[OutputBlock, ...]

    def __str__(self) -> str:
        lines: list[str] = []
        for block in self.blocks:
            rule = _rule(block.header)
            lines += [rule, block.header, rule]
            lines.append(block.text.rstrip("\n") if block.text else f"(no {self.stream})")
        if self.failures:
            count = sum(len(block.labels) for block in self.failures)
            lines.append(f"failed ({count}):")
            lines += [f"  {block.header}: {block.text}" for block in self.failures]
        return "\n".join(lines) + ("\n" if lines else "")


def _stream_name(stream: str | int) -> str:
    if stream in ("stdout", STDOUT):
        return "stdout"
    if stream in ("stderr", STDERR):
        return "stderr"
    raise ValueError(f"stream must be 'stdout' or 'stderr' (or STDOUT/STDERR), not {stream!r}")


def group_outputs(
    processes_or_actions: Iterable[Any], stream: str | int = "stdout"
) -> GroupedOutput:
    """Gather the processes that printed the same thing, like ``clush -b``.

    Each process is labelled by its host address (local processes by their
    name), and processes with identical output share one block headed by
    the folded node set of their labels, e.g. ``127.0.2.[1,3,5,7] (4)``.

    Processes that could not start or connect (``error``) have no output of
    their command and appear only among the failures; processes that ran but
    are not ok (non-zero exit code, timeout, killed) appear in both: their
    output is in the blocks, their failure reason in ``failures``. Processes
    not started are left out.

    Args:
        processes_or_actions: processes, actions (their ``processes``) or
            reports, mixed freely.
        stream: ``"stdout"`` or ``"stderr"`` (or ``STDOUT``/``STDERR``).

    Raises:
        ValueError: an unknown stream.
    """
    name = _stream_name(stream)
    processes = flatten_processes(processes_or_actions)
    ran = [p for p in processes if p.started and not p.error]
    pairs = [(process_label(p), p.stdout if name == "stdout" else p.stderr) for p in ran]
    failed = [(process_label(p), p.failure_reason()) for p in processes if not p.ok]
    return GroupedOutput(name, tuple(group_by_output(pairs)), tuple(group_by_output(failed)))
