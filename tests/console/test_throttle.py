"""Sign-in throttling instead of a hard lock-out (finding 7 of issue 14).

Before, five wrong passwords locked an account for 15 minutes and then refused the right
password too: anyone who knew a user name could lock that person out.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from console.web import throttle
from console.web.auth import SESSION_COOKIE
from storage.console_models import LoginThrottle
from storage.dialect import table
from tests.console.conftest import Client

ATTACKER, OFFICE = "203.0.113.66", "198.51.100.7"


def browser(app: Any, address: str) -> Client:
    c = Client(app)
    c.http = TestClient(app, follow_redirects=False, client=(address, 50000))
    return c


def signed_out(c: Client) -> Client:
    """The same browser (device cookie kept) after its session ended."""
    c.http.cookies.delete(SESSION_COOKIE)
    return c


def waited(db: Engine) -> None:
    """As if every back-off had run out (the attacker waited; time is not slept here)."""
    t = table(LoginThrottle)
    with db.begin() as conn:
        conn.execute(sa.update(t).values(blocked_until=None))


def wait_in(response: Any) -> int | None:
    found = re.search(r"try again in (\d+) s", response.text)
    return int(found.group(1)) if found else None


def test_an_attacker_is_slowed_down_exponentially(app: Any, db: Engine) -> None:
    attacker = browser(app, ATTACKER)
    for _ in range(throttle.ACCOUNT_FREE):
        r = attacker.login("alice", "guess")
        assert r.status_code == 401 and wait_in(r) is None  # a few typos cost nothing
    r = attacker.login("alice", "guess")
    assert r.status_code == 401 and wait_in(r) is not None  # refused before the password is checked
    waits = []
    for _ in range(12):
        waited(db)
        assert attacker.login("alice", "guess").status_code == 401
        waits.append(wait_in(attacker.login("alice", "guess")))
    assert waits[:4] == [2, 4, 8, 16] and waits[-1] == throttle.MAX_DELAY_S
    assert waits == sorted(waits)


def test_the_real_user_with_the_right_password_is_not_locked_out(app: Any, db: Engine) -> None:
    alice = browser(app, OFFICE)
    assert alice.login("alice").status_code == 303  # she has signed in from this browser before
    signed_out(alice)
    attacker = browser(app, ATTACKER)
    for _ in range(30):
        attacker.login("alice", "guess")
        waited(db)
    attacker.login("alice", "guess")
    r = attacker.login("alice", "guess")
    assert r.status_code == 401 and wait_in(r) is not None
    # the attack goes on, the account is throttled for everyone without a device cookie...
    assert wait_in(browser(app, OFFICE).login("alice")) is not None
    # ...but alice, in her own browser, gets in at once with the right password
    r = alice.login("alice")
    assert r.status_code == 303, r.text
    signed_out(alice)
    # and a few typos of hers do not throw her out either
    for _ in range(throttle.DEVICE_FREE - 1):
        assert alice.login("alice", "typo").status_code == 401
    assert alice.login("alice").status_code == 303


def test_a_new_browser_is_slowed_not_locked(app: Any, db: Engine) -> None:
    attacker = browser(app, ATTACKER)
    for _ in range(8):
        attacker.login("alice", "guess")
        waited(db)
    attacker.login("alice", "guess")
    fresh = browser(app, OFFICE)
    r = fresh.login("alice")
    assert r.status_code == 401 and wait_in(r) is not None  # held back, told for how long
    waited(db)  # once the wait is over, the right password works
    assert fresh.login("alice").status_code == 303


def test_one_address_spraying_many_accounts_is_throttled(app: Any, db: Engine) -> None:
    attacker = browser(app, ATTACKER)
    names = ["alice", "bob", "lena", "vic", "nobody"]
    for i in range(throttle.IP_FREE):
        assert wait_in(attacker.login(names[i % len(names)], "guess")) is None
    r = attacker.login("bob", "guess")  # bob's account has only two failures
    assert wait_in(r) is not None
    assert browser(app, OFFICE).login("bob").status_code == 303  # from elsewhere bob is fine


def test_a_device_cookie_used_to_guess_is_forgotten(app: Any, db: Engine) -> None:
    alice = browser(app, OFFICE)
    assert alice.login("alice").status_code == 303
    stolen = browser(app, ATTACKER)
    stolen.http.cookies.set(throttle.DEVICE_COOKIE, alice.http.cookies.get(throttle.DEVICE_COOKIE), path="/login")
    for _ in range(throttle.DEVICE_FREE):
        assert wait_in(stolen.login("alice", "guess")) is None
    for _ in range(throttle.ACCOUNT_FREE + 1):  # now it counts like any other browser
        r = stolen.login("alice", "guess")
    assert wait_in(r) is not None


@pytest.mark.parametrize(("failures", "free", "delay"), [(4, 5, 0), (5, 5, 1), (9, 5, 16), (40, 5, 900)])
def test_delay_schedule(failures: int, free: int, delay: float) -> None:
    assert throttle.delay_s(failures, free) == delay
