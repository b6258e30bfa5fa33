"""Dates and durations in every form Execo accepts, and a few more."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from procession import Timer, format_date, format_duration, get_seconds, get_unixts, sleep


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (None, None),
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        (".5", 0.5),
        ("1:30:00", 5400.0),
        ("0:00:01.25", 1.25),
        ("1:30", 5400.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("1m30.5s", 90.5),
        (dt.timedelta(hours=1, seconds=2), 3602.0),
    ],
)
def test_get_seconds(given: object, seconds: float | None) -> None:
    assert get_seconds(given) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "1:2:3:4", "", "5 minutes"])
def test_get_seconds_rejects_with_the_accepted_forms(bad: str) -> None:
    with pytest.raises(ValueError, match="H:MM:SS"):
        get_seconds(bad)


def test_get_seconds_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        get_seconds([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        get_seconds(True)


def test_get_unixts_forms() -> None:
    local = dt.datetime(2026, 11, 25, 10, 0)
    ts = time.mktime(local.timetuple())
    assert get_unixts(None) is None
    assert get_unixts(1234.5) == 1234.5
    assert get_unixts("1234.5") == 1234.5
    assert get_unixts(local) == ts
    assert get_unixts("2026-11-25 10:00") == ts
    assert get_unixts("2026-11-25 10:00:00") == ts
    assert get_unixts("2026-11-25T10:00:00.5") == ts + 0.5
    assert get_unixts(dt.date(2026, 11, 25)) == time.mktime(dt.date(2026, 11, 25).timetuple())
    assert get_unixts("2026-11-25") == get_unixts(dt.date(2026, 11, 25))
    utc = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC).timestamp()
    assert get_unixts("2026-11-25T10:00:00Z") == utc
    assert get_unixts("2026-11-25 11:00+01:00") == utc
    assert get_unixts(dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)) == utc
    today = dt.date.today()
    assert get_unixts("10:00") == time.mktime(dt.datetime.combine(today, dt.time(10)).timetuple())


def test_get_unixts_rejects_with_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        get_unixts("next tuesday")


def test_format_duration_round_trips() -> None:
    assert format_duration(3725) == "1h2m5s"
    assert format_duration(90061) == "1d1h1m1s"
    assert format_duration(1.25, showms=True) == "1.250s"
    assert format_duration(-61) == "-1m1s"
    assert format_duration(None) is None
    assert get_seconds(format_duration(93784)) == 93784


def test_format_date() -> None:
    text = format_date("2026-11-25 10:00:00")
    assert text is not None and text.startswith("2026-11-25 10:00:00")
    assert get_unixts(text) == get_unixts("2026-11-25 10:00:00")
    assert format_date(None) is None


def test_sleep_and_timer() -> None:
    t = Timer(10)
    assert sleep(0.05) == 0.05
    assert sleep(0) is None
    assert sleep(until=time.time() - 5) is None
    assert t.elapsed() >= 0.05
    remaining = t.remaining()
    assert remaining is not None and remaining <= 10 - 0.05
    assert Timer().remaining() is None
    t2 = Timer().wait_elapsed(0.05)
    assert t2.elapsed() >= 0.05
    assert abs(t2.start_date() - time.time()) < 5
