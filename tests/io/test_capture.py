"""CaptureReader: SageMaker endpoint data-capture files read as a data set, and explained."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import explainops
from explainops.errors import InputError
from explainops.io.capture import CaptureReader, capture_reader, is_capture
from explainops.io.readers import ReaderKind

from ..conftest import RegistryFixture
from ..explainers.brute_force import shapley_table

ENDPOINT = "capture/my-endpoint/AllTraffic"


def capture_record(
    content_type: str, body: str, event_id: str, time: str, *, base64_encoded: bool = False
) -> str:
    """One capture line as SageMaker writes it: the request, the response and the metadata."""
    encoding = "CSV" if content_type == "text/csv" else "JSON"
    if base64_encoded:
        body, encoding = base64.b64encode(body.encode()).decode("ascii"), "BASE64"
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": body,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "text/csv; charset=utf-8",
                    "mode": "OUTPUT",
                    "data": "0.5",
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {"eventId": event_id, "inferenceTime": time},
            "eventVersion": "0",
        }
    )


def csv_body(rows: np.ndarray) -> str:
    return "\n".join(",".join(repr(float(value)) for value in row) for row in rows)


def json_lines_body(rows: np.ndarray) -> str:
    return "\n".join(json.dumps({"features": [float(value) for value in row]}) for row in rows)


class CaptureFolder:
    """Capture files in SageMaker's hourly layout holding ``rows``, and the rows as a table.

    Hour 13: CSV requests (one of three rows, one base64-encoded); hour 14: JSON Lines requests
    (one of two records, one base64-encoded) and one ``application/json`` request.
    """

    def __init__(self, tmp_path: Path, rows: pd.DataFrame) -> None:
        self.root = tmp_path / ENDPOINT
        values = rows.to_numpy()
        self.expected_ids: list[str] = []
        self.expected_times: list[str] = []
        hour13 = [
            ("text/csv", values[0:1], False),
            ("text/csv", values[1:4], False),  # one request, three rows
            ("text/csv", values[4:5], True),  # base64
            ("text/csv", values[5:8], False),
        ]
        hour14 = [
            ("application/jsonlines", values[8:10], False),  # one request, two records
            ("application/jsonlines", values[10:11], True),  # base64
            ("application/json", values[11:12], False),
            ("application/jsonlines", values[12:16], False),
        ]
        files = [self.lines(13, hour13, start=0), self.lines(14, hour14, start=len(hour13))]
        # Written 14h first: the reader must order files by path (time), not by creation.
        for hour, lines in reversed(files):
            folder = self.root / "2026" / "01" / "05" / f"{hour:02d}"
            folder.mkdir(parents=True)
            (folder / f"{hour:02d}-30-250-1f2e3d4c.jsonl").write_text("\n".join(lines) + "\n")
        self.rows = rows.iloc[:16].reset_index(drop=True)

    def lines(
        self, hour: int, requests: list[tuple[str, np.ndarray, bool]], start: int
    ) -> tuple[int, list[str]]:
        lines = []
        for number, (content_type, rows, encoded) in enumerate(requests, start=start):
            event = f"event-{number:03d}"
            time = f"2026-01-05T{hour:02d}:{number:02d}:30.250Z"
            body = (
                csv_body(rows)
                if content_type == "text/csv"
                else json.dumps({"features": [float(value) for value in rows[0]]})
                if content_type == "application/json"
                else json_lines_body(rows)
            )
            lines.append(capture_record(content_type, body, event, time, base64_encoded=encoded))
            self.expected_ids += [f"{event}:{offset}" for offset in range(len(rows))]
            self.expected_times += [time] * len(rows)
        return hour, lines


@pytest.fixture
def capture(tmp_path: Path, test_registry: RegistryFixture) -> CaptureFolder:
    return CaptureFolder(tmp_path, test_registry.cancer.iloc[200:])


def test_capture_folder_reads_every_request_in_time_order(
    capture: CaptureFolder, test_registry: RegistryFixture
) -> None:
    # given the hourly capture folder of CSV, JSON Lines and JSON requests
    features = list(test_registry.cancer.columns)
    reader = CaptureReader(
        path=str(capture.root),
        headers=features,
        features_attribute="features",
        time_column="inference_time",
        batch_size=5,
    )
    # when read in batches of 5
    batches = list(reader.batches())
    frame = pd.concat(batches)
    # then every row is there, in time order, with its request's id and time
    assert [len(batch) for batch in batches] == [5, 5, 5, 1], "batches of batch_size rows"
    np.testing.assert_array_equal(
        frame[features].to_numpy(), capture.rows.to_numpy(), err_msg="the captured rows"
    )
    assert list(frame["sample_id"]) == capture.expected_ids, "eventId:row ids, in time order"
    expected_times = pd.to_datetime(capture.expected_times, utc=True)
    assert list(frame["inference_time"]) == list(expected_times), "inference times in UTC"
    assert list(frame.index) == list(range(16)), "rows indexed by position"


# The brute-force reference calls the model on bare arrays.
@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_capture_explains_to_the_values_of_the_same_rows_from_a_csv(
    tmp_path: Path, capture: CaptureFolder, test_registry: RegistryFixture
) -> None:
    # given the captured requests, and the same rows (with the same ids) in a CSV
    features = list(test_registry.cancer.columns)
    reference = capture.rows.assign(sample_id=capture.expected_ids)
    reference.to_csv(tmp_path / "rows.csv", index=False)
    background = test_registry.cancer.iloc[:2].to_numpy().tolist()

    def explain(reader: dict[str, Any], name: str) -> pd.DataFrame:
        explainops.run(
            {
                "job": {
                    "KIND": "ExplanationsJob",
                    "inputs_samples": reader,
                    "models_explanations": {
                        "KIND": "CsvWriter",
                        "path": str(tmp_path / name / "models.csv"),
                    },
                    "samples_explanations": {
                        "KIND": "ParquetWriter",
                        "path": str(tmp_path / name / "samples.parquet"),
                    },
                    "registry": {"name": "cancer", "tracking_uri": test_registry.tracking_uri},
                    "explainer": {"KIND": "ExactExplainer", "baseline": background},
                }
            }
        )
        return pd.read_parquet(tmp_path / name / "samples.parquet")

    # when an ExplanationsJob explains each
    from_capture = explain(
        {
            "KIND": "CaptureReader",
            "path": f"{capture.root}/2026/01/0",  # a prefix of the day folders
            "headers": features,
            "features_attribute": "features",
            "batch_size": 7,
        },
        "capture",
    )
    from_csv = explain(
        {"KIND": "CsvReader", "path": str(tmp_path / "rows.csv"), "id_column": "sample_id"}, "csv"
    )

    # then the explanations are the same, row by row, and the textbook Shapley values
    assert list(from_capture["sample_id"]) == list(from_csv["sample_id"]), "same ids, same order"
    assert list(from_capture["label"]) == list(from_csv["label"]), "same labels"
    np.testing.assert_allclose(
        from_capture[[*features, "base_value", "prediction"]].to_numpy(),
        from_csv[[*features, "base_value", "prediction"]].to_numpy(),
        rtol=1e-12,
        atol=0,
        err_msg="capture vs CSV",
    )
    expected = shapley_table(
        test_registry.models["cancer"].predict_proba,
        capture.rows.to_numpy(),
        np.array(background),
        logit=False,
    )
    np.testing.assert_allclose(
        from_capture[features].to_numpy(),
        expected.reshape(-1, len(features)),
        atol=1e-9,
        err_msg="capture vs brute-force Shapley values",
    )


BAD_RECORDS = [
    ("not json", "invalid JSON"),
    (json.dumps({"captureData": {"endpointOutput": {}}}), "no captureData.endpointInput"),
    (
        capture_record("text/csv", "1,2", "e", "2026-01-05T00:00:00Z").replace(
            '"CSV"', '"BASE64"', 1
        ),
        "not base64",
    ),
    (capture_record("text/csv", "1,2,3", "e", "2026-01-05T00:00:00Z"), "has 3 values, expected 2"),
    (capture_record("image/png", "xx", "e", "2026-01-05T00:00:00Z"), "'image/png'"),
    (
        capture_record("application/jsonlines", '{"other": [1, 2]}', "e", "2026-01-05T00:00:00Z"),
        "no feature list or object at features_attribute 'features'",
    ),
    (capture_record("text/csv", "1,2", "e", "yesterday"), "'yesterday' is not an ISO 8601"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_RECORDS)
def test_a_bad_capture_record_is_an_error_naming_the_file_and_line(
    tmp_path: Path, bad: str, reason: str
) -> None:
    # given a capture file whose third line is bad
    good = capture_record("text/csv", "1,2", "e0", "2026-01-05T00:00:00Z")
    path = tmp_path / "capture.jsonl"
    path.write_text(f"{good}\n\n{bad}\n{good}\n")
    reader = CaptureReader(
        path=str(path),
        headers=["a", "b"],
        features_attribute="features",
        time_column="time",
    )
    # when read, then the error names the file, the line and the reason
    with pytest.raises(InputError) as error:
        reader.read()
    assert f"{path}: line 3: " in str(error.value), str(error.value)
    assert reason in str(error.value), str(error.value)


def test_a_folder_without_capture_files_is_an_error(tmp_path: Path) -> None:
    # given a folder holding only a CSV
    (tmp_path / "rows.csv").write_text("a\n1\n")
    # when read as capture, then the error says what was looked for
    with pytest.raises(InputError, match=r"no capture files \(\*\.jsonl\) found"):
        CaptureReader(path=str(tmp_path)).read()


def test_clarify_helpers_tell_capture_from_a_data_set(
    tmp_path: Path, capture: CaptureFolder
) -> None:
    # given a capture folder and a JSON Lines data set
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"features": [1, 2]}\n')
    # then only the capture is recognised, and its reader numbers rows as Clarify data sets do
    assert is_capture(str(capture.root)), "a capture folder"
    assert not is_capture(str(plain)), "a plain JSON Lines data set"
    assert not is_capture(str(tmp_path / "missing")), "nothing there"
    reader = capture_reader(
        str(capture.root), headers=None, features_attribute="features", batch_size=100
    )
    frame = reader.read()
    assert reader.id_column is None and "sample_id" not in frame, "no id column"
    assert list(frame.columns) == [f"column_{index}" for index in range(8)], "Clarify's names"


def test_capture_reader_is_selected_by_its_kind() -> None:
    import pydantic

    # when a configuration names KIND: CaptureReader
    adapter = pydantic.TypeAdapter(ReaderKind)
    reader = adapter.validate_python({"KIND": "CaptureReader", "path": "s3://bucket/capture/"})
    # then it is a CaptureReader with its defaults
    assert isinstance(reader, CaptureReader), type(reader)
    assert reader.id_column == "sample_id" and reader.time_column is None, reader
