#!/usr/bin/env bash
# `make demo`: start the local stack, load the bundled traffic data, run the Mage training
# pipeline headless, then ask the API for a 24-hour forecast (table + PNG plot).
set -euo pipefail
cd "$(dirname "$0")/.."

export HOURCAST_HOME="${HOURCAST_HOME:-$PWD/.hourcast}"
mlflow_port="${HOURCAST_MLFLOW_PORT:-5000}"
api_port="${HOURCAST_API_PORT:-8000}"
mage_port="${HOURCAST_MAGE_PORT:-6789}"
export HOURCAST_MLFLOW_TRACKING_URI="http://127.0.0.1:${mlflow_port}"
export MAGE_DATA_DIR="${HOURCAST_HOME}/run/mage_data"
# The demo trains the traffic model only; an API that also waited for pm25 would never be ready.
export HOURCAST_API_MODELS="${HOURCAST_API_MODELS:-traffic}"
hourcast=.venv/bin/hourcast

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

moto_port="${HOURCAST_MOTO_PORT:-5055}"
stack_args=()
# An S3 endpoint on the local moto port: start moto too (it stands in for S3 and Secrets Manager).
if [[ "${HOURCAST_AWS_ENDPOINT_URL:-}" == "http://127.0.0.1:${moto_port}"* ]]; then
  stack_args+=(--moto)
fi

step "Starting MLflow, the API and Mage (logs in ${HOURCAST_HOME}/run)"
"$hourcast" stack up "${stack_args[@]}"

step "Creating the observation store and loading the bundled traffic data"
"$hourcast" db upgrade
"$hourcast" ingest traffic

step "Running the Mage pipeline train_traffic headless"
.venv-mage/bin/mage run orchestration train_traffic > "${HOURCAST_HOME}/run/mage_run.log" 2>&1 || {
  tail -n 40 "${HOURCAST_HOME}/run/mage_run.log"
  echo "mage run failed; full log: ${HOURCAST_HOME}/run/mage_run.log" >&2
  exit 1
}
grep -E "registered hourcast|Pipeline run completed" "${HOURCAST_HOME}/run/mage_run.log" \
  | sed -E 's/.*"message": "([^"]*)".*/\1/' || true

step "Restarting the API so that it loads the new champion"
"$hourcast" stack restart api

step "24-hour forecast from the API"
"$hourcast" forecast --horizon 24 --wait 120 --api-url "http://127.0.0.1:${api_port}" \
  --plot "${HOURCAST_HOME}/demo/forecast.png"

cat <<TXT

MLflow UI   http://127.0.0.1:${mlflow_port}
Mage UI     http://127.0.0.1:${mage_port}   (first login: admin@admin.com / admin)
API docs    http://127.0.0.1:${api_port}/docs
Plot        ${HOURCAST_HOME}/demo/forecast.png

Stop everything with: make stop
TXT
