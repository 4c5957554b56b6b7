"""The output tables: model explanations (long) and sample explanations (wide)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.errors import ExplainerError
from explainops.explainers import Explanation
from explainops.explainers.explanation import BUDGET_COLUMNS

FloatArray = npt.NDArray[np.float64]
SAMPLE_COLUMNS = ("sample_id", "label", "prediction", "base_value")
# Columns that are neither ids nor features: the adaptive budget's, when it was adaptive.
RESERVED_COLUMNS = SAMPLE_COLUMNS + BUDGET_COLUMNS


def check_feature_names(feature_names: Sequence[str]) -> None:
    """Refuse features whose names would collide with the fixed output columns."""
    clashes = sorted(set(feature_names) & set(RESERVED_COLUMNS))
    if clashes:
        raise ExplainerError(
            f"feature names {clashes} collide with output columns {list(RESERVED_COLUMNS)}"
        )


def sample_explanations_table(explanation: Explanation, sample_ids: Sequence[Any]) -> pd.DataFrame:
    """One row per (sample, label): sample_id, label, prediction, base_value, one column a feature.

    Standard errors, when the explainer estimated them, follow as ``<feature>_stderr`` columns,
    and an adaptive budget's ``n_evaluations`` and ``converged``. The table is
    :meth:`Explanation.to_frame`'s, the one implementation.
    """
    return explanation.to_frame(sample_ids)


def model_explanations_table(
    importance: FloatArray,
    feature_names: Sequence[str],
    output_names: Sequence[str],
    agg_method: str,
    native_importance: FloatArray | None = None,
) -> pd.DataFrame:
    """One row per (label, feature), ranked within each label (1 = most important).

    ``native_importance`` is (d,) or (k, d): the model's own importances or coefficients.
    """
    n_outputs, n_features = importance.shape
    if native_importance is not None and native_importance.ndim == 1:
        native_importance = np.broadcast_to(native_importance, (n_outputs, n_features))
    frames = []
    for output, label in enumerate(output_names):
        order = np.argsort(-importance[output], kind="stable")
        ranks = np.empty(n_features, dtype=np.int64)
        ranks[order] = np.arange(1, n_features + 1)
        native = (
            native_importance[output]
            if native_importance is not None
            else np.full(n_features, np.nan)
        )
        frames.append(
            pd.DataFrame(
                {
                    "label": label,
                    "feature": list(feature_names),
                    "importance": importance[output],
                    "agg_method": agg_method,
                    "rank": ranks,
                    "native_importance": np.asarray(native, dtype=np.float64),
                }
            ).sort_values("rank", kind="stable")
        )
    return pd.concat(frames, ignore_index=True)


def native_importance(
    native: Any, feature_names: Sequence[str], n_outputs: int
) -> FloatArray | None:
    """The model's own importances (``feature_importances_``) or coefficients (``coef_``).

    (d,) when the same for every output, else (k, d). None when they are not one per input
    column in the input's order, or when that cannot be told: after one-hot encoding, after a
    ``ColumnTransformer`` that moves columns, or after a step that does not name its output
    columns. A binary classifier's ``coef_`` is its second class's; the first class's
    coefficients are their negatives.
    """
    estimator = native
    if hasattr(native, "steps"):
        if len(native.steps) > 1 and not _hands_on_columns(native[:-1], feature_names):
            return None
        estimator = native.steps[-1][1]
    n_features = len(feature_names)
    importances = getattr(estimator, "feature_importances_", None)
    if importances is not None:
        values = np.asarray(importances, dtype=np.float64)
        return values if values.shape == (n_features,) else None
    coefficients = getattr(estimator, "coef_", None)
    if coefficients is None:
        return None
    values = np.atleast_2d(np.asarray(coefficients, dtype=np.float64))
    if values.shape[1] != n_features:
        return None
    if values.shape[0] == n_outputs:
        return values
    if values.shape[0] == 1 and n_outputs == 2:  # a binary classifier's two class scores
        return np.vstack([-values[0], values[0]])
    return None


def _hands_on_columns(steps: Any, feature_names: Sequence[str]) -> bool:
    """Whether a pipeline's steps before its estimator give it the input columns, in order.

    A column is recognised by its name, with or without a ``ColumnTransformer``'s
    ``transformer__`` prefix, or as ``x<i>`` when the steps were fitted on an array.
    """
    try:
        names = [str(name) for name in steps.get_feature_names_out()]
    except (AttributeError, TypeError, ValueError):  # a step that does not name its columns
        return False
    return len(names) == len(feature_names) and all(
        name in (feature, f"x{index}") or name.endswith(f"__{feature}")
        for index, (name, feature) in enumerate(zip(names, feature_names, strict=True))
    )
