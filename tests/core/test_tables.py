"""The model's own importances in the model-explanations table: for the right column and label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainops.core.tables import native_importance

COLUMNS = ["noise1", "signal", "noise2"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    """Three columns, the label decided by the middle one."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=COLUMNS)
    return frame, (frame["signal"] > 0).to_numpy().astype(int)


def forest() -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=20, random_state=0)


def test_a_transformer_that_moves_columns_gives_no_native_importance(data) -> None:
    # given a pipeline whose first step puts 'signal' first: [signal, noise1, noise2]
    frame, target = data
    moved = ColumnTransformer([("scale", StandardScaler(), ["signal"])], remainder="passthrough")
    model = make_pipeline(moved, forest()).fit(frame, target)
    assert model[-1].feature_importances_.argmax() == 0, "the forest sees 'signal' first"
    # when its own importances are read for the input columns
    # then there are none: the forest's first importance is not the first input column's
    assert native_importance(model, COLUMNS, 2) is None


@pytest.mark.parametrize(
    "first_step",
    [
        StandardScaler(),
        ColumnTransformer(
            [("scale", StandardScaler(), ["noise1", "signal"])], remainder="passthrough"
        ),
    ],
    ids=["scaler", "column-transformer-in-order"],
)
def test_steps_that_keep_the_columns_in_order_give_the_forests_importances(
    data, first_step
) -> None:
    # given a pipeline whose first step keeps the input columns in their order
    frame, target = data
    model = make_pipeline(first_step, forest()).fit(frame, target)
    # when its own importances are read
    values = native_importance(model, COLUMNS, 2)
    # then they are the forest's, the largest the signal's
    assert values is not None
    np.testing.assert_array_equal(values, model[-1].feature_importances_)
    assert COLUMNS[int(values.argmax())] == "signal"


def test_fitted_on_an_array_the_columns_are_known_by_position(data) -> None:
    frame, target = data
    model = make_pipeline(StandardScaler(), forest()).fit(frame.to_numpy(), target)
    values = native_importance(model, COLUMNS, 2)
    assert values is not None and COLUMNS[int(values.argmax())] == "signal"


def test_one_hot_encoding_gives_no_native_importance(data) -> None:
    frame, target = data
    encoded = frame.assign(signal=np.where(frame["signal"] > 0, "high", "low"))
    model = make_pipeline(
        ColumnTransformer([("hot", OneHotEncoder(), ["signal"])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(encoded, target)
    assert native_importance(model, COLUMNS, 2) is None


def test_a_binary_classifiers_first_class_gets_the_negated_coefficients(data) -> None:
    # given a binary logistic regression, whose two outputs are the classes' probabilities
    frame, target = data
    model = LogisticRegression().fit(frame, target)
    # when its coefficients are read for both outputs
    values = native_importance(model, COLUMNS, 2)
    # then class 1 gets coef_ (the signal's positive), class 0 its negative
    assert values is not None and values.shape == (2, 3)
    np.testing.assert_array_equal(values[1], model.coef_[0])
    np.testing.assert_array_equal(values[0], -model.coef_[0])
    assert values[0, 1] < 0 < values[1, 1], "the signal raises class 1 and lowers class 0"


def test_one_output_or_one_row_a_class_keep_their_coefficients(data) -> None:
    frame, _ = data
    regression = LinearRegression().fit(frame, frame["signal"] * 2.0)
    single = native_importance(regression, COLUMNS, 1)
    assert single is not None
    np.testing.assert_allclose(single, [[0.0, 2.0, 0.0]], atol=1e-12)
    three = np.digitize(frame["signal"], [-0.5, 0.5])
    multiclass = LogisticRegression().fit(frame, three)
    values = native_importance(multiclass, COLUMNS, 3)
    assert values is not None
    np.testing.assert_array_equal(values, multiclass.coef_)
    assert native_importance(multiclass, COLUMNS, 2) is None, "3 classes' rows for 2 outputs"
