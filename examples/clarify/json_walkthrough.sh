#!/usr/bin/env bash
# The JSON walk-through of docs/clarify.md, end to end: register the model, serve it on 127.0.0.1
# with application/json requests and answers, and explain a JSON data set and a JSON Lines data
# set through it (content_template/record_template as in Clarify's developer guide).
# Run from the repository root after `make install`.
set -euo pipefail
source "$(dirname "$0")/serve.sh"
export MLFLOW_DISABLE_TELEMETRY=true
BIN=.venv/bin
PORT=${PORT:-8766}
OUT=outputs/clarify/json
EXAMPLES=examples/clarify/json
ENDPOINT="http://127.0.0.1:$PORT/invocations"

$BIN/python demo/register_clarify_model.py

# The server answers {"predictions": [{"label": 1, "score": 0.53...}, ...]} for a list of
# records and {"label": 1, "score": 0.53...} for one record.
start_server application/json

# 1. One JSON document: features at data[*].features, the label at data[*].target; requests
#    {"instances": [[...], ...], "feature_names": [...]}, scores at predictions[*].score.
$BIN/explainops clarify --config "$EXAMPLES/analysis_config_json.json" \
    --dataset "$EXAMPLES/dataset.json" --output "$OUT/document" --endpoint "$ENDPOINT"

# 2. JSON Lines records with a label; requests [{"feature_1": ..., ...}, ...] ($features_kvp).
$BIN/explainops clarify --config "$EXAMPLES/analysis_config_jsonl.json" \
    --dataset "$EXAMPLES/dataset.jsonl" --output "$OUT/records" --endpoint "$ENDPOINT"

# 3. One record per request ($record): {"feature_1": ..., ...}, answered {"label": .., "score": ..}.
$BIN/explainops clarify --config "$EXAMPLES/analysis_config_record.json" \
    --dataset "$EXAMPLES/dataset.jsonl" --output "$OUT/record" --endpoint "$ENDPOINT"

# The same analysis in process, for comparison: the same numbers.
$BIN/explainops clarify --config "$EXAMPLES/analysis_config_json.json" \
    --dataset "$EXAMPLES/dataset.json" --output "$OUT/in_process" \
    --model models:/clarify_seed@Champion --probability-attribute 1

for run in document records record in_process; do
    echo "--- $OUT/$run/analysis.json"; cat "$OUT/$run/analysis.json"
done
