"""Image data sets: a folder, one image, a list of paths or a Ground Truth manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from explainops.core.images import encode_image
from explainops.errors import InputError
from explainops.io.images import image_sources, iterate_images


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """b.png, a.npy and sub/c.jpg (plus a file that is not an image) under tmp_path/images."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    image = np.full((4, 5, 3), 60, np.uint8)
    (root / "b.png").write_bytes(encode_image(image, "png"))
    np.save(root / "a.npy", image)
    (root / "sub" / "c.jpg").write_bytes(encode_image(image, "jpeg"))
    (root / "notes.txt.bak").write_text("not an image")
    return root


def test_a_folder_is_its_images_sorted_by_path(folder: Path) -> None:
    sources = image_sources(str(folder))
    assert [source.name for source in sources] == ["a", "b", "c"], "sorted, subfolders included"
    assert all(Path(source.uri).is_absolute() for source in sources), "local paths made absolute"
    shapes = {image.shape for _, image in iterate_images(sources)}
    assert shapes == {(4, 5, 3)}, "every image read as RGB"


def test_manifests_are_relative_to_their_folder(folder: Path) -> None:
    listing = folder / "list.txt"
    listing.write_text("b.png\n\nsub/c.jpg\n")
    assert [s.name for s in image_sources(str(listing))] == ["b", "c"], "blank lines skipped"
    manifest = folder / "images.manifest"
    manifest.write_text(
        json.dumps({"source-ref": "sub/c.jpg", "label": 1})
        + "\n"
        + json.dumps({"source-ref": str(folder / "a.npy")})
        + "\n"
    )
    sources = image_sources(str(manifest))
    assert [s.uri for s in sources] == [str(folder / "sub" / "c.jpg"), str(folder / "a.npy")], (
        "relative entries resolved against the manifest's folder, absolute ones kept"
    )


def test_one_image_is_a_data_set(folder: Path) -> None:
    [source] = image_sources(str(folder / "b.png"))
    assert source.name == "b", "named by its stem"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"label": 1}\n', r"line 1: expected a JSON record with a 'source-ref'"),
        ('{"source-ref": 3}\n', r"line 1: the image reference is not a path"),
    ],
)
def test_bad_manifest_lines_are_named(tmp_path: Path, content: str, message: str) -> None:
    manifest = tmp_path / "images.jsonl"
    manifest.write_text(content)
    with pytest.raises(InputError, match=message):
        image_sources(str(manifest))


def test_two_images_of_one_name_and_an_empty_folder_are_refused(
    folder: Path, tmp_path: Path
) -> None:
    (folder / "sub" / "b.jpg").write_bytes((folder / "sub" / "c.jpg").read_bytes())
    with pytest.raises(InputError, match=r"two images named 'b'"):
        image_sources(str(folder))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no image found"):
        image_sources(str(empty))
    with pytest.raises(InputError, match=r"not a folder, an image or a manifest"):
        image_sources(str(tmp_path / "missing"))
