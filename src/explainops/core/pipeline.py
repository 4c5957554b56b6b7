"""The explain pipeline every job shares: scan, then explain, batch by batch.

Stage one (``explainops.core.samples.scan_samples``) validates every batch of the samples, so
every violation is reported at once, before any model call, and keeps a uniform sample of rows
for the baseline summary. Stage two builds the explainer against the baseline and explains batch
after batch (in an engine's workers when given one), handing each batch's explanation to the
caller (to write sample explanations) and accumulating the global attributions.

The pipeline reads nothing itself: samples come from a ``SampleSource``, a baseline file through
the ``read_table`` the caller passes, and batches run through the ``map_batches`` it chooses.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.core.aggregation import AttributionAccumulator
from explainops.core.explainer_settings import ExplainContext, ExplainerSettings, ExplainFunction
from explainops.core.model import LoadedModel
from explainops.core.samples import SampleScan, SampleSource, scan_samples, validated_batches
from explainops.core.schemas import InputSchema, raise_for_violations, validate_batch
from explainops.core.tables import check_feature_names
from explainops.errors import ExplainOpsError, InputError
from explainops.explainers import Explanation, kmeans_baseline
from explainops.explainers.coalitions import model_failure
from explainops.explainers.inputs import as_feature_table

logger = logging.getLogger(__name__)

TOP_FEATURES_NOTIFIED = 5

FloatArray = npt.NDArray[np.float64]
# The background rows explained against, with their weights.
Background = tuple[pd.DataFrame, FloatArray]
ExplainedBatch = tuple[Explanation, list[Any]]
BatchMapper = Callable[
    [Callable[[pd.DataFrame], ExplainedBatch], Iterable[pd.DataFrame]], Iterator[ExplainedBatch]
]
T = TypeVar("T")


class ProgressReport(Protocol):
    """Told how many more rows were explained."""

    def update(self, rows: int, /) -> None:
        """Count ``rows`` more."""


ProgressFactory = Callable[[int], contextlib.AbstractContextManager[ProgressReport]]


def in_order(function: Callable[[pd.DataFrame], T], batches: Iterable[pd.DataFrame]) -> Iterator[T]:
    """Apply ``function`` to each batch as it is read, in this process."""
    for batch in batches:
        yield function(batch)


class _Silent:
    def update(self, rows: int, /) -> None:
        """Count nothing."""


@contextlib.contextmanager
def _no_progress(total: int) -> Iterator[ProgressReport]:
    yield _Silent()


@dataclass(frozen=True)
class DatasetAttributions:
    """Global attributions of a data set, per output, and how they were computed.

    Attributes:
        feature_names: d explained features, in input order.
        output_names: k explained outputs.
        importance: (k, d) aggregated attributions (``agg_method`` of the settings).
        expected_values: (k,) base values: the explained output's expectation over the baseline.
        n_samples: rows explained.
        max_additivity_error: largest |base + sum(values) - prediction| over all rows.
        explainer: name of the explainer used.
        background: the baseline rows explained against, with their ``background_weights``.

    """

    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    importance: FloatArray
    expected_values: FloatArray
    n_samples: int
    max_additivity_error: float
    explainer: str
    background: pd.DataFrame
    background_weights: FloatArray

    def top_features(self, k: int = TOP_FEATURES_NOTIFIED) -> list[tuple[str, str, float]]:
        """The k largest global attributions over all outputs: (output, feature, value)."""
        entries = [
            (output, feature, value)
            for output, values in self.by_output().items()
            for feature, value in values.items()
        ]
        return sorted(entries, key=lambda entry: -abs(entry[2]))[:k]

    def by_output(self) -> dict[str, dict[str, float]]:
        """``{output: {feature: importance}}``."""
        return {
            output: dict(zip(self.feature_names, map(float, row), strict=True))
            for output, row in zip(self.output_names, self.importance, strict=True)
        }


@dataclass(frozen=True)
class BatchExplainer:
    """Explains one batch of samples and returns it with the batch's sample ids.

    A plain picklable object, so an engine can ship it to its workers once.
    """

    explain: ExplainFunction
    feature_names: tuple[str, ...]
    id_column: str | None

    def __call__(self, batch: pd.DataFrame) -> ExplainedBatch:
        """(explanation of the batch's features, sample ids: id column or row positions)."""
        ids = batch[self.id_column] if self.id_column else batch.index
        return self.explain(numeric_as_float(batch[list(self.feature_names)])), list(ids)


def numeric_as_float(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its integer and boolean columns as float64.

    Masked rows mix the samples' values with the baseline's, and a k-means baseline holds cluster
    means (49.93, not 49): in an integer column they would be truncated on the way to the model.
    """
    casts = {
        column: np.float64
        for column, dtype in frame.dtypes.items()
        if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    }
    return frame.astype(casts) if casts else frame


def explain_dataset(
    reader: SampleSource,
    schema: InputSchema | None,
    model: LoadedModel,
    settings: ExplainerSettings,
    *,
    output_names: Sequence[str] | None = None,
    baseline: Callable[[SampleScan], Background] | None = None,
    on_batch: Callable[[Explanation, list[Any]], None] | None = None,
    map_batches: BatchMapper = in_order,
    progress: ProgressFactory = _no_progress,
    read_table: Callable[[str], pd.DataFrame] | None = None,
) -> DatasetAttributions:
    """Validate, then explain every sample the reader yields.

    Args:
        reader: the samples.
        schema: validate (and coerce) the samples against it; None: no validation.
        model: the model to explain.
        settings: explainer and aggregation settings.
        output_names: names of the outputs (default: the model's, else label0, label1, ...).
        baseline: gives the background rows and weights once the samples are scanned
            (default: from ``settings.baseline``, else a k-means summary of the samples).
        on_batch: called with each batch's explanation and sample ids, in input order.
        map_batches: runs the batch explainer over the batches (an engine session's ``map``;
            default: one after the other in this process, as ``LocalEngine``).
        progress: given the number of rows, a context reporting explained rows (a progress bar).
        read_table: reads a baseline file when ``settings.baseline`` is a path.

    Returns:
        The global attributions.

    Raises:
        InputError: invalid samples or baseline (all schema violations listed).

    """
    scan = scan_samples(reader, schema, settings.seed)
    check_feature_names(scan.feature_names)
    logger.info("validated %d samples with %d features", scan.n_rows, len(scan.feature_names))
    frame, weights = (
        baseline(scan) if baseline else resolve_background(settings, scan, schema, read_table)
    )
    preview = numeric_as_float(scan.reservoir[scan.feature_names].head(8))
    try:
        names = tuple(output_names) if output_names else model.output_names(preview)
    except ExplainOpsError:
        raise
    except Exception as error:  # the model's own failure on the first rows, as one line
        raise model_failure(error, f"the first {len(preview)} samples") from error
    context = ExplainContext(model, frame, weights, names, preview)
    explainer_name, explain = settings.build(context)
    logger.info("explain with %s against %d baseline rows", explainer_name, len(frame))
    accumulator = AttributionAccumulator(settings.agg_method, seed=settings.seed)
    batch_explainer = BatchExplainer(explain, tuple(scan.feature_names), reader.id_column)
    explanation: Explanation | None = None
    with progress(scan.n_rows) as report:
        batches = validated_batches(reader, schema)
        for explanation, sample_ids in map_batches(batch_explainer, batches):
            if on_batch is not None:
                on_batch(explanation, sample_ids)
            accumulator.add(explanation)
            report.update(len(sample_ids))
    if explanation is None:
        raise InputError(f"{reader.path}: no rows to explain")
    return DatasetAttributions(
        explanation.feature_names,
        explanation.output_names,
        accumulator.result(),
        explanation.base_values.copy(),
        accumulator.n_samples,
        accumulator.max_additivity_error,
        explainer_name,
        frame,
        weights,
    )


def resolve_background(
    settings: ExplainerSettings,
    scan: SampleScan,
    schema: InputSchema | None,
    read_table: Callable[[str], pd.DataFrame] | None = None,
) -> Background:
    """The configured baseline rows (uniform weights), or a k-means summary of the samples.

    A baseline given as a path is read with ``read_table``.
    """
    features = scan.feature_names
    dtypes = numeric_as_float(scan.reservoir[features]).dtypes.to_dict()
    if settings.baseline is None:
        summary = kmeans_baseline(
            as_feature_table(scan.reservoir[features]), settings.num_clusters, settings.seed
        )
        # The weighted cluster means, in float (never cast back to an integer column's dtype).
        frame = pd.DataFrame(summary.table.values, columns=features).astype(dtypes)
        logger.info("baseline: k-means summary of the samples, %d clusters", len(frame))
        return frame, summary.weights
    if isinstance(settings.baseline, str):
        if read_table is None:
            raise InputError(f"explainer.baseline: {settings.baseline}: no reader for files")
        frame = read_table(settings.baseline)
    elif all(isinstance(row, dict) for row in settings.baseline):
        frame = pd.DataFrame(settings.baseline)
    else:
        widths = {len(row) for row in settings.baseline}
        if widths != {len(features)}:
            raise InputError(
                f"explainer.baseline: rows of {sorted(widths)} values, "
                f"expected {len(features)} ({', '.join(features)})"
            )
        frame = pd.DataFrame(settings.baseline, columns=features)
    return checked_background(frame, features, dtypes, schema)


def checked_background(
    frame: pd.DataFrame,
    features: Sequence[str],
    dtypes: dict[Any, Any],
    schema: InputSchema | None,
    where: str = "explainer.baseline",
) -> Background:
    """Baseline rows in the samples' columns and dtypes, validated, with uniform weights.

    ``dtypes`` are the explained dtypes: integer columns explained as float64 keep the baseline's
    fractions.
    """
    missing = [column for column in features if column not in frame.columns]
    if missing:
        raise InputError(f"{where}: missing columns {missing}")
    if frame.empty:
        raise InputError(f"{where}: no rows")
    frame = frame[list(features)].reset_index(drop=True)
    if schema is not None:
        frame, violations = validate_batch(frame, schema)
        raise_for_violations(where, violations, len(violations))
    try:
        frame = frame.astype(dtypes)
    except (TypeError, ValueError) as error:
        raise InputError(f"{where}: values do not match the samples' types: {error}") from error
    return frame, np.full(len(frame), 1.0 / len(frame))
