"""Turn user inputs (arrays, DataFrames, predict callables) into the explainers' arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.errors import ExplainerError, InputError

FloatArray = npt.NDArray[np.float64]
PredictFunction = Callable[[Any], Any]
ModelOutputFunction = Callable[[npt.NDArray[Any]], FloatArray]


@dataclass(frozen=True)
class FeatureTable:
    """Rows of features as one 2-D array, with the names and pandas dtypes they came with.

    ``values`` is float64 when every column is numeric, else an object array. ``dtypes`` is set when
    the rows came as a DataFrame, so that rows built from them reach the model as a DataFrame again.
    """

    values: npt.NDArray[Any]
    feature_names: tuple[str, ...]
    dtypes: pd.Series | None = None

    @property
    def is_numeric(self) -> bool:
        """Whether every feature is numeric (values is a float64 array)."""
        return self.values.dtype == np.float64


def default_feature_names(n_features: int) -> tuple[str, ...]:
    """Clarify's names for unnamed features: column_0, column_1, ..."""
    return tuple(f"column_{index}" for index in range(n_features))


def default_output_names(n_outputs: int) -> tuple[str, ...]:
    """Clarify's names for unnamed outputs: label0, label1, ..."""
    return tuple(f"label{index}" for index in range(n_outputs))


def as_feature_table(
    data: Any, feature_names: Sequence[str] | None = None, what: str = "samples"
) -> FeatureTable:
    """Validate ``data`` as a 2-D table of features and return it as a FeatureTable."""
    if isinstance(data, pd.DataFrame):
        names = tuple(str(column) for column in data.columns)
        if feature_names is not None:
            missing = [name for name in feature_names if name not in names]
            if missing:
                raise InputError(f"{what}: missing feature columns {missing}")
            data = data.loc[:, list(feature_names)]
            names = tuple(feature_names)
        numeric = all(pd.api.types.is_numeric_dtype(dtype) for dtype in data.dtypes)
        values = data.to_numpy(dtype=np.float64 if numeric else object)
        return FeatureTable(values, names, data.dtypes.copy())
    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InputError(f"{what}: expected a 2-D table (rows, features), got shape {array.shape}")
    numeric = array.dtype.kind in "biuf"
    values = array.astype(np.float64 if numeric else object)
    names = (
        tuple(feature_names) if feature_names is not None else default_feature_names(array.shape[1])
    )
    if len(names) != values.shape[1]:
        raise InputError(f"{what}: {values.shape[1]} columns but {len(names)} feature names")
    return FeatureTable(values, names)


def conform_to(table: FeatureTable, template: FeatureTable, what: str) -> FeatureTable:
    """Check that ``table`` has ``template``'s features and share its array dtype."""
    if table.feature_names != template.feature_names:
        raise InputError(
            f"{what}: features {list(table.feature_names)} do not match the samples' "
            f"features {list(template.feature_names)}"
        )
    if table.values.dtype != template.values.dtype:
        table = FeatureTable(table.values.astype(template.values.dtype), table.feature_names)
    return FeatureTable(table.values, template.feature_names, template.dtypes)


def model_output_function(predict: PredictFunction, template: FeatureTable) -> ModelOutputFunction:
    """Wrap ``predict`` so it takes rows as a 2-D array and returns a (rows, k) float64 array.

    Rows reach ``predict`` as a DataFrame with the template's columns and dtypes when the samples
    came as a DataFrame, else as the bare array.
    """
    if not callable(predict):
        raise ExplainerError(f"model must be a predict callable, got {type(predict).__name__}")

    keeps_float64 = template.dtypes is None or all(dtype == np.float64 for dtype in template.dtypes)

    def outputs(rows: npt.NDArray[Any]) -> FloatArray:
        model_input: Any = rows
        if template.dtypes is not None:
            frame = pd.DataFrame(rows, columns=list(template.feature_names), copy=False)
            model_input = frame if keeps_float64 else frame.astype(template.dtypes.to_dict())
        raw = predict(model_input)
        result = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw, dtype=np.float64)
        if result.ndim == 1:
            result = result.reshape(-1, 1)
        if result.ndim != 2 or result.shape[0] != rows.shape[0]:
            raise ExplainerError(
                f"model returned shape {result.shape} for {rows.shape[0]} rows; "
                "expected (rows,) or (rows, outputs)"
            )
        return result

    return outputs
