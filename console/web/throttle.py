"""Sign-in throttling: back-off per client address and per account, not a hard lock.

The old rule, five failures lock the account for 15 minutes and then even the right
password is refused, let anyone who knew a user name lock that person out. Here:

* Each failure counts against the client address (`ip:…`) and the account (`user:…`).
  After IP_FREE failures from an address, or ACCOUNT_FREE on an account, the next
  attempt must wait 1 s, then 2, 4, … up to MAX_DELAY_S (15 min); an attempt during the
  wait is refused before the password is even checked, so guessing stays slow however
  fast the attacker sends. Failures are forgotten FORGET_AFTER the last one.
* A browser that signed in to an account before carries a device cookie for it (random,
  stored as a SHA-256 digest, DEVICE_TTL). With it, the account's back-off does not
  apply, and neither does the address's (an office behind one NAT or proxy address is
  not held back by an attacker on the same address): the real user signs in while the
  account is under attack. The cookie only skips the waiting; the password is checked
  as always, and DEVICE_FREE wrong passwords with one cookie make it worthless.
* A success clears the address's count, and the account's when it came without a
  device cookie (with one, an ongoing attack on the account keeps its back-off).

Behind a reverse proxy, the client address is the proxy's unless uvicorn trusts its
`X-Forwarded-For` (`FORWARDED_ALLOW_IPS`, see the README).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import datetime, timedelta

from storage import login_throttle as rows
from storage.engine import Session
from storage.types import as_utc

IP_FREE = 10  # failures from one address before the back-off starts
ACCOUNT_FREE = 5  # failures on one account before the back-off starts
DEVICE_FREE = 5  # wrong passwords with one device cookie before it is forgotten
MAX_DELAY_S = 900.0
FORGET_AFTER = timedelta(hours=24)
DEVICE_TTL = timedelta(days=90)
DEVICE_COOKIE = "se_device"

def ip_key(address: str | None) -> str:
    return f"ip:{(address or 'unknown')[:180]}"


def user_key(username: str) -> str:
    return f"user:{username[:180]}"


def _device_key(username: str, token: str) -> str:
    return f"device:{username[:64]}:{hashlib.sha256(token.encode()).hexdigest()}"


def delay_s(failures: int, free: int) -> float:
    """Seconds to wait after `failures` consecutive failures: none for the first `free`,
    then 1, 2, 4, … capped at MAX_DELAY_S."""
    if failures < free:
        return 0.0
    return min(2.0 ** (failures - free), MAX_DELAY_S)


def wait_s(session: Session, keys: list[str], now: datetime) -> int:
    """Whole seconds until all of `keys` may try again (0: now)."""
    waits = [(b - now).total_seconds() for b in rows.blocked_until(session, keys)]
    return math.ceil(max([0.0, *waits]))


def record_failure(session: Session, key: str, free: int, now: datetime) -> int:
    """Count one failure against `key` and set its back-off; the new count."""
    return rows.count_failure(session, key, now, forget_after=FORGET_AFTER, delay_s=lambda n: delay_s(n, free))


def clear(session: Session, key: str) -> None:
    rows.clear(session, key)


def known_device(session: Session, username: str, token: str | None, now: datetime) -> bool:
    """True if `token` is a live device cookie of `username`."""
    if not token:
        return False
    row = rows.get(session, _device_key(username, token))
    return row is not None and as_utc(row.updated_at) > now - DEVICE_TTL


def device_failure(session: Session, username: str, token: str, now: datetime) -> None:
    """A wrong password with a device cookie; after DEVICE_FREE the cookie is forgotten."""
    key = _device_key(username, token)
    row = rows.get(session, key)
    if row is None:
        return
    if row.failures + 1 >= DEVICE_FREE:
        clear(session, key)
    else:
        rows.set_failures(session, key, row.failures + 1)


def remember_device(session: Session, username: str, token: str | None, now: datetime) -> str:
    """The device cookie to set after a successful sign-in (the same one, refreshed)."""
    token = token if token and known_device(session, username, token, now) else secrets.token_urlsafe(32)
    key = _device_key(username, token)
    rows.refresh(session, key, now)
    return token
