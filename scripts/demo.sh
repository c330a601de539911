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
# The demo trains the traffic model only; the API reports pm25 as not registered, still ready.
# It polls the registry every 5 s here (30 s by default), so the new champion is served soon.
export HOURCAST_API_MODEL_POLL_SECONDS="${HOURCAST_API_MODEL_POLL_SECONDS:-5}"
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

step "Creating the demo user (an admin) and a token"
# No default credentials: the demo user gets a random password, kept in this file (mode 600).
password_file="${HOURCAST_HOME}/demo/password"
if [[ ! -s "$password_file" ]]; then
  mkdir -p "$(dirname "$password_file")"
  (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))' \
    > "$password_file")
fi
"$hourcast" users add demo --role admin --password-stdin --reset < "$password_file"
token="$(.venv/bin/python - "http://127.0.0.1:${api_port}" "$password_file" <<'PY'
import sys

import httpx

url, path = sys.argv[1], sys.argv[2]
with open(path) as secret:
    form = {"username": "demo", "password": secret.read().strip()}
answer = httpx.post(f"{url}/v1/auth/token", data=form, timeout=60)
answer.raise_for_status()
print(answer.json()["access_token"])
PY
)"

step "Running the Mage pipeline train (target traffic) headless"
.venv-mage/bin/mage run orchestration train --runtime-vars '{"target": "traffic"}' \
  > "${HOURCAST_HOME}/run/mage_run.log" 2>&1 || {
  tail -n 40 "${HOURCAST_HOME}/run/mage_run.log"
  echo "mage run failed; full log: ${HOURCAST_HOME}/run/mage_run.log" >&2
  exit 1
}
grep -E "registered hourcast|Pipeline run completed" "${HOURCAST_HOME}/run/mage_run.log" \
  | sed -E 's/.*"message": "([^"]*)".*/\1/' || true

step "24-hour forecast from the API (it serves the new champion within its poll interval)"
HOURCAST_API_TOKEN="$token" "$hourcast" forecast --horizon 24 --wait 120 \
  --api-url "http://127.0.0.1:${api_port}" \
  --plot "${HOURCAST_HOME}/demo/forecast.png"

cat <<TXT

MLflow UI   http://127.0.0.1:${mlflow_port}
Mage UI     http://127.0.0.1:${mage_port}   (first login: admin@admin.com / admin)
API docs    http://127.0.0.1:${api_port}/docs
Plot        ${HOURCAST_HOME}/demo/forecast.png
Demo user   demo (admin); its password is in ${password_file}

A token for the API, valid ${HOURCAST_API_TOKEN_MINUTES:-30} minutes, and a forecast with it:

  export HOURCAST_API_TOKEN=${token}
  curl -s -X POST http://127.0.0.1:${api_port}/v1/forecast \\
    -H "Authorization: Bearer \$HOURCAST_API_TOKEN" -H 'content-type: application/json' \\
    -d '{"series_id": "traffic:i94-westbound", "horizon": 24}'

Stop everything with: make stop
TXT
