"""shap's plots draw our explanations: to_shap() gives shap's axis order, the same numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display needed

import matplotlib.pyplot as plt
import numpy as np
import pytest
import shap
from matplotlib.patches import FancyArrow, Rectangle
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from explainops.explainers import Explanation, KernelExplainer, TreeExplainer

FEATURES = ("alcohol", "acidity", "sugar", "density")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(150, len(FEATURES)))
    classes = np.digitize(features[:, 0] + 0.5 * features[:, 1], [-0.5, 0.5])  # 3 classes
    return features, classes


@pytest.fixture(scope="module")
def multi_output(data) -> Explanation:
    """Kernel SHAP of a 3-class model's probabilities: k = 3 outputs."""
    features, classes = data
    model = LogisticRegression().fit(features, classes)
    explainer = KernelExplainer(
        features[:20], feature_names=FEATURES, output_names=["low", "mid", "high"]
    )
    return explainer.explain(model.predict_proba, features[20:32])


@pytest.fixture(scope="module")
def single_output(data) -> Explanation:
    """Tree SHAP of a regressor: k = 1 output."""
    features, _ = data
    model = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0)
    model.fit(features, features @ [1.0, -2.0, 0.5, 0.0])
    return TreeExplainer(features[:20], feature_names=FEATURES).explain(model, features[20:32])


def drawn_bars(figure: plt.Figure) -> int:
    """Bars (rectangles with an area) and waterfall arrows drawn on the figure's axes."""
    patches = [patch for axes in figure.axes for patch in axes.patches]
    bars = [
        patch
        for patch in patches
        if isinstance(patch, Rectangle) and patch.get_width() * patch.get_height() != 0
    ]
    return len(bars) + sum(isinstance(patch, FancyArrow) for patch in patches)


def test_multi_output_values_are_ours_transposed(multi_output) -> None:
    # when a 3-output explanation is converted
    converted = multi_output.to_shap()
    # then shap's (n, d, k) arrays hold exactly our (n, k, d) numbers
    assert converted.values.shape == (12, 4, 3), f"(n, d, k), got {converted.values.shape}"
    np.testing.assert_array_equal(
        converted.values, np.transpose(multi_output.values, (0, 2, 1)), err_msg="values"
    )
    np.testing.assert_array_equal(
        converted.base_values,
        np.broadcast_to(multi_output.base_values, (12, 3)),
        err_msg="base values",
    )
    np.testing.assert_array_equal(converted.data, multi_output.data, err_msg="samples' values")
    # and shap's own slicing selects one of our outputs
    np.testing.assert_array_equal(
        converted[:, :, 0].values, multi_output.values[:, 0, :], err_msg="output 0"
    )
    np.testing.assert_array_equal(
        converted[0, :, 1].values, multi_output.values[0, 1, :], err_msg="sample 0, output 1"
    )
    assert converted[0, :, 1].output_names == "mid", "the selected output's name"


def test_single_output_values_are_ours_without_the_output_axis(single_output) -> None:
    converted = single_output.to_shap()
    assert converted.values.shape == (12, 4), f"(n, d), got {converted.values.shape}"
    np.testing.assert_array_equal(converted.values, single_output.values[:, 0, :], err_msg="values")
    np.testing.assert_array_equal(
        converted.base_values, np.full(12, single_output.base_values[0]), err_msg="base values"
    )


def test_bar_and_waterfall_plots_of_one_output_of_many(multi_output) -> None:
    converted = multi_output.to_shap()
    # when shap draws the global bar plot of output 0
    shap.plots.bar(converted[:, :, 0], show=False)
    bar_figure = plt.gcf()
    # then it has axes with one bar per feature
    assert drawn_bars(bar_figure) >= len(FEATURES), "a bar per feature"
    plt.close(bar_figure)
    # when shap draws the waterfall of sample 0's output 1
    shap.plots.waterfall(converted[0, :, 1], show=False)
    # then it has axes with a bar or arrow per feature
    assert drawn_bars(plt.gcf()) >= len(FEATURES), "a waterfall step per feature"


def test_bar_and_waterfall_plots_of_a_single_output(single_output) -> None:
    converted = single_output.to_shap()
    shap.plots.bar(converted, show=False)
    assert drawn_bars(plt.gcf()) >= len(FEATURES), "a bar per feature"
    plt.close("all")
    shap.plots.waterfall(converted[0], show=False)
    figure = plt.gcf()
    assert drawn_bars(figure) >= len(FEATURES), "a waterfall step per feature"
    labels = " ".join(text.get_text() for axes in figure.axes for text in axes.get_yticklabels())
    assert all(name in labels for name in FEATURES), f"the features name the steps: {labels}"
