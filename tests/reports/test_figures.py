"""The report's figures, read back from the matplotlib artists they are made of: bar
rectangles, scatter offsets and colours, tick labels; each checked against numbers computed
here from the inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from explainops.reports import figures


def bars(axis: Axes) -> list[Rectangle]:
    """The axis's bars, in the order drawn (bottom row first for horizontal bars)."""
    return [patch for patch in axis.patches if isinstance(patch, Rectangle)]


def tick_labels(axis: Axes) -> list[str]:
    """The y tick labels, bottom up."""
    return [label.get_text() for label in axis.get_yticklabels()]


# --- waterfall ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def waterfall_inputs() -> tuple[list[str], np.ndarray, float, float]:
    rng = np.random.default_rng(0)
    names = [f"feature_{j}" for j in range(15)]
    values = rng.normal(size=15) * np.linspace(0.2, 3.0, 15)[rng.permutation(15)]
    base_value = 2.5
    return names, values, base_value, base_value + float(values.sum())


def test_the_waterfall_runs_from_the_base_value_to_the_prediction(
    waterfall_inputs: tuple[list[str], np.ndarray, float, float],
) -> None:
    # given 15 SHAP values, shown as 9 features and one bar of the 6 others
    names, values, base_value, prediction = waterfall_inputs
    # when drawn
    figure = figures.waterfall(names, values, base_value=base_value, prediction=prediction)
    # then the bottom bar starts at the base value, each bar starts where the one below ends,
    # and the top bar ends at the prediction
    assert isinstance(figure, Figure), f"a Figure expected, got {type(figure)}"
    rectangles = bars(figure.axes[0])
    assert len(rectangles) == 10, f"9 features + 1 other bar expected, got {len(rectangles)}"
    starts = [bar.get_x() for bar in rectangles]
    ends = [bar.get_x() + bar.get_width() for bar in rectangles]
    assert starts[0] == pytest.approx(base_value, abs=1e-12), "bottom bar's start"
    for row in range(1, 10):
        assert starts[row] == pytest.approx(ends[row - 1], abs=1e-12), f"bar {row} not chained"
    assert ends[-1] == pytest.approx(prediction, abs=1e-12), "top bar's end"


def test_the_waterfall_puts_the_largest_effect_on_top_and_sums_the_rest(
    waterfall_inputs: tuple[list[str], np.ndarray, float, float],
) -> None:
    # given the same 15 values
    names, values, base_value, prediction = waterfall_inputs
    by_size = sorted(range(15), key=lambda index: -abs(values[index]))
    # when drawn
    figure = figures.waterfall(names, values, base_value=base_value, prediction=prediction)
    rectangles, labels = bars(figure.axes[0]), tick_labels(figure.axes[0])
    # then from the top: the 9 largest |values| in decreasing size, then "6 other features"
    # holding the sum of the 6 smallest
    top_down = [bar.get_width() for bar in rectangles][::-1]
    assert labels[::-1][:9] == [names[index] for index in by_size[:9]], f"labels {labels}"
    np.testing.assert_allclose(
        top_down[:9], values[by_size[:9]], atol=1e-12, err_msg="shown bars' widths"
    )
    assert labels[0] == "6 other features", f"bottom label {labels[0]!r}"
    assert top_down[9] == pytest.approx(values[by_size[9:]].sum(), abs=1e-12), "other bar"


def test_a_short_waterfall_shows_every_feature_with_its_value() -> None:
    # given 3 features and their input values (one is text)
    values = np.array([0.5, -2.0, 1.0])
    # when drawn
    figure = figures.waterfall(
        ["a", "b", "c"], values, base_value=-1.0, prediction=-0.5, feature_values=[1.25, "x", 3]
    )
    # then every feature has its bar, named with its value, largest on top
    labels = tick_labels(figure.axes[0])
    assert labels == ["a = 1.25", "c = 3", "b = x"], f"labels bottom-up {labels}"
    widths = [bar.get_width() for bar in bars(figure.axes[0])]
    assert widths == [0.5, 1.0, -2.0], f"widths bottom-up {widths}"


# --- importance bars ------------------------------------------------------------------------


