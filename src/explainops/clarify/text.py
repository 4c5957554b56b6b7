"""``methods.shap.text_config``: SHAP values of a text's units, as Clarify computes and writes them.

The data set's text columns (those holding strings) are split into units (``granularity``:
tokens, sentences or paragraphs, by ``language``); every unit and every other column is a feature
of its row. The baseline is one row (``methods.shap.baseline``): for a text column the string a
masked unit is replaced by (Clarify's convention, e.g. ``"[MASK]"``; without a baseline the
empty string, so that masked units are dropped), for the other columns their value; without a
baseline the other columns take their mean over the data set's first batch.

Outputs, in Clarify's layout:

- ``analysis.json``: per label, ``global_shap_values`` (a text column's value in a row is the sum
  of its units' values, its whole contribution, aggregated over rows by ``agg_method`` like any
  column's), ``expected_value`` (the mean over rows of the output with every unit and column
  masked) and ``global_top_shap_text.<text column>``: the ``max_top_tokens`` units with the
  largest ``agg_method`` aggregate over all their occurrences in the data set, ``{unit: value}``
  in decreasing order;
- ``explanations_shap/out.jsonl`` (with ``save_local_shap_values``): one line a row,
  ``{"explanations": [{"feature_name", "data_type", "attributions": [{"attribution": [one value
  a label], "description": {"partial_text", "start_idx"}}]}]}``, as Clarify writes local text
  explanations;
- ``explanations_shap/out.csv`` (with ``save_local_shap_values``): the same attributions as a
  table, one line per row and feature unit (the number of units varies from row to row, so not
  one line a row as for tabular data): ``row``, ``feature_name``, ``data_type``,
  ``partial_text``, ``start_idx``, then one column of attributions per label;
- and explainops' own ``explanations_shap/units.parquet``: the long table (``sample``, ``label``,
  ``feature``, ``unit``, ``text``, ``start``, ``value``), one line per row, label and unit.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pandas as pd

from explainops.clarify.analysis_config import AnalysisConfig, ShapMethod
from explainops.core.model import LoadedModel
from explainops.core.samples import SampleSource
from explainops.core.text import TextRow, text_rows
from explainops.errors import ConfigError, InputError
from explainops.explainers.explanation import AggMethod
from explainops.explainers.units import UnitExplanation, UnitsExplainer
from explainops.io.datasets import CsvWriter, ParquetWriter, atomic_file
from explainops.version import __version__

logger = logging.getLogger(__name__)

UNITS_COLUMNS = ("sample", "label", "feature", "unit", "text", "start", "value")


def text_columns(frame: pd.DataFrame) -> list[str]:
    """The columns holding text: strings (or missing values) in every row of ``frame``."""
    found = []
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind in "biufc":
            continue
        present = values.dropna()
        if len(present) and all(isinstance(value, str) for value in present):
            found.append(str(column))
    return found


def text_baseline(
    baseline: list[Any] | dict[str, Any] | str | None,
    first: pd.DataFrame,
    texts: Sequence[str],
) -> pd.DataFrame:
    """The one baseline row: ``methods.shap.baseline``'s, or "" for texts and first-batch means."""
    columns = list(first.columns)
    if baseline is None:
        row = {
            column: "" if column in texts else float(pd.to_numeric(first[column]).mean())
            for column in columns
        }
        return pd.DataFrame([row], columns=columns)
    if not isinstance(baseline, list):
        raise ConfigError(
            "methods.shap.baseline: with text_config give the baseline as one row, e.g. "
            '[[4, "[MASK]"]], not a file or an object'
        )
    if len(baseline) != 1:
        raise ConfigError(
            f"methods.shap.baseline: with text_config give one row, got {len(baseline)}"
        )
    row_values = baseline[0] if isinstance(baseline[0], list) else [baseline[0]]
    if len(row_values) != len(columns):
        raise ConfigError(
            f"methods.shap.baseline: the row has {len(row_values)} values but the data set has "
            f"{len(columns)} features {columns}"
        )
    for column, value in zip(columns, row_values, strict=True):
        if column in texts and not isinstance(value, str):
            raise ConfigError(
                f"methods.shap.baseline: the value for text column {column!r} must be the string "
                f'that replaces a masked unit (e.g. "[MASK]"), got {value!r}'
            )
    return pd.DataFrame([row_values], columns=columns)


