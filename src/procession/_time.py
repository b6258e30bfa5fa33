"""Dates and durations the way Execo accepts them.

Durations (``get_seconds``): numbers (seconds), ``datetime.timedelta``,
strings ``"90"``, ``"1:30:00"`` (H:MM:SS), ``"1:30"`` (H:MM, the OAR walltime
form) or ``"1d2h3m4.5s"`` (what :func:`format_duration` prints).

Dates (``get_unixts``): numbers (unix timestamps), ``datetime.datetime``
(naive means local time), ``datetime.date``, strings ``"2026-11-25 10:00"``,
``"2026-11-25T10:00:00.5+01:00"`` (RFC 3339, seconds optional) or a bare
``"10:00:00"`` (today).

Layer 0: imports only other leaves.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
import time
from typing import Final

__all__ = [
    "Timer",
    "format_date",
    "format_duration",
    "format_seconds",
    "format_unixts",
    "get_seconds",
    "get_unixts",
    "sleep",
]

Duration = float | int | _dt.timedelta | str
Date = float | int | _dt.datetime | _dt.date | str

_NUMBER: Final = re.compile(r"^\s*(\d*\.)?\d+\s*$")
_HMS: Final = re.compile(r"^\s*(\d+):(\d?\d)(?::(\d?\d)(\.\d+)?)?\s*$")
_UNITS: Final = re.compile(
    r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$", re.IGNORECASE
)
_DATE: Final = re.compile(
    r"^\s*(?:(\d{4})-(\d?\d)-(\d?\d)[Tt ])?(\d?\d):(\d?\d)(?::(\d?\d)(\.\d+)?)?"
    r"\s*([Zz]|[+-]\d?\d:\d\d)?\s*$"
)
_DAY_ONLY: Final = re.compile(r"^\s*(\d{4})-(\d?\d)-(\d?\d)\s*$")


def get_seconds(duration: Duration | None) -> float | None:
    """Convert a duration to seconds.

    Args:
        duration: see the module docstring for the accepted forms; None
            gives None.

    Raises:
        ValueError: an unsupported string, with the accepted forms.
        TypeError: an unsupported type.
    """
    if duration is None:
        return None
    if isinstance(duration, _dt.timedelta):
        return duration.total_seconds()
    if isinstance(duration, bool):
        raise TypeError(f"a duration cannot be a bool: {duration!r}")
    if isinstance(duration, int | float):
        return float(duration)
    if not isinstance(duration, str):
        raise TypeError(f"unsupported duration type {type(duration).__name__}: {duration!r}")
    if _NUMBER.match(duration):
        return float(duration)
    m = _HMS.match(duration)
    if m:
        h, mi, s, frac = m.groups()
        return int(h) * 3600 + int(mi) * 60 + int(s or 0) + float(frac or 0)
    m = _UNITS.match(duration)
    if m and any(m.groups()):
        d, h, mi, s = m.groups()
        return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    raise ValueError(
        f"unsupported duration {duration!r}: use seconds ('90'), 'H:MM:SS', 'H:MM' or '1h30m'"
    )


def _parse_date(text: str) -> float:
    if _NUMBER.match(text):
        return float(text)
    m = _DAY_ONLY.match(text)
    if m:
        year, month, day = (int(x) for x in m.groups())
        return time.mktime((year, month, day, 0, 0, 0, 0, 0, -1))
    m = _DATE.match(text)
    if not m:
        raise ValueError(
            f"unsupported date {text!r}: use a unix timestamp, 'YYYY-MM-DD HH:MM[:SS]' "
            "(RFC 3339, optional timezone) or 'HH:MM[:SS]' for today"
        )
    y, mo, d, h, mi, s, frac, tz = m.groups()
    now = time.localtime()
    fields = (
        int(y) if y else now.tm_year,
        int(mo) if mo else now.tm_mon,
        int(d) if d else now.tm_mday,
        int(h),
        int(mi),
        int(s or 0),
    )
    if tz:
        ts = float(calendar.timegm((*fields, 0, 0, 0)))
        if tz not in ("Z", "z"):
            sign = 1 if tz[0] == "+" else -1
            hh, mm = tz[1:].split(":")
            ts -= sign * (int(hh) * 3600 + int(mm) * 60)
    else:
        ts = time.mktime((*fields, 0, 0, -1))
    return ts + float(frac or 0)


def get_unixts(date: Date | None) -> float | None:
    """Convert a date to a unix timestamp (seconds since the epoch, UTC).

    Args:
        date: see the module docstring for the accepted forms; None gives
            None. Naive datetimes and strings without a timezone are local
            time.

    Raises:
        ValueError: an unsupported string, with the accepted forms.
        TypeError: an unsupported type.
    """
    if date is None:
        return None
    if isinstance(date, _dt.datetime):
        if date.tzinfo is not None:
            return date.timestamp()
        return time.mktime(date.timetuple()) + date.microsecond / 1e6
    if isinstance(date, _dt.date):
        return time.mktime(date.timetuple())
    if isinstance(date, bool):
        raise TypeError(f"a date cannot be a bool: {date!r}")
    if isinstance(date, int | float):
        return float(date)
    if isinstance(date, str):
        return _parse_date(date)
    raise TypeError(f"unsupported date type {type(date).__name__}: {date!r}")


def _ms_suffix(secs: float) -> str:
    ms = int(round(secs - int(secs), 3) * 1000)
    return f".{ms:03d}" if ms else ""


def format_unixts(secs: float | None, showms: bool = False) -> str | None:
    """Format a unix timestamp as local RFC 3339 (``2026-11-25 10:00:00+01:00``)."""
    if secs is None:
        return None
    t = time.localtime(secs)
    text = time.strftime("%Y-%m-%d %H:%M:%S", t)
    if showms:
        text += _ms_suffix(secs)
    offset = t.tm_gmtoff
    sign = "+" if offset >= 0 else "-"
    offset = abs(offset)
    return f"{text}{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"


def format_seconds(secs: float | None, showms: bool = False) -> str | None:
    """Format seconds as ``1d2h3m4s`` (Execo's format); None gives None."""
    if secs is None:
        return None
    sign = "-" if secs < 0 else ""
    total = abs(secs)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = sign
    if total >= 86400:
        text += f"{int(days)}d"
    if total >= 3600:
        text += f"{int(hours)}h"
    if total >= 60:
        text += f"{int(minutes)}m"
    if showms:
        return text + f"{int(seconds)}{_ms_suffix(seconds)}s"
    return text + f"{int(seconds)}s"


def format_date(date: Date | None, showms: bool = False) -> str | None:
    """Format any accepted date (see :func:`get_unixts`) for people."""
    return format_unixts(get_unixts(date), showms)


def format_duration(duration: Duration | None, showms: bool = False) -> str | None:
    """Format any accepted duration (see :func:`get_seconds`) as ``1h2m3s``."""
    return format_seconds(get_seconds(duration), showms)


def sleep(delay: Duration | None = None, until: Date | None = None) -> float | None:
    """Sleep for ``delay``, or until the date ``until``, whichever is later.

    Returns:
        The time slept, in seconds, or None when there was nothing to wait.
    """
    delay_s = get_seconds(delay) or 0.0
    until_ts = get_unixts(until)
    sleeptime = delay_s
    if until_ts is not None:
        sleeptime = max(sleeptime, until_ts - time.time())
    if sleeptime <= 0:
        return None
    end = time.monotonic() + sleeptime
    while (left := end - time.monotonic()) > 0:
        time.sleep(left)
    return sleeptime


class Timer:
    """Keep track of elapsed time, with an optional timeout.

    >>> t = Timer(10)
    >>> 9 < t.remaining() <= 10
    True
    """

    def __init__(self, timeout: Duration | None = None) -> None:
        self._start = time.time()
        self._mono = time.monotonic()
        self._timeout = get_seconds(timeout)

    def wait_elapsed(self, elapsed: Duration) -> Timer:
        """Sleep until ``elapsed`` has passed since the timer started."""
        target = get_seconds(elapsed) or 0.0
        left = target - self.elapsed()
        if left > 0:
            sleep(left)
        return self

    def start_date(self) -> float:
        """The unix timestamp at which the timer started."""
        return self._start

    def elapsed(self) -> float:
        """Seconds since the timer started (monotonic)."""
        return time.monotonic() - self._mono

    def remaining(self) -> float | None:
        """Seconds left before the timeout (may be negative), or None."""
        if self._timeout is None:
            return None
        return self._timeout - self.elapsed()
