"""Clarify's application/json model I/O: the documented templates, exact numbers, checked answers.

The three examples of Clarify's developer guide ("Analysis Configuration Files", predictor
``content_template`` / ``record_template``) must give exactly the documented model inputs. The
guide writes them pretty-printed (the second with a trailing comma, which JSON does not allow), so
they are compared as JSON values; the request bytes are compared with the templates' text with
each placeholder replaced by the JSON of its value (``json.dumps``: ``[[0, 1], [3, 4]]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explainops.cli import EXIT_INVALID_CONFIG, EXIT_OK, main
from explainops.errors import ConfigError, EndpointError
from explainops.explainers import KernelExplainer
from explainops.io.endpoints import EndpointLoader, encode_rows
from explainops.io.json_payloads import decode_json_scores, parse_templates
from explainops.testing.model_server import ModelServer

FEATURES = ["feature_1", "feature_2", "feature_3"]
ROUNDING = {"rtol": 1e-12, "atol": 1e-15}
SHAP_ROUNDING = {"rtol": 1e-12, "atol": 1e-14}

# The guide's data: headers ["A", "B"], features [[0, 1], [3, 4]].
GUIDE_ROWS = pd.DataFrame([[0, 1], [3, 4]], columns=["A", "B"])
# (content_template, record_template, the documented model input), verbatim from the guide.
GUIDE_EXAMPLES = [
    (
        '{"instances": $records, "feature_names": $feature_names}',
        "$features",
        '{\n    "instances": [[0, 1], [3, 4]],\n    "feature_names": ["A", "B"]\n}',
    ),
    ("$records", "$features_kvp", '[\n    { "A": 0, "B": 1 },\n    { "A": 3, "B": 4 },\n]'),
    (
        "$records",
        '{"A": "${A}", "B": "${B}"}',
        '[\n    { "A": 0, "B": 1 },\n    { "A": 3, "B": 4 },\n]',
    ),
    ("$record", "$features_kvp", '{ "A": 0, "B": 1 }'),
]


def documented_value(text: str) -> Any:
    """The guide's pretty-printed input as a JSON value (its trailing comma dropped)."""
    return json.loads(text.replace("},\n]", "}\n]"))


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    """A binary logistic regression on three features."""
    rng = np.random.default_rng(0)
    x = rng.random((300, 3))
    y = (x @ np.array([2.0, -1.0, 0.5]) + rng.normal(0, 0.3, 300) > 0.6).astype(int)
    return LogisticRegression().fit(pd.DataFrame(x, columns=FEATURES), y)


@pytest.fixture(scope="module")
def guide_model() -> LogisticRegression:
    """A binary logistic regression on the guide's two features, A and B."""
    rng = np.random.default_rng(2)
    x = rng.random((100, 2)) * 4
    y = (x[:, 0] - x[:, 1] + rng.normal(0, 0.5, 100) > 0).astype(int)
    return LogisticRegression().fit(pd.DataFrame(x, columns=["A", "B"]), y)


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    """Rows to explain."""
    return pd.DataFrame(np.random.default_rng(1).random((13, 3)), columns=FEATURES)


@pytest.fixture
def server(model: LogisticRegression) -> Iterator[ModelServer]:
    """The model served with JSON answers: {"predictions": [{"label": .., "score": ..}, ...]}."""
    with ModelServer(
        model.predict_proba, FEATURES, labels=model.classes_, default_accept="application/json"
    ) as running:
        yield running


def json_loader(server: ModelServer, **options: Any) -> EndpointLoader:
    """A fast-failing application/json loader for ``server``."""
    settings: dict[str, Any] = {
        "url": server.url,
        "content_type": "application/json",
        "content_template": "$records",
        "record_template": "$features",
        "probability_attribute": "predictions[*].score",
        "rows_per_request": 5,
        "backoff_s": 0.01,
        "timeout_s": 5.0,
        "max_retries": 0,
    }
    return EndpointLoader(**(settings | options))