IMPORTANCE_NAMES = ["a", "b", "c", "d", "e", "f", "g", "h"]
IMPORTANCE = np.array([0.3, 2.0, 0.05, 1.1, 0.7, 0.0, 1.6, 0.2])
NATIVE = np.array([-1.0, 4.0, 0.5, -2.0, 3.0, 0.1, 1.5, -0.3])


def test_importance_bars_are_in_decreasing_order() -> None:
    # when the importance is drawn without native importance
    figure = figures.importance_bars(IMPORTANCE_NAMES, IMPORTANCE)
    # then one axis, bars from the top in decreasing importance: b g d e a h c f
    assert len(figure.axes) == 1, f"no native: one axis, got {len(figure.axes)}"
    top_down = [bar.get_width() for bar in bars(figure.axes[0])][::-1]
    assert top_down == sorted(IMPORTANCE, reverse=True), f"widths top-down {top_down}"
    assert tick_labels(figure.axes[0])[::-1] == list("bgdeahcf"), "labels top-down"


def test_native_importance_is_drawn_beside_for_the_same_features() -> None:
    # when drawn with native importance and at most 5 features
    figure = figures.importance_bars(IMPORTANCE_NAMES, IMPORTANCE, native=NATIVE, max_features=5)
    # then a second axis shows b g d e a's native values, next to their importance
    assert len(figure.axes) == 2, f"native: two axes, got {len(figure.axes)}"
    importance = [bar.get_width() for bar in bars(figure.axes[0])][::-1]
    native = [bar.get_width() for bar in bars(figure.axes[1])][::-1]
    assert importance == [2.0, 1.6, 1.1, 0.7, 0.3], f"top 5 importance {importance}"
    assert native == [4.0, 1.5, -2.0, 3.0, -1.0], f"native of b g d e a, got {native}"


def test_native_importance_of_nan_only_is_not_drawn() -> None:
    # when the native importance is all NaN (the model has none)
    figure = figures.importance_bars(
        IMPORTANCE_NAMES, IMPORTANCE, native=np.full(len(IMPORTANCE), np.nan)
    )
    # then there is no second axis
    assert len(figure.axes) == 1, f"NaN native: one axis, got {len(figure.axes)}"


# --- beeswarm -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swarm_inputs() -> tuple[list[str], np.ndarray, pd.DataFrame]:
    """50 samples of 25 features; feature 20 (a top one) is text."""
    rng = np.random.default_rng(1)
    names = [f"f{j:02d}" for j in range(25)]
    values = rng.normal(size=(50, 25)) * rng.permutation(np.arange(1.0, 26.0))
    inputs = pd.DataFrame(rng.normal(size=(50, 25)), columns=names).astype(object)
    inputs["f20"] = rng.choice(["red", "green", "blue"], size=50)
    return names, values, inputs


def test_the_beeswarm_draws_every_sample_for_the_top_features(
    swarm_inputs: tuple[list[str], np.ndarray, pd.DataFrame],
) -> None:
    # given 25 features, 20 of which are drawn
    names, values, inputs = swarm_inputs
    top = pd.DataFrame(np.abs(values), columns=names).mean().sort_values(ascending=False)
    expected = list(top.index[:20])
    # when drawn
    figure = figures.beeswarm(names, values, inputs)
    axis = figure.axes[0]
    # then one row of 50 dots per top feature, largest mean |value| on top, each dot at one of
    # that feature's SHAP values, spread vertically within its row
    labels = tick_labels(axis)
    assert labels[::-1] == expected, f"rows top-down {labels[::-1]} != {expected}"
    assert len(axis.collections) == 20, f"20 rows of dots, got {len(axis.collections)}"
    for row, (name, dots) in enumerate(zip(labels, axis.collections, strict=True)):
        offsets = np.asarray(dots.get_offsets())
        column = values[:, names.index(name)]
        assert offsets.shape == (50, 2), f"{name}: {offsets.shape} dots"
        np.testing.assert_array_equal(
            np.sort(offsets[:, 0]), np.sort(column), err_msg=f"{name}: dots' x"
        )
        assert np.all(np.abs(offsets[:, 1] - row) <= 0.4 + 1e-12), f"{name}: dots off its row"


