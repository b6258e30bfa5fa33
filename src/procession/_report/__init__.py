"""Layer 4, reports: what happened to processes and actions, told several ways.

``Report`` (Execo's counts, grouped output, JSON), the JSON-lines
``EventLog``, the ``Progress`` bar and ``plot_timeline``. The event log and
the progress bar are instruments of the processes layer.

Imports the processes layer (``procession._process``), the remote layer,
the conductor and the leaves; never ``procession._actions`` (a sibling of
this layer: actions are read through their ``stats()`` and ``processes``
only) nor anything above.
"""

from __future__ import annotations

from ._eventlog import EventLog, enable_event_log_from_configuration, event_record, read_event_log
from ._grouped import GroupedOutput, OutputBlock, fold_labels, group_by_output, group_outputs
from ._progress import Progress, format_progress
from ._records import OUTCOMES, flatten_processes, outcome, process_id, process_record
from ._report import COUNT_KEYS, HasStats, Report
from ._timeline import (
    OUTCOME_COLORS,
    Span,
    plot_timeline,
    spans_from_events,
    spans_from_processes,
)

__all__ = [
    "COUNT_KEYS",
    "OUTCOMES",
    "OUTCOME_COLORS",
    "EventLog",
    "GroupedOutput",
    "HasStats",
    "OutputBlock",
    "Progress",
    "Report",
    "Span",
    "enable_event_log_from_configuration",
    "event_record",
    "flatten_processes",
    "fold_labels",
    "format_progress",
    "group_by_output",
    "group_outputs",
    "outcome",
    "plot_timeline",
    "process_id",
    "process_record",
    "read_event_log",
    "spans_from_events",
    "spans_from_processes",
]
