# Sourced by the walk-throughs (bash, from the repository root, with BIN and PORT set):
# `start_server ACCEPT [MODEL [OPTION...]]` serves MODEL (default models:/clarify_seed@Champion) on
# 127.0.0.1:$PORT like a SageMaker endpoint (answering in ACCEPT unless a request says otherwise)
# and waits until it answers /ping; `stop_server` stops it, and it is stopped on exit whatever
# happens.
start_server() {  # $1: default response type, $2: the model's URI, then more server options
    $BIN/python -m explainops.testing.model_server \
        --model "${2:-models:/clarify_seed@Champion}" --port "$PORT" --accept "$1" "${@:3}" &
    SERVER=$!
    for _ in $(seq 50); do
        $BIN/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
            "http://127.0.0.1:$PORT/ping" >/dev/null 2>&1 && return
        sleep 0.2
    done
    echo "the model server did not start on 127.0.0.1:$PORT" >&2
    exit 1
}

stop_server() {
    if [ -n "${SERVER:-}" ]; then
        kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
        SERVER=
    fi
}

trap stop_server EXIT
