#!/usr/bin/env bash
# The "Data on S3" walk-through of docs/clarify.md, end to end: an S3-compatible server on
# 127.0.0.1 (moto), the Clarify example's config, data set and a baseline file uploaded to it, and
# `explainops clarify` reading and writing only s3:// URIs. Nothing reaches AWS: the credentials
# are dummies and AWS_ENDPOINT_URL points every client at the local server.
# Run from the repository root after `make install` (moto comes with the dev extra; in production
# install explainops[s3] and use your usual AWS environment instead of the exports below).
set -euo pipefail
export MLFLOW_DISABLE_TELEMETRY=true
BIN=${BIN:-.venv/bin}
S3_PORT=${S3_PORT:-5055}
BUCKET=explainops-walkthrough
OUT=outputs/clarify/s3
mkdir -p "$OUT"

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 MLFLOW_S3_ENDPOINT_URL

$BIN/moto_server -H 127.0.0.1 -p "$S3_PORT" >"$OUT/moto_server.log" 2>&1 &
S3_SERVER=$!
trap 'kill $S3_SERVER 2>/dev/null && wait $S3_SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    $BIN/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && break
    sleep 0.2
done

$BIN/python demo/register_clarify_model.py

# The seed's CSV config, with its baseline row moved to a file on S3 and the local SHAP values
# saved; then the bucket, the config, the data set and the baseline file.
$BIN/python - "$BUCKET" <<'PYTHON'
import json
import sys

import fsspec

bucket = sys.argv[1]
s3 = fsspec.filesystem("s3")
s3.mkdir(bucket)  # creates the bucket
with open("examples/clarify/analysis_config_csv.json", encoding="utf-8") as handle:
    config = json.load(handle)
baseline = config["methods"]["shap"]["baseline"][0]
config["methods"]["shap"]["baseline"] = f"s3://{bucket}/clarify/baseline.csv"
config["methods"]["shap"]["save_local_shap_values"] = True
with s3.open(f"{bucket}/clarify/analysis_config.json", "w") as handle:
    json.dump(config, handle)
with s3.open(f"{bucket}/clarify/baseline.csv", "w") as handle:
    handle.write(",".join(config["headers"]) + "\n" + ",".join(map(repr, baseline)) + "\n")
s3.put_file("examples/clarify/dataset.csv", f"{bucket}/clarify/dataset.csv")
PYTHON

$BIN/explainops clarify --config "s3://$BUCKET/clarify/analysis_config.json" \
    --dataset "s3://$BUCKET/clarify/dataset.csv" --output "s3://$BUCKET/clarify/out" \
    --model models:/clarify_seed@Champion --probability-attribute 1

$BIN/python - "$BUCKET" <<'PYTHON'
import sys

import fsspec

bucket = sys.argv[1]
s3 = fsspec.filesystem("s3")
print("--- objects under", f"s3://{bucket}/clarify/out/")
for key in sorted(s3.find(f"{bucket}/clarify/out")):
    print(f"s3://{key}")
print(f"--- s3://{bucket}/clarify/out/analysis.json")
print(s3.cat_file(f"{bucket}/clarify/out/analysis.json").decode())
PYTHON
