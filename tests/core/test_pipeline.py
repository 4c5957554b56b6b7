"""The explain pipeline's baselines: k-means summaries are cluster means, in float."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainops.core.explainer_settings import KernelExplainerSettings
from explainops.core.pipeline import numeric_as_float, resolve_background
from explainops.core.samples import SampleScan


def test_a_kmeans_baseline_of_integer_columns_keeps_the_fractions() -> None:
    # given integer samples whose mean is not an integer
    samples = pd.DataFrame({"age": np.array([49, 50, 51, 50, 49, 50, 50], dtype=np.int64)})
    scan = SampleScan(len(samples), ["age"], samples)
    # when summarised by one cluster
    frame, weights = resolve_background(KernelExplainerSettings(num_clusters=1), scan, None)
    # then the baseline is the mean, in float, not the mean truncated to the column's dtype
    assert frame["age"].dtype == np.float64, frame.dtypes
    # The mean of 7 small integers is exact in float64 up to the last bit of the division.
    assert frame["age"].item() == 349 / 7, frame
    assert weights.tolist() == [1.0], "one cluster holds every sample"


def test_configured_baseline_rows_keep_their_fractions_in_integer_columns() -> None:
    samples = pd.DataFrame({"age": np.array([40, 60], dtype=np.int64), "x": [0.0, 1.0]})
    scan = SampleScan(2, ["age", "x"], samples)
    settings = KernelExplainerSettings(baseline=[[49.5, 0.25]])
    frame, _ = resolve_background(settings, scan, None)
    assert frame.to_numpy().tolist() == [[49.5, 0.25]], frame


def test_numeric_as_float_converts_integers_and_booleans_only() -> None:
    frame = pd.DataFrame({"i": [1, 2], "b": [True, False], "f": [0.5, 1.5], "s": ["a", "b"]})
    converted = numeric_as_float(frame)
    assert [str(converted[column].dtype) for column in "ibf"] == ["float64"] * 3, converted.dtypes
    assert converted["s"].dtype == frame["s"].dtype, "text columns are left as they are"


def test_a_pyfunc_with_integer_inputs_gets_rounded_not_truncated_baseline_values(tmp_path) -> None:
    # given a pyfunc model whose signature takes an integer column (MLflow refuses floats there)
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    from explainops.io.registries import load_pyfunc

    samples = pd.DataFrame(
        {"age": np.array([40, 50, 60, 70], dtype=np.int64), "x": [0.1, 0.4, 0.2, 0.9]}
    )
    model = LinearRegression().fit(samples, [1.0, 2.0, 2.5, 4.0])
    mlflow.sklearn.save_model(
        model,
        tmp_path / "model",
        serialization_format="skops",
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
        signature=infer_signature(samples, model.predict(samples)),
    )
    loaded = load_pyfunc(str(tmp_path / "model"))
    # when masked rows carry a cluster mean (49.6) in the integer column, as float
    rows = pd.DataFrame({"age": [49.6, 50.0], "x": [0.3, 0.3]})
    # then the model sees it rounded to the nearest integer (50), not truncated (49)
    expected = model.predict(pd.DataFrame({"age": [50, 50], "x": [0.3, 0.3]}))
    np.testing.assert_allclose(loaded.predict(rows)[:, 0], expected, rtol=1e-12)
