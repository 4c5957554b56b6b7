"""Window sizes, UTC-aligned window starts and window ids, against hand-written answers."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from explainops.drift.windows import (
    missing_windows,
    parse_every,
    window_bounds,
    window_id,
    window_starts,
)

HOUR_NS = 3_600 * 10**9


def times(*texts: str) -> np.ndarray:
    return np.array(texts, dtype="datetime64[ns]")


@pytest.mark.parametrize(
    ("every", "hours"),
    [("1d", 24), ("6h", 6), ("30min", 0.5), ("1w", 168), ("2W", 336), (" 90 s ", 1 / 40)],
)
def test_every_parses_whole_units(every: str, hours: float) -> None:
    # when a duration is parsed, then its length is the hand-computed one
    size = parse_every(every)
    assert size.nanoseconds == round(hours * HOUR_NS), f"{every} lasts {hours} h"
    assert size.every == every.strip().lower().replace(" ", ""), "normalised spelling"


@pytest.mark.parametrize(
    ("every", "hint"),
    [
        ("1m", "write 'min' for minutes"),
        ("0d", "more than 0"),
        ("day", "whole number"),
        ("1.5h", "whole number"),
        ("1y", "s, min, h, d, w"),
    ],
)
def test_bad_durations_say_what_is_expected(every: str, hint: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_every(every)
    assert hint in str(error.value), str(error.value)


def test_daily_windows_start_at_midnight_utc_and_hold_their_last_nanosecond() -> None:
    # given times around the midnight of 2026-01-05
    found = window_starts(
        times("2026-01-04T23:59:59.999999999", "2026-01-05T00:00:00", "2026-01-05T23:59:59"),
        parse_every("1d"),
    )
    # then the first is in the 4th's window, the other two in the 5th's
    size = parse_every("1d")
    assert [window_id(start, size) for start in found] == [
        "2026-01-04",
        "2026-01-05",
        "2026-01-05",
    ], "a window holds [midnight, next midnight)"


def test_hourly_and_six_hour_windows_are_aligned_to_the_day() -> None:
    # given 2026-01-05 17:42 UTC
    moment = times("2026-01-05T17:42:10")
    # then its 1h window starts at 17:00, its 6h window at 12:00, its 30min window at 17:30
    assert window_id(window_starts(moment, parse_every("1h"))[0], parse_every("1h")) == (
        "2026-01-05T17:00Z"
    ), "hourly"
    assert window_id(window_starts(moment, parse_every("6h"))[0], parse_every("6h")) == (
        "2026-01-05T12:00Z"
    ), "6-hourly"
    assert window_id(window_starts(moment, parse_every("30min"))[0], parse_every("30min")) == (
        "2026-01-05T17:30Z"
    ), "half-hourly"
    # and 17:43:40 in 90 s windows: 63,820 s after midnight, in the window of 709 x 90 s
    late = window_starts(times("2026-01-05T17:43:40"), parse_every("90s"))[0]
    assert window_id(late, parse_every("90s")) == "2026-01-05T17:43:30Z", "seconds when needed"


def test_weekly_windows_start_on_monday() -> None:
    # given Sunday 2026-01-11 and Monday 2026-01-12 (both checked with datetime.weekday)
    sunday, monday = datetime(2026, 1, 11), datetime(2026, 1, 12)
    assert (sunday.weekday(), monday.weekday()) == (6, 0), "the calendar of the test"
    size = parse_every("1w")
    found = window_starts(times("2026-01-11T23:00", "2026-01-12T00:00"), size)
    # then Sunday is in the week of Monday 2026-01-05, Monday starts a new one
    assert [window_id(start, size) for start in found] == ["2026-01-05", "2026-01-12"], "ISO weeks"
    assert window_bounds(found[0], size) == (
        datetime(2026, 1, 5, tzinfo=UTC),
        datetime(2026, 1, 12, tzinfo=UTC),
    ), "a week from Monday to Monday"


def test_missing_windows_counts_the_gaps() -> None:
    # given daily windows on the 1st, 2nd and 5th
    size = parse_every("1d")
    found = window_starts(times("2026-01-01T10", "2026-01-02T10", "2026-01-05T10"), size)
    # then the 3rd and 4th are missing
    assert missing_windows(found, size) == 2, "two days without rows"
    assert missing_windows(np.empty(0, dtype=np.int64), size) == 0, "no rows, no gaps"


def test_missing_times_are_refused() -> None:
    with pytest.raises(ValueError, match="NaT"):
        window_starts(np.array(["2026-01-01", "NaT"], dtype="datetime64[ns]"), parse_every("1d"))
