"""Read tree ensembles (scikit-learn, LightGBM, XGBoost) into flat node arrays.

Every supported model becomes a TreeEnsemble: all trees' nodes concatenated, leaf values already
scaled (learning rate, forest averaging) and assigned to outputs, plus the native function giving
the ensemble's raw output (regression value, class probability for forests, margin for boosting).
The arrays are checked against that native output before use, so a model read wrongly is refused
instead of explained wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from explainops.errors import ExplainerError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# How a node sends a missing value: to its default child, or as if it were 0.0 (LightGBM 'None'),
# and whether zero itself counts as missing (LightGBM 'Zero').
MISSING_TO_DEFAULT, MISSING_AS_ZERO, ZERO_IS_MISSING = 0, 1, 2


@dataclass
class _NodeList:
    """Growing lists of nodes while a model is read."""

    n_outputs: int
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    default_left: list[bool] = field(default_factory=list)
    strict: list[bool] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    values: list[FloatArray] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)

    def add(
        self,
        feature: int = -1,
        threshold: float = 0.0,
        default_left: bool = True,
        strict: bool = False,
        missing: int = MISSING_TO_DEFAULT,
        value: FloatArray | None = None,
    ) -> int:
        """Append a node (a leaf when feature is -1) and return its index; children set later."""
        self.left.append(-1)
        self.right.append(-1)
        self.feature.append(feature)
        self.threshold.append(threshold)
        self.default_left.append(default_left)
        self.strict.append(strict)
        self.missing.append(missing)
        self.values.append(value if value is not None else np.zeros(self.n_outputs))
        return len(self.left) - 1


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees as flat arrays; node i is a leaf when left[i] == -1."""

    left: IntArray
    right: IntArray
    feature: IntArray
    threshold: FloatArray
    default_left: npt.NDArray[np.bool_]
    strict: npt.NDArray[np.bool_]
    missing: IntArray
    leaf_values: FloatArray  # (nodes, k)
    roots: IntArray
    max_depth: int
    n_features: int
    raw_output: Callable[[FloatArray], FloatArray]
    float32_inputs: bool
    kind: str
    native_contributions: Callable[[FloatArray], tuple[FloatArray, FloatArray]] | None = None

    @property
    def n_outputs(self) -> int:
        """Number of explained outputs k."""
        return int(self.leaf_values.shape[1])

    def prepare(self, rows: FloatArray) -> FloatArray:
        """Rows as the library compares them with thresholds (float32 for sklearn and XGBoost)."""
        rows = np.asarray(rows, dtype=np.float64)
        return rows.astype(np.float32).astype(np.float64) if self.float32_inputs else rows


def _finish(
    nodes: _NodeList,
    n_features: int,
    raw_output: Callable[[FloatArray], FloatArray],
    float32_inputs: bool,
    kind: str,
    native_contributions: Callable[[FloatArray], tuple[FloatArray, FloatArray]] | None = None,
) -> TreeEnsemble:
    return TreeEnsemble(
        left=np.asarray(nodes.left, dtype=np.int64),
        right=np.asarray(nodes.right, dtype=np.int64),
        feature=np.asarray(nodes.feature, dtype=np.int64),
        threshold=np.asarray(nodes.threshold, dtype=np.float64),
        default_left=np.asarray(nodes.default_left, dtype=np.bool_),
        strict=np.asarray(nodes.strict, dtype=np.bool_),
        missing=np.asarray(nodes.missing, dtype=np.int64),
        leaf_values=np.asarray(np.stack(nodes.values), dtype=np.float64),
        roots=np.asarray(nodes.roots, dtype=np.int64),
        max_depth=max(nodes.depths, default=0),
        n_features=n_features,
        raw_output=raw_output,
        float32_inputs=float32_inputs,
        kind=kind,
        native_contributions=native_contributions,
    )


def _as_2d(values: Any) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(-1, 1) if array.ndim == 1 else array


def read_tree_ensemble(model: Any) -> TreeEnsemble:
    """Read a supported tree model; raise ExplainerError naming what is supported otherwise."""
    module = type(model).__module__
    if module.startswith("sklearn."):
        return _read_sklearn(model)
    if module.startswith("lightgbm"):
        return _read_lightgbm(model)
    if module.startswith("xgboost"):
        return _read_xgboost(model)
    raise ExplainerError(
        f"TreeExplainer does not support {type(model).__name__}; supported: scikit-learn decision "
        "trees, random forests, extra trees and gradient boosting, LightGBM and XGBoost models"
    )


# --- scikit-learn ---------------------------------------------------------------------------


