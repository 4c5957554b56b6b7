#!/usr/bin/env bash
# The Clarify walk-through of docs/clarify.md, end to end: register the model, serve it on
# 127.0.0.1 like a SageMaker endpoint, and run both seed configs (and the CSV one with partial
# dependence) through `explainops clarify`.
# Run from the repository root after `make install` (or use `make demo-clarify`).
set -euo pipefail
export MLFLOW_DISABLE_TELEMETRY=true
BIN=.venv/bin
PORT=${PORT:-8765}
OUT=outputs/clarify

$BIN/python demo/register_clarify_model.py

start_server() {  # $1: default response type
    $BIN/python -m explainops.testing.model_server \
        --model models:/clarify_seed@Champion --port "$PORT" --accept "$1" &
    SERVER=$!
    for _ in $(seq 50); do
        $BIN/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
            "http://127.0.0.1:$PORT/ping" >/dev/null 2>&1 && return
        sleep 0.2
    done
    echo "the model server did not start" >&2; exit 1
}
trap 'kill ${SERVER:-} 2>/dev/null && wait ${SERVER:-} 2>/dev/null || true' EXIT

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
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true

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
