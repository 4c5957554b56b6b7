"""Link functions applied to the expected model output (shap's convention)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Probabilities are clipped so that a saturated model (p = 0 or 1) gives large, finite log-odds.
_PROBABILITY_EPSILON = 1e-15


def apply_link(
    expected_outputs: npt.NDArray[np.float64], use_logit: bool
) -> npt.NDArray[np.float64]:
    """Return ``expected_outputs`` unchanged, or their log-odds when ``use_logit``."""
    if not use_logit:
        return expected_outputs
    clipped = np.clip(expected_outputs, _PROBABILITY_EPSILON, 1.0 - _PROBABILITY_EPSILON)
    return np.asarray(np.log(clipped) - np.log1p(-clipped), dtype=np.float64)
