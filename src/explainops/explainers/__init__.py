"""Explainers: pure numpy/numba code, arrays and a model in, an Explanation out, no I/O.

The public API: the three explainers and their contract, :class:`Explainer`; the result,
:class:`Explanation`; the aggregation of local values into global ones; and the k-means baseline
summary. Everything else lives in the submodules and may change.
"""

from explainops.explainers.base import Explainer
from explainops.explainers.baseline import kmeans_baseline
from explainops.explainers.exact import ExactExplainer
from explainops.explainers.explanation import AggMethod, Explanation, aggregate_attributions
from explainops.explainers.kernel import KernelExplainer
from explainops.explainers.tree import TreeExplainer

__all__ = [
    "AggMethod",
    "ExactExplainer",
    "Explainer",
    "Explanation",
    "KernelExplainer",
    "TreeExplainer",
    "aggregate_attributions",
    "kmeans_baseline",
]
