#!/usr/bin/env bash
# Export the per-image requirement files from Pipfile.lock.
#
#   requirements/mage.txt          = [packages] + [orchestration]                 (Mage image)
#   requirements/api.txt           = [packages] + [api]                           (inference API image)
#   requirements/mlflow-server.txt = [mlflow-server]                              (tracking server image)
#   requirements/dev.txt           = [packages] + [api] + [mlflow-server] + [dev-packages]  (local/CI)
#
# Reads Pipfile.lock only: `pipenv requirements` does no resolution and needs no network.
# `pipenv verify` first makes sure the lock is not stale against the Pipfile (also offline).
# Output is deterministic: no timestamps, lines sorted with LC_ALL=C, and the header records the
# lock hash so a stale export is visible in review. Running it twice gives identical files.
#
# Packages listed in more than one category: `pipenv lock` resolves every non-default category
# with the [packages] pins as constraints and overwrites shared entries with the [packages] version,
# so [packages] never disagrees with another category. Non-default categories are resolved
# independently of each other, though, and `pipenv requirements --categories a,b` merges them with a
# plain dict update: if a and b pinned the same package differently, the last category would win
# SILENTLY and the file would describe an environment nobody resolved. This script therefore checks
# every combination it exports and fails, naming the package, instead of writing such a file. The fix
# is a pin in the Pipfile (in both categories) and a new `pipenv lock`. (Today [orchestration]
# differs from [mlflow-server]/[dev-packages] on cryptography, werkzeug, aiohttp, ... but those are
# never combined.)
#
# pipenv: $PIPENV if set, else `pipenv` on PATH, else `uvx --from pipenv==2026.10.3 pipenv`.
set -euo pipefail

PIPENV_VERSION_PIN="2026.10.3"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if [[ -n "${PIPENV:-}" ]]; then
    read -r -a pipenv_cmd <<<"$PIPENV"
elif command -v pipenv >/dev/null 2>&1; then
    pipenv_cmd=(pipenv)
elif command -v uvx >/dev/null 2>&1; then
    pipenv_cmd=(uvx --from "pipenv==${PIPENV_VERSION_PIN}" pipenv)
else
    echo "export_requirements: pipenv not found (set PIPENV=/path/to/pipenv or install uv)" >&2
    exit 1
fi

# Quiet, and never let pipenv pick up (or create) a virtualenv: exporting needs none.
export PIPENV_VERBOSITY=-1 PIPENV_NOSPIN=1 PIPENV_YES=1
unset VIRTUAL_ENV

[[ -f Pipfile.lock ]] || { echo "export_requirements: Pipfile.lock missing; run 'pipenv lock'" >&2; exit 1; }
"${pipenv_cmd[@]}" verify >/dev/null || {
    echo "export_requirements: Pipfile.lock is out of date with Pipfile; run 'pipenv lock' first" >&2
    exit 1
}

lock_hash="$(python3 -c 'import json; print(json.load(open("Pipfile.lock"))["_meta"]["hash"]["sha256"])')"

# Fail if the given Pipfile categories pin one package to different versions in Pipfile.lock.
check_conflicts() {
    python3 - "$1" <<'PY'
import json, sys
SECTION = {"packages": "default", "dev-packages": "develop"}
lock = json.load(open("Pipfile.lock"))
seen, bad = {}, []
for cat in sys.argv[1].split(","):
    for name, entry in lock.get(SECTION.get(cat, cat), {}).items():
        version = entry.get("version")
        prev = seen.setdefault(name, (cat, version))
        if prev[1] != version:
            bad.append(f"  {name}: {prev[1]} in [{prev[0]}] vs {version} in [{cat}]")
if bad:
    print(f"export_requirements: categories {sys.argv[1]} pin packages differently:", file=sys.stderr)
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
}

# export_one <output file> <comma-separated Pipfile categories> <description>
export_one() {
    local out="$1" cats="$2" what="$3" tmp body
    check_conflicts "$cats"
    body="$("${pipenv_cmd[@]}" requirements --hash --categories "$cats")"
    tmp="$(mktemp "${out}.XXXXXX")"
    {
        echo "# GENERATED FILE - do not edit. $what"
        echo "# Source: Pipfile.lock (sha256 ${lock_hash:0:16}...), categories: ${cats}"
        echo "# Command: scripts/export_requirements.sh  (runs: pipenv requirements --hash --categories \"${cats}\")"
        echo "# To change: edit Pipfile -> pipenv lock -> scripts/export_requirements.sh (see requirements/README.md)"
        # index options first (the -i line), then the requirement lines sorted bytewise
        grep -E '^-' <<<"$body" || true
        grep -vE '^(-|$)' <<<"$body" | LC_ALL=C sort
    } >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$out"
    echo "wrote $out ($(grep -cvE '^(#|-)' "$out") packages)"
}

mkdir -p requirements
export_one requirements/mage.txt "packages,orchestration" "Mage image (orchestration/Dockerfile)."
export_one requirements/api.txt "packages,api" "Inference API image (inference_api/Dockerfile)."
export_one requirements/mlflow-server.txt "mlflow-server" "MLflow tracking server image (mlflow_server/Dockerfile)."
export_one requirements/dev.txt "packages,api,mlflow-server,dev-packages" "Local development / CI test environment."
