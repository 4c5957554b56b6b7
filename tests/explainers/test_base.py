"""The contract the three explainers share: signatures, the base class, names and data."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor

from explainops.errors import ExplainerError
from explainops.explainers import ExactExplainer, Explainer, KernelExplainer, TreeExplainer

EXPLAINERS = (ExactExplainer, KernelExplainer, TreeExplainer)


@pytest.mark.parametrize("explainer_class", EXPLAINERS)
def test_only_the_baseline_and_its_weights_are_positional(explainer_class) -> None:
    # given an explainer's constructor
    parameters = inspect.signature(explainer_class).parameters.values()
    # then baseline and baseline_weights come first, every other setting is keyword-only
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == ["baseline", "baseline_weights"], f"positional: {positional}"
    assert all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters), (
        "no *args or **kwargs"
    )
    with pytest.raises(TypeError):
        explainer_class(np.zeros((1, 2)), None, 0)


@pytest.mark.parametrize("explainer_class", EXPLAINERS)
def test_every_explainer_implements_the_contract(explainer_class) -> None:
    explainer = explainer_class()
    assert isinstance(explainer, Explainer), f"{explainer_class.__name__} is an Explainer"
    assert explainer.seed == 0 and explainer.baseline is None, "shared settings and defaults"


def test_the_contract_cannot_be_instantiated_without_explain() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Explainer()  # type: ignore[abstract]


@pytest.fixture(scope="module")
def forest() -> tuple[RandomForestRegressor, np.ndarray]:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(80, 3))
    model = RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0)
    return model.fit(features, features @ [1.0, -1.0, 0.5]), features


@pytest.mark.parametrize("explainer_class", EXPLAINERS)
def test_explanations_carry_the_samples_values(explainer_class, forest) -> None:
    # given integer-valued samples of a tree model
    model, features = forest
    samples = np.array([[1, 0, 2], [0, -1, 1]])
    # when any explainer explains them
    explainer = explainer_class(features[:5])
    target = model if explainer_class is TreeExplainer else model.predict
    explanation = explainer.explain(target, samples)
    # then the explanation's data are the samples' values, as floats
    assert explanation.data is not None and explanation.data.dtype == np.float64, "float data"
    np.testing.assert_array_equal(explanation.data, samples, err_msg="the explained values")


def test_categorical_samples_are_kept_as_given() -> None:
    # given samples with a string column
    frame = pd.DataFrame({"colour": ["red", "blue", "red"], "size": [1.0, 2.0, 3.0]})

    def model(rows: pd.DataFrame) -> np.ndarray:
        return (rows["colour"] == "red") + rows["size"].to_numpy()

    # when explained
    explanation = KernelExplainer(frame.iloc[:1]).explain(model, frame)
    # then the data hold the values as they came
    assert explanation.data is not None and explanation.data.dtype == object, "object data"
    assert explanation.data.tolist() == frame.to_numpy().tolist(), "the values as given"


@pytest.mark.parametrize("explainer_class", EXPLAINERS)
def test_output_names_are_checked_the_same_way(explainer_class, forest) -> None:
    model, features = forest
    explainer = explainer_class(features[:2], output_names=["a", "b"])
    target = model if explainer_class is TreeExplainer else model.predict
    with pytest.raises(ExplainerError, match=r"2 output names \['a', 'b'\] for a model with 1"):
        explainer.explain(target, features[:3])
