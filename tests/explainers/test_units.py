"""UnitsExplainer: per-instance Kernel SHAP over a varying number of units, against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from explainops.errors import ExplainerError
from explainops.explainers.units import UnitsExplainer
from tests.explainers.brute_force import shapley_values_of_game


class Interacting:
    """n units: f(kept) = outputs of an additive part, pairwise products and a threshold."""

    def __init__(self, n_units: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(size=n_units)
        self.pairs = rng.normal(size=(n_units, n_units)) / n_units

    @property
    def n_units(self) -> int:
        return len(self.weights)

    def masked(self, keep: np.ndarray) -> np.ndarray:
        return keep.astype(float)

    def outputs(self, z: np.ndarray) -> np.ndarray:
        quadratic = np.einsum("ci,ij,cj->c", z, self.pairs, z)
        first = z @ self.weights + quadratic
        second = np.tanh(first) + (z.sum(axis=1) > self.n_units / 2)
        return np.stack([first, second], axis=1)

    def game(self, coalition: tuple[int, ...]) -> np.ndarray:
        z = np.zeros((1, self.n_units))
        z[0, list(coalition)] = 1.0
        return self.outputs(z)[0]


def evaluate_with(instances: list[Interacting], calls: list[int]):
    """An evaluate function for instances of one kind (each batch's rows know their instance)."""

    def evaluate(batches):
        calls.append(sum(len(batch) for batch in batches))
        return np.concatenate([owner.outputs(batch) for owner, batch in batches])

    return evaluate


class Owned(Interacting):
    def masked(self, keep: np.ndarray):  # type: ignore[override]
        return _Batch(self, keep.astype(float))


class _Batch(tuple):
    def __new__(cls, owner, z):
        return super().__new__(cls, (owner, z))

    def __len__(self) -> int:
        return len(self[1])


@pytest.mark.parametrize("n_units", [1, 2, 3, 5, 8, 10])
def test_exact_up_to_ten_units_equals_brute_force(n_units: int) -> None:
    instance = Owned(n_units, seed=n_units)
    explainer = UnitsExplainer()
    [explanation] = explainer.explain(evaluate_with([instance], []), [instance])
    expected = shapley_values_of_game(instance.game, n_units)
    assert explanation.exact
    # Both sides sum the same few doubles in different orders: equal to rounding.
    np.testing.assert_allclose(explanation.values, expected, atol=1e-10)
    assert explanation.additivity_error < 1e-9
    assert explanation.evaluations == 2**n_units


def test_no_units_has_no_values() -> None:
    instance = Owned(0, seed=0)
    [explanation] = UnitsExplainer().explain(evaluate_with([instance], []), [instance])
    assert explanation.values.shape == (2, 0)
    assert explanation.additivity_error == 0.0


def test_sampled_instances_are_additive_and_error_shrinks_with_budget() -> None:
    instance = Owned(14, seed=3)
    exact = shapley_values_of_game(instance.game, 14)
    errors = []
    for budget in (64, 512, 4096):
        rmse = []
        for seed in range(4):
            explainer = UnitsExplainer(num_samples=budget, seed=seed)
            [explanation] = explainer.explain(evaluate_with([instance], []), [instance])
            assert not explanation.exact
            assert explanation.additivity_error < 1e-9
            rmse.append(np.sqrt(np.mean((explanation.values - exact) ** 2)))
        errors.append(np.mean(rmse))
    assert errors[0] > errors[1] > errors[2]


def test_same_values_whatever_instances_are_explained_with_and_the_batch_size() -> None:
    instances = [Owned(n, seed=n) for n in (3, 12, 7, 12, 15)]
    alone = [
        UnitsExplainer(num_samples=300, seed=5).explain(evaluate_with([i], []), [i])[0]
        for i in instances
    ]
    calls: list[int] = []
    together = UnitsExplainer(num_samples=300, seed=5, batch_size=97).explain(
        evaluate_with(instances, calls), instances
    )
    assert max(calls) <= 97
    assert sum(calls) == sum(e.evaluations for e in together)
    assert calls[:-1] == [97] * (len(calls) - 1), f"every call but the last is full: {calls}"
    for one, other in zip(alone, together, strict=True):
        # The same model outputs, solved by the same operator: differences are rounding only.
        np.testing.assert_allclose(one.values, other.values, atol=1e-12)
        # Errors of the exactly fitted (additive) outputs are rounding noise near 1e-10.
        np.testing.assert_allclose(one.standard_errors, other.standard_errors, rtol=0, atol=1e-9)


def test_model_answering_the_wrong_number_of_rows_is_an_error() -> None:
    instance = Owned(4, seed=0)
    with pytest.raises(ExplainerError, match="returned 1 outputs for 16 inputs"):
        UnitsExplainer().explain(lambda batches: np.zeros((1, 1)), [instance])


def test_bad_settings_are_errors() -> None:
    with pytest.raises(ExplainerError, match="num_samples"):
        UnitsExplainer(num_samples=0)
    with pytest.raises(ExplainerError, match="batch_size"):
        UnitsExplainer(batch_size=0)
