from __future__ import annotations

import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainops.errors import ExplainerError
from explainops.explainers import ExactExplainer, KernelExplainer, TreeExplainer

from .brute_force import lightgbm_path_dependent_values, shapley_table
from .conftest import baselines


@pytest.mark.parametrize("baseline_name", ["one row", "ten weighted rows"])
def test_tree_equals_brute_force_on_boosted_log_odds(
    boosted_model, classification_data, baseline_name
) -> None:
    # given a boosted classifier, whose raw output is its log-odds
    features, _ = classification_data
    baseline, weights = baselines(features)[baseline_name]
    samples = features[200:206]
    # when explained from the trees
    explanation = TreeExplainer(baseline, weights).explain(boosted_model, samples)
    # then the values equal brute force on decision_function, and Exact and full Kernel agree
    expected = shapley_table(boosted_model.decision_function, samples, baseline, weights)
    exact = ExactExplainer(baseline, weights).explain(boosted_model.decision_function, samples)
    kernel = KernelExplainer(baseline, weights, num_samples=62).explain(
        boosted_model.decision_function, samples
    )
    np.testing.assert_allclose(
        explanation.values, expected, atol=1e-9, err_msg="tree vs brute force"
    )
    np.testing.assert_allclose(exact.values, expected, atol=1e-9, err_msg="exact vs brute force")
    np.testing.assert_allclose(kernel.values, expected, atol=1e-9, err_msg="kernel vs brute force")
    np.testing.assert_allclose(
        explanation.predictions[:, 0], boosted_model.decision_function(samples), atol=1e-9
    )
    assert explanation.additivity_error() < 1e-9, "efficiency must hold on every row"


@pytest.mark.parametrize("baseline_name", ["one row", "ten weighted rows"])
def test_tree_equals_brute_force_on_a_random_forest(
    forest_model, regression_data, baseline_name
) -> None:
    features, _ = regression_data
    baseline, weights = baselines(features)[baseline_name]
    samples = features[200:205]
    explanation = TreeExplainer(baseline, weights).explain(forest_model, samples)
    expected = shapley_table(forest_model.predict, samples, baseline, weights)
    np.testing.assert_allclose(
        explanation.values, expected, atol=1e-9, err_msg="tree vs brute force"
    )
    assert explanation.additivity_error() < 1e-9, "efficiency must hold on every row"


def test_multiclass_boosting_explains_each_class_margin(classification_data) -> None:
    # given a three-class boosted model
    features, _ = classification_data
    labels = np.digitize(features[:, 0], [-0.5, 0.5])
    model = GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(
        features, labels
    )
    baseline, weights = baselines(features)["ten weighted rows"]
    # when explained
    explanation = TreeExplainer(baseline, weights, output_names=["low", "mid", "high"]).explain(
        model, features[:5]
    )
    exact = ExactExplainer(baseline, weights).explain(model.decision_function, features[:5])
    # then one set of values per class, equal to Exact on the class margins
    assert explanation.output_names == ("low", "mid", "high"), "outputs are named"
    np.testing.assert_allclose(
        explanation.values, exact.values, atol=1e-9, err_msg="tree vs exact per class"
    )


def test_lightgbm_with_missing_values_equals_exact_on_raw_scores(classification_data) -> None:
    # given a LightGBM model trained and explained with missing values
    features, target = classification_data
    features = features.copy()
    features[::5, 1] = np.nan
    model = lightgbm.LGBMClassifier(n_estimators=25, num_leaves=8, verbose=-1).fit(features, target)
    baseline, weights = baselines(features)["ten weighted rows"]
    samples = features[:10]

    def raw(rows: np.ndarray) -> np.ndarray:
        return model.predict(rows, raw_score=True)

    # when explained
    explanation = TreeExplainer(baseline, weights).explain(model, samples)
    # then it equals Exact on the raw scores
    exact = ExactExplainer(baseline, weights).explain(raw, samples)
    np.testing.assert_allclose(explanation.values, exact.values, atol=1e-9, err_msg="tree vs exact")
    assert np.isnan(samples[:, 1]).any(), "the test must cover missing values"


