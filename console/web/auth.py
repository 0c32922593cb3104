"""Who is asking: passwords, lock-out, sessions, API tokens, roles and CSRF.

Credentials, and why each is stored the way it is:

    password   ──► argon2id hash (argon2-cffi defaults), re-hashed when parameters change
    session    ──► random cookie value; the `console_session` row keeps its SHA-256 only
    API token  ──► random "se_…" string shown once; `api_token` keeps its SHA-256 only

A browser is identified by the session cookie (HttpOnly, SameSite=Lax, Secure behind
HTTPS). Every state-changing request from a browser must also carry the session's CSRF
token (form field `csrf` or header `X-CSRF-Token`, which htmx sends via `hx-headers`).
A request with `Authorization: Bearer <token>` carries no ambient credential, so it needs
no CSRF token. The sign-in form, which has no session yet, uses a double-submit cookie.

Failed sign-ins slow the address and the account they came from down (back-off, see
`console.web.throttle`) instead of locking the account: a browser that signed in to the
account before is not held back, so the real user gets in while an attacker waits. The
response never says whether the user exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request

from console.web import throttle
from storage import users
from storage.console_models import ConsoleUser, Role
from storage.engine import Engine, Session, session_scope
from storage.repo import audit
from storage.types import as_utc, utcnow

SESSION_COOKIE = "se_session"
LOGIN_CSRF_COOKIE = "se_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SESSION_TTL = timedelta(hours=12)
TOKEN_PREFIX = "se_"
# analyst is beside the care ladder, not on it: below viewer, so every check that needs
# "at least viewer" (the queue, escalations and their actions) refuses an analyst
ROLE_RANK = {Role.analyst: 0, Role.viewer: 1, Role.agent: 2, Role.lead: 3}

_hasher = PasswordHasher()
# Verified against when the user does not exist, so the response time does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AuthError(Exception):
    """Not signed in (401) or not allowed (403); `status` says which."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


class LoginRefused(Exception):
    """Wrong user name or password, or the account is locked or disabled."""


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    user_id: int
    username: str
    role: Role
    via: str  # "session" | "token"
    csrf_token: str | None = None  # the session's CSRF token; None for API tokens

    def can(self, role: Role) -> bool:
        """True if this caller has `role` or a higher one (analyst < viewer < agent < lead)."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def digest(secret: str) -> str:
    """Hex SHA-256 of a session id or API token (what the database keeps)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def validate_password(password: str) -> None:
    """Refuse passwords too short to be worth hashing."""
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")


# ------------------------------------------------------------------------------ users
def create_user(session: Session, username: str, password: str, role: Role | str) -> ConsoleUser:
    """Add a user (raises ValueError for a bad name, role or password, or a duplicate)."""
    username = username.strip()
    if not username or len(username) > 64 or not username.replace("-", "").replace(
        "_", "").replace(".", "").isalnum():
        raise ValueError("user name: 1-64 letters, digits, '.', '-' or '_'")
    try:
        role = Role(role)
    except ValueError:
        raise ValueError(f"role must be one of {', '.join(r.value for r in Role)}") from None
    validate_password(password)
    if users.by_name(session, username) is not None:
        raise ValueError(f"user {username!r} already exists")
    return users.add(session, username, hash_password(password), role)


def create_api_token(session: Session, user: ConsoleUser, name: str) -> str:
    """Make a token for `user`; returns the token (shown once, stored only as a digest)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    users.add_token(session, user.id or 0, digest(token), name)
    return token


def authenticate(
    engine: Engine, username: str, password: str, *, address: str | None = None, device: str | None = None
) -> ConsoleUser:
    """The user for these credentials, or LoginRefused; failures are throttled per
    client `address` and per account, except for a browser with a `device` cookie the
    account signed in from before (console.web.throttle)."""
    now = utcnow()
    name = username.strip()
    ip, account = throttle.ip_key(address), throttle.user_key(name)
    with session_scope(engine) as session:
        trusted = throttle.known_device(session, name, device, now)
        if not trusted and (wait := throttle.wait_s(session, [ip, account], now)):
            audit(session, name[:128] or "?", "console.sign_in_throttled", "user", name[:128],
                  address=address, wait_s=wait)
            raise LoginRefused(f"too many failed sign-ins; try again in {wait} s")
        user = users.by_name(session, name)
        if user is None or user.disabled:
            _verify(_DUMMY_HASH, password)
            ok = False
        else:
            ok = _verify(user.password_hash, password)
        if not ok:
            now = utcnow()  # the back-off runs from the refusal, not from the (slow) hash check
            details: dict[str, Any] = {"address": address, "known_device": trusted}
            if user is None or user.disabled:
                details["reason"] = "unknown or disabled user"
            if trusted and device:
                throttle.device_failure(session, name, device, now)
            else:
                details["failures_from_address"] = throttle.record_failure(session, ip, throttle.IP_FREE, now)
                details["failures_on_account"] = throttle.record_failure(
                    session, account, throttle.ACCOUNT_FREE, now)
            audit(session, name[:128] or "?", "console.sign_in_failed", "user", name[:128], **details)
            session.commit()  # the count must survive the refusal
            raise LoginRefused("wrong user name or password")
        assert user is not None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        throttle.clear(session, ip)
        if not trusted:
            throttle.clear(session, account)
        session.add(user)
        return user


def remember_device(engine: Engine, username: str, device: str | None) -> str:
    """The device cookie value to set after a successful sign-in."""
    with session_scope(engine) as session:
        return throttle.remember_device(session, username, device, utcnow())


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# ------------------------------------------------------------------------------ sessions
def start_session(engine: Engine, user: ConsoleUser) -> str:
    """Create a session row for `user`; returns the cookie value."""
    secret = secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        users.add_session(session, digest(secret), user.id or 0, secrets.token_urlsafe(32),
                          utcnow() + SESSION_TTL)
        audit(session, user.username, "console.signed_in", "user", user.username)
    return secret


def end_session(engine: Engine, cookie: str | None, actor: str) -> None:
    if not cookie:
        return
    with session_scope(engine) as session:
        users.end_session(session, digest(cookie))
        audit(session, actor, "console.signed_out", "user", actor)


def principal_from_request(engine: Engine, request: Request) -> Principal | None:
    """The caller, from a bearer token or the session cookie; None if neither is valid."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return _from_token(engine, header[7:].strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return _from_session(engine, cookie)
    return None


def _from_session(engine: Engine, cookie: str) -> Principal | None:
    now = utcnow()
    with Session(engine) as session:
        row = users.session_user(session, digest(cookie))
        if row is None:
            return None
        sess, user = row
        if user.disabled or as_utc(sess.expires_at) <= now:
            return None
        return Principal(user.id or 0, user.username, Role(user.role), "session", sess.csrf_token)


def _from_token(engine: Engine, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    with session_scope(engine) as session:
        row = users.token_user(session, digest(token))
        if row is None or row[1].disabled:
            return None
        tok, user = row
        # Touch last_used at most once a minute: one write per request would serialise
        # API clients on SQLite for no gain.
        if tok.last_used is None or now - as_utc(tok.last_used) > timedelta(minutes=1):
            users.touch_token(session, tok.id, now)
        return Principal(user.id or 0, user.username, Role(user.role), "token")


# ------------------------------------------------------------------------------ CSRF
def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


async def check_csrf(request: Request, principal: Principal) -> None:
    """Refuse a browser's state-changing request without its session's CSRF token."""
    if principal.via == "token":
        return
    given = request.headers.get(CSRF_HEADER)
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_matches(principal.csrf_token, given):
        raise AuthError("missing or wrong CSRF token; reload the page and try again", 403)
