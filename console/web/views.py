"""Saved queue views: a name for a set of filters and an order, kept per user or shared
with the owner's team (`console_user.team`, set with `socialear users team`; people
without a team share with each other). A view is stored as the queue's
own query string, re-parsed by `QueueFilters` when used, so a view saved before a filter
was renamed degrades to fewer filters instead of an error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from console.web.actions import Forbidden, Invalid, NotFound, _require, _storable
from console.web.auth import Principal
from storage import views as saved_views
from storage.audit import audit
from storage.console_models import Role
from storage.engine import Engine, Session, session_scope
from storage.queue import QueueFilters
from storage.users import team_of

MAX_VIEWS = 50  # per user


def views_for(session: Session, user_id: int) -> list[dict[str, Any]]:
    """The user's own views, then the ones shared in the user's team, by name."""
    team = team_of(session, user_id)
    rows = saved_views.visible_to(session, user_id, team)
    return [{"id": v.id, "name": v.name, "href": "/queue" + (f"?{v.params}" if v.params else ""),
             "shared": v.shared, "mine": v.user_id == user_id, "team": team} for v in rows]


def save(engine: Engine, actor: Principal, name: str, query: str, shared: bool) -> int:
    """Save the queue's current filters (`query`, the page's query string) as `name`."""
    _require(actor, Role.agent, "save views")
    name = _storable(" ".join(name.split())[:64], "view name")
    if not name:
        raise Invalid("give the view a name")
    f = QueueFilters.from_params(dict(parse_qsl(query)))
    params = urlencode(f.params(page=1))
    with session_scope(engine) as session:
        if saved_views.count_of(session, actor.user_id) >= MAX_VIEWS:
            raise Invalid(f"you have {MAX_VIEWS} views already; delete one first")
        view = saved_views.add(session, actor.user_id, name, params, shared)
        audit(session, actor.username, "view.saved", "view", view.id, name=name,
              params=params, shared=shared)
        return int(view.id or 0)


def delete(engine: Engine, actor: Principal, view_id: int) -> None:
    """Delete a view: its owner, or a lead of the team it is shared with."""
    with session_scope(engine) as session:
        view = saved_views.get(session, view_id)
        if view is None:
            raise NotFound(f"no view {view_id}")
        in_team = view.shared and team_of(session, view.user_id) == team_of(session, actor.user_id)
        if view.user_id != actor.user_id and not (in_team and actor.can(Role.lead)):
            raise Forbidden("only its owner (or a lead of its team, for a shared view) can delete a view")
        audit(session, actor.username, "view.deleted", "view", view.id, name=view.name)
        saved_views.delete(session, view)
