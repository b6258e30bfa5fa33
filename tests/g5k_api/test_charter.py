"""The usage policy's periods, on hand-picked Paris dates (pure: no fixture).

2026 calendar used below: Mon 23 Mar, Fri 27 Mar, DST starts Sun 29 Mar
(02:00 CET -> 03:00 CEST); Easter Sun 5 Apr, so Easter Monday 6 Apr;
Fri 1 May (labour day); DST ends Sun 25 Oct (03:00 CEST -> 02:00 CET).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from procession.g5k.charter import (
    french_holidays,
    g5k_charter_remaining,
    g5k_charter_time,
    get_charter_el_planning,
    get_next_charter_period,
)

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
H = 3600


def paris(*args: int) -> float:
    return dt.datetime(*args, tzinfo=PARIS).timestamp()


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (paris(2026, 3, 23, 8, 59, 59), False),  # Monday, before the day
        (paris(2026, 3, 23, 9, 0), True),  # day starts at 09:00 included
        (paris(2026, 3, 23, 18, 59, 59), True),
        (paris(2026, 3, 23, 19, 0), False),  # 19:00 is night already
        (paris(2026, 3, 28, 12, 0), False),  # Saturday
        (paris(2026, 3, 29, 12, 0), False),  # Sunday (DST day)
        (paris(2026, 4, 6, 12, 0), False),  # Easter Monday
        (paris(2026, 5, 1, 10, 0), False),  # labour day
        (paris(2026, 5, 14, 10, 0), False),  # Ascension Thursday (Easter + 39)
        (paris(2026, 5, 25, 10, 0), False),  # Whit Monday (Easter + 50)
        (paris(2026, 5, 26, 10, 0), True),
        # 08:30 UTC in summer is 10:30 in Paris (day), in winter 09:30 (day);
        # 07:30 UTC is 09:30 in summer (day) but 08:30 in winter (night).
        (utc(2026, 3, 30, 7, 30), True),
        (utc(2026, 3, 27, 7, 30), False),
        (utc(2026, 10, 26, 7, 30), False),
        (utc(2026, 10, 23, 7, 30), True),
    ],
)
def test_charter_time(when: float, expected: bool) -> None:
    assert g5k_charter_time(when) is expected


def test_charter_time_accepts_execo_dates_and_holidays_switch() -> None:
    aware = dt.datetime(2026, 4, 6, 12, 0, tzinfo=PARIS)
    assert g5k_charter_time(aware) is False
    assert g5k_charter_time(aware, holidays=False) is True


def test_holidays_2026() -> None:
    days = french_holidays(2026)
    assert len(days) == 11
    assert {dt.date(2026, 4, 6), dt.date(2026, 5, 14), dt.date(2026, 5, 25)} <= days
    assert dt.date(2024, 4, 1) in french_holidays(2024)  # Easter 2024: 31 March


def test_next_period_from_inside_a_day() -> None:
    start = paris(2026, 3, 23, 10, 30)
    assert get_next_charter_period(start, start + 30 * H) == (start, paris(2026, 3, 23, 19))
    # cut at end
    assert get_next_charter_period(start, start + H) == (start, start + H)


def test_next_period_over_the_spring_dst_week_end() -> None:
    start = paris(2026, 3, 27, 19, 0)  # Friday evening
    period = get_next_charter_period(start, start + 7 * 24 * H)
    assert period == (paris(2026, 3, 30, 9), paris(2026, 3, 30, 19))
    # Friday 18:00 UTC to Monday 07:00 UTC: 61 hours, one less than usual
    assert period[0] == utc(2026, 3, 30, 7) and period[0] - start == 61 * H


def test_next_period_over_the_autumn_dst_week_end() -> None:
    start = paris(2026, 10, 23, 19, 0)
    period_start, period_end = get_next_charter_period(start, start + 7 * 24 * H)
    assert period_start == utc(2026, 10, 26, 8) and period_start - start == 63 * H
    assert period_end == utc(2026, 10, 26, 18)


def test_next_period_skips_holidays_and_respects_end() -> None:
    start = paris(2026, 4, 3, 20, 0)  # Friday before Easter
    assert get_next_charter_period(start, start + 10 * 24 * H)[0] == paris(2026, 4, 7, 9)
    assert get_next_charter_period(start, paris(2026, 4, 7, 9)) == (None, None)
    assert get_next_charter_period(start, start) == (None, None)
    # early morning of a working day: today at 09:00
    early = paris(2026, 3, 24, 6, 0)
    assert get_next_charter_period(early, early + 24 * H)[0] == paris(2026, 3, 24, 9)


def test_charter_el_planning_lists_every_day_period() -> None:
    start, end = paris(2026, 3, 26, 12, 0), paris(2026, 3, 31, 12, 0)
    assert get_charter_el_planning(start, end) == [
        (int(start), int(paris(2026, 3, 26, 19))),
        (int(paris(2026, 3, 27, 9)), int(paris(2026, 3, 27, 19))),
        (int(paris(2026, 3, 30, 9)), int(paris(2026, 3, 30, 19))),
        (int(paris(2026, 3, 31, 9)), int(end)),
    ]


@pytest.mark.parametrize(
    ("start", "walltime", "expected"),
    [
        (paris(2026, 3, 23, 17, 0), "1:00:00", H),  # fits before 19:00
        (paris(2026, 3, 23, 17, 0), "4:00:00", 2 * H),  # day ends at 19:00
        (paris(2026, 3, 23, 22, 0), 20 * H, 11 * H),  # night ends at 09:00
        (paris(2026, 3, 27, 19, 0), 100 * H, 61 * H),  # DST week-end is shorter
        (paris(2026, 10, 23, 19, 0), 100 * H, 63 * H),  # and this one longer
        (paris(2026, 4, 3, 19, 0), "90:00:00", 86 * H),  # Easter: until Tuesday
        (paris(2026, 3, 23, 9, 0), 0, 0),
    ],
)
def test_charter_remaining(start: float, walltime: object, expected: float) -> None:
    assert g5k_charter_remaining(start, walltime) == expected


def test_charter_remaining_rejects_a_bad_walltime() -> None:
    with pytest.raises(ValueError, match="walltime"):
        g5k_charter_remaining(paris(2026, 3, 23, 9), -5)
