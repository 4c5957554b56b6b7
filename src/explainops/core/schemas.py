"""Validate samples against the model's input schema before any model call.

The schema is the model's MLflow signature, or an explicit ``InputSchema`` from the config. Every
violation (missing or unexpected column, wrong type, missing value, failed range check) is
collected with its column, row and reason, so a user fixes the data once, not error by error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pandera
from pandera.errors import SchemaErrors

from explainops.core.component import Component
from explainops.errors import InputError

DType = Literal["float", "integer", "string", "boolean", "datetime"]
_PANDAS_DTYPES: dict[str, str | None] = {
    "float": "float64",
    "integer": None,  # checked for integral values below, then cast to int64
    "string": "str",
    "boolean": "bool",
    "datetime": "datetime64[ns]",
}
_MLFLOW_DTYPES: dict[str, DType] = {
    "double": "float",
    "float": "float",
    "long": "integer",
    "integer": "integer",
    "string": "string",
    "boolean": "boolean",
    "datetime": "datetime",
}
# Violations listed in the error message; all of them are logged.
MAX_LISTED_VIOLATIONS = 10


class ColumnSchema(Component):
    """Expectations for one column."""

    dtype: DType = "float"
    nullable: bool = False
    ge: float | None = None
    le: float | None = None
    isin: list[str | int | float | bool] | None = None


class InputSchema(Component):
    """Columns the samples must have, in order; others are refused unless ``strict`` is off."""

    KIND: Literal["InputSchema"] = "InputSchema"
    columns: dict[str, ColumnSchema]
    strict: bool = True

    @property
    def feature_names(self) -> list[str]:
        """The feature columns, in schema order."""
        return list(self.columns)


def schema_from_signature(signature_inputs: Any) -> InputSchema | None:
    """An InputSchema from an MLflow signature's inputs (None for tensor signatures)."""
    if (
        signature_inputs is None
        or not getattr(signature_inputs, "has_input_names", lambda: False)()
    ):
        return None
    columns = {}
    for spec in signature_inputs.inputs:
        type_name = getattr(spec.type, "name", str(spec.type))
        columns[spec.name] = ColumnSchema(
            dtype=_MLFLOW_DTYPES.get(type_name, "float"),
            nullable=not getattr(spec, "required", True),
        )
    return InputSchema(columns=columns)


@dataclass(frozen=True)
class Violation:
    """One reason a sample or column does not fit the schema."""

    column: str | None
    row: int | None
    reason: str

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"row {self.row}" if self.row is not None else "",
                f"column {self.column!r}" if self.column else "",
            )
            if part
        )
        return f"{where}: {self.reason}" if where else self.reason


def _pandera_schema(schema: InputSchema, allowed_extra: set[str]) -> pandera.DataFrameSchema:
    columns = {}
    for name, column in schema.columns.items():
        checks = []
        if column.ge is not None:
            checks.append(pandera.Check.ge(column.ge))
        if column.le is not None:
            checks.append(pandera.Check.le(column.le))
        if column.isin is not None:
            checks.append(pandera.Check.isin(column.isin))
        if column.dtype in ("float", "integer"):
            checks.append(pandera.Check(_finite, name="finite", ignore_na=True))
        if column.dtype == "integer":
            checks.append(
                pandera.Check(_is_integral, element_wise=True, name="integer value", ignore_na=True)
            )
        dtype = _PANDAS_DTYPES[column.dtype]
        columns[name] = pandera.Column(
            dtype, checks=checks, nullable=column.nullable, coerce=dtype is not None
        )
    extra = {name: pandera.Column(required=False) for name in allowed_extra if name not in columns}
    return pandera.DataFrameSchema(columns | extra, strict=schema.strict)


def _finite(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    return ~numbers.isin([np.inf, -np.inf])


def non_finite_violations(batch: pd.DataFrame, columns: list[str]) -> list[Violation]:
    """A violation for every infinite value in the numeric ``columns`` (no schema needed)."""
    found = []
    for column in columns:
        values = batch[column]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue
        for row, value in values[np.isinf(values.to_numpy())].items():
            found.append(Violation(str(column), int(row), _NON_FINITE.format(value=value)))
    return sorted(found, key=lambda violation: (violation.row or 0, violation.column or ""))


_NON_FINITE = "expected a finite number, got {value!r}"


def _is_integral(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(number) and number == int(number))


def validate_batch(
    batch: pd.DataFrame,
    schema: InputSchema,
    allowed_extra: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[pd.DataFrame, list[Violation]]:
    """Validate one batch (indexed by row position); return it coerced, and its violations."""
    try:
        validated = _pandera_schema(schema, set(allowed_extra)).validate(batch, lazy=True)
    except SchemaErrors as errors:
        return batch, _violations(errors.failure_cases)
    for name, column in schema.columns.items():
        if column.dtype == "integer" and name in validated and not column.nullable:
            validated[name] = validated[name].astype(np.int64)
    return validated, []


def _violations(failures: pd.DataFrame) -> list[Violation]:
    found: dict[tuple[str | None, int | None], Violation] = {}
    for failure in failures.to_dict("records"):
        column = _present(failure["column"])
        position = _present(failure["index"])
        row = None if position is None else int(float(position))
        check = str(failure["check"])
        case = failure["failure_case"]
        if check == "column_in_schema":
            column, reason = str(case), "unexpected column (not in the model's input schema)"
        elif check == "column_in_dataframe":
            column, reason = str(case), "missing column"
        elif check == "finite":
            reason = _NON_FINITE.format(value=case)
        elif check == "not_nullable":
            reason = "missing value where the schema requires one"
        elif check.startswith(("coerce_dtype", "dtype")):
            expected = check[check.index("(") + 1 : -1].strip("'") if "(" in check else check
            reason = (
                f"expected {expected}, got {case!r}"
                if row is not None
                else f"expected dtype {expected}, got {case}"
            )
        else:
            reason = f"fails check {check}: {case!r}"
        found.setdefault((column, row), Violation(column, row, reason))
    return sorted(
        found.values(),
        key=lambda violation: (violation.row is None, violation.row or 0, violation.column or ""),
    )


def _present(value: Any) -> str | None:
    """``value`` as text, or None where pandera left it empty (None or NaN)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def raise_for_violations(source: str, violations: list[Violation], total: int) -> None:
    """Raise one InputError listing the first violations and the total count."""
    if not violations:
        return
    listed = "; ".join(str(violation) for violation in violations[:MAX_LISTED_VIOLATIONS])
    more = f" (and {total - MAX_LISTED_VIOLATIONS} more)" if total > MAX_LISTED_VIOLATIONS else ""
    raise InputError(f"{source}: {total} schema violation(s): {listed}{more}")