@dataclass
class _Aggregate:
    """Running aggregate of values by ``agg_method`` (median keeps the values)."""

    agg_method: AggMethod
    total: float = 0.0
    count: int = 0
    values: list[float] = field(default_factory=list)

    def add(self, values: np.ndarray) -> None:
        if self.agg_method == "mean_abs":
            self.total += float(np.abs(values).sum())
        elif self.agg_method == "mean_sq":
            self.total += float(np.square(values).sum())
        else:
            self.values.extend(values.tolist())
        self.count += values.size

    @property
    def value(self) -> float:
        if self.agg_method == "median":
            return float(np.median(self.values)) if self.values else float("nan")
        return self.total / self.count if self.count else float("nan")


@dataclass
class TextAttributions:
    """What the data set's text explanations add up to, per label."""

    output_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    text_features: tuple[str, ...]
    agg_method: AggMethod
    n_samples: int = 0
    base_total: np.ndarray | None = None
    max_additivity_error: float = 0.0
    evaluations: int = 0
    exact_rows: int = 0
    columns: dict[tuple[str, str], _Aggregate] = field(default_factory=dict)
    units: dict[tuple[str, str], dict[str, _Aggregate]] = field(default_factory=dict)

    def add(self, row: TextRow, explanation: UnitExplanation) -> None:
        """One explained row."""
        self.n_samples += 1
        base = explanation.base_value
        self.base_total = base.copy() if self.base_total is None else self.base_total + base
        self.max_additivity_error = max(self.max_additivity_error, explanation.additivity_error)
        self.evaluations += explanation.evaluations
        self.exact_rows += explanation.exact
        units = row.unit_table()
        for k, label in enumerate(self.output_names):
            values = explanation.values[k]
            for feature in self.feature_names:
                chosen = (units["feature"] == feature).to_numpy()
                total = np.array([values[chosen].sum()])
                self._aggregate(self.columns, (label, feature)).add(total)
            for feature in self.text_features:
                chosen = (units["feature"] == feature).to_numpy()
                per_unit = self.units.setdefault((label, feature), {})
                for text, value in zip(units["text"][chosen], values[chosen], strict=True):
                    if text not in per_unit:
                        per_unit[text] = _Aggregate(self.agg_method)
                    per_unit[text].add(np.array([value]))

    def _aggregate(
        self, table: dict[tuple[str, str], _Aggregate], key: tuple[str, str]
    ) -> _Aggregate:
        if key not in table:
            table[key] = _Aggregate(self.agg_method)
        return table[key]

    def by_output(self, max_top_tokens: int) -> dict[str, dict[str, Any]]:
        """``explanations.kernel_shap``: per label, global values, expected value, top units."""
        document: dict[str, dict[str, Any]] = {}
        expected = (
            self.base_total / self.n_samples
            if self.base_total is not None and self.n_samples
            else np.full(len(self.output_names), np.nan)
        )
        for k, label in enumerate(self.output_names):
            top: dict[str, dict[str, float]] = {}
            for feature in self.text_features:
                ranked = sorted(
                    (
                        (text, agg.value)
                        for text, agg in self.units.get((label, feature), {}).items()
                    ),
                    key=lambda item: (-item[1], item[0]),
                )
                top[feature] = dict(ranked[:max_top_tokens])
            document[label] = {
                "global_shap_values": {
                    feature: self.columns[(label, feature)].value
                    if (label, feature) in self.columns
                    else float("nan")
                    for feature in self.feature_names
                },
                "expected_value": float(expected[k]),
                "global_top_shap_text": top,
            }
        return document


