"""A model as the explain pipeline sees it, wherever it was loaded from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model as the explainers see it.

    Attributes:
        predict: DataFrame of input columns -> (n, k) explained outputs.
        output_names: given a few input rows, the names of the k outputs when the model knows
            them (class labels, a pyfunc's output columns), else None.
        native: the native model object (for the tree fast path and native importances), or None.
        version: where it came from (the registry's model version), or None.
        answers: DataFrame -> each row's whole answer as the model gives it, not read as scores
            (an object detector's document of boxes), where the model can give it; else None.

    """

    predict: Callable[[pd.DataFrame], FloatArray]
    output_names: Callable[[pd.DataFrame], tuple[str, ...] | None]
    native: Any | None
    version: Any | None
    answers: Callable[[pd.DataFrame], list[Any]] | None = None
