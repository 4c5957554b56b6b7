"""The report's figures, drawn with matplotlib as shap draws them: no chart library of our own.

Every function takes arrays and names and returns a ``matplotlib.figure.Figure`` built without
pyplot (no global state, no display backend), so reports can be written from any thread and a
notebook can display the same figures. Scatter layers are rasterised: a beeswarm of a thousand
dots stays a small image inside an otherwise vector (SVG or PDF) figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the job's modules
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]

POSITIVE = "#d62d4b"  # shap's red: pushes the output up
NEGATIVE = "#1e88e5"  # shap's blue: pushes it down
NEUTRAL = "#8c8c8c"
WIDTH_INCHES = 7.5
MAX_FEATURES = 20
_COLOUR_MAP = "coolwarm"


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _figure(n_rows: int, *, row_inches: float = 0.3, extra_inches: float = 1.2) -> Figure:
    height = min(12.0, max(2.4, n_rows * row_inches + extra_inches))
    return _new_figure(WIDTH_INCHES, height)


def _top(importance: FloatArray, max_features: int) -> npt.NDArray[np.int64]:
    """Indexes of the ``max_features`` largest |importance|, largest first."""
    order = np.argsort(-np.abs(importance), kind="stable")
    return order[:max_features].astype(np.int64)


def importance_bars(
    feature_names: Sequence[str],
    importance: FloatArray,
    *,
    native: FloatArray | None = None,
    agg_method: str = "mean_abs",
    max_features: int = MAX_FEATURES,
) -> Figure:
    """Global importance per feature, largest on top; the model's own importance beside it.

    ``importance`` and ``native`` are (d,); features beyond ``max_features`` are left out.
    """
    top = _top(importance, max_features)
    names = [feature_names[index] for index in top][::-1]
    has_native = native is not None and bool(np.isfinite(native).any())
    figure = _figure(len(top))
    axes = figure.subplots(1, 2 if has_native else 1, sharey=True, squeeze=False)[0]
    values = importance[top][::-1]
    axes[0].barh(names, values, color=[POSITIVE if v >= 0 else NEGATIVE for v in values])
    axes[0].set_xlabel(f"SHAP importance ({agg_method})")
    if has_native:
        assert native is not None
        native_values = np.nan_to_num(native[top][::-1])
        axes[1].barh(names, native_values, color=NEUTRAL)
        axes[1].set_xlabel("model's own importance")
        axes[1].axvline(0, color="black", linewidth=0.6)
    for axis in axes:
        axis.spines[["top", "right"]].set_visible(False)
        axis.tick_params(axis="y", length=0)
    return figure


def _numeric_colours(column: npt.NDArray[Any]) -> FloatArray | None:
    """Values scaled to [0, 1] between their 5th and 95th percentiles (None: not numeric)."""
    try:
        numbers = np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    finite = numbers[np.isfinite(numbers)]
    if finite.size == 0:
        return None
    low, high = np.percentile(finite, [5, 95])
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    scale = high - low if high > low else 1.0
    scaled: FloatArray = np.clip((numbers - low) / scale, 0.0, 1.0)
    return scaled


def _swarm_offsets(values: FloatArray, n_bins: int = 100, width: float = 0.4) -> FloatArray:
    """Vertical offsets that spread dots of similar value apart, as shap's beeswarm does."""
    if values.size == 0:
        return np.zeros(0)
    span = float(values.max() - values.min()) or 1.0
    bins = np.floor((values - values.min()) / span * (n_bins - 1)).astype(np.int64)
    order = np.argsort(bins, kind="stable")
    sorted_bins = bins[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_bins)) + 1]
    counts = np.diff(np.r_[starts, sorted_bins.size])
    rank = np.arange(sorted_bins.size) - np.repeat(starts, counts)
    # 0, +1, -1, +2, -2, ...: the first dot of a bin on the line, the next ones either side.
    level = (rank + 1) // 2 * np.where(rank % 2 == 1, 1.0, -1.0)
    densest = max(1.0, float(np.ceil(counts.max() / 2)))
    offsets = np.empty(values.size)
    offsets[order] = level * (width / densest)
    return offsets


