"""`socialear users add|remove|list|token`: who may sign in to the console.

Passwords are read from a prompt (hidden, asked twice) or from --password-stdin, never
from a command-line argument, which would land in shell history and `ps`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from socialear.errors import UserError

if TYPE_CHECKING:
    from storage.engine import Engine

users_app = typer.Typer(no_args_is_help=True, help="Console users and API tokens.")
out = Console()

DbOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional here
    "--database-url", help="default $SOCIALEAR_DATABASE_URL or sqlite:///./data/socialear.db")]


def _engine(url: str | None) -> Engine:
    from console.cli import _engine as command_engine  # one way to open a command's database

    return command_engine(url)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    role: Annotated[str, typer.Option("--role", help="agent | lead | viewer | analyst")] = "agent",
    team: Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional here
        "--team", help="the team the user works in (shared views are shared within it)")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="read the password from stdin")] = False,
    database_url: DbOpt = None,
) -> None:
    """Add a console user (password hashed with argon2)."""
    from console.web.auth import create_user
    from storage.audit import audit
    from storage.engine import session_scope

    team = _team(team)
    engine = _engine(database_url)
    password = _password(password_stdin)
    try:
        with session_scope(engine) as session:
            user = create_user(session, username, password, role)
            user.team = team
            audit(session, "cli", "user.added", "user", username, role=role, team=team)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    out.print(f"added {username} ({role}{', team ' + team if team else ''})")


def _user(session: Any, username: str) -> Any:
    """The console user called `username`, or a UserError naming them."""
    from storage import users

    user = users.by_name(session, username)
    if user is None:
        raise UserError(f"no user named {username!r}")
    return user


def _team(team: str | None) -> str | None:
    """A team name: trimmed, 1-64 printable characters; empty means no team."""
    team = " ".join((team or "").split())
    if len(team) > 64 or not team.isprintable():
        raise UserError("a team name is at most 64 printable characters")
    return team or None


@users_app.command("team")
def set_team(
    username: Annotated[str, typer.Argument()],
    team: Annotated[str, typer.Argument(help="the team's name; \"\" for no team")],
    database_url: DbOpt = None,
) -> None:
    """Put a user in a team (or in none): their shared queue views are seen by that team."""

    from storage.audit import audit
    from storage.engine import session_scope

    name = _team(team)
    engine = _engine(database_url)
    with session_scope(engine) as session:
        user = _user(session, username)
        audit(session, "cli", "user.team", "user", username, before=user.team, after=name)
        user.team = name
    out.print(f"{username}: {'team ' + name if name else 'no team'}")


@users_app.command("remove")
def remove(username: Annotated[str, typer.Argument()], database_url: DbOpt = None) -> None:
    """Remove a user; their sessions and API tokens stop working at once."""
    from storage import users
    from storage.audit import audit
    from storage.engine import session_scope

    engine = _engine(database_url)
    with session_scope(engine) as session:
        user = _user(session, username)
        users.remove(session, user)
        audit(session, "cli", "user.removed", "user", username)
    out.print(f"removed {username}")


@users_app.command("list")
def list_(database_url: DbOpt = None) -> None:
    """List users with their role, status and tokens."""
    from storage import users
    from storage.engine import session_scope
    from storage.types import as_utc, utcnow

    engine = _engine(database_url)
    table = Table("user", "role", "team", "status", "created", "API tokens")
    with session_scope(engine) as session:
        for u, tokens in users.with_tokens(session):
            status = "disabled" if u.disabled else (
                "locked" if u.locked_until and as_utc(u.locked_until) > utcnow() else "active")
            table.add_row(u.username, str(u.role), u.team or "–", status, u.created_at.strftime("%Y-%m-%d"),
                          ", ".join(tokens) or "–")
    out.print(table)


@users_app.command("token")
def token(
    username: Annotated[str, typer.Argument(help="the user the token acts as")],
    name: Annotated[str, typer.Option("--name", help="what the token is for")] = "api",
    database_url: DbOpt = None,
) -> None:
    """Create an API token for USERNAME and print it (it is shown only this once)."""

    from console.web.auth import create_api_token
    from storage.audit import audit
    from storage.engine import session_scope

    engine = _engine(database_url)
    with session_scope(engine) as session:
        user = _user(session, username)
        secret = create_api_token(session, user, name)
        audit(session, "cli", "token.created", "user", username, name=name)
    print(secret)