@pytest.mark.parametrize(("content_template", "record_template", "documented"), GUIDE_EXAMPLES)
def test_the_guides_templates_give_the_documented_model_inputs(
    content_template: str, record_template: str, documented: str
) -> None:
    # given the guide's rows (its one-record example: the first) and one of its template pairs
    single = content_template == "$record"
    rows = GUIDE_ROWS.iloc[:1] if single else GUIDE_ROWS

    # when the rows are encoded
    body = encode_rows(rows, "application/json", content_template, record_template)

    # then the request is the documented input, and its bytes are the templates filled in
    assert json.loads(body) == documented_value(documented), f"documented input: {body!r}"
    records = [
        record_template.replace("$features_kvp", json.dumps(record))
        .replace("$features", json.dumps(list(record.values())))
        .replace('"${A}"', json.dumps(record["A"]))
        .replace('"${B}"', json.dumps(record["B"]))
        for record in rows.to_dict(orient="records")
    ]
    expected = (
        content_template.replace("$records", "[" + ", ".join(records) + "]")
        .replace("$record", records[0])
        .replace("$feature_names", json.dumps(list(rows.columns)))
    )
    assert body == expected.encode(), "placeholders replaced by json.dumps of their values"


@pytest.mark.parametrize(("content_template", "record_template", "documented"), GUIDE_EXAMPLES)
def test_the_guides_templates_reach_the_model_and_its_scores_come_back(
    guide_model: LogisticRegression, content_template: str, record_template: str, documented: str
) -> None:
    # given a model on the guide's features A and B, served by the reference server
    with ModelServer(
        guide_model.predict_proba, ["A", "B"], default_accept="application/json"
    ) as served:
        single = content_template == "$record"
        path = "score" if single else "predictions[*].score"
        endpoint = json_loader(
            served,
            content_template=content_template,
            record_template=record_template,
            probability_attribute=path,
        ).load(None)

        # when the guide's two rows are scored
        scores = endpoint.predict(GUIDE_ROWS)
        sent = [json.loads(request.body) for request in served.received]

    # then the server received the documented input and the scores are the model's
    first = documented_value(documented)
    # $record requests go concurrently: the server may receive the second row's first.
    assert first in sent, f"the first row's request is the documented input: {sent}"
    assert len(sent) == (2 if single else 1), "$record sends one row per request"
    np.testing.assert_allclose(
        scores[:, 0], guide_model.predict_proba(GUIDE_ROWS)[:, 1], **ROUNDING
    )


@pytest.mark.parametrize(
    ("content_template", "record_template", "json_records", "probability"),
    [
        ('{"instances": $records}', "$features", None, "predictions[*].score"),
        ("$records", "$features_kvp", None, "predictions[*].score"),
        # records {"feature_3": v3, "x": [v1, v2]}: the server is told where each value is
        (
            "$records",
            '{"feature_3": "${feature_3}", "x": ["${feature_1}", "${feature_2}"]}',
            "[*].[x[0], x[1], feature_3]",
            "predictions[*].score",
        ),
        ("$record", '{"features": $features, "names": $feature_names}', None, "score"),
    ],
)
def test_json_endpoint_explanations_equal_in_process_explanations(
    model: LogisticRegression,
    samples: pd.DataFrame,
    content_template: str,
    record_template: str,
    json_records: str | None,
    probability: str,
) -> None:
    # given the model in process and behind a JSON endpoint (one template layout each)
    with ModelServer(
        model.predict_proba,
        FEATURES,
        default_accept="application/json",
        json_records=json_records,
    ) as served:
        endpoint = json_loader(
            served,
            content_template=content_template,
            record_template=record_template,
            probability_attribute=probability,
            max_concurrency=3,
        ).load(None)

        # when both are explained with Kernel SHAP
        explainer = KernelExplainer(samples.iloc[:4], num_samples=100, seed=3)
        remote = explainer.explain(endpoint.predict, samples)
        local = explainer.explain(lambda frame: model.predict_proba(frame)[:, 1], samples)

    # then the SHAP values agree to the last bits
    np.testing.assert_allclose(remote.values, local.values, **SHAP_ROUNDING)
    np.testing.assert_allclose(remote.predictions, local.predictions, **ROUNDING)
    rows = served.rows_received
    expected = 1 if content_template == "$record" else 5
    assert max(rows) == expected, f"requests of at most {expected} rows, got {max(rows)}"