def beeswarm(
    feature_names: Sequence[str],
    values: FloatArray,
    feature_values: pd.DataFrame | None,
    *,
    max_features: int = MAX_FEATURES,
) -> Figure:
    """One row of dots per feature: each dot a sample at its SHAP value, coloured by its value.

    ``values`` is (n, d); ``feature_values`` the same n samples' inputs (None: uncoloured).
    Features are ordered by mean |SHAP value|; non-numeric features are drawn grey.
    """
    top = _top(np.abs(values).mean(axis=0), max_features)
    figure = _figure(len(top))
    axis = figure.subplots()
    scatter = None
    for row, index in enumerate(top[::-1]):
        column_values = values[:, index]
        colours = (
            _numeric_colours(feature_values.iloc[:, index].to_numpy())
            if feature_values is not None
            else None
        )
        y = row + _swarm_offsets(column_values)
        if colours is None:
            axis.scatter(column_values, y, s=9, color=NEUTRAL, linewidths=0, rasterized=True)
        else:
            scatter = axis.scatter(
                column_values,
                y,
                s=9,
                c=colours,
                cmap=_COLOUR_MAP,
                vmin=0,
                vmax=1,
                linewidths=0,
                rasterized=True,
            )
    axis.set_yticks(range(len(top)), [feature_names[index] for index in top[::-1]])
    axis.axvline(0, color="#999999", linewidth=0.8, zorder=0)
    axis.set_xlabel("SHAP value (impact on the model's output)")
    axis.spines[["top", "right", "left"]].set_visible(False)
    axis.tick_params(axis="y", length=0)
    if scatter is not None:
        bar = figure.colorbar(scatter, ax=axis, ticks=[0, 1], aspect=40, pad=0.01)
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value")
        bar.outline.set_visible(False)
    return figure


def dependence(
    feature_name: str,
    feature_values: npt.NDArray[Any] | None,
    values: FloatArray,
    *,
    label: str,
) -> Figure:
    """SHAP value of one feature against its value, one dot a sample.

    Without the samples' values the dots are drawn against their rank by SHAP value.
    """
    figure = _new_figure(WIDTH_INCHES / 2, 2.8)
    axis = figure.subplots()
    if feature_values is None:
        x: npt.NDArray[Any] = np.argsort(np.argsort(values))
        axis.set_xlabel(f"samples, by SHAP value of {feature_name}")
    else:
        x = feature_values
        axis.set_xlabel(feature_name)
    axis.scatter(x, values, s=8, color=POSITIVE, alpha=0.6, linewidths=0, rasterized=True)
    axis.axhline(0, color="#999999", linewidth=0.8, zorder=0)
    axis.set_ylabel(f"SHAP value ({label})")
    axis.spines[["top", "right"]].set_visible(False)
    return figure


