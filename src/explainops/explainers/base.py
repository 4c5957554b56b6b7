"""The contract every explainer implements, and the settings and steps they all share."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from explainops.errors import ExplainerError
from explainops.explainers.baseline import Baseline, resolve_baseline
from explainops.explainers.explanation import Explanation
from explainops.explainers.inputs import FeatureTable, as_feature_table, default_output_names


class Explainer(abc.ABC):
    """Interventional Shapley values of a model's outputs against a weighted baseline.

    Every explainer gives the same values for the same model output and baseline B, with
    weights w summing to one: those of the game v(S) = link(sum over b in B of w_b f(x_S, b_rest)),
    where the model sees the sample's values on the features in S and the baseline row's
    elsewhere. The link is the identity, or the logit with ``use_logit`` (shap's convention: the
    link of the expected prediction). The base value is v(empty) = link(sum of w_b f(b)).
    Subclasses differ only in how they compute these values.

    Parameters
    ----------
    baseline : array-like or DataFrame of shape (m, d), default=None
        The background rows B, in the samples' features (a DataFrame's columns are matched by
        name). None: a k-means summary of the samples, centres weighted by cluster size.
    baseline_weights : array-like of shape (m,), default=None
        Non-negative weights of the baseline rows, normalised to sum to one; None: equal.
    use_logit : bool, default=False
        Explain the log-odds of the model's expected output (probabilities) instead of the output.
    num_clusters : int, default=None
        Clusters of the k-means summary when no baseline is given; None: chosen between 1 and 12.
    seed : int or None, default=0
        Seed of the k-means summary (and of the coalition sampling where an explainer samples).
    feature_names : sequence of str, default=None
        The features to explain: a DataFrame's columns to select, or the names of an array's
        columns. None: a DataFrame's columns, else ``column_0``, ``column_1``, ...
    output_names : sequence of str, default=None
        Names of the model's k outputs; None: ``label0``, ``label1``, ...

    See Also
    --------
    ExactExplainer, KernelExplainer : any model, through its predict function.
    TreeExplainer : tree ensembles, from their trees.

    Examples
    --------
    Code written against the contract works with any explainer, and they agree:

    >>> import numpy as np
    >>> from explainops.explainers import ExactExplainer, Explainer, KernelExplainer
    >>> def model(rows):
    ...     return rows @ np.array([1.0, 2.0])
    >>> baseline = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0], [3.0, 3.0]])  # mean (1.5, 1.5)
    >>> def shap_values(explainer: Explainer) -> np.ndarray:
    ...     return explainer.explain(model, np.array([[3.0, 3.0]])).values
    >>> for explainer in (ExactExplainer(baseline), KernelExplainer(baseline)):
    ...     print(type(explainer).__name__, np.round(shap_values(explainer), 6))
    ExactExplainer [[[1.5 3. ]]]
    KernelExplainer [[[1.5 3. ]]]

    """

    def __init__(
        self,
        baseline: Any | None = None,
        baseline_weights: Any | None = None,
        *,
        use_logit: bool = False,
        num_clusters: int | None = None,
        seed: int | None = 0,
        feature_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
    ) -> None:
        self.baseline = baseline
        self.baseline_weights = baseline_weights
        self.use_logit = use_logit
        self.num_clusters = num_clusters
        self.seed = seed
        self.feature_names = tuple(feature_names) if feature_names is not None else None
        self.output_names = tuple(output_names) if output_names is not None else None

    @abc.abstractmethod
    def explain(self, model: Any, samples: Any) -> Explanation:
        """Explain ``model`` on ``samples``.

        Parameters
        ----------
        model : callable or estimator
            What is explained: a predict callable (n, d) -> (n,) or (n, k) for the model-agnostic
            explainers, the fitted tree model for TreeExplainer.
        samples : array-like or DataFrame of shape (n, d)
            The samples to explain (a DataFrame reaches the model as a DataFrame).

        Returns
        -------
        Explanation
            ``values`` (n, k, d), ``base_values`` (k,), ``predictions`` (n, k) and ``data`` (n, d).

        """

    def _samples_table(self, samples: Any) -> FeatureTable:
        """The samples as a non-empty table of the explained features."""
        table = as_feature_table(samples, self.feature_names)
        if table.values.shape[0] == 0:
            raise ExplainerError("no samples to explain")
        return table

    def _resolve_baseline(self, samples: FeatureTable) -> Baseline:
        """The given baseline in the samples' features, or a k-means summary of the samples."""
        return resolve_baseline(
            self.baseline, self.baseline_weights, samples, self.num_clusters, self.seed
        )

    def _output_names(self, n_outputs: int) -> tuple[str, ...]:
        """The configured output names, checked against the model's number of outputs."""
        if self.output_names is None:
            return default_output_names(n_outputs)
        if len(self.output_names) != n_outputs:
            raise ExplainerError(
                f"{len(self.output_names)} output names {list(self.output_names)} "
                f"for a model with {n_outputs} outputs"
            )
        return self.output_names
