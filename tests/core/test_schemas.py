from __future__ import annotations

import pandas as pd
import pytest

from explainops.core.schemas import ColumnSchema, InputSchema, raise_for_violations, validate_batch
from explainops.errors import InputError


def test_every_violation_is_collected_with_row_column_and_reason() -> None:
    schema = InputSchema(
        columns={
            "age": ColumnSchema(dtype="integer", ge=0),
            "income": ColumnSchema(dtype="float"),
            "segment": ColumnSchema(dtype="string", isin=["a", "b"]),
        }
    )
    batch = pd.DataFrame(
        {"age": [30, -1, 2.5], "income": [1.0, None, 3.0], "segment": ["a", "b", "z"]},
        index=pd.RangeIndex(100, 103),
    )
    _, violations = validate_batch(batch, schema)
    described = [str(violation) for violation in violations]
    assert "row 101, column 'age': fails check greater_than_or_equal_to(0.0): -1.0" in described, (
        described
    )
    assert "row 101, column 'income': missing value where the schema requires one" in described, (
        described
    )
    assert "row 102, column 'age': fails check integer value: 2.5" in described, described
    assert any(
        text.startswith("row 102, column 'segment': fails check isin") for text in described
    ), described
    with pytest.raises(InputError, match=r"samples.csv: 4 schema violation\(s\): row 101"):
        raise_for_violations("samples.csv", violations, len(violations))


def test_valid_batch_is_coerced_to_the_schema_types() -> None:
    schema = InputSchema(columns={"age": ColumnSchema(dtype="integer"), "income": ColumnSchema()})
    validated, violations = validate_batch(
        pd.DataFrame({"age": [1.0, 2.0], "income": [1, 2]}), schema
    )
    assert violations == [], "no violations"
    assert str(validated["age"].dtype) == "int64" and str(validated["income"].dtype) == "float64", (
        "coerced"
    )


def test_missing_and_unexpected_columns_are_reported() -> None:
    schema = InputSchema(columns={"a": ColumnSchema(), "b": ColumnSchema()})
    _, violations = validate_batch(pd.DataFrame({"a": [1.0], "c": [2.0]}), schema)
    assert {str(violation) for violation in violations} == {
        "column 'b': missing column",
        "column 'c': unexpected column (not in the model's input schema)",
    }, violations
