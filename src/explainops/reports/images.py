"""Image explanations drawn: heat maps of segment SHAP values over the images, and their report.

A heat map shows the image beside itself overlaid with each segment tinted by its SHAP value for
one label (red pushes the label's score up, blue down: shap's colours, symmetric around zero),
segment boundaries in yellow. Everything is read from the run's files: each image's ``.npz``
(segment map, values, end points, labels, the image's URI) and the image itself.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from explainops.io.images import read_bytes
from explainops.reports.document import FigureSpec, Report, Section, Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

IMAGES_SHOWN = 8


def load_npz(path: str) -> dict[str, Any]:
    """An image explanation file's arrays (``segments``, ``values``, ``labels``, ...)."""
    with np.load(io.BytesIO(read_bytes(path)), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def heatmap(
    image: np.ndarray,
    segments: np.ndarray,
    values: np.ndarray,
    title: str,
    box: np.ndarray | None = None,
) -> Figure:
    """The image, and the image under its segments' values (one label's) as a heat map.

    ``box``: a detected object's [xmin, ymin, xmax, ymax] (relative), outlined on both.
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    scale = float(np.max(np.abs(values))) or 1.0
    per_pixel = values[segments]
    # a fixed layout: constrained layout costs more than drawing the images
    figure = Figure(figsize=(7.0, 3.4))
    left, right = figure.subplots(1, 2)
    figure.subplots_adjust(left=0.02, right=0.84, top=0.9, bottom=0.04, wspace=0.06)
    left.imshow(image)
    left.set_title("image", fontsize=9)
    grey = image.mean(axis=2, keepdims=True).repeat(3, axis=2).astype(np.uint8)
    right.imshow(grey)
    shown = right.imshow(per_pixel, cmap="bwr", norm=TwoSlopeNorm(0.0, -scale, scale), alpha=0.6)
    # segment boundaries as thin lines, whatever the image's resolution
    boundaries = subpixel_boundaries(segments)
    height, width = segments.shape
    right.contour(
        np.linspace(-0.5, width - 0.5, boundaries.shape[1]),
        np.linspace(-0.5, height - 0.5, boundaries.shape[0]),
        boundaries.astype(float),
        levels=[0.5],
        colors="#f2c200",
        linewidths=0.6,
    )
    right.set_title(title, fontsize=9)
    for axes in (left, right):
        axes.set_axis_off()
        if box is not None:
            _outline(axes, box, width, height)
    bar = figure.add_axes((0.86, 0.12, 0.018, 0.72))
    figure.colorbar(shown, cax=bar, label="SHAP value")
    return figure


def subpixel_boundaries(segments: np.ndarray) -> np.ndarray:
    """(2h - 1, 2w - 1) booleans: True between two pixels of ``segments`` (h, w) in different ones.

    The grid of scikit-image's ``find_boundaries(segments, mode="subpixel")``: the pixels at even
    positions (never True), a position between two neighbours True where their segments differ,
    and one between four True where they are not all the same segment. scikit-image finds the
    same by a Python loop over every position (0.06 s for a 64 x 64 image, about 1 s for 224 x
    224: bench/heatmaps.py); here it is three comparisons of shifted arrays.
    """
    height, width = segments.shape
    boundaries = np.zeros((2 * height - 1, 2 * width - 1), dtype=np.bool_)
    boundaries[1::2, ::2] = segments[:-1, :] != segments[1:, :]
    boundaries[::2, 1::2] = segments[:, :-1] != segments[:, 1:]
    corner = segments[:-1, :-1]
    boundaries[1::2, 1::2] = ~(
        (corner == segments[:-1, 1:]) & (corner == segments[1:, :-1]) & (corner == segments[1:, 1:])
    )
    return boundaries


def _outline(axes: Any, box: np.ndarray, width: int, height: int) -> None:
    """A detected object's box (relative corners) drawn on ``axes`` in green."""
    from matplotlib.patches import Rectangle

    left, top = box[0] * width - 0.5, box[1] * height - 0.5
    size = ((box[2] - box[0]) * width, (box[3] - box[1]) * height)
    axes.add_patch(Rectangle((left, top), *size, fill=False, edgecolor="#00b050", linewidth=1.5))


def heatmap_png(
    image: np.ndarray,
    segments: np.ndarray,
    values: np.ndarray,
    title: str,
    box: np.ndarray | None = None,
) -> bytes:
    """:func:`heatmap` as PNG bytes."""
    buffer = io.BytesIO()
    heatmap(image, segments, values, title, box).savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _drawer(npz: str, label_index: int) -> Any:
    def draw() -> Figure:
        from explainops.core.images import decode_image

        arrays = load_npz(npz)
        source = str(arrays["source"])
        image = decode_image(read_bytes(source), source)
        label = str(arrays["labels"][label_index])
        values = arrays["values"][label_index]
        box = arrays["boxes"][label_index] if "boxes" in arrays else None
        return heatmap(image, arrays["segments"], values, f"SHAP values for {label}", box)

    return draw


def image_report(
    title: str,
    analysis: dict[str, Any],
    npz_files: Sequence[str],
    *,
    summary: Sequence[tuple[str, Any]],
    source: dict[str, Any],
) -> Report:
    """The report: a summary, the images' predictions, then heat maps of the first images."""
    rows: list[tuple[Any, ...]] = []
    figures = []
    detecting = False
    for npz in npz_files[:IMAGES_SHOWN]:
        arrays = load_npz(npz)
        name = str(arrays["source"]).rsplit("/", 1)[-1]
        labels = [str(label) for label in arrays["labels"]]
        segments = int(arrays["segments"].max()) + 1
        detecting = detecting or "boxes" in arrays
        if not labels:  # a detector that found nothing
            rows.append((name, "no object detected", None, segments))
            continue
        if "boxes" in arrays:  # a detector's objects, best detected score first
            predicted, score = 0, float(arrays["scores"][0])
        else:
            predicted = int(np.argmax(arrays["predictions"]))
            score = float(arrays["predictions"][predicted])
        rows.append((name, labels[predicted], score, segments))
        figures.append(
            FigureSpec(
                anchor=f"heatmap-{len(rows)}",
                caption=f"{name}: SHAP values of its segments for its "
                f"{'best-scored object' if 'boxes' in arrays else 'predicted label'}, "
                f"{labels[predicted]}",
                draw=_drawer(npz, predicted),
            )
        )
    kernel_shap = analysis.get("explanations", {}).get("kernel_shap", {})
    if detecting:
        expected_table = Table.of(
            ("image", "object", "detected score", "expected value (all segments masked)"),
            [
                (image, label, entry.get("score"), entry.get("expected_value"))
                for image, objects in kernel_shap.items()
                for label, entry in objects.items()
            ],
        )
    else:
        expected_table = Table.of(
            ("label", "expected value (all segments masked)"),
            [(label, entry.get("expected_value")) for label, entry in kernel_shap.items()],
        )
    sections = (
        Section(
            anchor="images",
            title="Images",
            notes=(
                f"The first {len(rows)} images of {len(npz_files)}: the label each is predicted "
                "as, and its number of segments.",
            ),
            tables=(
                Table.of(("image", "predicted", "score", "segments"), rows, anchor="predictions"),
                expected_table,
            ),
        ),
        Section(
            anchor="heatmaps",
            title="Heat maps",
            notes=(
                "Each image's segments tinted by their SHAP values for its predicted label: red "
                "raises the label's score, blue lowers it; segment boundaries in yellow. The "
                "heat maps of every label are in explanations_shap/heatmaps/.",
            ),
            figures=tuple(figures),
        ),
    )
    return Report(
        title=title,
        kind="clarify_images",
        summary=Table.of(("what", "value"), list(summary)),
        sections=sections,
        source=source,
    )