def local_text_record(row: TextRow, explanation: UnitExplanation) -> dict[str, Any]:
    """One line of Clarify's ``out.jsonl``: the row's features and their units' attributions."""
    explanations = []
    position = 0
    for column in row.tabular:
        explanations.append(
            {
                "feature_name": column,
                "data_type": "numerical"
                if np.issubdtype(np.asarray(row.row[column]).dtype, np.number)
                else "categorical",
                "attributions": [{"attribution": explanation.values[:, position].tolist()}],
            }
        )
        position += 1
    for column, text in row.texts:
        attributions = []
        for unit, (start, _) in zip(text.units, text.spans, strict=True):
            attributions.append(
                {
                    "attribution": explanation.values[:, position].tolist(),
                    "description": {"partial_text": unit, "start_idx": start},
                }
            )
            position += 1
        explanations.append(
            {"feature_name": column, "data_type": "free_text", "attributions": attributions}
        )
    return {"explanations": explanations}


def local_text_table(
    rows: Sequence[TextRow],
    explanations: Sequence[UnitExplanation],
    sample_ids: Sequence[Any],
    output_names: Sequence[str],
) -> pd.DataFrame:
    """Lines of ``out.csv``: :func:`local_text_record`'s attributions, one line per unit."""
    lines: list[dict[str, Any]] = []
    for row, explanation, sample in zip(rows, explanations, sample_ids, strict=True):
        record = local_text_record(row, explanation)
        for feature in record["explanations"]:
            for attribution in feature["attributions"]:
                description = attribution.get("description", {})
                lines.append(
                    {
                        "row": sample,
                        "feature_name": feature["feature_name"],
                        "data_type": feature["data_type"],
                        "partial_text": description.get("partial_text"),
                        "start_idx": description.get("start_idx"),
                        **dict(zip(output_names, attribution["attribution"], strict=True)),
                    }
                )
    columns = ["row", "feature_name", "data_type", "partial_text", "start_idx", *output_names]
    table = pd.DataFrame(lines, columns=columns)
    table["start_idx"] = table["start_idx"].astype("Int64")  # empty for tabular columns
    return table


def units_table(
    rows: Sequence[TextRow],
    explanations: Sequence[UnitExplanation],
    sample_ids: Sequence[Any],
    output_names: Sequence[str],
) -> pd.DataFrame:
    """The long table of units' values: one line per sample, label and unit (or column)."""
    parts = []
    for row, explanation, sample in zip(rows, explanations, sample_ids, strict=True):
        units = row.unit_table()
        starts = [-1] * len(row.tabular) + [
            start for _, text in row.texts for start, _ in text.spans
        ]
        for k, label in enumerate(output_names):
            parts.append(
                pd.DataFrame(
                    {
                        "sample": sample,
                        "label": label,
                        "feature": units["feature"],
                        "unit": units["unit"],
                        "text": units["text"],
                        "start": starts,
                        "value": explanation.values[k],
                    }
                )
            )
    if not parts:
        return pd.DataFrame({name: [] for name in UNITS_COLUMNS})
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class TextOutputs:
    """Where the text explanations go (None: not written)."""

    local_values: str | None
    units: str | None
    local_table: str | None = None  # out.csv


@contextlib.contextmanager
def _jsonl(path: str | None) -> Iterator[IO[Any] | None]:
    if path is None:
        yield None
        return
    with atomic_file(path, "w") as handle:
        yield handle


@contextlib.contextmanager
def _table(path: str | None, writer: type[CsvWriter] | type[ParquetWriter]) -> Iterator[Any]:
    """A sink of the table at ``path`` (None: not written)."""
    if path is None:
        yield None
        return
    with writer(path=path).open() as sink:
        yield sink