def test_xgboost_equals_exact_on_margins(classification_data) -> None:
    features, target = classification_data
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(
        features, target
    )
    baseline, weights = baselines(features)["ten weighted rows"]
    samples = features[:8]
    explanation = TreeExplainer(baseline, weights).explain(model, samples)
    exact = ExactExplainer(baseline, weights).explain(
        lambda rows: model.predict(rows, output_margin=True), samples
    )
    # XGBoost sums its own margins in float32, so agreement is to float32 precision
    np.testing.assert_allclose(explanation.values, exact.values, atol=2e-6, err_msg="tree vs exact")
    assert explanation.additivity_error() < 1e-9, "our values add up to our float64 margins"


def test_pipeline_with_column_wise_scaling_is_explained_on_input_columns(
    classification_data,
) -> None:
    features, target = classification_data
    pipeline = make_pipeline(
        StandardScaler(), GradientBoostingClassifier(n_estimators=10, random_state=0)
    )
    pipeline.fit(features, target)
    baseline, samples = features[:5], features[50:55]
    explanation = TreeExplainer(baseline).explain(pipeline, samples)
    exact = ExactExplainer(baseline).explain(pipeline.decision_function, samples)
    np.testing.assert_allclose(
        explanation.values, exact.values, atol=1e-9, err_msg="pipeline tree vs exact"
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_tree_path_dependent_equals_brute_force_on_the_trees_covers(
    classification_data, n_classes
) -> None:
    # given LightGBM models trained with missing values: binary (one margin) and three classes
    features, target = classification_data
    features = features.copy()
    features[::5, 1] = np.nan
    labels = target if n_classes == 2 else np.digitize(features[:, 0], [-0.5, 0.5])
    model = lightgbm.LGBMClassifier(n_estimators=15, num_leaves=8, verbose=-1).fit(features, labels)
    samples = features[:6]
    # when explained along the training data's tree paths
    explanation = TreeExplainer(feature_perturbation="tree_path_dependent").explain(model, samples)
    # then the values are the Shapley values of E[f(X) | X_S = x_S] taken over the dumped trees'
    # training-row counts, coalition by coalition, and the base values are E[f(X)]
    dump = model.booster_.dump_model()
    expected = [lightgbm_path_dependent_values(dump, row) for row in samples]
    values = np.stack([row_values for row_values, _, _ in expected])
    raw_scores = np.stack([raw_score for _, _, raw_score in expected])
    # LightGBM's polynomial Tree SHAP and the subset sum round differently: 1e-15 apart here
    np.testing.assert_allclose(
        explanation.values, values, rtol=1e-12, atol=1e-12, err_msg="values vs brute force"
    )
    np.testing.assert_allclose(
        explanation.base_values, expected[0][1], rtol=1e-12, atol=1e-12, err_msg="E[f(X)]"
    )
    np.testing.assert_allclose(
        explanation.predictions, raw_scores, rtol=1e-12, atol=1e-12, err_msg="raw scores"
    )
    assert explanation.values.shape == (6, n_classes if n_classes > 2 else 1, 6), "per margin"
    assert np.isnan(samples[:, 1]).any(), "the test must cover missing values"
    assert explanation.additivity_error() < 1e-9, "native contributions add up to the raw score"


def test_unsupported_models_and_settings_are_refused(boosted_model, classification_data) -> None:
    features, target = classification_data
    with pytest.raises(ExplainerError, match="does not support use_logit"):
        TreeExplainer(features[:2], use_logit=True)
    with pytest.raises(
        ExplainerError, match="does not support scikit-learn's HistGradientBoostingRegressor"
    ):
        TreeExplainer(features[:2]).explain(
            HistGradientBoostingRegressor(max_iter=3).fit(features, target), features
        )
    with pytest.raises(ExplainerError, match="needs native contributions"):
        TreeExplainer(feature_perturbation="tree_path_dependent").explain(
            boosted_model, features[:2]
        )
    one_hot = make_pipeline(
        OneHotEncoder(handle_unknown="ignore"), GradientBoostingClassifier(n_estimators=2)
    )
    one_hot.fit(features[:, :2].round(), target)
    with pytest.raises(
        ExplainerError, match="cannot attribute through pipeline step OneHotEncoder"
    ):
        TreeExplainer(features[:2, :2]).explain(one_hot, features[:3, :2].round())
    with pytest.raises(ExplainerError, match="trained on 6 features, the samples have 3"):
        TreeExplainer(features[:2, :3]).explain(boosted_model, features[:3, :3])
