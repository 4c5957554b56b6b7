#!/usr/bin/env bash
# The Explainability Monitor walk-through of docs/clarify.md, end to end: the seed's analysis
# config, a baseline analysis.json in exactly Clarify's shape and two windows, checked as SageMaker
# Model Monitor checks them, against the model behind an endpoint and in process.
# Run from the repository root after `make install`.
set -euo pipefail
source "$(dirname "$0")/serve.sh"
export MLFLOW_DISABLE_TELEMETRY=true
BIN=.venv/bin
PORT=${PORT:-8765}
MONITOR=examples/clarify/monitor
OUT=outputs/clarify/monitor

$BIN/python demo/register_clarify_model.py

start_server text/csv

check() {  # $1: window, $2: output folder, then the model arguments
    local window=$1 output=$2
    shift 2
    $BIN/explainops clarify --config examples/clarify/analysis_config_csv.json \
        --dataset "$MONITOR/$window.csv" --output "$OUT/$output" \
        --baseline-constraints "$MONITOR/baseline_analysis.json" --probability-attribute 1 "$@"
}

# 1. A clean window and a drifted one (feature_2's feed stuck, feature_3 on a wider scale),
#    against the endpoint, as Model Monitor runs them.
check window_clean clean --endpoint "http://127.0.0.1:$PORT/invocations"
check window_drifted drifted --endpoint "http://127.0.0.1:$PORT/invocations"
# 2. The same drifted window in process: the same verdict, without a server.
check window_drifted drifted_in_process --model models:/clarify_seed@Champion
# 3. A baseline written by explainops works as well: the clean run's analysis.json.
$BIN/explainops clarify --config examples/clarify/analysis_config_csv.json \
    --dataset "$MONITOR/window_drifted.csv" --output "$OUT/against_clean" \
    --baseline-constraints "$OUT/clean/analysis.json" --probability-attribute 1 \
    --endpoint "http://127.0.0.1:$PORT/invocations"

for run in clean drifted drifted_in_process against_clean; do
    echo "--- $OUT/$run/constraint_violations.json"; cat "$OUT/$run/constraint_violations.json"
done
