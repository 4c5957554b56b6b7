"""Clarify's data config: the label and the other non-feature columns are removed as Clarify does."""

from __future__ import annotations

import pytest

from explainops.clarify.analysis_config import AnalysisConfig
from explainops.clarify.data import non_feature_columns
from explainops.errors import ConfigError

COLUMNS = ["Label", "id", "f1", "f2", "f3", "source"]


def _config(**fields: object) -> AnalysisConfig:
    return AnalysisConfig.model_validate({"methods": {"shap": {}}, **fields})


def test_label_excluded_join_and_predicted_columns_are_named_with_their_field() -> None:
    config = _config(
        label="Label", excluded_columns=["id"], joinsource_name_or_index=5, predicted_label="f3"
    )
    assert non_feature_columns(config, COLUMNS) == {
        "Label": "label",
        "id": "excluded_columns",
        "source": "joinsource_name_or_index",
        "f3": "predicted_label",
    }


def test_a_label_index_names_the_column_of_a_header_less_data_set() -> None:
    names = ["column_0", "column_1", "column_2"]
    assert non_feature_columns(_config(label=0), names) == {"column_0": "label"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"label": 9}, r"label: index 9 is out of range: the data set has 6 columns \(0 to 5\)"),
        ({"label": "Target"}, r"label: no column 'Target' in the data set"),
        ({"excluded_columns": ["nope"]}, r"excluded_columns: no column 'nope'"),
    ],
)
def test_a_column_that_does_not_exist_is_a_configuration_error(fields, message) -> None:
    with pytest.raises(ConfigError, match=message):
        non_feature_columns(_config(**fields), COLUMNS)


def test_the_sdk_spelling_of_the_join_column_is_accepted() -> None:
    assert _config(joinsource_name_or_index="id").joinsource_name_or_index == "id"
