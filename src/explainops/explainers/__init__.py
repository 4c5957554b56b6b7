"""Explainers: pure numpy/numba code, arrays and a model in, an Explanation out, no I/O."""

from explainops.explainers.baseline import Baseline, kmeans_baseline, resolve_baseline
from explainops.explainers.exact import ExactExplainer
from explainops.explainers.explanation import (
    AGG_METHODS,
    AggMethod,
    Explanation,
    aggregate_attributions,
)
from explainops.explainers.kernel import KernelExplainer, default_num_samples, kernel_design
from explainops.explainers.tree import TreeExplainer
from explainops.explainers.tree_models import is_supported_tree_model, read_tree_ensemble

__all__ = [
    "AGG_METHODS",
    "AggMethod",
    "Baseline",
    "ExactExplainer",
    "Explanation",
    "KernelExplainer",
    "TreeExplainer",
    "aggregate_attributions",
    "default_num_samples",
    "is_supported_tree_model",
    "kernel_design",
    "kmeans_baseline",
    "read_tree_ensemble",
    "resolve_baseline",
]