def _add_sklearn_tree(nodes: _NodeList, tree: Any, leaf_values: FloatArray) -> None:
    """Append one fitted sklearn tree; leaf_values[i] is node i's (k,) contribution."""
    tree_ = tree.tree_
    offset = len(nodes.left)
    missing_left = getattr(tree_, "missing_go_to_left", None)
    for node in range(tree_.node_count):
        is_leaf = tree_.children_left[node] == -1
        nodes.add(
            feature=-1 if is_leaf else int(tree_.feature[node]),
            threshold=float(tree_.threshold[node]),
            default_left=bool(missing_left[node]) if missing_left is not None else True,
            value=leaf_values[node] if is_leaf else None,
        )
        if not is_leaf:
            nodes.left[-1] = offset + int(tree_.children_left[node])
            nodes.right[-1] = offset + int(tree_.children_right[node])
    nodes.roots.append(offset)
    nodes.depths.append(int(tree_.max_depth))


def _read_sklearn(model: Any) -> TreeEnsemble:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import BaseDecisionTree, DecisionTreeClassifier

    if not hasattr(model, "n_features_in_"):
        raise ExplainerError(f"{type(model).__name__} is not fitted")
    n_features = int(model.n_features_in_)
    column_names = getattr(model, "feature_names_in_", None)

    def as_model_input(rows: FloatArray) -> Any:
        # A model fitted on a DataFrame is called with one, as sklearn expects.
        if column_names is None:
            return rows
        import pandas as pd

        return pd.DataFrame(rows, columns=list(column_names))

    forests = (
        RandomForestClassifier,
        RandomForestRegressor,
        ExtraTreesClassifier,
        ExtraTreesRegressor,
    )
    if isinstance(model, (BaseDecisionTree, *forests)):
        trees = [model] if isinstance(model, BaseDecisionTree) else list(model.estimators_)
        is_classifier = isinstance(
            model, DecisionTreeClassifier | RandomForestClassifier | ExtraTreesClassifier
        )
        if is_classifier and getattr(model, "n_outputs_", 1) != 1:
            raise ExplainerError("multi-output classifiers are not supported by TreeExplainer")
        first_value = trees[0].tree_.value
        n_outputs = first_value.shape[2] if is_classifier else first_value.shape[1]
        nodes = _NodeList(n_outputs)
        for tree in trees:
            value = np.asarray(tree.tree_.value, dtype=np.float64)
            if is_classifier:  # class fractions (counts in older sklearn), averaged over trees
                leaf_values = value[:, 0, :] / value[:, 0, :].sum(axis=1, keepdims=True)
            else:
                leaf_values = value[:, :, 0]
            _add_sklearn_tree(nodes, tree, leaf_values / len(trees))
        raw = model.predict_proba if is_classifier else model.predict
        return _finish(
            nodes,
            n_features,
            lambda rows: _as_2d(raw(as_model_input(rows))),
            True,
            type(model).__name__,
        )
    if isinstance(model, GradientBoostingClassifier | GradientBoostingRegressor):
        stages = model.estimators_
        nodes = _NodeList(stages.shape[1])
        for stage in stages:
            for output, tree in enumerate(stage):
                leaf_values = np.zeros((tree.tree_.node_count, stages.shape[1]))
                leaf_values[:, output] = model.learning_rate * tree.tree_.value[:, 0, 0]
                _add_sklearn_tree(nodes, tree, leaf_values)
        raw = (
            model.decision_function
            if isinstance(model, GradientBoostingClassifier)
            else model.predict
        )
        return _finish(
            nodes,
            n_features,
            lambda rows: _as_2d(raw(as_model_input(rows))),
            True,
            type(model).__name__,
        )
    raise ExplainerError(
        f"TreeExplainer does not support scikit-learn's {type(model).__name__}; supported: "
        "DecisionTree, RandomForest, ExtraTrees and GradientBoosting classifiers and regressors"
    )


# --- LightGBM -------------------------------------------------------------------------------


def _read_lightgbm(model: Any) -> TreeEnsemble:
    booster = getattr(model, "booster_", model)
    if not hasattr(booster, "dump_model"):
        raise ExplainerError(f"TreeExplainer does not support LightGBM's {type(model).__name__}")
    dump = booster.dump_model()
    n_outputs = int(dump.get("num_tree_per_iteration", 1))
    nodes = _NodeList(n_outputs)
    for index, info in enumerate(dump["tree_info"]):
        output = index % n_outputs
        root = _add_lightgbm_node(nodes, info["tree_structure"], output, depth=0)
        nodes.roots.append(root)

    def raw(rows: FloatArray) -> FloatArray:
        return _as_2d(booster.predict(rows, raw_score=True))

    def contributions(rows: FloatArray) -> tuple[FloatArray, FloatArray]:
        flat = np.asarray(booster.predict(rows, pred_contrib=True), dtype=np.float64)
        per_output = flat.reshape(rows.shape[0], n_outputs, -1)
        return per_output[:, :, :-1], per_output[0, :, -1]

    n_features = int(dump["max_feature_idx"]) + 1
    return _finish(nodes, n_features, raw, False, "LightGBM", contributions)


