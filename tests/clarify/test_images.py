"""Clarify's image_config: SLIC segments of real images explained, in process and behind an endpoint.

The model is a real logistic regression on scikit-learn's bundled digits, logged as an MLflow
pyfunc of raw image bytes in the session's SQLite registry and served over HTTP by
``ModelServer``; the brute force builds the masked images itself and enumerates every coalition.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.segmentation import slic

from explainops.cli import EXIT_FAILED, main
from explainops.core.images import encode_image, slic_segments
from explainops.testing.image_models import (
    DIGITS,
    digit_dataset,
    log_digit_classifier,
    predict_bytes,
    train_digit_classifier,
)
from explainops.testing.model_server import ModelServer
from tests.clarify.cli import assert_report_drawn_again, clarify_args, registered_model, run
from tests.clarify.images import image_analysis, masked_images, write_analysis
from tests.conftest import RegistryFixture


@pytest.fixture(scope="module")
def digits(test_registry: RegistryFixture) -> tuple[str, Any]:
    """The digit classifier registered in the test registry: (its URI, the same fitted model)."""
    version = log_digit_classifier("digits")
    return f"models:/digits/{version}", train_digit_classifier()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    pictures, classes = digit_dataset(DIGITS)
    for position in (0, 1, 2):
        name = f"digit_{position}_{DIGITS[classes[position]]}.png"
        (folder / name).write_bytes(encode_image(pictures[position], "png"))
    return folder


def write_config(
    tmp_path: Path,
    image_config: dict[str, Any],
    predictor: dict[str, str] | None = None,
    **shap: Any,
) -> Path:
    """The classification analysis of ``image_config`` (``predictor``: fields set beside)."""
    document = image_analysis("IMAGE_CLASSIFICATION", image_config, seed=1, **shap)
    document["predictor"].update(predictor or {})
    return write_analysis(tmp_path, document)


def brute_force(
    model: Any, image: np.ndarray, segments: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """(labels, n) Shapley values over the segments, masked images built here."""
    n = int(segments.max()) + 1
    coalitions, frame = masked_images(image, segments, mask)
    value = dict(zip(coalitions, predict_bytes(model, frame), strict=True))
    phi = np.zeros((value[()].shape[0], n))
    for i in range(n):
        for coalition in coalitions:
            if i not in coalition:
                weight = math.factorial(len(coalition)) * math.factorial(n - len(coalition) - 1)
                joined = tuple(sorted((*coalition, i)))
                phi[:, i] += weight / math.factorial(n) * (value[joined] - value[coalition])
    return phi


def test_slic_segments_are_scikit_images() -> None:
    pictures, _ = digit_dataset(DIGITS)
    for picture in pictures[:5]:
        ours = slic_segments(picture, 20, 5.0)
        theirs = slic(picture, n_segments=20, compactness=5.0, start_label=0)
        # The same partition of the pixels, labels numbered densely from 0.
        pairs = set(zip(ours.ravel().tolist(), theirs.ravel().tolist(), strict=True))
        assert len(pairs) == len(np.unique(ours)) == len(np.unique(theirs))
        assert set(np.unique(ours)) == set(range(len(np.unique(ours))))


def test_few_segments_are_exact_against_a_mask_image(
    digits: tuple[str, Any],
    images: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri, model = digits
    mask = np.full((30, 30, 3), 128, np.uint8)  # resized to each 48 x 48 image
    Image.fromarray(mask).save(tmp_path / "mask.png")
    config = write_config(tmp_path, {"num_segments": 6}, baseline=str(tmp_path / "mask.png"))
    output = tmp_path / "out"
    code, err = run(
        capsys,
        clarify_args(config, images, output, *registered_model(uri, test_registry)),
    )
    assert code == 0, err
    for path in sorted(images.glob("*.png")):
        arrays = np.load(output / "explanations_shap" / f"{path.stem}.npz")
        image = np.asarray(Image.open(path).convert("RGB"))
        segments = arrays["segments"]
        assert int(segments.max()) + 1 <= 10
        np.testing.assert_array_equal(segments, slic_segments(image, 6, 5.0))
        expected = brute_force(model, image, segments, np.full_like(image, 128))
        # The same probabilities in other orders of summation: equal to rounding.
        np.testing.assert_allclose(arrays["values"], expected, rtol=0, atol=1e-12)
        gap = arrays["values"].sum(axis=1) + arrays["base_values"] - arrays["predictions"]
        assert np.max(np.abs(gap)) < 1e-9
        assert list(arrays["labels"]) == ["zero", "one", "seven"]
        for label in ("zero", "one", "seven"):
            heat = Image.open(
                output / "explanations_shap" / "heatmaps" / f"{path.stem}_{label}.png"
            )
            assert heat.size == (700, 340)
            pixels = np.asarray(heat.convert("RGB")).reshape(-1, 3)
            assert len(np.unique(pixels, axis=0)) > 50, "a heat map with next to nothing drawn"
    table = pd.read_parquet(output / "explanations_shap" / "segments.parquet")
    assert list(table.columns) == ["image", "label", "segment", "pixels", "value"]
    analysis = json.loads((output / "analysis.json").read_text())
    assert set(analysis["explanations"]["kernel_shap"]) == {"zero", "one", "seven"}
    assert analysis["explainops"]["images_exact"] == 3


def test_explainops_report_draws_an_image_analysis_again(
    digits: tuple[str, Any],
    images: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given an image analysis that wrote its report
    uri, _ = digits
    document = image_analysis("IMAGE_CLASSIFICATION", {"num_segments": 6}, "Digits", seed=1)
    config = write_analysis(tmp_path, document)
    output = tmp_path / "out"
    arguments = clarify_args(config, images, output, *registered_model(uri, test_registry))
    code, err = run(capsys, arguments)
    assert code == 0, err
    # when explainops report is given its analysis.json
    page = assert_report_drawn_again(output, tmp_path / "again", capsys)
    # then the page is the image report, a heat map an image, in the run's order
    assert "Clarify image explainability report" in page, "drawn as an image analysis"
    assert page.count('<figure id="heatmap-') == 3, "the three images' heat maps"
    # and an image's missing explanation is a one-line error naming it
    missing = sorted((output / "explanations_shap").glob("*.npz"))[0]
    missing.unlink()
    code = main(["report", str(output / "analysis.json"), "-o", str(tmp_path / "x.html")])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED and f"{missing}: not found" in err, err
    assert len(err.strip().splitlines()) == 1, f"one line: {err!r}"
    assert not (tmp_path / "x.html").exists(), "nothing is written"


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/x-npy"])
def test_endpoint_equals_in_process(
    digits: tuple[str, Any],
    images: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content_type: str,
) -> None:
    uri, model = digits
    config = write_config(
        tmp_path, {"num_segments": 20}, {"content_type": content_type}, num_samples=120
    )
    manifest = tmp_path / "images.jsonl"
    manifest.write_text(
        "".join(json.dumps({"source-ref": str(p)}) + "\n" for p in sorted(images.glob("*.png")))
    )
    code, err = run(
        capsys,
        clarify_args(config, manifest, tmp_path / "local", *registered_model(uri, test_registry)),
    )
    assert code == 0, err
    with ModelServer(
        lambda frame: predict_bytes(model, frame), ["image"], default_accept="application/json"
    ) as server:
        code, err = run(
            capsys, clarify_args(config, manifest, tmp_path / "remote", "--endpoint", server.url)
        )
        assert code == 0, err
        received = server.received
    assert {request.content_type for request in received} == {content_type}
    if content_type != "application/x-npy":
        assert {request.n_rows for request in received} == {1}, "one image a request"
    analysis = json.loads((tmp_path / "local" / "analysis.json").read_text())
    assert analysis["explainops"]["images_exact"] == 0, "sampled, not enumerated"
    for path in sorted(images.glob("*.png")):
        local = np.load(tmp_path / "local" / "explanations_shap" / f"{path.stem}.npz")
        remote = np.load(tmp_path / "remote" / "explanations_shap" / f"{path.stem}.npz")
        # The same bytes reach the same model; scores travel as round-trip JSON floats.
        np.testing.assert_allclose(local["values"], remote["values"], rtol=0, atol=1e-9)


def test_an_image_file_and_a_list_of_paths_are_data_sets(
    digits: tuple[str, Any],
    images: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri, _ = digits
    config = write_config(tmp_path, {"num_segments": 4})
    first = sorted(images.glob("*.png"))[0]
    listing = tmp_path / "images.txt"
    listing.write_text(f"{first}\n")
    npy = tmp_path / "one.npy"
    np.save(npy, np.asarray(Image.open(first).convert("RGB")))
    for dataset, name in ((first, first.stem), (listing, first.stem), (npy, "one")):
        output = tmp_path / f"out_{dataset.suffix[1:]}"
        code, err = run(
            capsys,
            clarify_args(config, dataset, output, *registered_model(uri, test_registry)),
        )
        assert code == 0, err
        assert (output / "explanations_shap" / f"{name}.npz").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (  # a classifier's probabilities are not a detector's boxes
            {"image_config": {"model_type": "OBJECT_DETECTION", "num_segments": 4}},
            "the detector's prediction is not a list of [class, score, xmin, ymin, xmax, ymax]",
        ),
        (
            {"image_config": {"model_type": "IMAGE_CLASSIFICATION", "num_segments": 0}},
            "num_segments",
        ),
        ({"dataset_type": "text/csv"}, "set dataset_type to application/x-image"),
        ({"baseline": [[1, 2]]}, "path or URI of a mask image"),
        # a relative mask image is looked for beside the config (write_config's tmp_path)
        ({"baseline": "missing.png"}, "methods.shap.baseline: /"),
        ({"dataset": "broken"}, "not a JPEG, PNG or .npy image"),
    ],
)
def test_bad_image_configs_and_files_are_one_line_errors(
    digits: tuple[str, Any],
    images: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    message: str,
) -> None:
    uri, _ = digits
    config = write_config(tmp_path, {"num_segments": 4})
    document = json.loads(config.read_text())
    dataset = images
    if "image_config" in change:
        document["methods"]["shap"]["image_config"] = change["image_config"]
    if "dataset_type" in change:
        document["dataset_type"] = change["dataset_type"]
    if "baseline" in change:
        document["methods"]["shap"]["baseline"] = change["baseline"]
    if "dataset" in change:
        dataset = tmp_path / "broken.png"
        dataset.write_bytes(b"this is not an image")
    config.write_text(json.dumps(document))
    code, err = run(
        capsys,
        clarify_args(config, dataset, tmp_path / "out", *registered_model(uri, test_registry)),
    )
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and message in errors[0], err
    assert not (tmp_path / "out" / "analysis.json").exists()
