#!/usr/bin/env bash
# The Clarify walk-through of docs/clarify.md, end to end: register the model, serve it on
# 127.0.0.1 like a SageMaker endpoint, and run both seed configs (and the CSV one with partial
# dependence) through `explainops clarify`.
# Run from the repository root after `make install` (or use `make demo-clarify`).
set -euo pipefail
source "$(dirname "$0")/serve.sh"
export MLFLOW_DISABLE_TELEMETRY=true
BIN=.venv/bin
PORT=${PORT:-8765}
OUT=outputs/clarify

$BIN/python demo/register_clarify_model.py


# CSV: the endpoint answers "1,0.5385..."; ProbabilityAttribute 1 selects the probability.
start_server text/csv
$BIN/explainops clarify --config examples/clarify/analysis_config_csv.json \
    --dataset examples/clarify/dataset.csv --output "$OUT/csv" \
    --endpoint "http://127.0.0.1:$PORT/invocations" --probability-attribute 1

# Partial dependence (methods.pdp) and the report (methods.report), same server: the CSV config
# plus "pdp": {"grid_resolution": 4, "top_k_features": 2}, "report": {"name": "report", ...} and
# the local values saved; writes report.html, report.pdf and report.ipynb beside analysis.json.
$BIN/explainops clarify --config examples/clarify/analysis_config_pdp.json \
    --dataset examples/clarify/dataset.csv --output "$OUT/pdp" \
    --endpoint "http://127.0.0.1:$PORT/invocations" --probability-attribute 1
stop_server

# JSON Lines: records {"features": [...]}, answers {"predicted_label": 1, "probability": 0.53...}.
start_server application/jsonlines
$BIN/explainops clarify --config examples/clarify/analysis_config_jsonl.json \
    --dataset examples/clarify/dataset.jsonl --output "$OUT/jsonl" \
    --endpoint "http://127.0.0.1:$PORT/invocations" \
    --features-attribute features --probability-attribute probability

echo "--- $OUT/csv/analysis.json"; cat "$OUT/csv/analysis.json"
echo "--- $OUT/jsonl/analysis.json"; cat "$OUT/jsonl/analysis.json"
echo "--- $OUT/pdp/analysis.json"; cat "$OUT/pdp/analysis.json"
echo "--- the report: $OUT/pdp/report.html (and report.pdf, report.ipynb)"
