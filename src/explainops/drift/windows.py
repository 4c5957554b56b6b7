"""Time windows of a history: ``every`` durations, UTC-aligned window starts, window ids.

Pure functions on numpy ``datetime64[ns]`` values; no I/O. A window of size *s* holds the times
*t* with ``start <= t < start + s``. Windows are aligned to fixed UTC boundaries, so the same
time falls into the same window in every run (a backfill and the hourly monitor agree):

- sizes that divide a day (``1h``, ``6h``, ``30min``, ``1d``) start at midnight UTC and at every
  multiple of the size after it;
- week sizes (``1w``, ``2w``) start on a Monday, 00:00 UTC (ISO weeks);
- other sizes (``5h``, ``2d``) are multiples of the size since 1970-01-01T00:00Z.

A window is named by its start: ``2026-01-05`` when it starts at midnight and lasts whole days,
else ``2026-01-05T06:00Z`` (``2026-01-05T06:00:30Z`` when it starts within a minute).

Examples
--------
>>> import numpy as np
>>> size = parse_every("6h")
>>> size.every, size.nanoseconds // 3_600_000_000_000
('6h', 6)
>>> times = np.array(["2026-01-05T05:59:59", "2026-01-05T06:00:00"], dtype="datetime64[ns]")
>>> [window_id(start, size) for start in window_starts(times, size)]
['2026-01-05T00:00Z', '2026-01-05T06:00Z']
>>> window_id(window_starts(times, parse_every("1d"))[0], parse_every("1d"))
'2026-01-05'

"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
# 1970-01-05 was a Monday: weeks are counted from there (1970-01-01 was a Thursday).
FIRST_MONDAY = 4 * DAY

UNITS = {"s": SECOND, "min": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}
_EVERY = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WindowSize:
    """How long a window lasts.

    Attributes:
        every: the duration as written (``1d``).
        nanoseconds: the duration in nanoseconds.

    """

    every: str
    nanoseconds: int

    @property
    def origin(self) -> int:
        """The boundary windows are counted from, in nanoseconds since 1970-01-01T00:00Z."""
        return FIRST_MONDAY if self.nanoseconds % WEEK == 0 else 0


def parse_every(every: str) -> WindowSize:
    """The window size ``every`` names: a whole number and a unit (s, min, h, d, w).

    Raises ValueError naming what was expected (``m`` is refused: minutes or months?).
    """
    found = _EVERY.match(every.lower())
    if found is None or found.group(2) not in UNITS:
        hint = " (write 'min' for minutes)" if found is not None and found.group(2) == "m" else ""
        raise ValueError(
            f"every: {every!r} is not a duration; expected a whole number and a unit: "
            f"{', '.join(UNITS)} (e.g. 1d, 6h, 30min, 1w){hint}"
        )
    count = int(found.group(1))
    if count == 0:
        raise ValueError(f"every: {every!r}: a window must last more than 0")
    return WindowSize(f"{count}{found.group(2)}", count * UNITS[found.group(2)])


def window_starts(times: npt.NDArray[np.datetime64], size: WindowSize) -> IntArray:
    """The start of each time's window, in nanoseconds since 1970-01-01T00:00Z (UTC).

    ``times`` are ``datetime64`` values in UTC (any unit); NaT is refused with ValueError.
    """
    nanoseconds = np.asarray(times, dtype="datetime64[ns]").view(np.int64)
    if np.any(np.isnat(np.asarray(times, dtype="datetime64[ns]"))):
        raise ValueError("times must not be missing (NaT)")
    shifted = nanoseconds - size.origin
    return np.asarray(shifted - np.mod(shifted, size.nanoseconds) + size.origin, dtype=np.int64)


def window_id(start: int | np.integer, size: WindowSize) -> str:
    """The name of the window that starts at ``start`` (nanoseconds since the epoch, UTC)."""
    start = int(start)
    moment = datetime.fromtimestamp(start // SECOND, tz=UTC)
    if size.nanoseconds % DAY == 0 and start % DAY == 0:
        return moment.strftime("%Y-%m-%d")
    if start % MINUTE == 0:
        return moment.strftime("%Y-%m-%dT%H:%MZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def window_bounds(start: int | np.integer, size: WindowSize) -> tuple[datetime, datetime]:
    """The window's first instant and the instant after its last, as UTC datetimes."""
    first = datetime.fromtimestamp(int(start) // SECOND, tz=UTC)
    return first, datetime.fromtimestamp((int(start) + size.nanoseconds) // SECOND, tz=UTC)


def missing_windows(starts: IntArray, size: WindowSize) -> int:
    """How many windows between the first and the last of ``starts`` hold no time at all."""
    if starts.size == 0:
        return 0
    unique = np.unique(starts)
    span = int((unique[-1] - unique[0]) // size.nanoseconds) + 1
    return span - int(unique.size)
