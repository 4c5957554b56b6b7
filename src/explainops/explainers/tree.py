"""Tree SHAP for tree ensembles: interventional values against a baseline, in native-speed code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.errors import ExplainerError
from explainops.explainers import _compiled as compiled
from explainops.explainers.base import Explainer
from explainops.explainers.explanation import Explanation
from explainops.explainers.inputs import FeatureTable
from explainops.explainers.tree_models import TreeEnsemble, read_tree_ensemble

FloatArray = npt.NDArray[np.float64]
FeaturePerturbation = Literal["interventional", "tree_path_dependent"]

# Preprocessing steps whose output column j depends on input column j alone: Shapley values of
# the pipeline equal those of the final trees on the transformed columns.
ONE_TO_ONE_STEPS = (
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "SimpleImputer",
)
# Our reading of a model must reproduce its native raw output to this relative tolerance.
_PARSE_TOLERANCE = 1e-4


def split_pipeline(model: Any) -> tuple[list[Any], Any]:
    """Return (column-wise preprocessing steps, final tree model) of a model or sklearn Pipeline.

    Raises ExplainerError when a step does not map input columns one to one, because Tree SHAP
    on the transformed columns would then not attribute to the input columns.
    """
    if type(model).__name__ != "Pipeline" or not hasattr(model, "steps"):
        return [], model
    steps = [step for _, step in model.steps if step not in (None, "passthrough")]
    preprocessing, final = steps[:-1], steps[-1]
    for step in preprocessing:
        name = type(step).__name__
        keeps_columns = name in ONE_TO_ONE_STEPS and not getattr(step, "add_indicator", False)
        if not keeps_columns:
            raise ExplainerError(
                f"TreeExplainer cannot attribute through pipeline step {name}: only column-wise "
                f"steps ({', '.join(ONE_TO_ONE_STEPS)}) keep attributions on the input columns; "
                "use KernelExplainer or ExactExplainer for this model"
            )
    return preprocessing, final


def _transform(steps: list[Any], rows: Any) -> FloatArray:
    for step in steps:
        rows = step.transform(rows)
    return np.asarray(rows, dtype=np.float64)


class TreeExplainer(Explainer):
    """SHAP values of a tree ensemble's raw output, computed exactly from its trees.

    The raw output is the regression value, the class probabilities of a decision tree or forest,
    or the margin (log-odds) of a gradient-boosted classifier. With the default
    ``feature_perturbation="interventional"`` the values are interventional Shapley values against
    the (weighted) baseline (Lundberg et al., 2020), identical to ExactExplainer's on the same raw
    output and baseline, in time linear in the number of baseline rows and trees.
    ``"tree_path_dependent"`` instead uses the library's own contributions (LightGBM, XGBoost),
    which condition on the training data's tree paths and need no baseline.

    Supported models: scikit-learn decision trees, random forests, extra trees and gradient
    boosting, LightGBM and XGBoost, bare or after column-wise preprocessing in an sklearn Pipeline
    (scalers, SimpleImputer), so that attributions stay on the input columns.

    Parameters
    ----------
    baseline : array-like or DataFrame of shape (m, d), default=None
        The background rows B. None: a k-means summary of the samples, weighted by cluster size.
    baseline_weights : array-like of shape (m,), default=None
        Non-negative weights of the baseline rows, normalised to sum to one; None: equal.
    feature_perturbation : {"interventional", "tree_path_dependent"}, default="interventional"
        Interventional values against the baseline, or the library's path-dependent ones.
    use_logit : bool, default=False
        Not supported (True is refused): a boosted classifier's raw output is already log-odds.
    num_clusters : int, default=None
        Clusters of the k-means summary when no baseline is given; None: chosen between 1 and 12.
    seed : int or None, default=0
        Seed of the k-means summary.
    feature_names : sequence of str, default=None
        The features to explain (a DataFrame's columns to select, or an array's column names).
    output_names : sequence of str, default=None
        Names of the model's outputs; None: ``label0``, ``label1``, ...

    References
    ----------
    .. [1] S. M. Lundberg, G. Erion, H. Chen, A. DeGrave, J. M. Prutkin, B. Nair, R. Katz,
       J. Himmelfarb, N. Bansal and S.-I. Lee, "From local explanations to global understanding
       with explainable AI for trees", Nature Machine Intelligence 2, 56-67, 2020.

    Examples
    --------
    A regression tree that fits y = 2 x0 + x1 exactly is additive, so its interventional SHAP
    values are 2 (x0 - mean_b b0) and (x1 - mean_b b1):

    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from explainops.explainers import TreeExplainer
    >>> features = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> target = 2 * features[:, 0] + features[:, 1]
    >>> model = DecisionTreeRegressor(random_state=0).fit(features, target)
    >>> explanation = TreeExplainer(baseline=features).explain(model, features[[3]])
    >>> print(np.round(explanation.values, 6))  # (n, k, d) = (1, 1, 2)
    [[[1.  0.5]]]
    >>> print(explanation.base_values, explanation.predictions)
    [1.5] [[3.]]

    """

    def __init__(
        self,
        baseline: Any | None = None,
        baseline_weights: Any | None = None,
        *,
        feature_perturbation: FeaturePerturbation = "interventional",
        use_logit: bool = False,
        num_clusters: int | None = None,
        seed: int | None = 0,
        feature_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
    ) -> None:
        if use_logit:
            raise ExplainerError(
                "TreeExplainer explains the ensemble's raw output (log-odds for boosted "
                "classifiers) and does not support use_logit; use KernelExplainer or "
                "ExactExplainer to explain the log-odds of predicted probabilities"
            )
        if feature_perturbation not in ("interventional", "tree_path_dependent"):
            raise ExplainerError(
                "feature_perturbation must be 'interventional' or 'tree_path_dependent', "
                f"got {feature_perturbation!r}"
            )
        super().__init__(
            baseline,
            baseline_weights,
            use_logit=False,
            num_clusters=num_clusters,
            seed=seed,
            feature_names=feature_names,
            output_names=output_names,
        )
        self.feature_perturbation = feature_perturbation

    def explain(self, model: Any, samples: Any) -> Explanation:
        """Explain a fitted tree ``model`` (or a column-wise sklearn Pipeline) on ``samples``.

        Returns an :class:`Explanation` of the raw output with ``values`` (n, k, d),
        ``base_values`` (k,), ``predictions`` (n, k) and the samples' values as ``data`` (n, d).
        """
        table = self._samples_table(samples)
        if not table.is_numeric:
            raise ExplainerError("TreeExplainer needs numeric features; use KernelExplainer")
        preprocessing, final = split_pipeline(model)
        ensemble = read_tree_ensemble(final)
        if ensemble.n_features != table.values.shape[1]:
            raise ExplainerError(
                f"the model was trained on {ensemble.n_features} features, "
                f"the samples have {table.values.shape[1]}"
            )
        model_rows = _transform(preprocessing, self._model_input(table.values, table))
        if self.feature_perturbation == "tree_path_dependent":
            values, base_values, predictions = self._path_dependent(ensemble, model_rows)
        else:
            baseline = self._resolve_baseline(table)
            baseline_rows = _transform(
                preprocessing, self._model_input(baseline.table.values, table)
            )
            values, base_values, predictions = self._interventional(
                ensemble, model_rows, baseline_rows, baseline.weights
            )
        return Explanation(
            values=values,
            base_values=base_values,
            predictions=predictions,
            feature_names=table.feature_names,
            output_names=self._output_names(predictions.shape[1]),
            data=table.values,
        )

    @staticmethod
    def _model_input(rows: FloatArray, table: FeatureTable) -> Any:
        if table.dtypes is None:
            return rows
        return pd.DataFrame(rows, columns=list(table.feature_names))

    @staticmethod
    def _path_dependent(
        ensemble: TreeEnsemble, rows: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        if ensemble.native_contributions is None:
            raise ExplainerError(
                f"feature_perturbation 'tree_path_dependent' needs native contributions, which "
                f"{ensemble.kind} does not provide (LightGBM and XGBoost do); use 'interventional'"
            )
        values, base_values = ensemble.native_contributions(rows)
        return values, base_values, ensemble.raw_output(rows)

    @staticmethod
    def _interventional(
        ensemble: TreeEnsemble, rows: FloatArray, baseline_rows: FloatArray, weights: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        samples, background = ensemble.prepare(rows), ensemble.prepare(baseline_rows)
        trees = (
            ensemble.left,
            ensemble.right,
            ensemble.feature,
            ensemble.threshold,
            ensemble.default_left,
            ensemble.strict,
            ensemble.missing,
            ensemble.leaf_values,
            ensemble.roots,
        )
        sample_sums = compiled.ensemble_predict(samples, *trees)
        background_sums = compiled.ensemble_predict(background, *trees)
        offset = _native_offset(
            ensemble, rows, baseline_rows, sample_sums, background_sums, weights
        )
        node_end = np.append(ensemble.roots[1:], ensemble.left.shape[0])
        start, group_rows, group_weights = compiled.background_groups(
            background,
            weights,
            ensemble.left,
            ensemble.threshold,
            ensemble.default_left,
            ensemble.strict,
            ensemble.missing,
            ensemble.feature,
            ensemble.roots,
            node_end,
        )
        coef_x, coef_b = compiled.path_coefficients(ensemble.max_depth)
        values = compiled.interventional_values(
            samples, background, start, group_rows, group_weights, *trees,
            ensemble.max_depth, coef_x, coef_b,
        )  # fmt: skip
        base_values = weights @ background_sums + offset
        return values, np.asarray(base_values, dtype=np.float64), sample_sums + offset


def _native_offset(
    ensemble: TreeEnsemble,
    rows: FloatArray,
    baseline_rows: FloatArray,
    sample_sums: FloatArray,
    background_sums: FloatArray,
    weights: FloatArray,
) -> FloatArray:
    """The model's constant (initial score, base margin) and a check that we read it right."""
    native_samples = ensemble.raw_output(rows)
    native_background = ensemble.raw_output(baseline_rows)
    if native_samples.shape != sample_sums.shape:
        raise ExplainerError(
            f"{ensemble.kind}: the trees give {sample_sums.shape[1]} outputs, the model "
            f"{native_samples.shape[1]}"
        )
    offset = np.asarray(weights @ (native_background - background_sums), dtype=np.float64)
    native = np.concatenate([native_samples, native_background])
    ours = np.concatenate([sample_sums, background_sums]) + offset
    error = np.max(np.abs(native - ours) / np.maximum(1.0, np.abs(native)))
    if error > _PARSE_TOLERANCE:
        raise ExplainerError(
            f"{ensemble.kind}: the trees as read reproduce the model's raw output only to "
            f"{error:.2g} (relative); this model variant is not supported by TreeExplainer, "
            "use KernelExplainer"
        )
    return offset
