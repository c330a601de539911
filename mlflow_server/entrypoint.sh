#!/bin/sh
# Entrypoint of the MLflow tracking server image.
#
# Backend store: MLFLOW_BACKEND_STORE_URI if set, otherwise assembled as
#   postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB
# from MLFLOW_DB_HOST, MLFLOW_DB_PORT (5432), MLFLOW_DB_NAME (mlflow), MLFLOW_DB_USER and
# MLFLOW_DB_PASSWORD (ECS injects it from Secrets Manager). User and password are URL-encoded.
# "+psycopg2" is explicit: SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3, not installed here.
#
# Also required: MLFLOW_ARTIFACTS_DESTINATION (e.g. s3://bucket/mlartifacts; artifacts are proxied,
# so clients need no AWS credentials) and MLFLOW_SERVER_ALLOWED_HOSTS (must list the ALB / Service
# Connect host names, with and without port, or requests get 403 "Invalid Host header"; /health is
# exempt, so the health check stays green either way).
# Optional: PORT (5000), MLFLOW_WORKERS (2; each worker holds its own DB connection pool).
# Extra arguments to the container are appended to `mlflow server`.
set -eu

fail() {
    echo "mlflow entrypoint: $*" >&2
    exit 64
}

require() {
    eval "value=\${$1:-}"
    # shellcheck disable=SC2154  # value is assigned by the eval above
    [ -n "$value" ] || fail "required environment variable $1 is not set"
}

urlencode() {
    # Reads the value from the environment, not argv, so it never shows up in `ps`.
    python -c 'import os, sys, urllib.parse; print(urllib.parse.quote(os.environ[sys.argv[1]], safe=""))' "$1"
}

if [ -z "${MLFLOW_BACKEND_STORE_URI:-}" ]; then
    require MLFLOW_DB_HOST
    require MLFLOW_DB_USER
    require MLFLOW_DB_PASSWORD
    db_user="$(urlencode MLFLOW_DB_USER)"
    db_password="$(urlencode MLFLOW_DB_PASSWORD)"
    MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://${db_user}:${db_password}@${MLFLOW_DB_HOST}:${MLFLOW_DB_PORT:-5432}/${MLFLOW_DB_NAME:-mlflow}"
fi
require MLFLOW_ARTIFACTS_DESTINATION
require MLFLOW_SERVER_ALLOWED_HOSTS

exec mlflow server \
    --host 0.0.0.0 \
    --port "${PORT:-5000}" \
    --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
    --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
    --serve-artifacts \
    --allowed-hosts "$MLFLOW_SERVER_ALLOWED_HOSTS" \
    --workers "${MLFLOW_WORKERS:-2}" \
    "$@"
