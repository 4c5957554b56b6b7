"""Write two weeks of SageMaker data-capture files for the drift demo's wine model.

``data/demo/capture/wine-endpoint/AllTraffic/YYYY/MM/DD/HH/*.jsonl``: 14 days from 2026-01-01,
100 requests a day (one CSV row each, every third one base64-encoded, as SageMaker writes
content types it was not told are text), drawn from ``data/demo/wine_window.csv``. From day 10
(2026-01-11) on, the upstream feed of ``proline``, ``flavanoids`` and ``color_intensity`` is
broken: they arrive stuck at their reference means, so the Champion's explanations re-rank.

Run from the repository root after ``demo/drift_windows.py`` (``examples/drift/backfill.sh``).
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "demo"
CAPTURE = DATA / "capture" / "wine-endpoint" / "AllTraffic"
DAYS, REQUESTS_PER_DAY, BROKEN_FROM = 14, 100, 10
BROKEN = ["proline", "flavanoids", "color_intensity"]


def record(row: np.ndarray, event_id: str, time: pd.Timestamp, encoded: bool) -> str:
    """One capture line: a one-row CSV request (base64 when ``encoded``) and its metadata."""
    body = ",".join(repr(float(value)) for value in row)
    data, encoding = (
        (base64.b64encode(body.encode()).decode(), "BASE64") if encoded else (body, "CSV")
    )
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": "0",
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": event_id,
                "inferenceTime": time.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{time.microsecond // 1000:03d}Z",
            },
            "eventVersion": "0",
        }
    )


def main() -> None:
    """Write the capture files, one per hour with traffic."""
    rng = np.random.default_rng(11)
    window = pd.read_csv(DATA / "wine_window.csv").drop(columns="wine_id")
    stuck = pd.read_csv(DATA / "wine_reference.csv")[BROKEN].mean()
    start = pd.Timestamp("2026-01-01", tz="UTC")
    files: dict[Path, list[str]] = {}
    for day in range(DAYS):
        rows = window.iloc[rng.integers(0, len(window), REQUESTS_PER_DAY)].reset_index(drop=True)
        if day >= BROKEN_FROM:
            rows = rows.assign(**stuck.to_dict())
        offsets = np.sort(rng.integers(0, 86_400_000, REQUESTS_PER_DAY))
        for number, (values, offset) in enumerate(zip(rows.to_numpy(), offsets, strict=True)):
            time = start + pd.Timedelta(days=day, milliseconds=int(offset))
            folder = CAPTURE / time.strftime("%Y/%m/%d/%H")
            files.setdefault(folder / f"00-00-000-{day:02d}{time.hour:02d}.jsonl", []).append(
                record(values, str(uuid.UUID(int=int(rng.integers(2**62)))), time, number % 3 == 0)
            )
    for path, lines in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    print(
        f"wrote {DAYS * REQUESTS_PER_DAY} captured requests in {len(files)} files under "
        f"{CAPTURE.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
