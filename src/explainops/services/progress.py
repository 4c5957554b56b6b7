"""Progress of long work: a bar on a terminal, periodic log lines elsewhere.

The bar (rows explained, rate, ETA) is drawn on stderr only when it is a terminal and progress is
enabled (``explainops run --no-progress`` disables it); otherwise a log line reports the same
figures every ``LOG_INTERVAL_S`` seconds, and once at the end.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

LOG_INTERVAL_S = 10.0
# Set by the CLI (--no-progress); a context variable so tests and notebooks can scope it.
bar_enabled: ContextVar[bool] = ContextVar("bar_enabled", default=True)


class Progress:
    """Counts rows done out of ``total``; use as a context manager around the work."""

    def __init__(self, total: int, description: str = "explained", unit: str = "rows") -> None:
        self.total = total
        self.description = description
        self.unit = unit
        self.done = 0
        self._started = time.perf_counter()
        self._last_log = self._started
        self._bar: Any = None
        self._logged_at = -1
        if bar_enabled.get() and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=description, unit=f" {unit}", unit_scale=True, file=sys.stderr
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
        if error is None and self._bar is None and self._logged_at != self.done:
            self._log()

    def update(self, rows: int) -> None:
        """Account for ``rows`` more rows done."""
        self.done += rows
        if self._bar is not None:
            self._bar.update(rows)
            return
        now = time.perf_counter()
        if now - self._last_log >= LOG_INTERVAL_S:
            self._last_log = now
            self._log()

    def _log(self) -> None:
        self._logged_at = self.done
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        rate = self.done / elapsed
        remaining = (self.total - self.done) / rate if rate > 0 else float("inf")
        logger.info(
            "%s %d/%d %s (%.0f %s/s, %s)",
            self.description,
            self.done,
            self.total,
            self.unit,
            rate,
            self.unit,
            f"ETA {remaining:.0f}s" if self.done < self.total else f"in {elapsed:.1f}s",
        )
