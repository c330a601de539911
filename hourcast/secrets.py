"""Resolve settings values given as AWS Secrets Manager ARNs.

In AWS a setting may hold ``arn:aws:secretsmanager:...`` instead of the value itself; it is
read once at start-up. ``ARN#key`` picks one field of a JSON secret (as RDS-managed secrets
store ``{"username": ..., "password": ...}``).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SECRET_ARN_PREFIX", "SecretResolutionError", "is_secret_arn", "resolve_secret"]

SECRET_ARN_PREFIX = "arn:aws:secretsmanager:"


class SecretResolutionError(RuntimeError):
    """A setting names a secret that cannot be read."""


def is_secret_arn(value: object) -> bool:
    """Whether ``value`` is a Secrets Manager ARN (optionally with ``#key``)."""
    return isinstance(value, str) and value.startswith(SECRET_ARN_PREFIX)


def _region_of(arn: str) -> str:
    # arn:aws:secretsmanager:<region>:<account>:secret:<name>
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else "us-east-1"


def resolve_secret(reference: str, *, endpoint_url: str | None = None, client: Any = None) -> str:
    """Read the secret a reference names.

    Args:
        reference (str): ``arn:aws:secretsmanager:...`` optionally followed by ``#json_key``.
        endpoint_url (str | None): Secrets Manager endpoint (a moto server in tests). Defaults
            to AWS itself.
        client: An existing boto3 ``secretsmanager`` client. Defaults to a new one.

    Returns:
        str: The secret string, or the named field of a JSON secret.

    Raises:
        SecretResolutionError: The secret is missing, unreadable or lacks the key.
    """
    arn, _, key = reference.partition("#")
    if client is None:
        import boto3

        client = boto3.client(
            "secretsmanager", region_name=_region_of(arn), endpoint_url=endpoint_url
        )
    try:
        secret = client.get_secret_value(SecretId=arn)["SecretString"]
    except Exception as exc:  # botocore raises many types; all mean "cannot read it"
        raise SecretResolutionError(f"cannot read secret {arn}: {exc}") from exc
    if not key:
        return str(secret)
    try:
        return str(json.loads(secret)[key])
    except (ValueError, KeyError, TypeError) as exc:
        raise SecretResolutionError(f"secret {arn} has no JSON field {key!r}") from exc