def test_the_beeswarm_colours_by_value_and_text_features_grey(
    swarm_inputs: tuple[list[str], np.ndarray, pd.DataFrame],
) -> None:
    # given numeric inputs, and text inputs for f20
    names, values, inputs = swarm_inputs
    # when drawn
    figure = figures.beeswarm(names, values, inputs)
    axis = figure.axes[0]
    grey = to_rgba(figures.NEUTRAL)
    for name, dots in zip(tick_labels(axis), axis.collections, strict=True):
        colours = dots.get_array()
        offsets = np.asarray(dots.get_offsets())
        if name == "f20":
            # then the text feature's dots are grey, unscaled
            assert colours is None, "f20 is text: no colour scale"
            faces = dots.get_facecolors()
            assert np.allclose(faces, grey), f"f20 dots not grey: {faces[:2]}"
            continue
        # then a numeric feature's colours rise with its values, from 0 to 1
        assert colours is not None, f"{name}: numeric but not coloured"
        # the dots are the samples in input order: x is the SHAP value of sample i
        column = values[:, names.index(name)]
        assert np.array_equal(offsets[:, 0], column), f"{name}: dots not in sample order"
        feature = inputs[name].to_numpy(dtype=np.float64)
        by_value = np.asarray(colours)[np.argsort(feature)]
        assert np.all(np.diff(by_value) >= 0), f"{name}: colours do not rise with the values"
        assert by_value[0] == 0.0 and by_value[-1] == 1.0, f"{name}: colours span [0, 1]"
    assert len(figure.axes) == 2, "a colour bar beside the coloured swarm"


def test_the_beeswarm_without_inputs_is_grey(
    swarm_inputs: tuple[list[str], np.ndarray, pd.DataFrame],
) -> None:
    # when drawn without input values
    names, values, _ = swarm_inputs
    figure = figures.beeswarm(names, values, None, max_features=5)
    # then 5 rows of grey dots and no colour bar
    axis = figure.axes[0]
    assert len(axis.collections) == 5, f"5 rows, got {len(axis.collections)}"
    assert all(dots.get_array() is None for dots in axis.collections), "uncoloured dots"
    assert len(figure.axes) == 1, f"no colour bar, got {len(figure.axes)} axes"


# --- NDCG history ---------------------------------------------------------------------------


def test_ndcg_history_marks_exactly_the_windows_below_the_threshold() -> None:
    # given 8 windows of 2 labels; a equal to the threshold at window 3 (not below), NaN at 6
    windows = [f"w{index}" for index in range(8)]
    ndcg = {
        "a": np.array([1.0, 0.95, 0.85, 0.9, 0.99, 0.7, np.nan, 0.91]),
        "b": np.array([0.98, 0.97, 0.96, 0.95, 0.89, 0.92, 0.93, 0.5]),
    }
    # when drawn with threshold 0.9
    figure = figures.ndcg_history(windows, ndcg, threshold=0.9)
    axis = figure.axes[0]
    # then label a's marks are at windows 2 and 5, label b's at 4 and 7, at their NDCG
    marks = [np.asarray(collection.get_offsets()) for collection in axis.collections]
    assert len(marks) == 2, f"one set of marks per label, got {len(marks)}"
    assert marks[0].tolist() == [[2.0, 0.85], [5.0, 0.7]], f"a's marks {marks[0].tolist()}"
    assert marks[1].tolist() == [[4.0, 0.89], [7.0, 0.5]], f"b's marks {marks[1].tolist()}"
    dashed = [line for line in axis.lines if list(line.get_ydata()) == [0.9, 0.9]]
    assert len(dashed) == 1, "the threshold is drawn as one horizontal line"


def test_ndcg_history_without_threshold_marks_nothing() -> None:
    # when drawn without a threshold
    figure = figures.ndcg_history(["w0", "w1"], {"a": np.array([0.2, 0.99])}, threshold=None)
    # then there are no marks
    assert len(figure.axes[0].collections) == 0, "no threshold: no window is marked"
