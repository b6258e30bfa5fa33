"""The Grid'5000 usage policy's day, night and week-end periods.

Execo's ``execo_g5k.charter``. Grid'5000's usage policy (the "charter")
restricts the default queue during *day* periods: Monday to Friday,
09:00 to 19:00 in Europe/Paris time, French public holidays excepted.
Nights (19:00 to 09:00) and week-ends (Friday 19:00 to Monday 09:00, and
holidays) are where large and long jobs go, and a night or week-end job
must end before the next day period starts.

Everything here is pure: dates in, dates out (unix timestamps, in seconds),
computed with :mod:`zoneinfo` so that the day and night limits stay at
09:00 and 19:00 Paris wall-clock time on both sides of a daylight-saving
change.

Differences from Execo: no fork per conversion (Execo forked a process to
set ``TZ``), period ends are in Paris time too (Execo converted them in the
machine's local time zone, wrong outside France), and
:func:`g5k_charter_remaining` is a pure computation on a job's start and
walltime (Execo's needed a connection to each site's OAR database).
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from procession import get_seconds, get_unixts

__all__ = [
    "french_holidays",
    "g5k_charter_remaining",
    "g5k_charter_time",
    "get_charter_el_planning",
    "get_next_charter_period",
]

G5K_TIMEZONE: Final = ZoneInfo("Europe/Paris")
"""The time zone of Grid'5000's OAR servers and of its usage policy."""

DAY_START: Final = _dt.time(9, 0)
"""Start of a day period, Paris wall-clock time."""
DAY_END: Final = _dt.time(19, 0)
"""End of a day period (excluded), Paris wall-clock time."""

_FIXED_HOLIDAYS: Final = (
    (1, 1),  # new year
    (5, 1),  # labour day
    (5, 8),  # victory in Europe
    (7, 14),  # Bastille day
    (8, 15),  # assumption
    (11, 1),  # all saints
    (11, 11),  # armistice
    (12, 25),  # christmas
)


def _easter(year: int) -> _dt.date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    j = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * j) // 451
    month, day = divmod(h + j - 7 * m + 114, 31)
    return _dt.date(year, month, day + 1)


@lru_cache(maxsize=64)
def french_holidays(year: int) -> frozenset[_dt.date]:
    """The French public holidays of ``year`` (days off in the usage policy).

    The eight fixed ones plus Easter Monday, Ascension Thursday and Whit
    Monday.
    """
    easter = _easter(year)
    moving = (easter + _dt.timedelta(days=n) for n in (1, 39, 50))
    return frozenset([*(_dt.date(year, m, d) for m, d in _FIXED_HOLIDAYS), *moving])


def _work_day(day: _dt.date, holidays: bool) -> bool:
    if day.weekday() >= 5:
        return False
    return not (holidays and day in french_holidays(day.year))


def _paris(t: Any) -> _dt.datetime:
    ts = get_unixts(t)
    if ts is None:
        raise ValueError(f"not a date: {t!r}")
    return _dt.datetime.fromtimestamp(ts, G5K_TIMEZONE)


def _at(day: _dt.date, when: _dt.time) -> _dt.datetime:
    return _dt.datetime.combine(day, when, tzinfo=G5K_TIMEZONE)


def g5k_charter_time(t: Any, *, holidays: bool = True) -> bool:
    """Is ``t`` in a day period, where the usage policy's limits apply?

    Args:
        t: a date, in any form :func:`procession.get_unixts` accepts.
        holidays: count French public holidays as days off (default).

    Returns:
        True from 09:00 (included) to 19:00 (excluded), Paris time, on a
        working day; False at night, on week-ends and on holidays.
    """
    dt = _paris(t)
    return DAY_START <= dt.time() < DAY_END and _work_day(dt.date(), holidays)


def _next_day_period_start(dt: _dt.datetime, holidays: bool) -> _dt.datetime:
    """Start of the first day period beginning at or after ``dt``."""
    day = dt.date()
    if dt.time() > DAY_START or not _work_day(day, holidays):
        day += _dt.timedelta(days=1)
        while not _work_day(day, holidays):
            day += _dt.timedelta(days=1)
    return _at(day, DAY_START)


def get_next_charter_period(
    start: Any, end: Any, *, holidays: bool = True
) -> tuple[float, float] | tuple[None, None]:
    """The first day period (charter period) between ``start`` and ``end``.

    Args:
        start: where to start looking (any date :func:`procession.get_unixts`
            accepts). When ``start`` is in a day period, the period returned
            starts at ``start``.
        end: where to stop looking; a period running past ``end`` is cut
            at ``end``.
        holidays: count French public holidays as days off (default).

    Returns:
        ``(period_start, period_end)`` unix timestamps, or ``(None, None)``
        when no day period starts before ``end``.
    """
    begin, stop = _paris(start), _paris(end)
    if stop <= begin:
        return None, None
    if g5k_charter_time(begin, holidays=holidays):
        period_start = begin
    else:
        period_start = _next_day_period_start(begin, holidays)
        if period_start >= stop:
            return None, None
    period_end = min(stop, _at(period_start.date(), DAY_END))
    return period_start.timestamp(), period_end.timestamp()


def get_charter_el_planning(
    start_time: Any, end_time: Any, *, holidays: bool = True
) -> list[tuple[int, int]]:
    """Every day period between two dates, as a busy list of a planning.

    Args:
        start_time: a date (any form :func:`procession.get_unixts` accepts).
        end_time: a date.
        holidays: count French public holidays as days off (default).

    Returns:
        ``[(start, end), ...]`` integer unix timestamps, in order; the
        first and last are cut at ``start_time`` and ``end_time``.
    """
    periods: list[tuple[int, int]] = []
    begin: Any = start_time
    while True:
        period_start, period_end = get_next_charter_period(begin, end_time, holidays=holidays)
        if period_start is None or period_end is None:
            return periods
        periods.append((int(period_start), int(period_end)))
        begin = period_end


def g5k_charter_remaining(start: Any, walltime: Any, *, holidays: bool = True) -> float:
    """How much of ``walltime`` a job starting at ``start`` may use in its period.

    A job belongs to the period (day, or night and week-end) where it
    starts; this returns the part of its walltime before the next change of
    period: a night or week-end job must end when the next day period
    starts (09:00 on the next working day), and a day job's day period ends
    at 19:00.

    Args:
        start: the job's start date (any form :func:`procession.get_unixts`
            accepts).
        walltime: the wanted walltime (any duration
            :func:`procession.get_seconds` accepts: seconds, ``"2:00:00"``).
        holidays: count French public holidays as days off (default).

    Returns:
        Seconds, between 0 and ``walltime``: ``walltime`` itself when the
        whole job fits in its period.

    Differences from Execo: Execo's ``g5k_charter_remaining(sites, day)``
    summed, through each site's OAR database, the cpu time the user had
    left in a day; that database is not reachable from outside Grid'5000,
    and the rule it implemented is no longer the policy's.
    """
    duration = get_seconds(walltime)
    if duration is None or duration < 0:
        raise ValueError(f"not a walltime: {walltime!r}")
    begin = _paris(start)
    if g5k_charter_time(begin, holidays=holidays):
        boundary = _at(begin.date(), DAY_END)
    else:
        boundary = _next_day_period_start(begin, holidays)
    return float(min(duration, boundary.timestamp() - begin.timestamp()))
