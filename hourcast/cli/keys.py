"""``hourcast keys``: API keys for services (create, list, revoke).

typer 0.9 (pinned through mage-ai): no ``X | None`` options here; see :mod:`hourcast.cli.main`.
The commands import :mod:`hourcast.auth.store` (argon2, the schema) themselves, so that the
other commands and ``--help`` start without it.
"""

from datetime import datetime
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from hourcast.auth.principals import ROLES
from hourcast.cli.db import migrated_store

__all__ = ["keys_app"]

keys_app = typer.Typer(help="API keys for services: create, list, revoke.", no_args_is_help=True)
console = Console()


def _when(moment: Optional[datetime]) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


@keys_app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="The service that will hold the key.")],
    role: Annotated[
        str, typer.Option("--role", "-r", help=f"What the key may do: {' or '.join(ROLES)}.")
    ] = "user",
) -> None:
    """Make a key; it is printed once (send it as the X-API-Key header) and stored hashed."""
    from hourcast.auth.store import AuthStoreError, create_api_key

    try:
        info, key = create_api_key(migrated_store(), name=name, role=role)
    except AuthStoreError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"key [bold]{info.key_id}[/bold] for {info.name} ({info.role}); shown only now:")
    print(key)  # plain, so that scripts can capture it


@keys_app.command("list")
def list_command() -> None:
    """Every key, newest first, with when it was last used and whether it is revoked."""
    from hourcast.auth.store import list_api_keys

    rows = list_api_keys(migrated_store())
    table = Table(title="API keys")
    for column in ("key id", "name", "role", "created (UTC)", "last used (UTC)", "status"):
        table.add_column(column)
    for info in rows:
        status = "active" if info.revoked_at is None else f"revoked {_when(info.revoked_at)}"
        table.add_row(
            info.key_id,
            info.name,
            info.role,
            _when(info.created_at),
            _when(info.last_used_at),
            status,
        )
    console.print(table if rows else "no keys yet: hourcast keys create NAME")


@keys_app.command("revoke")
def revoke_command(
    key_id: Annotated[str, typer.Argument(help="Key id, as `hourcast keys list` shows it.")],
) -> None:
    """Revoke a key: the API refuses it from its next request on."""
    from hourcast.auth.store import revoke_api_key

    if not revoke_api_key(migrated_store(), key_id=key_id):
        console.print(f"[red]no active key {key_id!r}[/red]")
        raise typer.Exit(1)
    console.print(f"key [bold]{key_id}[/bold] is revoked")
