"""Clarify's OBJECT_DETECTION: each detected object's score explained, in process and via HTTP.

The detector is a real one (a small neural network over sliding windows, trained here on
scikit-learn's bundled digits drawn on larger sheets), logged as an MLflow pyfunc of raw image
bytes in the session's SQLite registry and served over HTTP by ``ModelServer``. The brute force
builds every masked image itself, asks the detector for its boxes, matches them to the objects by
class and overlap, and enumerates every coalition.
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
from sklearn.datasets import load_digits

from explainops.clarify.detection import (
    Detections,
    box_overlap,
    box_overlaps,
    object_scores,
    with_context,
)
from explainops.core.images import encode_image, slic_segments
from explainops.errors import ExplainerError
from explainops.testing.detector import (
    detect_bytes,
    digit_scene,
    log_digit_detector,
    train_digit_detector,
)
from explainops.testing.model_server import ModelServer
from tests.clarify.cli import clarify_args, registered_model, run
from tests.clarify.images import image_analysis, masked_images, write_analysis
from tests.conftest import RegistryFixture
from tests.explainers.brute_force import shapley_values_of_game

GREY = 128


@pytest.fixture(scope="module")
def detector(test_registry: RegistryFixture) -> tuple[str, Any]:
    """The digit detector registered in the test registry: (its URI, the same trained network)."""
    network = train_digit_detector()
    version = log_digit_detector("digit-detector", network)
    return f"models:/digit-detector/{version}", network


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sheets: a 7 and a 0; a 1 alone."""
    folder = tmp_path_factory.mktemp("scenes")
    bunch = load_digits()
    first = {digit: bunch.images[np.flatnonzero(bunch.target == digit)[5]] for digit in (0, 1, 7)}
    sheets = {
        "seven_zero": digit_scene([first[7], first[0]], [(6, 8), (34, 36)]),
        "one": digit_scene([first[1]], [(20, 20)]),
    }
    for name, sheet in sheets.items():
        (folder / f"{name}.png").write_bytes(encode_image(sheet, "png"))
    return folder


def write_config(
    tmp_path: Path,
    image_config: dict[str, Any],
    predictor: dict[str, str] | None = None,
    **shap: Any,
) -> Path:
    """The detection analysis of ``image_config`` (``predictor``: fields set beside the PNG's)."""
    document = image_analysis("OBJECT_DETECTION", image_config, "Digit detector", seed=1, **shap)
    document["predictor"].update(predictor or {})
    return write_analysis(tmp_path, document)


def grey_mask(folder: Path) -> str:
    """A grey mask image (resized to each sheet) written in ``folder``: its path."""
    path = folder / "mask.png"
    Image.fromarray(np.full((16, 16, 3), GREY, np.uint8)).save(path)
    return str(path)


def brute_force(
    network: Any,
    image: np.ndarray,
    segments: np.ndarray,
    mask: np.ndarray,
    objects: Detections,
    iou_threshold: float,
) -> np.ndarray:
    """(objects, n) Shapley values of each object's matched score over the segments."""
    coalitions, frame = masked_images(image, segments, mask)
    answers = detect_bytes(network, frame)
    value = {}
    for coalition, answer in zip(coalitions, answers, strict=True):
        rows = np.array(answer["prediction"], dtype=float).reshape(-1, 6)
        scores = np.zeros(len(objects))
        for k in range(len(objects)):  # the best box of the object's class overlapping enough
            for row in rows:
                overlap = _iou(row[2:], objects.boxes[k])
                if row[0] == objects.classes[k] and overlap >= iou_threshold:
                    scores[k] = max(scores[k], row[1])
        value[coalition] = scores
    return shapley_values_of_game(lambda coalition: value[coalition], int(segments.max()) + 1)


def _faded(image: np.ndarray, mask: np.ndarray, box: np.ndarray, context: float) -> np.ndarray:
    """The image with every pixel outside the box (corners rounded outwards) faded to the mask."""
    height, width = image.shape[:2]
    faded = np.rint(context * image + (1 - context) * mask.astype(float)).astype(np.uint8)
    for row in range(height):
        for column in range(width):
            inside = math.floor(box[1] * height) <= row < math.ceil(box[3] * height) and (
                math.floor(box[0] * width) <= column < math.ceil(box[2] * width)
            )
            if inside:
                faded[row, column] = image[row, column]
    return faded


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook intersection over union of two [xmin, ymin, xmax, ymax] boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_box_overlaps_are_every_pair_textbook_intersection_over_union() -> None:
    # given boxes that nest, touch, cross, miss each other, and an empty one
    first = np.array(
        [[0, 0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75], [0.5, 0, 1, 0.5], [0.2, 0.2, 0.2, 0.6]]
    )
    second = np.array([[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 1, 1], [0, 0, 1, 1], [0.3, 0.3, 0.3, 0.3]])
    # when every pair is compared at once
    overlaps = box_overlaps(first, second)
    # then each is the textbook value, the one-box form's, and the pairs commute exactly
    expected = [[_iou(a, b) for b in second] for a in first]
    np.testing.assert_allclose(overlaps, expected, rtol=1e-15, atol=0)
    for row, box in enumerate(first):
        assert np.array_equal(box_overlap(box, second), overlaps[row]), "the one-box form"
    assert np.array_equal(box_overlaps(second, first), overlaps.T), "symmetric, bit for bit"
    assert overlaps[3].tolist() == [0.0] * 4, "an empty box overlaps nothing"