def test_json_numbers_are_exact_and_missing_values_are_null() -> None:
    # given awkward floats, integers, a missing value, an infinity and a text column
    rows = pd.DataFrame(
        {
            "a": [0.1, 1e-300, np.nan, 2.0**60],
            "b": [1 / 3, np.inf, 5.0, -0.0],
            "n": [1, 2, 3, -4],
            "t": ["x", 'say "hi"', None, "é"],
        }
    )

    # when they are encoded as key-value records
    body = encode_rows(rows, "application/json", "$records", "$features_kvp")

    # then every float reads back bit for bit, NaN and infinity are null (not JSON), text quoted
    records = json.loads(body)
    assert [record["t"] for record in records] == ["x", 'say "hi"', None, "é"], "text as JSON"
    assert [record["n"] for record in records] == [1, 2, 3, -4], "integers as integers"
    a = [record["a"] for record in records]
    b = [record["b"] for record in records]
    assert a[2] is None and b[1] is None, "NaN and infinity are null"
    expected_a = rows["a"].to_numpy()[[0, 1, 3]]
    assert np.array_equal(np.array([a[0], a[1], a[3]]), expected_a), "a round-trips exactly"
    assert np.array_equal(np.array([b[0], b[2], b[3]]), rows["b"].to_numpy()[[0, 2, 3]]), "b"
    assert np.signbit(b[3]), "-0.0 keeps its sign"


def test_feature_list_encoding_matches_json_dumps_for_random_floats() -> None:
    # given random floats of every magnitude
    rng = np.random.default_rng(7)
    values = rng.standard_normal((50, 4)) * 10.0 ** rng.integers(-20, 20, (50, 4))
    rows = pd.DataFrame(values, columns=list("abcd"))

    # when encoded as a list of feature lists
    body = encode_rows(rows, "application/json", '{"instances": $records}', "$features")

    # then the document is json.dumps' (the independent answer) up to number spelling, exactly
    assert json.loads(body) == json.loads(json.dumps({"instances": values.tolist()})), "equal"
    assert np.array_equal(np.array(json.loads(body)["instances"]), values), "bit for bit"


@pytest.mark.parametrize(
    ("content_template", "record_template", "problem"),
    [
        ("$records", None, r"content_template and record_template"),
        ('{"rows": 1}', "$features", r"\$records .* or \$record"),
        ("[$record, $records]", "$features", r"exactly once"),
        ("$records", "{}", r"\$features, \$features_kvp or one"),
        ("$records", "[$features, $features]", r"\$features exactly once"),
        ("$records", '{"a": $features_kvp, "b": "${b}"}', r"\$features_kvp alone"),
        ("$features", "$features", r"belongs in record_template"),
        ("$records", "$records", r"belong in content_template"),
    ],
)
def test_malformed_templates_are_refused_naming_the_template(
    content_template: str, record_template: str | None, problem: str
) -> None:
    # given application/json settings with a malformed template
    settings = {
        "url": "http://127.0.0.1:9/invocations",
        "content_type": "application/json",
        "content_template": content_template,
        "record_template": record_template,
    }
    # when the loader is built, then it is refused saying what is wrong
    with pytest.raises(ValueError, match=problem):
        EndpointLoader(**settings)


