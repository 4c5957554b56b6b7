"""Evaluate the interventional value function v(S) for many samples and coalitions at once.

v_x(S) = mean over baseline rows b (weighted) of f(x_S, b_rest): the model sees the sample's values
on the coalition's features and the baseline row's values elsewhere. Rows are built in a reused
buffer and sent to the model in batches of about ``batch_size`` rows, never one call per sample.

While the model runs, ``MODEL_CALL_ROWS`` says which samples the call's rows belong to, so that a
model failing on some rows (an endpoint's request) can name those samples rather than rows of the
internal frame of masked rows.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from explainops.errors import ExplainerError, ExplainOpsError
from explainops.explainers._compiled import fill_hybrid_rows
from explainops.explainers.baseline import Baseline
from explainops.explainers.inputs import ModelOutputFunction

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_BATCH_SIZE = 20_000


@dataclass(frozen=True)
class ModelCallRows:
    """Whose rows a model call carries.

    Rows are sample-major: row r of the call belongs to the explained sample labelled
    ``sample_labels[(first_row + r) // rows_per_sample]``. Without ``sample_labels`` the rows are
    baseline rows ``first_row``, ``first_row + 1``, ...
    """

    sample_labels: npt.NDArray[Any] | None
    first_row: int = 0
    rows_per_sample: int = 1

    def samples_of(self, start: int, stop: int) -> npt.NDArray[Any] | None:
        """Labels of the samples with rows among rows [start, stop) of the call (None: baseline)."""
        if self.sample_labels is None:
            return None
        first = (self.first_row + start) // self.rows_per_sample
        last = (self.first_row + stop - 1) // self.rows_per_sample
        return self.sample_labels[first : last + 1]

    def baseline_rows(self, start: int, stop: int) -> str:
        """Rows [start, stop) of a call of baseline rows, named: ``baseline rows 3-5``."""
        first, last = self.first_row + start, self.first_row + stop - 1
        return f"baseline row {first}" if first == last else f"baseline rows {first}-{last}"


# How many labels of samples that are not consecutive integers a message lists.
LISTED_LABELS = 3


def describe_labels(values: list[Any]) -> str:
    """``100-149`` for consecutive integers, else the first few: ``7, 3, 12 and 5 more``."""
    if not values:
        return "none"
    if all(isinstance(value, int | np.integer) for value in values):
        numbers = [int(value) for value in values]
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"
    shown = ", ".join(str(value)[:40] for value in values[:LISTED_LABELS])
    more = len(values) - LISTED_LABELS
    return f"{shown} and {more} more" if more > 0 else shown


# Set around every model call of a ValueFunction; None outside them.
MODEL_CALL_ROWS: ContextVar[ModelCallRows | None] = ContextVar("model_call_rows", default=None)


@dataclass(frozen=True)
class ValueFunction:
    """The model, baseline and batch size that together define v(S) for any samples."""

    model_outputs: ModelOutputFunction
    baseline: Baseline
    batch_size: int = DEFAULT_BATCH_SIZE

    def predict(
        self, rows: npt.NDArray[Any], sample_labels: npt.NDArray[Any] | None = None
    ) -> FloatArray:
        """Model outputs (n, k) for rows, in batches.

        ``sample_labels`` name the rows in ``MODEL_CALL_ROWS`` when they are samples; None: they
        are baseline rows.
        """
        if rows.shape[0] == 0:
            raise ValueError("predict needs at least one row")
        parts = [
            self._call(
                rows[start : start + self.batch_size],
                ModelCallRows(sample_labels, first_row=start),
            )
            for start in range(0, rows.shape[0], self.batch_size)
        ]
        return np.concatenate(parts, axis=0)

    def baseline_outputs(self) -> FloatArray:
        """The model outputs (m, k) of the baseline rows."""
        return self.predict(self.baseline.table.values)

    def expected_outputs(
        self,
        samples: npt.NDArray[Any],
        masks: BoolArray,
        sample_labels: npt.NDArray[Any] | None = None,
        scratch: npt.NDArray[Any] | None = None,
    ) -> FloatArray:
        """Return (n, c, k): for each sample and coalition mask, the weighted mean model output.

        ``sample_labels`` name the samples in ``MODEL_CALL_ROWS`` (default: 0 .. n - 1).
        ``scratch``, a flat array of the samples' dtype, holds the masked rows when it is large
        enough: callers that evaluate many small baselines in turn (strata) reuse one buffer
        instead of faulting in fresh pages for each.
        """
        n_samples, n_coalitions = samples.shape[0], masks.shape[0]
        labels = np.arange(n_samples) if sample_labels is None else sample_labels
        background = self.baseline.table.values
        n_background, n_features = background.shape
        pairs_per_call = max(1, self.batch_size // n_background)
        total_pairs = n_samples * n_coalitions
        shape = (min(pairs_per_call, total_pairs), n_background, n_features)
        size = shape[0] * shape[1] * shape[2]
        if scratch is not None and scratch.dtype == samples.dtype and scratch.size >= size:
            buffer = scratch[:size].reshape(shape)
        else:
            buffer = np.empty(shape, samples.dtype)
        result: FloatArray | None = None
        for start in range(0, total_pairs, pairs_per_call):
            pair_index = np.arange(start, min(start + pairs_per_call, total_pairs))
            rows = buffer[: pair_index.shape[0]]
            if rows.dtype == np.float64 and background.dtype == np.float64:
                fill_hybrid_rows(rows, samples, background, masks, pair_index[0])
            else:
                rows[...] = background[None, :, :]
                np.copyto(
                    rows,
                    samples[pair_index // n_coalitions][:, None, :],
                    where=masks[pair_index % n_coalitions][:, None, :],
                )
            origin = ModelCallRows(
                labels, int(pair_index[0]) * n_background, n_coalitions * n_background
            )
            outputs = self._call(rows.reshape(-1, n_features), origin)
            n_outputs = outputs.shape[1]
            if result is None:
                result = np.empty((total_pairs, n_outputs), dtype=np.float64)
            outputs_by_pair = outputs.reshape(pair_index.shape[0], n_background, n_outputs)
            result[pair_index[0] : pair_index[-1] + 1] = np.einsum(
                "pbk,b->pk", outputs_by_pair, self.baseline.weights
            )
        if result is None:
            raise ValueError("expected_outputs needs at least one sample and one coalition")
        return result.reshape(n_samples, n_coalitions, -1)

    def _call(self, rows: npt.NDArray[Any], origin: ModelCallRows) -> FloatArray:
        token = MODEL_CALL_ROWS.set(origin)
        try:
            outputs = self.model_outputs(rows)
        except ExplainOpsError:
            raise  # it already says what failed and where (an endpoint's request batch)
        except Exception as error:  # a model's own failure, in its own words
            raise model_failure(error, _whose(origin, 0, rows.shape[0])) from error
        finally:
            MODEL_CALL_ROWS.reset(token)
        if not np.isfinite(outputs).all():
            row, column = (int(index) for index in np.argwhere(~np.isfinite(outputs))[0])
            raise ExplainerError(
                f"the model returned {outputs[row, column]} for output {column} of "
                f"{_whose(origin, row, row + 1)}; explanations need a finite output for every row"
            )
        return outputs


def model_failure(error: Exception, whose: str) -> ExplainerError:
    """A model's own exception as one line: whose rows it failed on, its type and first line.

    MLflow's schema errors quote the data over many lines and end with the cause
    (``... Error: Incompatible input types for column ...``): that cause is kept too.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    words = lines[0][:200] if lines else ""
    if len(lines) > 1 and "Error: " in lines[-1]:
        words += f" ... Error: {lines[-1].rsplit('Error: ', 1)[1][:200]}"
    return ExplainerError(
        f"the model failed on {whose}: {type(error).__name__}{': ' + words if words else ''}"
    )


def _whose(origin: ModelCallRows, start: int, stop: int) -> str:
    """Whose rows [start, stop) of a model call are: samples, their masked rows, baseline rows."""
    labels = origin.samples_of(start, stop)
    if labels is None:
        return origin.baseline_rows(start, stop)
    shown = describe_labels(labels.tolist())
    noun = "sample" if len(labels) == 1 else "samples"
    if origin.rows_per_sample == 1:
        return f"{noun} {shown}"
    return (
        f"{'a masked row' if stop - start == 1 else 'masked rows'} of {noun} {shown} "
        "(its values on some features, a baseline row's on the others)"
    )
