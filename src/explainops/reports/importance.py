"""A label's global importance, as a report ranks and draws it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class GlobalImportance:
    """One label's global attributions (and the model's own importance, when it has one)."""

    label: str
    feature_names: tuple[str, ...]
    importance: np.ndarray[Any, np.dtype[np.float64]]
    native: np.ndarray[Any, np.dtype[np.float64]] | None = None

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> list[GlobalImportance]:
        """From a model-explanations table: one entry a label, features in the table's order."""
        result = []
        for label, rows in table.groupby("label", sort=False):
            native = (
                rows["native_importance"].to_numpy(dtype=np.float64)
                if "native_importance" in rows
                else None
            )
            if native is not None and not np.isfinite(native).any():
                native = None
            result.append(
                cls(
                    str(label),
                    tuple(rows["feature"].astype(str)),
                    rows["importance"].to_numpy(dtype=np.float64),
                    native,
                )
            )
        return result

    @classmethod
    def of(cls, label: str, values: dict[str, float]) -> GlobalImportance:
        """From ``{feature: importance}`` (analysis.json's ``global_shap_values``)."""
        return cls(label, tuple(values), np.asarray(list(values.values()), dtype=np.float64))

    @classmethod
    def of_kernel_shap(cls, kernel_shap: dict[str, Any]) -> list[GlobalImportance]:
        """Every label of analysis.json's ``explanations.kernel_shap``."""
        return [
            cls.of(str(label), entry["global_shap_values"]) for label, entry in kernel_shap.items()
        ]

    def ranked(self) -> list[tuple[int, str, float, float | None]]:
        """(rank, feature, importance, native) by decreasing importance."""
        order = np.argsort(-np.abs(self.importance), kind="stable")
        return [
            (
                rank,
                self.feature_names[index],
                float(self.importance[index]),
                float(self.native[index]) if self.native is not None else None,
            )
            for rank, index in enumerate(order, start=1)
        ]
