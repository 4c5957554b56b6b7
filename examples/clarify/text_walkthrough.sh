#!/usr/bin/env bash
# The text walk-through of docs/clarify.md, end to end: train and register a TF-IDF + logistic
# regression review classifier (clarify_text@Champion), explain 40 reviews token by token in
# process, then the same reviews through the model served on 127.0.0.1 (text/csv requests with
# quoted texts), and compare the two.
# Run from the repository root after `make install`.
set -euo pipefail
source "$(dirname "$0")/serve.sh"
export MLFLOW_DISABLE_TELEMETRY=true
BIN=${BIN:-.venv/bin}
PORT=${PORT:-8767}
OUT=outputs/clarify/text
CONFIG=examples/clarify/text/analysis_config.json

$BIN/python demo/register_text_model.py

# In process: the registered pyfunc takes a DataFrame with a "text" column of raw strings.
$BIN/explainops clarify --config "$CONFIG" --dataset "$OUT/reviews.csv" --output "$OUT/local" \
    --model models:/clarify_text@Champion

# Behind an endpoint that answers both classes' probabilities as CSV ("0.12,0.88").
start_server text/csv models:/clarify_text@Champion --csv-layout scores
$BIN/explainops clarify --config "$CONFIG" --dataset "$OUT/reviews.csv" --output "$OUT/endpoint" \
    --endpoint "http://127.0.0.1:$PORT/invocations"
stop_server

$BIN/python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def values(folder):
    return [
        [unit["attribution"] for unit in json.loads(line)["explanations"][0]["attributions"]]
        for line in open(f"{out}/{folder}/explanations_shap/out.jsonl")
    ]
local, remote = values("local"), values("endpoint")
gap = max(abs(a - b) for x, y in zip(local, remote) for u, v in zip(x, y) for a, b in zip(u, v))
print(f"in process vs endpoint: largest difference of a token's SHAP value {gap:.1e}")
top = json.load(open(f"{out}/local/analysis.json"))["explanations"]["kernel_shap"]
print("top tokens for 'positive':", list(top["positive"]["global_top_shap_text"]["text"])[:10])
PY
echo "--- outputs: $OUT/local/analysis.json, $OUT/local/explanations_shap/out.jsonl (and units.parquet)"
echo "--- the report: $OUT/local/report.html (and report.pdf, report.ipynb)"
