from __future__ import annotations

import pytest

from explainops.config import load_raw_config
from explainops.errors import ConfigError


def test_files_merge_in_order_then_overrides_apply(tmp_path) -> None:
    # given a base file and a second file that changes one key
    base = tmp_path / "base.yaml"
    base.write_text(
        "job:\n  KIND: ExplanationsJob\n  alias_or_version: Champion\n  explainer: {KIND: KernelExplainer, seed: 1}\n"
    )
    second = tmp_path / "second.json"
    second.write_text('{"job": {"explainer": {"seed": 2}}}')
    # when merged with an override
    raw = load_raw_config([base, second], ["job.alias_or_version=3"])
    # then later files win, untouched keys stay, and overrides come last
    assert raw["job"]["explainer"] == {"KIND": "KernelExplainer", "seed": 2}, "second file wins"
    assert raw["job"]["alias_or_version"] == 3, "--set wins over files, typed as YAML"


def test_relative_paths_resolve_against_each_files_folder(tmp_path) -> None:
    (tmp_path / "confs").mkdir()
    config = tmp_path / "confs" / "job.yaml"
    config.write_text(
        "job:\n  inputs_samples: {path: ../data/in.csv}\n  registry: {tracking_uri: 'sqlite:///db/mlflow.db'}\n"
        "  models_explanations: {path: 's3://bucket/out.csv'}\n  samples_explanations: {path: /abs/out.csv}\n"
    )
    job = load_raw_config([config])["job"]
    assert job["inputs_samples"]["path"] == str(tmp_path / "data" / "in.csv"), (
        "relative to the config's folder"
    )
    assert (
        job["registry"]["tracking_uri"] == f"sqlite:///{tmp_path / 'confs' / 'db' / 'mlflow.db'}"
    ), "sqlite too"
    assert job["models_explanations"]["path"] == "s3://bucket/out.csv", "URIs are left alone"
    assert job["samples_explanations"]["path"] == "/abs/out.csv", "absolute paths are left alone"


def test_environment_references_are_resolved(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOOK_URL", "http://127.0.0.1:1/hook")
    config = tmp_path / "job.yaml"
    config.write_text("job:\n  alerts: {KIND: WebhookAlerter, url: '${oc.env:HOOK_URL}'}\n")
    assert load_raw_config([config])["job"]["alerts"]["url"] == "http://127.0.0.1:1/hook", (
        "env value"
    )
    config.write_text("job:\n  alerts: {url: '${oc.env:NOT_SET_ANYWHERE}'}\n")
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        load_raw_config([config])


@pytest.mark.parametrize(
    ("content", "overrides", "message"),
    [
        (None, [], "configuration file not found"),
        ("job: [unclosed", [], "not valid YAML or JSON"),
        ("- a list", [], "expected a mapping at the top level"),
        ("job: {}", ["no_equals_sign"], "expected dotted.key=value"),
    ],
)
def test_unusable_files_and_overrides_are_config_errors(
    tmp_path, content, overrides, message
) -> None:
    config = tmp_path / "job.yaml"
    if content is not None:
        config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_raw_config([config], overrides)


def test_a_changed_kind_replaces_the_component(tmp_path) -> None:
    # given a Kernel explainer with its settings, then a file and an override switching KIND
    base = tmp_path / "base.yaml"
    base.write_text("job:\n  explainer: {KIND: KernelExplainer, num_samples: 64, seed: 1}\n")
    tree = tmp_path / "tree.yaml"
    tree.write_text("job:\n  explainer: {KIND: TreeExplainer}\n")
    # when merged, then the Tree explainer inherits none of the Kernel explainer's fields
    assert load_raw_config([base, tree])["job"]["explainer"] == {"KIND": "TreeExplainer"}
    assert load_raw_config([base], ["job.explainer.KIND=ExactExplainer"])["job"]["explainer"] == {
        "KIND": "ExactExplainer"
    }, "an override changing KIND replaces the component too"
    assert load_raw_config([base], ["job.explainer.seed=5"])["job"]["explainer"] == {
        "KIND": "KernelExplainer",
        "num_samples": 64,
        "seed": 5,
    }, "the same KIND still merges field by field"


def test_a_missing_environment_variable_names_the_variable_and_field(tmp_path) -> None:
    config = tmp_path / "job.yaml"
    config.write_text("job:\n  loader:\n    headers: {Authorization: '${oc.env:NO_SUCH_TOKEN}'}\n")
    with pytest.raises(ConfigError) as raised:
        load_raw_config([config])
    message = str(raised.value)
    assert message.startswith(
        "job.loader.headers.Authorization: environment variable NO_SUCH_TOKEN is not set"
    ), message
    assert "full_key" not in message and "object_type" not in message, "no OmegaConf internals"


def test_values_read_from_the_environment_are_registered_as_secrets(tmp_path, monkeypatch) -> None:
    from explainops.core.redaction import redact

    monkeypatch.setenv("CONFIG_TEST_TOKEN", "Bearer cfg-secret-98765")
    config = tmp_path / "job.yaml"
    config.write_text("job:\n  loader: {headers: {Authorization: '${oc.env:CONFIG_TEST_TOKEN}'}}\n")
    load_raw_config([config])
    assert redact("sent Bearer cfg-secret-98765") == "sent ***", "masked from now on"
