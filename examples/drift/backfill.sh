#!/usr/bin/env bash
# Drift backfill over two weeks of captured endpoint traffic (docs/drift.md, "Backfill").
# Run from the repository root after `make install`.
set -euo pipefail
export MLFLOW_DISABLE_TELEMETRY=true
BIN=.venv/bin

$BIN/python demo/register_model.py          # wine@Champion in ./mlruns
$BIN/python demo/drift_windows.py           # reference rows and a window of the wine data
$BIN/explainops run --no-progress confs/drift_baseline.yaml
$BIN/python examples/drift/make_capture.py  # 14 days of capture files, feed broken on day 10
rm -f outputs/drift/backfill/history.csv    # a fresh history for the walk-through
$BIN/explainops run --no-progress examples/drift/backfill.yaml

echo "--- outputs/drift/backfill/history.csv (window_id, label, ndcg, verdict)"
$BIN/python -c "
import pandas as pd
table = pd.read_csv('outputs/drift/backfill/history.csv')
print(table[['window_id', 'label', 'n_samples', 'ndcg', 'verdict']].round(4).to_string(index=False))
"
