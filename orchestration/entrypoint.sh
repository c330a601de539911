#!/bin/sh
# Entrypoint of the Mage image: checks the production settings, then execs `mage start`.
#
# With HOURCAST_ENV unset (e.g. `docker run` on a laptop) Mage starts as configured, its
# metadata in SQLite under MAGE_DATA_DIR. With HOURCAST_ENV=production (the ECS task,
# terraform/services.tf):
#   - MAGE_DATABASE_CONNECTION_URL, unless given whole, is assembled as
#       postgresql+psycopg2://USER:PASSWORD@HOST:PORT/MAGE_DB_NAME
#     from HOURCAST_DB_HOST, HOURCAST_DB_PORT (5432), HOURCAST_DB_USER and HOURCAST_DB_PASSWORD
#     (ECS injects both from the RDS-managed secret; they are URL-encoded) and MAGE_DB_NAME
#     (mage). That database sits beside the observation store (HOURCAST_DB_NAME) on the same
#     instance and is created here if it does not exist yet.
#   - user authentication is forced on, and the owner account and the session signing key must
#     be given, so Mage never falls back to admin/admin or its public default JWT secret.
#   - block outputs must go to S3 (MAGE_REMOTE_VARIABLES_DIR, read by metadata.yaml).
#   - every API trigger (retrain_<target>) gets the token HOURCAST_MAGE_TRIGGER_TOKEN in its
#     triggers.yaml, which Mage syncs into its database: the API and the pipeline monitor hold
#     the same token (Secrets Manager), instead of one Mage would generate per trigger.
# Extra arguments are appended to `mage start`.
set -eu

require() {
    eval "value=\${$1:-}"
    # shellcheck disable=SC2154  # value is assigned by the eval above
    if [ -z "$value" ]; then
        echo "mage entrypoint: required environment variable $1 is not set" >&2
        exit 64
    fi
}

if [ "${HOURCAST_ENV:-development}" = "production" ]; then
    require DEFAULT_OWNER_EMAIL
    require DEFAULT_OWNER_PASSWORD
    require JWT_SECRET
    require MAGE_REMOTE_VARIABLES_DIR
    require HOURCAST_MAGE_TRIGGER_TOKEN
    export REQUIRE_USER_AUTHENTICATION=1
    # The token is read from the environment, so it never appears in `ps`.
    USER_CODE_PATH="${USER_CODE_PATH:-/home/src/orchestration}" python - <<'PYTHON'
import os
from pathlib import Path

from hourcast.training.retrain_trigger import write_trigger_tokens

project = Path(os.environ["USER_CODE_PATH"])
written = write_trigger_tokens(project, os.environ["HOURCAST_MAGE_TRIGGER_TOKEN"])
print(f"mage entrypoint: trigger token set on {', '.join(written) or 'no trigger'}")
PYTHON

    if [ -z "${MAGE_DATABASE_CONNECTION_URL:-}" ]; then
        require HOURCAST_DB_HOST
        require HOURCAST_DB_USER
        require HOURCAST_DB_PASSWORD
        # Python reads the credentials from the environment, so they never appear in `ps`.
        MAGE_DATABASE_CONNECTION_URL="$(python - <<'PYTHON'
import os
from urllib.parse import quote

import psycopg2
from psycopg2 import sql

host = os.environ["HOURCAST_DB_HOST"]
port = os.environ.get("HOURCAST_DB_PORT") or "5432"
user = os.environ["HOURCAST_DB_USER"]
password = os.environ["HOURCAST_DB_PASSWORD"]
name = os.environ.get("MAGE_DB_NAME") or "mage"

connection = psycopg2.connect(
    host=host,
    port=port,
    user=user,
    password=password,
    dbname=os.environ.get("HOURCAST_DB_NAME") or "postgres",
    connect_timeout=10,
)
connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if cursor.fetchone() is None:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
connection.close()
print(f"postgresql+psycopg2://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{name}")
PYTHON
)"
        export MAGE_DATABASE_CONNECTION_URL
    fi
fi

exec mage start "${USER_CODE_PATH:-/home/src/orchestration}" "$@"
