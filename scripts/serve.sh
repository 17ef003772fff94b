#!/usr/bin/env bash
# Regenerate prefect.yaml from the designs folder, start a local Prefect server and a process
# worker, and deploy every trialflow deployment. Stays in the foreground; Ctrl-C stops the
# server, the worker and the flow runs it started. UI: http://127.0.0.1:4200
#
#   make serve                                   # home ./.trialflow, port 4200
#   TRIALFLOW_HOME=/srv/trials make serve        # drop folders: /srv/trials/drop/<trial>/
#   PREFECT_SERVER_API_PORT=4300 make serve      # another port
#
# Several coordinators on one PostgreSQL server (both settings are passed through as they are;
# the drivers, psycopg and asyncpg, are installed by `make install`):
#   TRIALFLOW_DATABASE_URL=postgresql+psycopg://USER:PASS@HOST:5432/trialflow \
#   PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://USER:PASS@HOST:5432/prefect \
#   make serve
#
# Every TRIALFLOW_* setting (flows/settings.py) is passed on to the worker, so scheduled runs
# read and write under the same TRIALFLOW_HOME as the commands you type.
set -euo pipefail
# Resolve a relative TRIALFLOW_HOME against the folder `make serve` was run from.
export TRIALFLOW_HOME="$(realpath -m "${TRIALFLOW_HOME:-$(dirname "$0")/../.trialflow}")"
if [[ -n "${TRIALFLOW_DESIGNS_DIR:-}" ]]; then
  export TRIALFLOW_DESIGNS_DIR="$(realpath -m "$TRIALFLOW_DESIGNS_DIR")"
fi
cd "$(dirname "$0")/.."
PORT="${PREFECT_SERVER_API_PORT:-4200}"
export PREFECT_HOME="${PREFECT_HOME:-$TRIALFLOW_HOME/prefect}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_API_URL="${PREFECT_API_URL:-http://127.0.0.1:$PORT/api}"
mkdir -p "$TRIALFLOW_HOME" "$PREFECT_HOME"
BIN=.venv/bin
LOG="$TRIALFLOW_HOME/prefect-server.log"

$BIN/python scripts/make_prefect_yaml.py

# Own sessions, so stopping kills the server's and worker's children (uvicorn, flow runs) too.
setsid $BIN/prefect server start --host 127.0.0.1 --port "$PORT" > "$LOG" 2>&1 &
SERVER=$!
gone() {  # $1 has exited (or is a zombie) within $2 seconds
  for _ in $(seq 1 "$2"); do
    [[ "$(ps -o stat= -p "$1" 2>/dev/null)" =~ ^(Z|$) ]] && return 0
    sleep 1
  done
  return 1
}
stop() {
  trap - EXIT INT TERM
  # The worker first (it says goodbye to the server), with the flow runs it started: each
  # runs in its own process group.
  if [[ -n "${WORKER:-}" ]]; then
    for run in $(pgrep -P "$WORKER" || true); do kill -TERM -- "-$run" 2>/dev/null || true; done
    kill -TERM -- "-$WORKER" 2>/dev/null || true
    gone "$WORKER" 20 || kill -KILL -- "-$WORKER" 2>/dev/null || true
  fi
  kill -TERM -- "-$SERVER" 2>/dev/null || true
  gone "$SERVER" 20 || kill -KILL -- "-$SERVER" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 120); do
  curl -sf "$PREFECT_API_URL/health" > /dev/null && break
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "error: the Prefect server stopped while starting; the end of $LOG:" >&2
    tail -20 "$LOG" >&2
    exit 1
  fi
  sleep 1
done
if ! curl -sf "$PREFECT_API_URL/health" > /dev/null; then
  echo "error: no Prefect server at $PREFECT_API_URL after 120 s; the end of $LOG:" >&2
  tail -20 "$LOG" >&2
  exit 1
fi
$BIN/prefect work-pool create trialflow-process --type process --overwrite > /dev/null
$BIN/prefect --no-prompt deploy --all
$BIN/prefect deployment ls
echo "TRIALFLOW_HOME=$TRIALFLOW_HOME: drop files in $TRIALFLOW_HOME/drop/<trial>/"
echo "Prefect UI: ${PREFECT_API_URL%/api} — server log $LOG; starting a worker (Ctrl-C to stop)"
setsid $BIN/prefect worker start --pool trialflow-process &
WORKER=$!
wait $WORKER