def _value_text(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


def waterfall(
    feature_names: Sequence[str],
    values: FloatArray,
    *,
    base_value: float,
    prediction: float,
    feature_values: Sequence[Any] | None = None,
    max_display: int = 10,
) -> Figure:
    """How one sample's prediction is built from the base value, feature by feature.

    The ``max_display - 1`` largest |values| are shown, the rest summed on one bar; bars run
    from ``base_value`` (E[f(X)]) to ``prediction`` (f(x)), largest effect on top.
    """
    order = np.argsort(-np.abs(values), kind="stable")
    shown = order[: max_display - 1] if len(order) > max_display else order
    rest = order[len(shown) :]
    names = [
        f"{feature_names[index]} = {_value_text(feature_values[index])}"
        if feature_values is not None
        else feature_names[index]
        for index in shown
    ]
    effects = list(values[shown])
    if len(rest):
        names.append(f"{len(rest)} other features")
        effects.append(float(values[rest].sum()))
    # Bottom bar first: the smallest effect starts at the base value, the largest ends at f(x).
    names, effects = names[::-1], effects[::-1]
    starts = base_value + np.r_[0.0, np.cumsum(effects)[:-1]]
    figure = _figure(len(names))
    axis = figure.subplots()
    colours = [POSITIVE if effect >= 0 else NEGATIVE for effect in effects]
    axis.barh(range(len(names)), effects, left=starts, color=colours, height=0.7)
    span = max(1e-12, float(np.max(np.abs(effects))) if effects else 1.0)
    for row, (start, effect) in enumerate(zip(starts, effects, strict=True)):
        end = start + effect
        axis.text(
            end + (0.01 * span if effect >= 0 else -0.01 * span),
            row,
            f"{effect:+.3g}",
            va="center",
            ha="left" if effect >= 0 else "right",
            fontsize=8,
        )
    axis.set_yticks(range(len(names)), names)
    axis.axvline(base_value, color="#999999", linestyle=":", linewidth=1)
    axis.axvline(prediction, color="#333333", linestyle=":", linewidth=1)
    axis.set_xlabel(f"E[f(X)] = {base_value:.4g}    f(x) = {prediction:.4g}")
    ends = starts + np.asarray(effects)
    low = float(min(starts.min(), ends.min(), base_value, prediction))
    high = float(max(starts.max(), ends.max(), base_value, prediction))
    pad = 0.18 * ((high - low) or 1.0)  # room for the value labels at both ends
    axis.set_xlim(low - pad, high + pad)
    axis.spines[["top", "right", "left"]].set_visible(False)
    axis.tick_params(axis="y", length=0)
    return figure


def partial_dependence(
    feature_name: str,
    grid_values: Sequence[Any],
    average: FloatArray,
    *,
    label: str,
    data_type: str,
    data_distribution: FloatArray | None = None,
) -> Figure:
    """The mean prediction of one output as one feature is set to each grid value.

    Numerical features are drawn as a line, categorical ones as bars; the share of the data in
    each bucket is shaded behind.
    """
    figure = _new_figure(WIDTH_INCHES / 2, 2.8)
    axis = figure.subplots()
    if data_type == "numerical":
        x: Sequence[Any] | FloatArray = np.asarray(grid_values, dtype=np.float64)
        if data_distribution is not None and len(data_distribution) == len(x):
            shade = axis.twinx()
            width = (float(np.ptp(x)) / max(1, len(x) - 1)) or 1.0
            shade.bar(x, data_distribution, width=width * 0.95, color="#e8e8e8", zorder=0)
            shade.set_ylabel("share of rows", color="#999999")
            shade.set_zorder(0)
            axis.set_zorder(1)
            axis.patch.set_visible(False)
        axis.plot(x, average, marker="o", markersize=3, color=POSITIVE)
    else:
        labels = [str(value) for value in grid_values]
        axis.bar(labels, average, color=POSITIVE)
        axis.tick_params(axis="x", labelrotation=45)
    axis.set_xlabel(feature_name)
    axis.set_ylabel(f"mean prediction ({label})")
    axis.spines[["top"]].set_visible(False)
    return figure


def ndcg_history(
    window_ids: Sequence[str],
    ndcg: dict[str, FloatArray],
    *,
    threshold: float | None,
) -> Figure:
    """NDCG of each label window after window, the threshold dashed, drifting windows marked."""
    figure = _new_figure(WIDTH_INCHES, 3.2)
    axis = figure.subplots()
    x = np.arange(len(window_ids))
    for label, series in ndcg.items():
        axis.plot(x, series, marker="o", markersize=3, linewidth=1.2, label=label)
        if threshold is not None:
            below = series < threshold
            axis.scatter(x[below], series[below], marker="x", s=40, color="black", zorder=3)
    if threshold is not None:
        axis.axhline(threshold, color=POSITIVE, linestyle="--", linewidth=1, label="threshold")
    step = max(1, len(window_ids) // 12)
    axis.set_xticks(x[::step], [window_ids[i] for i in range(0, len(window_ids), step)])
    axis.tick_params(axis="x", labelrotation=30, labelsize=7)
    axis.set_ylabel("NDCG vs baseline")
    top = 1.02
    low = min([float(np.nanmin(s)) for s in ndcg.values() if len(s)] + [threshold or 1.0])
    axis.set_ylim(max(0.0, low - 0.05), top)
    axis.legend(loc="lower left", fontsize=8, frameon=False, ncols=min(4, len(ndcg) + 1))
    axis.spines[["top", "right"]].set_visible(False)
    return figure


def ranking_comparison(
    feature_names: Sequence[str],
    baseline: FloatArray,
    window: FloatArray,
    *,
    max_features: int = MAX_FEATURES,
) -> Figure:
    """Baseline and window importance side by side, features by baseline rank."""
    union = np.union1d(_top(baseline, max_features), _top(window, max_features))
    order = union[np.argsort(-np.abs(baseline[union]), kind="stable")][:max_features][::-1]
    figure = _figure(len(order), row_inches=0.36)
    axis = figure.subplots()
    rows = np.arange(len(order))
    axis.barh(rows + 0.2, baseline[order], height=0.4, color=NEUTRAL, label="baseline")
    axis.barh(rows - 0.2, window[order], height=0.4, color=POSITIVE, label="window")
    axis.set_yticks(rows, [feature_names[index] for index in order])
    axis.set_xlabel("global SHAP importance")
    axis.legend(loc="lower right", fontsize=8, frameon=False)
    axis.spines[["top", "right"]].set_visible(False)
    axis.tick_params(axis="y", length=0)
    return figure
