"""WebhookSink: a signed JSON POST per escalation to a URL the operator owns.

Body: the documented envelope (`_envelope`, JSON Schema in responders/webhook_schema.json).
Headers:

    Idempotency-Key: <key>                 the same on every retry; receivers de-duplicate on it
    X-Socialear-Timestamp: <unix seconds>  when this attempt was signed
    X-Socialear-Signature: sha256=<hex>    HMAC-SHA256(secret, f"{timestamp}.{body}")

Signing is required: without the secret (env `secret_env`, default SOCIALEAR_WEBHOOK_SECRET)
the sink refuses to start unless `unsigned: true` is set explicitly, because an unsigned
escalation feed lets anyone who learns the URL inject fake escalations. Receivers call
`verify_signature`, which also refuses timestamps older than `tolerance_s` (replays).

Only 2xx counts as delivered. Errors (mapped in `_http`):

    timeout / network / 5xx / 408 / 409 ─► RetryableError
    429 ─────────────────────────────────► RateLimited(retry_after)
    401 / 403 ───────────────────────────► BadCredentials  "check SOCIALEAR_WEBHOOK_SECRET"
    3xx, other 4xx ──────────────────────► PermanentError  (redirects are not followed)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from responders.sinks import _envelope, _http
from responders.types import DeliveryResult, EscalationPayload
from socialear.errors import NotConfigured

SIGNATURE_HEADER = "X-Socialear-Signature"
TIMESTAMP_HEADER = "X-Socialear-Timestamp"
RESERVED_HEADERS = {
    "content-type",
    "idempotency-key",
    SIGNATURE_HEADER.lower(),
    TIMESTAMP_HEADER.lower(),
}


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def sign(secret: str | bytes, timestamp: int | str, body: str | bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    message = str(timestamp).encode("ascii") + b"." + _as_bytes(body)
    return "sha256=" + hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: int | str,
    body: str | bytes,
    signature: str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """True when the signature matches the raw body and the timestamp is within tolerance.

    Pass the raw request body as received (bytes), not a re-serialised copy.
    """
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        return False  # too old (a replay) or too far in the future
    return hmac.compare_digest(sign(secret, sent_at, body), signature.strip())


class WebhookSink:
    """POSTs each escalation as signed JSON to a configured URL."""

    type: ClassVar[str] = "webhook"
    description: ClassVar[str] = "POSTs each escalation as HMAC-signed JSON to a URL (escalation.created events)."
    needs: ClassVar[tuple[str, ...]] = ("SOCIALEAR_WEBHOOK_SECRET",)

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        url: str
        secret_env: str = "SOCIALEAR_WEBHOOK_SECRET"
        unsigned: bool = Field(default=False, description="deliver without a signature (not advised)")
        headers: dict[str, str] = Field(default_factory=dict)
        timeout_s: float = Field(default=_http.DEFAULT_TIMEOUT_S, gt=0, le=120)

        @field_validator("url")
        @classmethod
        def _url(cls, value: str) -> str:
            url = httpx.URL(value)
            if url.scheme not in ("http", "https") or not url.host:
                raise ValueError("an http:// or https:// URL")
            return value

        @field_validator("headers")
        @classmethod
        def _headers(cls, value: dict[str, str]) -> dict[str, str]:
            clash = sorted(h for h in value if h.lower() in RESERVED_HEADERS)
            if clash:
                raise ValueError(f"these headers are set by socialear: {', '.join(clash)}")
            return value

    def __init__(
        self,
        name: str,
        options: Options,
        secret: str | None,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.name = name
        self.options = options
        self.label = f"webhook sink {name!r}"
        self._secret = secret
        self._clock = clock
        self._owns_client = client is None
        self.client = client or _http.make_client(options.timeout_s)
        # parsed once: httpx parses a str URL on every request (0.03 ms of the ~0.9 ms of
        # CPU the delivery process spends per escalation, which bounds a burst's delivery)
        self._url = httpx.URL(options.url)

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> WebhookSink:
        opts = cls.Options.model_validate(options)
        env = os.environ if env is None else env
        secret = env.get(opts.secret_env) or None
        if secret is None and not opts.unsigned:
            raise NotConfigured(
                f"webhook sink {name!r}: {opts.secret_env} is not set "
                "(set it, or set `unsigned: true` to deliver without a signature)"
            )
        return cls(name, opts, None if opts.unsigned else secret, client)

    def request_for(self, payload: EscalationPayload) -> tuple[str, dict[str, str]]:
        """The exact body and headers one delivery sends (useful for receivers' tests)."""
        now = self._clock()
        body = _envelope.encode(_envelope.envelope(payload, now))
        headers = {
            **self.options.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": payload.idempotency_key,
            TIMESTAMP_HEADER: str(int(now)),
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, int(now), body)
        return body, headers

    def deliver(self, payload: EscalationPayload, *, attempt: int = 1) -> DeliveryResult:
        """POST the event; 2xx means delivered. Retries re-sign with a fresh timestamp."""
        body, headers = self.request_for(payload)
        _http.send(
            self.client,
            "POST",
            self._url,
            label=self.label,
            credential=self.options.secret_env if self._secret else "the receiver's auth",
            timeout=self.options.timeout_s,
            content=body.encode("ascii"),
            headers=headers,
        )
        return DeliveryResult(external_ref=payload.idempotency_key, url=None, created=True)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
