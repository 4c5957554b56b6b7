#!/usr/bin/env bash
# The object detection walk-through of docs/clarify.md, end to end: train and register a digit
# detector on scikit-learn's bundled digits (clarify_digit_detector@Champion, a pyfunc of raw image
# bytes answering boxes), explain each detected object's score by the sheets' SLIC segments in
# process, then through the detector served on 127.0.0.1 (image/png requests, JSON answers in the
# SageMaker object detection format), and compare the two.
# Run from the repository root after `make install`.
set -euo pipefail
source "$(dirname "$0")/serve.sh"
export MLFLOW_DISABLE_TELEMETRY=true
BIN=${BIN:-.venv/bin}
PORT=${PORT:-8769}
OUT=outputs/clarify/detection
CONFIG=examples/clarify/detection/analysis_config.json

$BIN/python demo/register_detector_model.py

$BIN/explainops clarify --config "$CONFIG" --dataset "$OUT/data" --output "$OUT/local" \
    --model models:/clarify_digit_detector@Champion

start_server application/json models:/clarify_digit_detector@Champion --documents
$BIN/explainops clarify --config "$CONFIG" --dataset "$OUT/data" --output "$OUT/endpoint" \
    --endpoint "http://127.0.0.1:$PORT/invocations"
stop_server

$BIN/python - "$OUT" <<'PY'
import json, pathlib, sys
import numpy as np
out = pathlib.Path(sys.argv[1])
objects = json.loads((out / "local" / "analysis.json").read_text())["explanations"]["kernel_shap"]
for image, found in objects.items():
    described = ", ".join(f"{name} (score {entry['score']:.3f})" for name, entry in found.items())
    print(f"{image}: {described or 'no object'}")
gaps = [
    np.abs(np.load(path)["values"] - np.load(out / "endpoint" / "explanations_shap" / path.name)["values"]).max(initial=0.0)
    for path in sorted((out / "local" / "explanations_shap").glob("*.npz"))
]
print(f"in process vs endpoint: largest difference of a segment's SHAP value {max(gaps):.1e}")
PY
echo "--- heat maps, one per object: $OUT/local/explanations_shap/heatmaps/*.png"
echo "--- the report: $OUT/local/report.html (and report.pdf, report.ipynb)"