def test_named_placeholders_must_name_every_feature_and_nothing_else() -> None:
    # given a record template naming an unknown feature, and one leaving a feature out
    unknown = parse_templates("$records", '{"A": "${A}", "B": "${B}", "Z": "${Z}"}')
    partial = parse_templates("$records", '{"A": "${A}"}')

    # when the guide's rows are encoded, then each is a one-line config error naming the feature
    with pytest.raises(ConfigError, match=r'record_template: "\$\{Z\}" names no feature'):
        unknown.encode(GUIDE_ROWS)
    with pytest.raises(ConfigError, match=r"no placeholder for feature\(s\) \['B'\]"):
        partial.encode(GUIDE_ROWS)


def test_record_template_is_refused_for_other_content_types() -> None:
    with pytest.raises(ValueError, match="record_template is only used with application/json"):
        EndpointLoader(
            url="http://127.0.0.1:9/invocations", content_type="text/csv", record_template="$x"
        )


def test_a_short_json_response_names_the_request_batch(
    server: ModelServer, samples: pd.DataFrame
) -> None:
    # given a server that drops the last record of every answer
    server.short_response()
    endpoint = json_loader(server).load(None)

    # when rows are scored, then the error names the batch, its rows and the count
    with pytest.raises(EndpointError) as raised:
        endpoint.predict(samples)
    message = str(raised.value)
    assert "request batch" in message and "sample rows 0-4" in message, message
    assert "response has 4 records, expected 5" in message, message


def test_garbage_and_missing_attributes_are_endpoint_errors(
    server: ModelServer, samples: pd.DataFrame
) -> None:
    # given a loader reading a path the answers do not hold, and a server answering HTML
    missing = json_loader(server, probability_attribute="outputs[*].probability").load(None)
    with pytest.raises(EndpointError, match=r"expected a list of 5 records' scores at"):
        missing.predict(samples)
    server.garbage()
    with pytest.raises(EndpointError, match=r"response is not JSON: <html>oops</html>"):
        json_loader(server).load(None).predict(samples)


def test_decoding_finds_scores_per_record_by_index_and_in_single_answers() -> None:
    where = "http://h/invocations: request batch 1"
    # a path that finds nothing in a list of records is applied to each record
    per_record = decode_json_scores(b'[{"score": 0.25}, {"score": 0.5}]', "score", 2, False, where)
    assert per_record.tolist() == [[0.25], [0.5]], "per-record path"
    # an index picks a column of each record's scores
    by_index = decode_json_scores(b"[[0.9, 0.1], [0.2, 0.8]]", 1, 2, False, where)
    assert by_index.tolist() == [[0.1], [0.8]], "column 1 of each record"
    # a single record's answer may hold every class's score
    single = decode_json_scores(b'{"scores": [0.2, 0.3, 0.5]}', "scores", 1, True, where)
    assert single.tolist() == [[0.2, 0.3, 0.5]], "one record, three scores"
    with pytest.raises(EndpointError, match=r"record 2 is not a number .*\(set probability_attr"):
        decode_json_scores(b'[0.5, {"x": 1}]', None, 2, False, where)
    with pytest.raises(EndpointError, match=r"record 2 has no 'score'"):
        decode_json_scores(b'[{"score": 0.5}, {"x": 1}]', "score", 2, False, where)
    with pytest.raises(EndpointError, match=r"response has no 'score'"):
        decode_json_scores(b'{"x": 1}', "score", 1, True, where)
    # a projection drops missing values: the count no longer matches
    with pytest.raises(EndpointError, match=r"response has 1 records, expected 2"):
        decode_json_scores(b'[{"score": 0.5}, {"x": 1}]', "[*].score", 2, False, where)