def test_the_detector_finds_the_digits_drawn(detector: tuple[str, Any], scenes: Path) -> None:
    # given the trained detector and sheets with digits at known places
    _, network = detector
    frame = pd.DataFrame(
        {"image": [(scenes / name).read_bytes() for name in ("seven_zero.png", "one.png")]}
    )
    # then it finds each digit, of its class, near where it was drawn, and nothing else
    first, second = (Detections.parse(answer, "test") for answer in detect_bytes(network, frame))
    assert sorted(first.classes.tolist()) == [0.0, 2.0]  # zero and seven
    assert second.classes.tolist() == [1.0]
    drawn = {2.0: [8, 6, 32, 30], 0.0: [36, 34, 60, 58], 1.0: [20, 20, 44, 44]}
    for found in (first, second):
        for cls, box in zip(found.classes, found.boxes, strict=True):
            assert _iou(box, np.array(drawn[float(cls)]) / 64) >= 0.5


def test_few_segments_are_exact_and_add_up_per_object(
    detector: tuple[str, Any],
    scenes: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a grey mask image and 7 segments a sheet (128 coalitions: enumerated)
    uri, network = detector
    config = write_config(tmp_path, {"num_segments": 7}, baseline=grey_mask(tmp_path))
    output = tmp_path / "out"
    # when the analysis runs in process
    code, err = run(
        capsys,
        clarify_args(config, scenes, output, *registered_model(uri, test_registry)),
    )
    assert code == 0, err
    analysis = json.loads((output / "analysis.json").read_text())
    for path in sorted(scenes.glob("*.png")):
        arrays = np.load(output / "explanations_shap" / f"{path.stem}.npz")
        image = np.asarray(Image.open(path).convert("RGB"))
        segments = arrays["segments"]
        np.testing.assert_array_equal(segments, slic_segments(image, 7, 5.0))
        objects = Detections(arrays["classes"], arrays["scores"], arrays["boxes"])
        # then each object's values are the brute force's over every coalition (the same
        # scores summed in other orders: equal to rounding)
        expected = brute_force(network, image, segments, np.full_like(image, GREY), objects, 0.5)
        np.testing.assert_allclose(arrays["values"], expected, rtol=0, atol=1e-12)
        gap = arrays["values"].sum(axis=1) + arrays["base_values"] - arrays["predictions"]
        assert np.max(np.abs(gap)) < 1e-9
        # the objects are named by class and rank, scored as detected on the whole image
        names = list(arrays["labels"])
        assert names == {"seven_zero": ["zero_0", "seven_1"], "one": ["one_0"]}[path.stem]
        np.testing.assert_allclose(arrays["predictions"], arrays["scores"], atol=1e-12)
        entry = analysis["explanations"]["kernel_shap"][path.stem]
        assert list(entry) == names
        assert entry[names[0]]["box"] == pytest.approx(arrays["boxes"][0].tolist())
        # each object's heat map is drawn, the size of the others, with something on it
        for name in names:
            heat = Image.open(output / "explanations_shap" / "heatmaps" / f"{path.stem}_{name}.png")
            assert heat.size == (700, 340)
            pixels = np.asarray(heat.convert("RGB")).reshape(-1, 3)
            assert len(np.unique(pixels, axis=0)) > 50, "a heat map with next to nothing drawn"
    assert analysis["explainops"]["images_exact"] == 2
    assert analysis["explainops"]["max_objects"] == 3
    table = pd.read_parquet(output / "explanations_shap" / "segments.parquet")
    assert set(table["label"]) == {"zero_0", "seven_1", "one_0"}
    assert (output / "report.html").exists()


def test_context_below_one_explains_each_object_on_its_own_image(
    detector: tuple[str, Any],
    scenes: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given context 0.3: outside each object's box, the sheet fades 70% of the way to the mask
    uri, network = detector
    config = write_config(
        tmp_path, {"num_segments": 6, "context": 0.3}, baseline=grey_mask(tmp_path)
    )
    output = tmp_path / "out"
    sheet = scenes / "seven_zero.png"
    code, err = run(
        capsys,
        clarify_args(config, sheet, output, *registered_model(uri, test_registry)),
    )
    assert code == 0, err
    arrays = np.load(output / "explanations_shap" / "seven_zero.npz")
    image = np.asarray(Image.open(sheet).convert("RGB"))
    mask = np.full_like(image, GREY)
    for k in range(len(arrays["labels"])):
        # then object k's values are the brute force's on the sheet faded outside its box
        objects = Detections(arrays["classes"], arrays["scores"], arrays["boxes"])
        faded = _faded(image, mask, objects.boxes[k], 0.3)
        expected = brute_force(network, faded, arrays["segments"], mask, objects, 0.5)[k]
        np.testing.assert_allclose(arrays["values"][k], expected, rtol=0, atol=1e-12)
        gap = arrays["values"][k].sum() + arrays["base_values"][k] - arrays["predictions"][k]
        assert abs(gap) < 1e-9


@pytest.mark.parametrize("content_type", ["image/png", "application/x-npy"])
def test_endpoint_equals_in_process(
    detector: tuple[str, Any],
    scenes: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content_type: str,
) -> None:
    # given a sampled budget (20 segments, 60 coalitions) and the detector served over HTTP
    uri, network = detector
    config = write_config(
        tmp_path,
        {"num_segments": 20, "max_objects": 1},
        {"content_type": content_type},
        num_samples=60,
    )
    local, remote = tmp_path / "local", tmp_path / "remote"
    code, err = run(
        capsys,
        clarify_args(config, scenes, local, *registered_model(uri, test_registry)),
    )
    assert code == 0, err
    with ModelServer(
        lambda frame: detect_bytes(network, frame), ["image"], documents=True
    ) as server:
        code, err = run(capsys, clarify_args(config, scenes, remote, "--endpoint", server.url))
        assert code == 0, err
        received = server.received
    assert {request.content_type for request in received} == {content_type}
    # then the same boxes come back, and the same values (scores as round-trip JSON floats)
    for path in sorted(scenes.glob("*.png")):
        ours = np.load(local / "explanations_shap" / f"{path.stem}.npz")
        theirs = np.load(remote / "explanations_shap" / f"{path.stem}.npz")
        assert list(ours["labels"]) == list(theirs["labels"]) and len(ours["labels"]) == 1
        np.testing.assert_allclose(ours["values"], theirs["values"], rtol=0, atol=1e-9)
    analysis = json.loads((local / "analysis.json").read_text())
    assert analysis["explainops"]["images_exact"] == 0, "sampled, not enumerated"


def test_objects_are_matched_by_class_and_overlap() -> None:
    # given two objects and a masked image's boxes
    objects = Detections(
        np.array([0.0, 2.0]), np.array([0.9, 0.8]), np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]])
    )
    found = Detections.parse(
        {
            "prediction": [
                [0, 0.7, 0.05, 0.0, 0.55, 0.5],  # object 0 moved a little: IoU 0.82
                [0, 0.95, 0.5, 0.5, 1.0, 1.0],  # on object 1's place, but of class 0
                [2, 0.4, 0.75, 0.75, 1.0, 1.0],  # object 1's class, IoU 0.25
            ]
        },
        "test",
    )
    # then object 0 takes its moved box's score; object 1 has no match above 0.5, so 0
    np.testing.assert_allclose(object_scores(found, objects, 0.5), [0.7, 0.0])
    # and a lower threshold lets the small box count
    np.testing.assert_allclose(object_scores(found, objects, 0.2), [0.7, 0.4])
    overlap = box_overlap(np.array([0, 0, 0.5, 0.5]), np.array([[0.05, 0.0, 0.55, 0.5]]))
    assert overlap[0] == pytest.approx(
        _iou(np.array([0, 0, 0.5, 0.5]), np.array([0.05, 0, 0.55, 0.5]))
    )
    # the best score comes first, whatever order the detector answered in
    assert found.scores.tolist() == [0.95, 0.7, 0.4]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"boxes": []}, "has no 'prediction' (keys: boxes)"),
        (
            {"prediction": [[0, 0.5, 0, 0]]},
            "is not a list of [class, score, xmin, ymin, xmax, ymax]",
        ),
        ({"prediction": [[0, "high", 0, 0, 1, 1]]}, "is not a list of [class, score"),
        ({"prediction": [[0, 0.9, 10, 12, 40, 44]]}, "box [10, 12, 40, 44] is not [xmin, ymin"),
        ({"prediction": [[0, 0.9, 0.3, 0.3, 0.3, 0.6]]}, "pixel coordinates?"),
        ("not json", "is not JSON"),
    ],
)
def test_answers_that_are_not_detections_are_one_line_errors(answer: Any, message: str) -> None:
    with pytest.raises(ExplainerError) as raised:
        Detections.parse(answer, "sheet.png")
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert str(raised.value).startswith("sheet.png")