def _add_lightgbm_node(nodes: _NodeList, node: dict[str, Any], output: int, depth: int) -> int:
    if "leaf_value" in node or "split_feature" not in node:
        value = np.zeros(nodes.n_outputs)
        value[output] = float(node.get("leaf_value", 0.0))
        nodes.depths.append(depth)
        return nodes.add(value=value)
    if node.get("decision_type", "<=") != "<=":
        raise ExplainerError(
            "TreeExplainer does not support LightGBM categorical splits "
            f"(decision_type {node['decision_type']!r}); use KernelExplainer"
        )
    missing = {"None": MISSING_AS_ZERO, "Zero": ZERO_IS_MISSING}.get(
        node.get("missing_type", "NaN"), MISSING_TO_DEFAULT
    )
    index = nodes.add(
        feature=int(node["split_feature"]),
        threshold=float(node["threshold"]),
        default_left=bool(node.get("default_left", True)),
        missing=missing,
    )
    nodes.left[index] = _add_lightgbm_node(nodes, node["left_child"], output, depth + 1)
    nodes.right[index] = _add_lightgbm_node(nodes, node["right_child"], output, depth + 1)
    return index


# --- XGBoost --------------------------------------------------------------------------------


def _read_xgboost(model: Any) -> TreeEnsemble:
    import xgboost

    booster = model.get_booster() if hasattr(model, "get_booster") else model
    if not isinstance(booster, xgboost.Booster):
        raise ExplainerError(f"TreeExplainer does not support XGBoost's {type(model).__name__}")
    config = json.loads(booster.save_config())
    learner = config["learner"]
    booster_name = learner["gradient_booster"]["name"]
    if booster_name not in ("gbtree", "dart"):
        raise ExplainerError(
            f"TreeExplainer needs a tree booster, got XGBoost booster {booster_name!r}"
        )
    tree_params = (
        learner["gradient_booster"].get("gbtree_model_param")
        or learner["gradient_booster"]["gbtree"]["gbtree_model_param"]
    )
    n_outputs = max(1, int(learner["learner_model_param"].get("num_class", "0")))
    parallel = max(1, int(tree_params.get("num_parallel_tree", "1")))
    n_features = int(learner["learner_model_param"]["num_feature"])
    names = booster.feature_names
    feature_index = {name: index for index, name in enumerate(names)} if names else None
    nodes = _NodeList(n_outputs)
    for index, dumped in enumerate(booster.get_dump(dump_format="json")):
        output = (index // parallel) % n_outputs
        tree = json.loads(dumped)
        nodes.roots.append(_add_xgboost_node(nodes, tree, output, feature_index, depth=0))

    def dmatrix(rows: FloatArray) -> Any:
        return xgboost.DMatrix(rows, feature_names=names)

    def raw(rows: FloatArray) -> FloatArray:
        return _as_2d(booster.predict(dmatrix(rows), output_margin=True))

    def contributions(rows: FloatArray) -> tuple[FloatArray, FloatArray]:
        values = np.asarray(booster.predict(dmatrix(rows), pred_contribs=True), dtype=np.float64)
        values = values.reshape(rows.shape[0], n_outputs, -1)
        return values[:, :, :-1], values[0, :, -1]

    return _finish(nodes, n_features, raw, True, "XGBoost", contributions)


def _xgboost_feature(split: str, feature_index: dict[str, int] | None) -> int:
    if feature_index is not None:
        return feature_index[split]
    return int(split[1:]) if split.startswith("f") else int(split)


def _add_xgboost_node(
    nodes: _NodeList,
    node: dict[str, Any],
    output: int,
    feature_index: dict[str, int] | None,
    depth: int,
) -> int:
    if "leaf" in node:
        value = np.zeros(nodes.n_outputs)
        value[output] = float(node["leaf"])
        nodes.depths.append(depth)
        return nodes.add(value=value)
    children = {child["nodeid"]: child for child in node["children"]}
    index = nodes.add(
        feature=_xgboost_feature(str(node["split"]), feature_index),
        threshold=float(np.float32(node["split_condition"])),
        default_left=node["missing"] == node["yes"],
        strict=True,
    )
    nodes.left[index] = _add_xgboost_node(
        nodes, children[node["yes"]], output, feature_index, depth + 1
    )
    nodes.right[index] = _add_xgboost_node(
        nodes, children[node["no"]], output, feature_index, depth + 1
    )
    return index
