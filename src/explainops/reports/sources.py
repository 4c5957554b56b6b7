"""Reports drawn from output files: what the notebook and ``explainops report`` run.

A report's ``source`` is a JSON-safe dict: its ``kind``, the paths of the outputs it reads, the
options that choose its rows, and the figures of the run no output file keeps (its duration, the
explainer's settings, the importance of the windows a drift run compared). ``build_report``
reads the files again and returns the same ``Report`` the job wrote.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pydantic

from explainops.clarify.analysis_config import load_analysis_config
from explainops.clarify.data import clarify_samples, dataset_type_of
from explainops.clarify.layout import ANALYSIS_FILE, UNITS_FILE, image_explanation_path
from explainops.core.samples import SampleSource
from explainops.core.tables import SAMPLE_COLUMNS
from explainops.drift.baseline_file import AttributionBaseline
from explainops.drift.history import read_history
from explainops.errors import InputError
from explainops.io.datasets import read_json, read_table, reader_for_path
from explainops.io.readers import ReaderKind
from explainops.reports.document import Report
from explainops.reports.drift import WindowImportance, drift_report
from explainops.reports.explanations import explanations_report
from explainops.reports.images import image_report
from explainops.reports.importance import GlobalImportance
from explainops.reports.sampling import RowSampler, explanation_columns
from explainops.reports.text import text_report

SOURCE_KINDS = ("explanations", "clarify", "clarify_text", "clarify_images", "drift")
_READER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ReaderKind)


def relative_to(path: str | None, folder: str) -> str | None:
    """A local ``path`` relative to ``folder`` (where the notebook is); URIs unchanged."""
    if path is None or "://" in path or "://" in folder:
        return path
    return os.path.relpath(os.path.abspath(path), os.path.abspath(folder))


def rebased(source: dict[str, Any], folder: str) -> dict[str, Any]:
    """``source`` with its local paths relative to ``folder`` (readers' paths included)."""

    def rebase(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {name: rebase(item, name) for name, item in value.items()}
        if isinstance(value, list):
            return [rebase(item, key) for item in value]
        if isinstance(value, str) and key in _PATH_KEYS:
            return relative_to(value, folder)
        return value

    rebased_source: dict[str, Any] = rebase(source)
    return rebased_source


_PATH_KEYS = frozenset(
    {
        "path",
        "samples_explanations",
        "models_explanations",
        "partial_dependence",
        "analysis",
        "analysis_config",
        "local_values",
        "units",
        "images",
        "dataset",
        "baseline",
        "history",
    }
)


def build_report(source: dict[str, Any]) -> Report:
    """The report ``source`` describes, drawn from its files."""
    kind = source.get("kind")
    if kind == "explanations":
        return _explanations(source)
    if kind == "clarify":
        return _clarify(source)
    if kind == "clarify_text":
        return _clarify_text(source)
    if kind == "clarify_images":
        analysis = read_json(source["analysis"], "analysis.json")
        return image_report(
            source.get("title") or "Clarify image explainability report",
            analysis,
            source.get("images") or [],
            summary=[tuple(row) for row in source.get("summary") or _clarify_summary(analysis)],
            source=source,
        )
    if kind == "drift":
        return _drift(source)
    raise InputError(f"report source: unknown kind {kind!r}; expected one of {SOURCE_KINDS}")


def sampler_of(source: dict[str, Any], feature_names: Sequence[str]) -> RowSampler:
    """The row sampler a source's options configure."""
    options = source.get("options", {})
    return RowSampler(
        feature_names,
        max_points=int(options.get("max_points", 1000)),
        waterfalls=int(options.get("waterfalls", 1)),
        sample_ids=list(options.get("sample_ids", [])),
        seed=int(options.get("seed", 0)),
    )


def read_inputs(reader: SampleSource | None, ids: set[str]) -> pd.DataFrame | None:
    """The input rows of the samples ``ids``, indexed by their id as text (None: no reader)."""
    if reader is None or not ids:
        return None
    found = []
    for batch in reader.batches():
        if reader.id_column and reader.id_column not in batch.columns:
            raise InputError(
                f"{reader.path}: no id column {reader.id_column!r}; its columns: "
                f"{', '.join(map(str, batch.columns[:12]))}"
                + (", ..." if len(batch.columns) > 12 else "")
            )
        keys = (batch[reader.id_column] if reader.id_column else batch.index.to_series()).astype(
            str
        )
        chosen = keys.isin(ids).to_numpy()
        if chosen.any():
            rows = batch.loc[chosen]
            found.append(rows.set_axis(pd.Index(keys[chosen].to_numpy())))
    return pd.concat(found) if found else None


def _reader(config: dict[str, Any] | None) -> SampleSource | None:
    return _READER.validate_python(config) if config else None


def _explanations(source: dict[str, Any]) -> Report:
    samples = reader_for_path(source["samples_explanations"])
    models_path = source.get("models_explanations")
    sampler: RowSampler | None = None
    for batch in samples.batches():
        if sampler is None:
            sampler = sampler_of(source, explanation_columns(batch))
        sampler.add(batch)
    if sampler is None:
        raise InputError(f"{source['samples_explanations']}: no sample explanations to report")
    importance = (
        GlobalImportance.from_table(read_table(models_path))
        if models_path
        else sampler.importance()
    )
    inputs = read_inputs(_reader(source.get("inputs")), sampler.sampled_ids)
    pdp_path = source.get("partial_dependence")
    pdp = read_json(pdp_path, "partial dependence file") if pdp_path else {}
    return explanations_report(
        title=source.get("title") or "Explanations report",
        kind="explanations",
        summary=[tuple(row) for row in source.get("summary") or sampler.summary()],
        importance=importance,
        rows=sampler.rows(inputs),
        n_samples=sampler.n_samples,
        agg_method=source.get("agg_method", "mean_abs"),
        partial_dependence=pdp.get("pdp", []),
        pdp_labels=pdp.get("labels", []),
        source=source,
    )


def clarify_local_values(
    local_values: pd.DataFrame, kernel_shap: dict[str, Any], feature_names: Sequence[str]
) -> pd.DataFrame:
    """Clarify's ``out.csv`` (``<feature>_<label>`` columns) as a sample-explanations table.

    Clarify keeps no prediction: it is the base value plus the sum of the SHAP values (the
    values add up to it), and a sample's id is its row position.
    """
    expected = [f"{feature}_{label}" for label in kernel_shap for feature in feature_names]
    missing = [column for column in expected if column not in local_values.columns]
    if missing:
        raise InputError(
            f"local values: no column {missing[0]!r} (of {len(expected)} <feature>_<label> "
            f"columns the analysis has; {len(missing)} missing): this out.csv is not the "
            "analysis's own (an earlier run's left in the folder?)"
        )
    frames = []
    for label, entry in kernel_shap.items():
        columns = [f"{feature}_{label}" for feature in feature_names]
        values = local_values[columns].to_numpy(dtype=np.float64)
        base = float(entry["expected_value"])
        frame = pd.DataFrame(values, columns=list(feature_names))
        frame.insert(0, "base_value", base)
        frame.insert(0, "prediction", base + values.sum(axis=1))
        frame.insert(0, "label", label)
        frame.insert(0, "sample_id", local_values.index.to_numpy())
        frames.append(frame)
    table = pd.concat(frames).sort_index(kind="stable")
    return table.reset_index(drop=True)


def _clarify(source: dict[str, Any]) -> Report:
    analysis = read_json(source["analysis"], "analysis.json")
    explanations = analysis.get("explanations", {})
    kernel_shap: dict[str, Any] = explanations.get("kernel_shap", {})
    importance = GlobalImportance.of_kernel_shap(kernel_shap)
    details = analysis.get("explainops", {})
    n_samples = int(details.get("n_samples", 0))
    rows = {}
    if importance and source.get("local_values"):
        feature_names = importance[0].feature_names
        sampler = sampler_of(source, feature_names)
        # Readers index batches by row position over the whole file: a row's id is its position.
        for batch in reader_for_path(source["local_values"]).batches():
            try:
                sampler.add(clarify_local_values(batch, kernel_shap, feature_names))
            except InputError as error:
                raise InputError(f"{source['local_values']}: {error}") from None
        reader = _clarify_reader(source) or _reader(source.get("inputs"))
        rows = sampler.rows(read_inputs(reader, sampler.sampled_ids))
        n_samples = n_samples or sampler.n_samples
    pdp_labels = source.get("pdp_labels") or list(kernel_shap)
    return explanations_report(
        title=source.get("title") or "Clarify explainability report",
        kind="clarify",
        summary=[tuple(row) for row in source.get("summary") or _clarify_summary(analysis)],
        importance=importance,
        rows=rows,
        n_samples=n_samples,
        agg_method=str(details.get("agg_method", "mean_abs")),
        partial_dependence=explanations.get("pdp", []),
        pdp_labels=pdp_labels,
        source=source,
    )


def _clarify_text(source: dict[str, Any]) -> Report:
    analysis = read_json(source["analysis"], "analysis.json")
    units = read_table(source["units"]) if source.get("units") else None
    return text_report(
        source.get("title") or "Clarify text explainability report",
        analysis,
        units,
        summary=[tuple(row) for row in source.get("summary") or _clarify_summary(analysis)],
        source=source,
    )


def _clarify_reader(source: dict[str, Any]) -> SampleSource | None:
    if not source.get("analysis_config") or not source.get("dataset"):
        return None
    config = load_analysis_config(source["analysis_config"])
    dataset = source["dataset"]
    return clarify_samples(
        config,
        dataset_type_of(dataset, source.get("dataset_type") or config.dataset_type),
        dataset,
        features_attribute=source.get("features_attribute"),
        batch_size=10_000,
    )


def _clarify_summary(analysis: dict[str, Any]) -> list[tuple[str, Any]]:
    details = analysis.get("explainops", {})
    keys = ("model", "explainer", "num_samples", "n_samples", "max_additivity_error", "version")
    return [(key.replace("_", " "), details[key]) for key in keys if key in details]


def _drift(source: dict[str, Any]) -> Report:
    baseline = AttributionBaseline.read(source["baseline"])
    history_path = source.get("history")
    history = read_history(history_path) if history_path else None
    windows = [WindowImportance.from_record(record) for record in source.get("windows", [])]
    return drift_report(
        title=source.get("title") or "Attribution drift report",
        summary=[tuple(row) for row in source.get("summary", [])],
        baseline=baseline,
        history=history,
        windows=windows,
        threshold=source.get("threshold"),
        source=source,
    )


def detect_source(paths: Sequence[str], *, title: str | None = None) -> dict[str, Any]:
    """The source of a report on existing outputs, told apart by their content.

    - an ``analysis.json``: Clarify's, tabular (with ``explanations_shap/out.csv`` when there),
      text or images, as the analysis says (see :func:`_clarify_source`);
    - an attribution baseline file and/or a drift history table or folder: drift;
    - a sample-explanations table (and, optionally, the model-explanations table and a
      partial-dependence file): explanations.
    """
    roles: dict[str, str] = {}
    for path in paths:
        role = _role_of(path)
        if role in roles:
            raise InputError(f"{path}: a second {role.replace('_', ' ')}; give one of each")
        roles[role] = path
    source: dict[str, Any] = {"title": title}
    if "analysis" in roles:
        return source | _clarify_source(roles["analysis"], roles.get("local_values"))
    if "baseline" in roles:
        return source | {
            "kind": "drift",
            "baseline": roles["baseline"],
            "history": roles.get("history"),
        }
    if "history" in roles:
        raise InputError(
            f"{roles['history']}: a drift history needs its attribution baseline file too "
            "(the baseline's ranking is what the windows are compared with)"
        )
    if "samples_explanations" not in roles:
        raise InputError(
            "explainops report: expected a sample-explanations table, an analysis.json, or a "
            f"drift baseline and history; got {list(paths)}"
        )
    return source | {
        "kind": "explanations",
        "samples_explanations": roles["samples_explanations"],
        "models_explanations": roles.get("models_explanations"),
        "partial_dependence": roles.get("partial_dependence"),
    }


def _clarify_source(analysis_path: str, local_values: str | None) -> dict[str, Any]:
    """A Clarify run's report source: tabular, text or images, as its ``analysis.json`` says."""
    document = read_json(analysis_path, "analysis.json")
    details = document.get("explainops", {}) if isinstance(document, dict) else None
    if not isinstance(details, dict):
        raise InputError(
            f"{analysis_path}: not a Clarify analysis; expected a JSON object with "
            "'explanations' (and explainops' run details, an object, under 'explainops')"
        )
    if "granularity" in details:  # a text analysis: its units table is beside it
        units = _beside(analysis_path, UNITS_FILE)
        return {"kind": "clarify_text", "analysis": analysis_path, "units": units}
    if "images" in details:  # an image analysis: one .npz an image, as the run listed them
        folder = analysis_path.rsplit("/", 1)[0] if "/" in analysis_path else "."
        images = [image_explanation_path(folder, name) for name in details["images"]]
        for path in images:
            if "://" not in path and not os.path.exists(path):
                raise InputError(
                    f"{path}: not found; {analysis_path} lists this image, and its report needs "
                    "its explanation (explanations_shap/<image>.npz beside analysis.json)"
                )
        return {"kind": "clarify_images", "analysis": analysis_path, "images": images}
    local = local_values or _beside(analysis_path, "explanations_shap/out.csv")
    return {"kind": "clarify", "analysis": analysis_path, "local_values": local}


def _beside(path: str, name: str) -> str | None:
    candidate = str(PurePosixPath(path).parent / name) if "://" not in path else None
    return candidate if candidate and os.path.exists(candidate) else None


def _role_of(path: str) -> str:
    """What an output file is, from its name and first content."""
    name = PurePosixPath(path.rstrip("/")).name
    if name == ANALYSIS_FILE:
        return "analysis"
    if name.endswith(".json"):
        document = read_json(path, "output file")
        if isinstance(document, dict) and document.get("explainops", {}).get("format"):
            return "baseline"
        if isinstance(document, dict) and "pdp" in document:
            return "partial_dependence"
        if isinstance(document, dict) and "explanations" in document:
            return "analysis"
        raise InputError(
            f"{path}: not an output explainops reports on ({json.dumps(sorted(document))[:80]})"
        )
    if path.endswith("/") or os.path.isdir(path):
        return "history"
    first = next(iter(reader_for_path(path, limit=1).batches()), None)
    columns = set(first.columns) if first is not None else set()
    if {"window_id", "ndcg", "label"} <= columns:
        return "history"
    if set(SAMPLE_COLUMNS) <= columns:
        return "samples_explanations"
    if {"label", "feature", "importance"} <= columns:
        return "models_explanations"
    if name == "out.csv":
        return "local_values"
    raise InputError(
        f"{path}: not an output explainops reports on: expected sample or model explanations, "
        "a drift history, or Clarify's out.csv"
    )
