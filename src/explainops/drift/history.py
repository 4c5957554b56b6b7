"""The drift history: one row per window and label, appended by every monitoring run.

Runs may overlap (an hourly monitor and a backfill on the same history), so an append must never
lose another run's rows. Two layouts keep that promise:

- a **folder** (``history_path`` ending in ``/`` or without a file extension): every run writes
  its rows to a file of its own in the folder, and readers take the union. Nothing is ever
  rewritten, so it holds on object stores (``s3://``), which have no locks.
- a **file** (``.parquet``, ``.csv``, ``.jsonl``: any table format) on a local filesystem: the
  run holds an exclusive lock on the file's folder while it reads, appends and atomically
  replaces the table.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import PurePosixPath

import pandas as pd

from explainops.errors import ConfigError, InputError
from explainops.io.datasets import FILE_FORMATS, ParquetWriter, read_table, writer_for_path
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
    if history_layout(path) == "folder":
        name = f"{_UNSAFE.sub('_', window_id)[:80]}-{uuid.uuid4().hex[:12]}.parquet"
        part = f"{path.rstrip('/')}/{name}"
        ParquetWriter(path=part).write(rows)
        logger.info("add %d rows to the history %s (%s)", len(rows), path, name)
        return len(rows)
    with _locked_folder(path):
        previous = read_history(path) if os.path.exists(path) else None
        if previous is not None and list(previous.columns) != list(rows.columns):
            raise InputError(
                f"{path}: the history has columns {list(previous.columns)}, "
                f"expected {list(rows.columns)}"
            )
        table = (
            rows
            if previous is None
            else pd.concat([previous.astype(rows.dtypes.to_dict()), rows], ignore_index=True)
        )
        writer_for_path(path).write(table)
    logger.info("append %d rows to the history %s (%d rows)", len(rows), path, len(table))
    return len(table)


def read_history(path: str) -> pd.DataFrame:
    """The whole history at ``path`` (a table file, or the union of a folder's files)."""
    try:
        if history_layout(path) == "file":
            return read_table(path)
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
    local = path.removeprefix("file://")
    folder = os.path.dirname(os.path.abspath(local))
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