def test_label_attribute_is_explained_without_a_probability_attribute(
    model: LogisticRegression, samples: pd.DataFrame
) -> None:
    # given a JSON endpoint and a loader naming only the label path (a regressor's "score")
    with ModelServer(model.predict_proba, FEATURES, default_accept="application/json") as served:
        endpoint = json_loader(
            served, probability_attribute=None, label_attribute="predictions[*].score"
        ).load(None)
        scores = endpoint.predict(samples)
    # then the label path's values are the scores
    np.testing.assert_allclose(scores[:, 0], model.predict_proba(samples)[:, 1], **ROUNDING)
    with pytest.raises(ValueError, match="label_attribute is a JMESPath into JSON responses"):
        EndpointLoader(url=served.url, label_attribute="score")


def test_yaml_explanations_job_with_a_json_endpoint_loader(
    tmp_path: Path, model: LogisticRegression, samples: pd.DataFrame
) -> None:
    # given an ExplanationsJob YAML whose loader speaks application/json
    samples.to_csv(tmp_path / "samples.csv", index=False)
    baseline = samples.iloc[:3].to_numpy().tolist()
    with ModelServer(model.predict_proba, FEATURES) as served:
        job = tmp_path / "job.yaml"
        job.write_text(
            "job:\n"
            "  KIND: ExplanationsJob\n"
            f"  inputs_samples: {{KIND: CsvReader, path: {tmp_path / 'samples.csv'}}}\n"
            f"  models_explanations: {{KIND: CsvWriter, path: {tmp_path / 'out/models.csv'}}}\n"
            f"  samples_explanations: {{KIND: CsvWriter, path: {tmp_path / 'out/samples.csv'}}}\n"
            "  loader:\n"
            "    KIND: EndpointLoader\n"
            f"    url: {served.url}\n"
            "    content_type: application/json\n"
            "    accept_type: application/json\n"
            "    content_template: '{\"instances\": $records}'\n"
            "    record_template: $features_kvp\n"
            "    probability_attribute: predictions[*].score\n"
            "    label_headers: [positive]\n"
            "    rows_per_request: 50\n"
            f"  explainer: {{KIND: KernelExplainer, num_samples: 100, seed: 2, "
            f"baseline: {json.dumps(baseline)}}}\n"
        )
        # when it runs
        code = main(["run", str(job)])
        sent = json.loads(served.received[0].body)

    # then it succeeds with the in-process values, and the requests are the template's
    assert code == EXIT_OK, "the YAML job with a JSON endpoint must succeed"
    assert set(sent) == {"instances"} and set(sent["instances"][0]) == set(FEATURES), sent
    out = pd.read_csv(tmp_path / "out" / "samples.csv")
    explainer = KernelExplainer(samples.iloc[:3], num_samples=100, seed=2)
    local = explainer.explain(lambda frame: model.predict_proba(frame)[:, 1], samples)
    np.testing.assert_allclose(out[FEATURES].to_numpy(), local.values[:, 0, :], **SHAP_ROUNDING)
    assert set(out["label"]) == {"positive"}, "label_headers name the output"


def test_yaml_json_loader_without_record_template_is_a_config_error(tmp_path: Path) -> None:
    # given a YAML loader with application/json but no record_template
    pd.DataFrame([[0.1, 0.2, 0.3]], columns=FEATURES).to_csv(tmp_path / "s.csv", index=False)
    job = tmp_path / "job.yaml"
    job.write_text(
        "job:\n"
        "  KIND: ExplanationsJob\n"
        f"  inputs_samples: {{KIND: CsvReader, path: {tmp_path / 's.csv'}}}\n"
        f"  models_explanations: {{KIND: CsvWriter, path: {tmp_path / 'm.csv'}}}\n"
        f"  samples_explanations: {{KIND: CsvWriter, path: {tmp_path / 'x.csv'}}}\n"
        "  loader: {KIND: EndpointLoader, url: 'http://127.0.0.1:9/invocations', "
        "content_type: application/json, content_template: $records}\n"
    )
    # when it is validated, then exit 2
    assert main(["validate", str(job)]) == EXIT_INVALID_CONFIG, "a config error, exit 2"
