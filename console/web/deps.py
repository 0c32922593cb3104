"""FastAPI dependencies: the console context, the caller, role and CSRF checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from console.web.auth import AuthError, Principal, check_csrf, principal_from_request
from storage.console_models import Role

if TYPE_CHECKING:
    from console.web.app import ConsoleContext

# Declares the bearer scheme in the OpenAPI document (the docs' "Authorize" button);
# the actual check is `principal_from_request`, which also accepts the session cookie.
bearer_scheme = HTTPBearer(auto_error=False, description="API token from `socialear users token`")


def get_ctx(request: Request) -> ConsoleContext:
    ctx: ConsoleContext = request.app.state.ctx  # Starlette's app.state is untyped
    return ctx


def current_user(request: Request) -> Principal:
    """The signed-in caller; 401 (or a redirect to /login) otherwise."""
    principal = principal_from_request(get_ctx(request).engine, request)
    if principal is None:
        raise AuthError("sign in or send an API token", 401)
    request.state.principal = principal
    return principal


def api_user(request: Request,
             _creds: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> Principal:
    return current_user(request)


async def csrf_user(request: Request, user: Principal = Depends(current_user)) -> Principal:
    """The caller of a state-changing request, after the CSRF check."""
    await check_csrf(request, user)
    return user


async def api_csrf_user(request: Request, user: Principal = Depends(api_user)) -> Principal:
    await check_csrf(request, user)
    return user


def require_role(user: Principal, role: Role, what: str) -> None:
    if not user.can(role):
        raise AuthError(f"{user.role.value}s cannot {what}", 403)


def care_user(request: Request) -> Principal:
    """A caller who may see the care queue and escalations (viewer and up; not analyst)."""
    user = current_user(request)
    require_role(user, Role.viewer, "see the care queue")
    return user


def api_care_user(request: Request,
                  _creds: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> Principal:
    return care_user(request)
