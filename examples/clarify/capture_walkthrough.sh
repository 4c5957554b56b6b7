#!/usr/bin/env bash
# The capture-file walk-through of docs/clarify.md, end to end: the four rows of the seed's CSV
# data set written as a SageMaker endpoint's data-capture files (three hourly folders, one request a
# row, every other one base64-encoded), explained with `explainops clarify --dataset FOLDER`
# against the model served on 127.0.0.1, as the Explainability Monitor explains captured traffic.
# The analysis must equal the CSV run's: same rows, same model, same config.
# Run from the repository root after `make install`.
set -euo pipefail
source "$(dirname "$0")/serve.sh"
export MLFLOW_DISABLE_TELEMETRY=true
BIN=.venv/bin
PORT=${PORT:-8767}
OUT=outputs/clarify/capture
CAPTURE=data/clarify/capture/clarify-endpoint/AllTraffic
ENDPOINT="http://127.0.0.1:$PORT/invocations"

$BIN/python demo/register_clarify_model.py

# The capture files: CAPTURE/2026/01/05/13/*.jsonl and .../14/*.jsonl, one JSON line a request
# ({"captureData": {"endpointInput": {"data": "0.58...,0.66...,0.31...", ...}}, ...}), written
# with the record format of examples/drift/make_capture.py.
rm -rf "$CAPTURE"
$BIN/python - "$CAPTURE" <<'PYTHON'
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, "examples/drift")
from make_capture import record  # noqa: E402

capture = Path(sys.argv[1])
rows = pd.read_csv("examples/clarify/dataset.csv", header=None).to_numpy()
start = pd.Timestamp("2026-01-05T13:36:30.250Z")
files: dict[Path, list[str]] = {}
for number, row in enumerate(rows):
    time = start + pd.Timedelta(minutes=30 * number)
    path = capture / time.strftime("%Y/%m/%d/%H") / f"{time:%M-%S}-{time.microsecond // 1000:03d}-seed.jsonl"
    event_id = f"00000000-0000-4000-8000-{number:012d}"
    files.setdefault(path, []).append(record(row, event_id, time, encoded=number % 2 == 1))
for path, lines in files.items():
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path} ({len(lines)} requests)")
PYTHON

start_server text/csv

# The capture folder as the data set: the seed's CSV config, unchanged.
$BIN/explainops clarify --config examples/clarify/analysis_config_csv.json \
    --dataset "$CAPTURE" --output "$OUT/captured" \
    --endpoint "$ENDPOINT" --probability-attribute 1
# The same rows from the CSV data set, for comparison.
$BIN/explainops clarify --config examples/clarify/analysis_config_csv.json \
    --dataset examples/clarify/dataset.csv --output "$OUT/csv" \
    --endpoint "$ENDPOINT" --probability-attribute 1

echo "--- $OUT/captured/analysis.json"; cat "$OUT/captured/analysis.json"
$BIN/python - "$OUT" <<'PYTHON'
import json
import sys

out = sys.argv[1]
captured, csv = (
    json.load(open(f"{out}/{run}/analysis.json", encoding="utf-8"))["explanations"]
    for run in ("captured", "csv")
)
if captured != csv:
    sys.exit(f"the capture files' analysis differs from the CSV data set's:\n{captured}\n{csv}")
print("the capture files' analysis.json equals the CSV data set's")
PYTHON
