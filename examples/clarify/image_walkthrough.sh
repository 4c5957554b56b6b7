#!/usr/bin/env bash
# The image walk-through of docs/clarify.md, end to end: train and register a digit classifier on
# scikit-learn's bundled digits (clarify_digits@Champion, a pyfunc of raw image bytes), explain
# six PNG images by their SLIC segments in process, then through the model served on 127.0.0.1
# (image/png requests, JSON answers), and compare the two.
# Run from the repository root after `make install`.
set -euo pipefail
source "$(dirname "$0")/serve.sh"
export MLFLOW_DISABLE_TELEMETRY=true
BIN=${BIN:-.venv/bin}
PORT=${PORT:-8768}
OUT=outputs/clarify/images
CONFIG=examples/clarify/images/analysis_config.json

$BIN/python demo/register_image_model.py

$BIN/explainops clarify --config "$CONFIG" --dataset "$OUT/data" --output "$OUT/local" \
    --model models:/clarify_digits@Champion

start_server application/json models:/clarify_digits@Champion
$BIN/explainops clarify --config "$CONFIG" --dataset "$OUT/data" --output "$OUT/endpoint" \
    --endpoint "http://127.0.0.1:$PORT/invocations"
stop_server

$BIN/python - "$OUT" <<'PY'
import pathlib, sys
import numpy as np
out = pathlib.Path(sys.argv[1])
gaps = [
    np.abs(np.load(path)["values"] - np.load(out / "endpoint" / "explanations_shap" / path.name)["values"]).max()
    for path in sorted((out / "local" / "explanations_shap").glob("*.npz"))
]
print(f"in process vs endpoint: largest difference of a segment's SHAP value {max(gaps):.1e}")
PY
echo "--- heat maps: $OUT/local/explanations_shap/heatmaps/*.png"
echo "--- the report: $OUT/local/report.html (and report.pdf, report.ipynb)"
