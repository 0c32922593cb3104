"""The web console's tables: people who sign in, their API tokens and their sessions.

Why these shapes:
* Passwords are argon2 hashes (`console.web.auth`); a clear-text password never reaches
  the database or a log.
* API tokens and session ids are stored as SHA-256 digests only: a leaked database does
  not hand out working credentials. A token is 32 random bytes, so a plain digest (no
  salt, no slow hash) is enough and keeps the per-request look-up one index probe.
* Sessions live in the database rather than in a signed cookie so that signing out,
  disabling a user or removing them ends their sessions at once, on every replica.
  The CSRF token is bound to the session row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

import storage  # noqa: F401  (installs the constraint naming convention first)
from storage.types import enum_column, utc_column, utcnow


class Role(StrEnum):
    """What a console user may do."""

    viewer = "viewer"  # read the queue, escalations, sources, rules and reports
    agent = "agent"  # also work the queue: claim, take over, reply, resolve, dismiss, note
    lead = "lead"  # also assign to others, read the audit log
    analyst = "analyst"  # marketing: reports, mentions, dashboard, sources; not the care queue


class ConsoleUser(SQLModel, table=True):
    """A person who signs in to the console."""

    __tablename__ = "console_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    role: Role = Field(default=Role.agent, sa_column=enum_column(Role, "role", default="agent"))
    failed_logins: int = 0  # consecutive failures since the last success or lock-out
    locked_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    disabled: bool = False
    # The agent's chosen queue order (storage.queue.SORTS), remembered (0008).
    queue_sort: str | None = Field(default=None, max_length=16)
    # The team the user works in (0010); a shared saved view is shared with its owner's
    # team only. NULL: no team (shares with the others who have none).
    team: str | None = Field(default=None, max_length=64)
    # The period chosen last on the dashboard or the team view (console.web.periods, 0010).
    period: str | None = Field(default=None, max_length=16)


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API; acts with its user's role."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="console_user.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True)  # hex SHA-256 of the token
    name: str = Field(max_length=128)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    last_used: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser; the cookie holds the secret, this row its digest."""

    __tablename__ = "console_session"

    id: str = Field(primary_key=True, max_length=64)  # hex SHA-256 of the cookie value
    user_id: int = Field(foreign_key="console_user.id", ondelete="CASCADE", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    expires_at: datetime = Field(sa_column=utc_column(nullable=False))


class SavedView(SQLModel, table=True):
    """A named queue view (its filters and order as a query string): the owner's own, or
    shared with the owner's team (console_user.team)."""

    __tablename__ = "saved_view"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="console_user.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=64)
    params: str = Field(max_length=1000)  # e.g. "queue=billing&sort=sla"
    shared: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins per client address (`ip:…`) and per account (`user:…`), and the
    browsers an account signed in from (`device:<user>:<sha256 of the cookie>`).

    In the database, not in memory, so replicas behind a load balancer share the count
    and an attacker cannot multiply the allowed rate by the number of replicas.
    """

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0  # consecutive failures since the last success (or since forgotten)
    blocked_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )


__all__ = ["ApiToken", "ConsoleSession", "ConsoleUser", "LoginThrottle", "Role", "SavedView"]