def explain_texts(
    samples: SampleSource,
    model: LoadedModel,
    shap: ShapMethod,
    outputs: TextOutputs,
    *,
    batch_size: int = 2048,
) -> TextAttributions:
    """Explain every row of ``samples`` unit by unit and write the local outputs as they come."""
    assert shap.text_config is not None
    text = shap.text_config
    segmenter = text.segmenter
    explainer = UnitsExplainer(
        num_samples=shap.num_samples,
        seed=shap.seed if shap.seed is not None else 0,
        use_logit=shap.use_logit,
        batch_size=batch_size,
    )
    attributions: TextAttributions | None = None
    baseline: pd.DataFrame | None = None
    texts: list[str] = []
    with (
        _jsonl(outputs.local_values) as jsonl,
        _table(outputs.units, ParquetWriter) as units_sink,
        _table(outputs.local_table, CsvWriter) as table_sink,
    ):
        for batch in samples.batches():
            frame = batch
            if baseline is None:
                texts = text_columns(frame)
                if not texts:
                    raise InputError(
                        "text_config: the data set has no text column (strings); columns: "
                        f"{list(frame.columns)}"
                    )
                baseline = text_baseline(shap.baseline, frame, texts)
                logger.info(
                    "text columns %s, %s units (%s), baseline %s",
                    texts,
                    text.granularity,
                    text.language,
                    baseline.iloc[0].to_dict(),
                )

            def evaluate(batches: Sequence[pd.DataFrame]) -> np.ndarray:
                return np.asarray(model.predict(pd.concat(batches, ignore_index=True)))

            rows = text_rows(frame, texts, baseline, segmenter)
            explanations = explainer.explain(evaluate, rows)
            if attributions is None:
                n_outputs = explanations[0].values.shape[0] if explanations else 0
                names = model.output_names(frame.head(2)) or tuple(
                    f"label{k}" for k in range(n_outputs)
                )
                attributions = TextAttributions(
                    output_names=tuple(names),
                    feature_names=tuple(str(c) for c in frame.columns),
                    text_features=tuple(texts),
                    agg_method=shap.agg_method,
                )
            for row, explanation in zip(rows, explanations, strict=True):
                attributions.add(row, explanation)
                if jsonl is not None:
                    jsonl.write(json.dumps(local_text_record(row, explanation)) + "\n")
            ids = list(range(attributions.n_samples - len(rows), attributions.n_samples))
            if units_sink is not None:
                units_sink.write(units_table(rows, explanations, ids, attributions.output_names))
            if table_sink is not None:
                table_sink.write(
                    local_text_table(rows, explanations, ids, attributions.output_names)
                )
    if attributions is None or attributions.n_samples == 0:
        raise InputError("the data set has no rows to explain")
    logger.info(
        "explained %d rows: %d model evaluations (%.1f a row), %d rows exact",
        attributions.n_samples,
        attributions.evaluations,
        attributions.evaluations / attributions.n_samples,
        attributions.exact_rows,
    )
    return attributions


def text_analysis_document(
    config: AnalysisConfig, model: str, attributions: TextAttributions, max_top_tokens: int
) -> dict[str, Any]:
    """Clarify's analysis.json of a text explanation, with explainops' run details."""
    shap = config.shap
    assert shap.text_config is not None
    return {
        "version": config.version or "1.0",
        "explanations": {"kernel_shap": attributions.by_output(max_top_tokens)},
        "explainops": {
            "version": __version__,
            "model": model,
            "explainer": "KernelExplainer (per-row units)",
            "granularity": shap.text_config.granularity,
            "language": shap.text_config.language,
            "agg_method": shap.agg_method,
            "num_samples": shap.num_samples,
            "use_logit": shap.use_logit,
            "seed": shap.seed if shap.seed is not None else 0,
            "n_samples": attributions.n_samples,
            "model_evaluations": attributions.evaluations,
            "rows_exact": attributions.exact_rows,
            "max_additivity_error": attributions.max_additivity_error,
        },
    }
