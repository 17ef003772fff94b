#!/usr/bin/env bash
# Start a local Prefect server and a process worker, and deploy every trialflow deployment.
# Leaves both running in the foreground; Ctrl-C stops them. UI: http://127.0.0.1:4200
set -euo pipefail
cd "$(dirname "$0")/.."
export TRIALFLOW_HOME="${TRIALFLOW_HOME:-$PWD/.trialflow}"
export PREFECT_HOME="${PREFECT_HOME:-$TRIALFLOW_HOME/prefect}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_API_URL="${PREFECT_API_URL:-http://127.0.0.1:4200/api}"
mkdir -p "$PREFECT_HOME"
BIN=.venv/bin
$BIN/prefect server start --host 127.0.0.1 --port 4200 > "$TRIALFLOW_HOME/prefect-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER ${WORKER:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -sf "$PREFECT_API_URL/health" > /dev/null && break
  sleep 1
done
$BIN/prefect work-pool create trialflow-process --type process --overwrite > /dev/null
$BIN/prefect --no-prompt deploy --all
$BIN/prefect deployment ls
echo "Prefect UI: http://127.0.0.1:4200 — starting a worker (Ctrl-C to stop)"
$BIN/prefect worker start --pool trialflow-process &
WORKER=$!
wait $WORKER
