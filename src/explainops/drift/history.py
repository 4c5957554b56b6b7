"""The drift history: one row per window and label, appended by every monitoring run.

Runs may overlap (an hourly monitor and a backfill on the same history), so an append must never
lose another run's rows. Two layouts keep that promise:

- a **folder** (``history_path`` ending in ``/`` or without a file extension): every run writes
  its rows to a file of its own in the folder, and readers take the union. Nothing is ever
  rewritten, so it holds on object stores (``s3://``), which have no locks.
- a **file** (``.parquet``, ``.csv``, ``.jsonl``: any table format) on a local filesystem: the
  run holds an exclusive lock on the file's folder while it reads, appends and atomically
  replaces the table.

A run checks its append (``appending_history``) before it publishes any output, and writes the
history (``HistoryAppend.publish``) last, so a failure leaves the history as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath

import pandas as pd

from explainops.errors import ConfigError, InputError
from explainops.io.datasets import FILE_FORMATS, ParquetWriter, reader_for_path, writer_for_path
from explainops.io.storage import filesystem_of

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = tuple(extension for known in FILE_FORMATS for extension in known.extensions)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def history_layout(path: str) -> str:
    """``"folder"`` or ``"file"``; ConfigError for a path that is neither, or a shared file."""
    suffix = PurePosixPath(path.rstrip("/")).suffix.lower()
    if path.endswith("/") or not suffix:
        return "folder"
    if suffix not in TABLE_SUFFIXES:
        raise ConfigError(
            f"history_path {path!r}: use a table file ({', '.join(TABLE_SUFFIXES)}) or a "
            "folder (ending in '/')"
        )
    if "://" in path and not path.startswith("file://"):
        raise ConfigError(
            f"history_path {path!r}: a single history file on an object store cannot be appended "
            "safely by overlapping runs (no locks there); use a folder (ending in '/'), where "
            "each run adds a file of its own"
        )
    return "file"


def append_history(path: str, rows: pd.DataFrame, window_id: str) -> int:
    """Append ``rows`` to the history at ``path``.

    Returns the history's row count (file layout) or this run's (folder layout).
    """
    with appending_history(path, rows, window_id) as append:
        return append.publish()


def check_history(path: str, columns: Sequence[str]) -> None:
    """Raise InputError unless rows of ``columns`` can be appended to the history; writes nothing.

    A history file is read (a missing one, or one without rows, is fine: the run writes it); a
    folder is not, since each run adds a file of its own.
    """
    if history_layout(path) == "folder":
        return
    previous = _existing(path)
    if previous is not None and not previous.empty:
        _check_columns(path, list(previous.columns), list(columns))


class HistoryAppend:
    """Rows on their way into the history, checked against it; written by ``publish()``."""

    def __init__(
        self, path: str, rows: pd.DataFrame, window_id: str, appended: pd.DataFrame | None
    ) -> None:
        self.path = path
        self.rows = rows
        self.window_id = window_id
        self._appended = appended  # a history file with the rows, read under the folder's lock

    def table(self) -> pd.DataFrame:
        """The whole history once the rows are appended (a folder's files are read now)."""
        if self._appended is not None:
            return self._appended
        previous = _existing(self.path)
        if previous is None or previous.empty:
            return self.rows
        if self.rows.empty:
            return previous
        table = pd.concat([previous, self.rows], ignore_index=True)
        return table.sort_values("window_time", kind="stable", ignore_index=True)

    def publish(self) -> int:
        """Write the rows: a history file replaced atomically, or a new file in the folder.

        Returns the history's row count (file layout) or this run's (folder layout); 0, and
        nothing written, without rows.
        """
        if self.rows.empty:
            return 0
        if self._appended is None:
            name = f"{_UNSAFE.sub('_', self.window_id)[:80]}-{uuid.uuid4().hex[:12]}.parquet"
            ParquetWriter(path=f"{self.path.rstrip('/')}/{name}").write(self.rows)
            logger.info("add %d rows to the history %s (%s)", len(self.rows), self.path, name)
            return len(self.rows)
        writer_for_path(self.path).write(self._appended)
        logger.info(
            "append %d rows to the history %s (%d rows)",
            len(self.rows),
            self.path,
            len(self._appended),
        )
        return len(self._appended)


@contextlib.contextmanager
def appending_history(path: str, rows: pd.DataFrame, window_id: str) -> Iterator[HistoryAppend]:
    """An append of ``rows`` to the history at ``path``, checked before anything is written.

    With a history file, the file is read and checked (InputError for other columns or values
    that do not fit) and its folder stays locked until the block ends, so the table checked is
    the table ``publish()`` replaces: a run can check the append, then publish its other
    outputs, then the history, and a failure before that leaves every output as it was.
    """
    if history_layout(path) == "folder" or rows.empty:
        yield HistoryAppend(path, rows, window_id, None)
        return
    with _locked_folder(path):
        yield HistoryAppend(path, rows, window_id, _appended(path, _existing(path), rows))


def _appended(path: str, previous: pd.DataFrame | None, rows: pd.DataFrame) -> pd.DataFrame:
    """``previous`` (a history file's table, None: no file yet) with ``rows`` appended."""
    if previous is None or previous.empty:
        return rows
    _check_columns(path, list(previous.columns), list(rows.columns))
    for column, dtype in rows.dtypes.items():
        try:
            previous[column] = previous[column].astype(dtype)
        except (TypeError, ValueError) as error:
            raise InputError(
                f"{path}: the history's column {column!r} does not hold {dtype} values: "
                + " ".join(str(error).split())
            ) from error
    return pd.concat([previous, rows], ignore_index=True)


def _check_columns(path: str, columns: list[str], expected: list[str]) -> None:
    if columns != expected:
        raise InputError(f"{path}: the history has columns {columns}, expected {expected}")


def _existing(path: str) -> pd.DataFrame | None:
    """The history at ``path``; None when its file does not exist yet (a folder is read)."""
    if history_layout(path) == "file" and not os.path.exists(_local(path)):
        return None
    return read_history(path)


def _local(path: str) -> str:
    return path.removeprefix("file://")


def read_history(path: str) -> pd.DataFrame:
    """The whole history at ``path`` (a table file, or the union of a folder's files)."""
    try:
        if history_layout(path) == "file":
            # a file without rows (a header only) is an empty history, as an empty folder is
            batches = list(reader_for_path(path).batches())
            return pd.concat(batches) if batches else pd.DataFrame()
        filesystem, folder = filesystem_of(path.rstrip("/"))
        # Other runs add parts: list the folder afresh, not from a cached listing (s3fs).
        filesystem.invalidate_cache(folder)
        parts = sorted(part for part in filesystem.glob(f"{folder}/*.parquet") if "/." not in part)
        frames = [pd.read_parquet(part, filesystem=filesystem) for part in parts]
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read the drift history: {error}") from error
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values("window_time", kind="stable", ignore_index=True)


@contextlib.contextmanager
def _locked_folder(path: str) -> Iterator[None]:
    """Hold an exclusive lock on the folder of ``path`` (local files only)."""
    folder = os.path.dirname(os.path.abspath(_local(path)))
    created = not os.path.isdir(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError as error:
        raise InputError(f"{path}: cannot open the history's folder: {error}") from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    finally:
        os.close(descriptor)
