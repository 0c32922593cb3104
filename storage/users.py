"""Console users, their sign-in sessions, API tokens and remembered choices.

The console (`console.web.auth`, `socialear users`) decides who may do what and hashes
the secrets; these functions only read and write the rows, on the caller's Session
(never committed here). Secrets arrive already digested.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.console_models import ApiToken, ConsoleSession, ConsoleUser, Role
from storage.dialect import table

_users = table(ConsoleUser)

# The per-user choices the console remembers (queue order, report period).
Preference = Literal["queue_sort", "period"]


def by_name(session: Session, username: str) -> ConsoleUser | None:
    return session.exec(select(ConsoleUser).where(ConsoleUser.username == username)).first()


def add(session: Session, username: str, password_hash: str, role: Role) -> ConsoleUser:
    user = ConsoleUser(username=username, password_hash=password_hash, role=role)
    session.add(user)
    session.flush()
    return user


def remove(session: Session, user: ConsoleUser) -> None:
    """Delete the user with their tokens and sessions (explicit deletes: SQLite enforces
    ON DELETE CASCADE only with foreign keys on)."""
    session.execute(sa.delete(ApiToken).where(col(ApiToken.user_id) == user.id))
    session.execute(sa.delete(ConsoleSession).where(col(ConsoleSession.user_id) == user.id))
    session.delete(user)


def with_tokens(session: Session) -> list[tuple[ConsoleUser, list[str]]]:
    """Every user by name, with the names of their API tokens."""
    users = session.execute(sa.select(ConsoleUser).order_by(col(ConsoleUser.username))).scalars().all()
    return [(u, list(session.execute(sa.select(col(ApiToken.name)).where(col(ApiToken.user_id) == u.id)).scalars()))
            for u in users]


def team_of(session: Session, user_id: int) -> str | None:
    return session.execute(sa.select(col(ConsoleUser.team)).where(col(ConsoleUser.id) == user_id)).scalar_one_or_none()


def remember(session: Session, user_id: int, name: Preference, value: str | None,
             allowed: Collection[str]) -> str | None:
    """A remembered choice: `value` when it is one of `allowed` (then saved for the
    user, written only on a change), else the one saved before if still allowed, else
    None (the caller's default)."""
    column = _users.c[name]
    saved = session.execute(sa.select(column).where(_users.c.id == user_id)).scalar()
    if value is not None and value in allowed:
        if value != saved:  # write only on a change: pages refresh with the same choice
            session.execute(_users.update().where(_users.c.id == user_id).values({name: value}))
        return value
    return saved if saved in allowed else None


# ------------------------------------------------------------------------------ tokens
def add_token(session: Session, user_id: int, token_hash: str, name: str) -> None:
    session.add(ApiToken(user_id=user_id, token_hash=token_hash, name=name))
    session.flush()


def token_user(session: Session, token_hash: str) -> tuple[ApiToken, ConsoleUser] | None:
    row = session.exec(
        select(ApiToken, ConsoleUser)
        .join(ConsoleUser, col(ConsoleUser.id) == col(ApiToken.user_id))
        .where(ApiToken.token_hash == token_hash)
    ).first()
    return (row[0], row[1]) if row is not None else None


def touch_token(session: Session, token_id: int | None, now: datetime) -> None:
    session.execute(sa.update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used=now))


# ------------------------------------------------------------------------------ sessions
def add_session(session: Session, session_id: str, user_id: int, csrf_token: str, expires_at: datetime) -> None:
    session.add(ConsoleSession(id=session_id, user_id=user_id, csrf_token=csrf_token, expires_at=expires_at))


def end_session(session: Session, session_id: str) -> None:
    session.execute(sa.delete(ConsoleSession).where(col(ConsoleSession.id) == session_id))


def session_user(session: Session, session_id: str) -> tuple[ConsoleSession, ConsoleUser] | None:
    row = session.exec(
        select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, col(ConsoleUser.id) == col(ConsoleSession.user_id))
        .where(ConsoleSession.id == session_id)
    ).first()
    return (row[0], row[1]) if row is not None else None
