"""Saved queue views (`saved_view`): a user's own, and those shared in their team.

The console (`console.web.views`) checks names, roles and limits; these read and write
the rows on the caller's Session.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from storage.console_models import ConsoleUser, SavedView


def _same_team(team: str | None) -> Any:
    """Owners in `team` (NULL-safe: no team matches no team)."""
    owners = sa.select(col(ConsoleUser.id)).where(col(ConsoleUser.team).is_not_distinct_from(team))
    return col(SavedView.user_id).in_(owners)


def visible_to(session: Session, user_id: int, team: str | None) -> list[SavedView]:
    """The user's own views and the ones shared in `team` (the user's), shared last, by name."""
    return list(session.execute(
        sa.select(SavedView).where(sa.or_(
            col(SavedView.user_id) == user_id,
            sa.and_(col(SavedView.shared).is_(True), _same_team(team))))
        .order_by(col(SavedView.shared), col(SavedView.name))).scalars())


def count_of(session: Session, user_id: int) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(SavedView).where(
        col(SavedView.user_id) == user_id)).scalar_one())


def add(session: Session, user_id: int, name: str, params: str, shared: bool) -> SavedView:
    view = SavedView(user_id=user_id, name=name, params=params, shared=shared)
    session.add(view)
    session.flush()
    return view


def get(session: Session, view_id: int) -> SavedView | None:
    return session.get(SavedView, view_id)


def delete(session: Session, view: SavedView) -> None:
    session.delete(view)
