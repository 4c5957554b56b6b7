"""Image data sets: a folder (or object-store prefix), one image, or a manifest of images.

A Clarify ``application/x-image`` data set is an S3 prefix of images or a manifest file; here a
local path or any fsspec URI. Images are JPEG (``.jpg``, ``.jpeg``) or PNG (``.png``) files, or
numpy ``.npy`` arrays. A manifest is a ``.jsonl`` / ``.manifest`` file of records with a
``source-ref`` (SageMaker Ground Truth's augmented manifest), or a ``.txt`` file of one path or URI
a line; relative entries are relative to the manifest's folder.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from explainops.core.images import ImageArray, decode_image
from explainops.errors import InputError
from explainops.io.storage import filesystem_of, open_file, storage_errors

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".npy")
MANIFEST_EXTENSIONS = (".jsonl", ".manifest", ".txt")


@dataclass(frozen=True)
class ImageSource:
    """One image of a data set: where it is, and the name its outputs take."""

    uri: str
    name: str

    def read(self) -> ImageArray:
        """The image, RGB uint8 (h, w, 3)."""
        return decode_image(read_bytes(self.uri), self.uri)


def read_bytes(uri: str) -> bytes:
    """The whole file at ``uri``.

    Raises:
        InputError: unreadable, naming it.

    """
    try:
        with open_file(uri, "rb") as handle:
            data: bytes = handle.read()
            return data
    except storage_errors(OSError) as error:
        raise InputError(f"{uri}: cannot read: {error}") from error


def image_sources(dataset: str) -> list[ImageSource]:
    """The images of ``dataset`` in a stable order (sorted by path for a folder).

    Raises:
        InputError: nothing there, no image in a folder, a bad manifest line, or two images
            of the same name (their outputs would collide).

    """
    lowered = dataset.lower()
    if lowered.endswith(IMAGE_EXTENSIONS):
        sources = [dataset]
    elif lowered.endswith(MANIFEST_EXTENSIONS):
        sources = _manifest_entries(dataset)
    else:
        sources = _folder_images(dataset)
    if not sources:
        raise InputError(
            f"{dataset}: no image found (expected {', '.join(IMAGE_EXTENSIONS)} files)"
        )
    named: dict[str, str] = {}
    for uri in sources:
        stem = posixpath.splitext(posixpath.basename(uri.rstrip("/")))[0]
        if stem in named:
            raise InputError(
                f"{dataset}: two images named {stem!r} ({named[stem]} and {uri}): their outputs "
                "would overwrite each other; rename one"
            )
        named[stem] = uri
    return [ImageSource(_absolute(uri), stem) for stem, uri in named.items()]


def _absolute(uri: str) -> str:
    """Local paths made absolute (a report's notebook reads them from another folder)."""
    return uri if "://" in uri else os.path.abspath(uri)


def _folder_images(folder: str) -> list[str]:
    filesystem, root = filesystem_of(folder)
    try:
        if not filesystem.isdir(root):
            raise InputError(
                f"{folder}: not a folder, an image or a manifest "
                f"({', '.join(IMAGE_EXTENSIONS + MANIFEST_EXTENSIONS)})"
            )
        found = sorted(
            path for path in filesystem.find(root) if path.lower().endswith(IMAGE_EXTENSIONS)
        )
    except storage_errors(OSError) as error:
        raise InputError(f"{folder}: cannot list: {error}") from error
    protocol = folder.partition("://")[0] if "://" in folder else None
    return [f"{protocol}://{path}" if protocol else path for path in found]


def _manifest_entries(manifest: str) -> list[str]:
    text = read_bytes(manifest).decode("utf-8", errors="replace")
    base = manifest.rsplit("/", 1)[0] if "/" in manifest else "."
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if manifest.lower().endswith(".txt"):
            entry = line
        else:
            try:
                record = json.loads(line)
                entry = record["source-ref"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise InputError(
                    f"{manifest}: line {number}: expected a JSON record with a 'source-ref', "
                    f"got {line[:80]!r}"
                ) from error
        if not isinstance(entry, str) or not entry:
            raise InputError(f"{manifest}: line {number}: the image reference is not a path")
        entries.append(entry if "://" in entry or entry.startswith("/") else f"{base}/{entry}")
    return entries


def iterate_images(sources: list[ImageSource]) -> Iterator[tuple[ImageSource, ImageArray]]:
    """Each source with its decoded image, read one at a time."""
    for source in sources:
        yield source, source.read()
