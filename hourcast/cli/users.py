"""``hourcast users``: the people who may call the API (add, list, disable).

typer 0.9 (pinned through mage-ai): no ``X | None`` options here; see :mod:`hourcast.cli.main`.
The commands import :mod:`hourcast.auth.store` (argon2, the schema) themselves, so that the
other commands and ``--help`` start without it.
"""

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hourcast.auth.principals import ROLES
from hourcast.cli.db import migrated_store

__all__ = ["users_app"]

users_app = typer.Typer(help="API users: add, list, disable.", no_args_is_help=True)
console = Console()

RoleOption = Annotated[
    str, typer.Option("--role", "-r", help=f"What the user may do: {' or '.join(ROLES)}.")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add_command(
    username: Annotated[str, typer.Argument(help="Name to sign in with.")],
    role: RoleOption = "user",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    reset: Annotated[
        bool,
        typer.Option(help="If USERNAME exists, set its password and role and enable it again."),
    ] = False,
) -> None:
    """Add a user; the password is asked for (twice), or read from stdin."""
    from hourcast.auth.store import AuthStoreError, add_user

    password = _password(password_stdin)
    try:
        user = add_user(
            migrated_store(), username=username, password=password, role=role, replace=reset
        )
    except AuthStoreError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"user [bold]{user.username}[/bold] ({user.role}) can sign in")


@users_app.command("list")
def list_command() -> None:
    """Every user, with role and status."""
    from hourcast.auth.store import list_users

    rows = list_users(migrated_store())
    table = Table(title="API users")
    for column in ("username", "role", "created (UTC)", "status"):
        table.add_column(column)
    for user in rows:
        status = "active" if user.disabled_at is None else f"disabled {user.disabled_at:%Y-%m-%d}"
        table.add_row(user.username, user.role, f"{user.created_at:%Y-%m-%d %H:%M}", status)
    console.print(table if rows else "no users yet: hourcast users add NAME")


@users_app.command("disable")
def disable_command(
    username: Annotated[str, typer.Argument(help="User to disable.")],
) -> None:
    """Refuse USERNAME new tokens (a token already issued lasts until it expires)."""
    from hourcast.auth.store import disable_user

    if not disable_user(migrated_store(), username=username):
        console.print(f"[red]no active user {username!r}[/red]")
        raise typer.Exit(1)
    console.print(f"user [bold]{username}[/bold] is disabled")
