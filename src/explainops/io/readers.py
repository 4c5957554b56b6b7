"""Every reader a configuration can select by its ``KIND``.

The union lives here, not in ``datasets``, because some readers build on ``datasets.Reader`` in
modules of their own (``capture.CaptureReader``).
"""

from __future__ import annotations

from explainops.io.capture import CaptureReader
from explainops.io.datasets import CsvReader, JsonLinesReader, JsonReader, ParquetReader

ReaderKind = CsvReader | ParquetReader | JsonLinesReader | JsonReader | CaptureReader

__all__ = ["ReaderKind"]
