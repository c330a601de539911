"""No credential literal anywhere in the repository (every file git tracks or would add)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?access_?key\W{1,5}[\"']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
    ),
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Stripe key": re.compile(r"\b[rs]k_live_[0-9A-Za-z]{16,}"),
    "JSON Web Token": re.compile(
        r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
    ),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@\"'`]+:([^\s@/\"'`${}<>]+)@"),
    # NAME = "value" / NAME: value / "NAME": "value" where NAME ends in a secret's name.
    "secret assignment": re.compile(
        r"""(?ix)
        (?<![\w.:-])[\w.-]*
        (?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|secret[_-]?key)
        (?![\w-])["']?
        \s*(?::(?!:)|=(?!=)|:=|=>)\s*
        (?:
            "(?P<double>[^"\n]*)"
          | '(?P<single>[^'\n]*)'
          | (?P<bare>[^\s"'#,;)\]}\[{]+)
        )
        """
    ),
}

# Values that say where a secret is or that one is missing, not what it is.
_PLACEHOLDER = re.compile(
    r"""(?x)^(?:
        |\$.*|\{\{.*|<[^>]*>|%\(.*|\*+|\.\.\.|x+|X+
        |[A-Z][A-Z0-9_]*          # an environment variable's name
        |arn:aws:.*|alias/.*      # an ARN or a KMS alias
    )$"""
)
# Unquoted values that are code, not literals.
_EXPRESSION = re.compile(
    r"""(?x)^(?:
        None|null|true|false|read|write|none|\d+
        |[A-Za-z_][\w.]*\(.*                  # a call: os.environ.get(...), Field(...)
        |[A-Za-z_]\w*(?:(?:\.\w+)|\[.*)*      # a name, attribute or index: x, var.y, a["b"]
    )$"""
)

# Test-only dummy values, each where it is needed and nowhere else.
ALLOWED = {
    # moto accepts any credentials; "test" is its documented dummy.
    ("devtools/hourcast_dev/local_stack.py", "test"),
    ("README.md", "test"),
    # Documentation and tests of URL handling, with one-letter or "pw" stand-ins.
    ("README.md", "pw"),
    ("tests/test_settings.py", "p"),
    # The fake OpenAQ server checks that the client sends this key.
    ("tests/test_openaq_client.py", "test-key"),
    # The URL-encoding test needs a password with every reserved character.
    ("tests/test_settings.py", "p@ss:w/rd%?#"),
    ("tests/test_settings.py", "p%40ss%3Aw%2Frd%25%3F%23"),
    ("tests/test_settings.py", "placeholder"),
    ("tests/infra/test_terraform.py", "placeholder"),
}
SKIPPED_SUFFIXES = (".lock", ".csv", ".json.gz", ".png", ".parquet", ".svg", ".ico")


def tracked_files() -> list[Path]:
    """Every file git tracks, plus untracked files that are not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name]


def _harmless(relative: str, match: re.Match[str]) -> bool:
    groups = match.groupdict()
    bare = groups.get("bare")
    value = next((v for v in (groups.get("double"), groups.get("single")) if v is not None), None)
    if value is None:
        value = bare if bare is not None else match.group(1)
    return bool(
        _PLACEHOLDER.match(value)
        or (bare is not None and _EXPRESSION.match(bare))
        or (relative, value) in ALLOWED
    )


def findings(relative: str, text: str) -> list[str]:
    """The credential literals in one file's text, as ``path:line: kind: text``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                if kind in ("secret assignment", "password in a URL") and _harmless(
                    relative, match
                ):
                    continue
                found.append(f"{relative}:{number}: {kind}: {match.group(0)[:80]}")
    return found


def test_no_credential_literal_in_the_repository() -> None:
    problems = []
    files = tracked_files()
    assert len(files) > 50  # the listing works
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        if path.suffix in SKIPPED_SUFFIXES or not path.is_file() or path.stat().st_size > 2**20:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        problems.extend(findings(relative, text))
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    "line",
    [
        # Each is split in two so that this file does not match itself.
        "aws_access_key_id = AKIA" + "IOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY" + '="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        "-----BEGIN RSA PRIVATE" + " KEY-----",
        "-----BEGIN OPENSSH PRIVATE" + " KEY-----",
        "token: ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "password" + ' = "hunter2hunter2"',
        "    db_password" + ": 'Tr0ub4dor&3'",
        '"HOURCAST_OPENAQ_API_KEY"' + ': "3f9a7c2e1b"',
        "export MLFLOW_DB_PASSWORD" + "=s3cr3t-value",
        "postgresql://app:" + "s3cr3t@db.internal:5432/hourcast",
        "client_secret" + " => 'abc123def'",
        "eyJhbGciOiJIUzI1NiJ9"
        + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_the_scan_finds_credentials(line: str) -> None:
    assert findings("somewhere.txt", line), line


@pytest.mark.parametrize(
    "line",
    [
        "password = os.environ['HOURCAST_DB_PASSWORD']",
        'db_password: SecretStr | None = Field(default=None, description="x")',
        'HOURCAST_DB_PASSWORD = "${module.app_db.master_user_secret_arn}:password::"',
        "token: ${{ secrets.GITHUB_TOKEN }}",
        "id-token: write",
        "secret_string = random_password.mage_jwt_secret.result",
        'password: str = ""',
        'kms_key_id = "alias/aws/secretsmanager"',
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql+psycopg2://${db_user}:${db_password}@${MLFLOW_DB_HOST}:5432/mlflow",
        "AWS_SECRET_ACCESS_KEY: test",
    ],
)
def test_the_scan_passes_references_and_names(line: str) -> None:
    allowed = "README.md" if "test" in line else "somewhere.txt"
    assert findings(allowed, line) == [], line
