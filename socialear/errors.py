"""socialear's own exception tree.

Vendor errors (tweepy, praw, httpx, a ticketing API) are mapped to these at the I/O
boundary, so the scheduler and the outbox worker decide what to do from the *kind* of
failure, never from a vendor's class:

    SocialearError
    ├── UserError              a person's mistake: bad file, bad URL; one line, exit 1
    │   └── ConfigError        rules.yaml is invalid (carries PATH:LINE:COL errors)
    ├── NotConfigured          a component turned itself off, with the reason
    ├── RetryableError         try again later (5xx, network, timeout)
    │   └── RateLimited        try again after `retry_after` seconds, not before
    └── PermanentError         retrying will not help (401/403, 422, malformed request)
        └── BadCredentials     a credential is missing or wrong; says which
"""

from __future__ import annotations


class SocialearError(Exception):
    """Base of every error socialear raises on purpose."""


class UserError(SocialearError):
    """A mistake the user can fix; the CLI prints it as one line and exits non-zero."""


class ConfigError(UserError):
    """rules.yaml did not validate. `errors` holds every problem as `PATH:LINE:COL: message`."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class NotConfigured(SocialearError):
    """A component is off for a stated reason, e.g. `X_BEARER_TOKEN is not set`."""


class RetryableError(SocialearError):
    """A transient failure: the same call may succeed later."""

    def __init__(self, message: str, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)


class RateLimited(RetryableError):
    """The platform asked us to wait; `retry_after` is seconds until the limit resets."""


class PermanentError(SocialearError):
    """Retrying cannot help; the item goes to dead-letter / the source is marked unhealthy."""


class BadCredentials(PermanentError):
    """A credential is missing, wrong, or lacks the access level the call needs."""