def test_an_empty_prediction_is_no_object() -> None:
    assert len(Detections.parse({"prediction": []}, "x")) == 0


def test_an_endpoint_that_answers_garbage_is_a_one_line_error(
    detector: tuple[str, Any], scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the detector served over HTTP, answering garbage
    _, network = detector
    config = write_config(tmp_path, {"num_segments": 4})
    with ModelServer(
        lambda frame: detect_bytes(network, frame), ["image"], documents=True
    ) as server:
        server.garbage()
        code, err = run(
            capsys, clarify_args(config, scenes, tmp_path / "out", "--endpoint", server.url)
        )
    # then the run stops with one error line naming the endpoint and the request, and no output
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "response is not JSON" in errors[0], err
    assert "127.0.0.1" in errors[0] and "request batch 1" in errors[0]
    assert not (tmp_path / "out" / "analysis.json").exists()


def test_context_fades_the_outside_of_the_box_towards_the_baseline() -> None:
    # given a 4 x 4 image, a baseline and a box over its top-left 2 x 2 pixels
    image = np.full((4, 4, 3), 200, np.uint8)
    baseline = np.full((4, 4, 3), 100, np.uint8)
    box = np.array([0.0, 0.0, 0.5, 0.5])
    for context, outside in ((1.0, 200), (0.3, 130), (0.0, 100)):
        faded = with_context(image, baseline, box, context)
        # then the box keeps the image, the rest goes 1 - context of the way to the baseline
        assert (faded[:2, :2] == 200).all()
        assert (faded[2:, :] == outside).all() and (faded[:, 2:] == outside).all()


def test_boxes_that_do_not_touch_never_match_and_rounding_corners_are_clipped() -> None:
    objects = Detections(np.array([1.0]), np.array([0.9]), np.array([[0.0, 0.0, 0.4, 0.4]]))
    apart = Detections.parse({"prediction": [[1, 0.8, 0.6, 0.6, 1.0, 1.0000001]]}, "x")
    assert apart.boxes[0, 3] == 1.0  # a corner 1e-7 past the edge is rounding: clipped
    # at iou_threshold 0 a box of the class elsewhere in the image does not match
    np.testing.assert_array_equal(object_scores(apart, objects, 0.0), [0.0])


def test_objects_are_named_by_label_headers_or_by_class_index() -> None:
    from explainops.clarify.detection import _object_name

    assert _object_name(1.0, 0, ["zero", "one"]) == "one_0"
    assert _object_name(5.0, 2, ["zero", "one"]) == "5_2"  # beyond the headers: the index
    assert _object_name(2.5, 1, None) == "2.5_1"


def test_the_endpoint_is_retried_for_answers_and_a_cut_answer_is_an_error(
    detector: tuple[str, Any], scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the detector served over HTTP, failing its first request with 503
    _, network = detector
    config = write_config(tmp_path, {"num_segments": 4})
    sheet = scenes / "one.png"
    with ModelServer(
        lambda frame: detect_bytes(network, frame), ["image"], documents=True
    ) as server:
        server.fail_first(1, status=503)
        code, err = run(
            capsys, clarify_args(config, sheet, tmp_path / "ok", "--endpoint", server.url)
        )
        # then the request is sent again and the run succeeds
        assert code == 0, err
        n_segments = (
            int(np.load(tmp_path / "ok" / "explanations_shap" / "one.npz")["segments"].max()) + 1
        )
        # the failed request, the whole sheet's detection, then every coalition of the segments
        assert server.requests == 1 + 1 + 2**n_segments
        # and an answer cut in half stops the run with one error line and no output
        server.truncated_response()
        code, err = run(
            capsys, clarify_args(config, sheet, tmp_path / "cut", "--endpoint", server.url)
        )
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "127.0.0.1" in errors[0], err
    assert not (tmp_path / "cut" / "analysis.json").exists()


def test_a_detector_answering_other_than_json_is_refused_before_any_call(
    detector: tuple[str, Any],
    scenes: Path,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri, _ = detector
    config = write_config(tmp_path, {"num_segments": 4}, {"accept_type": "text/csv"})
    code, err = run(
        capsys,
        clarify_args(config, scenes, tmp_path / "out", *registered_model(uri, test_registry)),
    )
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert (
        len(errors) == 1 and "predictor.accept_type: 'text/csv' with OBJECT_DETECTION" in errors[0]
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.npz"))
